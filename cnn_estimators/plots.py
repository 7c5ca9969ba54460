"""Plots for fitted CNN estimators and for the results of experiments.

Every function draws with matplotlib (``pyplot`` is imported when a function is
called, never at import time), never calls ``plt.show()``, and returns what it drew
on: a :class:`~matplotlib.figure.Figure` for multi-panel plots, an
:class:`~matplotlib.axes.Axes` for single-axes plots, or scikit-learn's
:class:`~sklearn.metrics.ConfusionMatrixDisplay` (``.figure_``, ``.ax_``). Pass
``ax=`` (``axes=`` or ``fig=`` for grids) to draw into an existing figure.

* Training: :func:`plot_training_curves` (loss and accuracy per epoch or per batch).
* Inside the network: :func:`plot_filters` (convolution kernels) and
  :func:`plot_activations` (feature maps of one image).
* Errors: :func:`plot_misclassified`, :func:`plot_top_losses`,
  :func:`plot_confusion_matrix`.
* Experiments (data frames): :func:`plot_optimizer_comparison`,
  :func:`plot_cv_results`, and :func:`plot_lr_find` for the learning-rate range test.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import NotFittedError
from torch import nn

from ._validation import check_images

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure
    from sklearn.metrics import ConfusionMatrixDisplay

__all__ = [
    "plot_activations",
    "plot_confusion_matrix",
    "plot_cv_results",
    "plot_filters",
    "plot_lr_find",
    "plot_misclassified",
    "plot_optimizer_comparison",
    "plot_top_losses",
    "plot_training_curves",
]

#: Modules whose output is shown instead of the convolution's when they directly
#: follow it in an ``nn.Sequential`` (see :func:`plot_activations`).
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.ELU, nn.SiLU, nn.GELU, nn.PReLU)

#: History key suffixes tried for each metric name (``train_<suffix>``, ``valid_<suffix>``).
_METRIC_ALIASES = {
    "loss": ("loss",),
    "accuracy": ("acc", "accuracy"),
    "acc": ("acc", "accuracy"),
}


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib.pyplot as plt

    return plt


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive_int(value: Any, name: str, func: str) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(
            f"The {name!r} parameter of {func} must be an int >= 1; got {value!r} instead."
        )
    return int(value)


def _check_indices(indices: Any, size: int, name: str, func: str, what: str) -> list[int]:
    """Validate a sequence of indices into ``range(size)``."""
    if isinstance(indices, torch.Tensor):
        indices = indices.tolist()
    if _is_int(indices):
        indices = [indices]
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise ValueError(
            f"The {name!r} parameter of {func} must be a sequence of ints; got {indices!r}."
        )
    out = list(indices)
    bad = [i for i in out if not _is_int(i) or not 0 <= i < size]
    if bad:
        raise ValueError(
            f"The {name!r} parameter of {func} must hold ints in [0, {size}) ({size} {what}); "
            f"got {bad[0]!r}."
        )
    if not out:
        raise ValueError(f"The {name!r} parameter of {func} is empty; give at least one index.")
    return [int(i) for i in out]


def _check_columns(df: Any, required: Sequence[str], func: str) -> None:
    columns = getattr(df, "columns", None)
    if columns is None:
        raise TypeError(f"{func} expects a pandas DataFrame; got {type(df).__name__} instead.")
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(
            f"{func} needs the columns {list(required)}; the data frame lacks {missing} "
            f"(it has {list(columns)})."
        )


def _image_grid(
    fig: Figure | SubFigure | None, n_panels: int, ncols: int | None, *, size: float = 1.6
) -> tuple[Any, list[Axes]]:
    """A grid of ``n_panels`` axes without ticks (unused cells removed).

    ``ncols=None`` balances the rows: as few rows of at most 8 panels as possible,
    filled evenly (17 panels: 3 rows of 6).
    """
    if ncols is None:
        ncols = math.ceil(n_panels / math.ceil(n_panels / 8))
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    if fig is None:
        fig = _pyplot().figure(figsize=(size * ncols, size * nrows + 0.7), layout="constrained")
    else:
        fig.clear()
    grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid[n_panels:]:
        ax.remove()
    axes = list(grid[:n_panels])
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def _show_chw(ax: Axes, image: np.ndarray) -> None:
    """Show one (C, H, W) image: gray for one channel, RGB for three, channel mean else."""
    image = np.asarray(image)
    is_uint8 = image.dtype == np.uint8
    if image.shape[0] == 3:
        rgb = image.transpose(1, 2, 0)
        if not is_uint8:
            rgb = rgb.astype(np.float64)
            low, high = float(rgb.min()), float(rgb.max())
            if low < 0.0 or high > 1.0:
                rgb = (rgb - low) / (high - low) if high > low else np.zeros_like(rgb)
        ax.imshow(rgb, interpolation="nearest")
        return
    gray = image[0] if image.shape[0] == 1 else image.astype(np.float64).mean(axis=0)
    if is_uint8 and image.shape[0] == 1:
        ax.imshow(gray, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    elif image.shape[0] == 1 and gray.min() >= 0.0 and gray.max() <= 1.0:
        ax.imshow(gray, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(gray, cmap="gray", interpolation="nearest")


def _take(X: Any, indices: Sequence[int]) -> Any:
    """Rows ``indices`` of an array, tensor, data frame or list of images."""
    idx = np.asarray(indices, dtype=np.int64)
    if isinstance(X, torch.Tensor):
        return X[torch.from_numpy(idx)]
    if isinstance(X, np.ndarray):
        return X[idx]
    if hasattr(X, "iloc"):
        return np.asarray(X.iloc[idx])
    return np.asarray([X[int(i)] for i in idx])


def _n_samples(X: Any, func: str) -> int:
    try:
        return len(X)
    except TypeError as exc:
        raise TypeError(
            f"{func} expects images as an array, a tensor or a list; got {type(X).__name__}."
        ) from exc


def _class_name(label: Any, class_names: Any) -> str:
    """The display name of ``label`` (``class_names`` is a mapping or a sequence)."""
    if isinstance(label, np.generic):
        label = label.item()
    if class_names is None:
        return str(label)
    if isinstance(class_names, Mapping):
        return str(class_names.get(label, label))
    if _is_int(label) and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


def _resolve_module(obj: Any, func: str) -> tuple[nn.Module, Any]:
    """Return ``(module, estimator or None)`` for a module or a fitted estimator."""
    if isinstance(obj, nn.Module):
        return obj, None
    module = getattr(obj, "module_", None)
    if isinstance(module, nn.Module):
        return module, obj
    if hasattr(type(obj), "fit"):
        raise NotFittedError(
            f"This {type(obj).__name__} instance is not fitted yet: {func} needs its "
            "'module_' network. Call 'fit' with appropriate arguments first."
        )
    raise TypeError(
        f"{func} expects a fitted estimator or a torch.nn.Module; got {type(obj).__name__}."
    )


def _is_conv(module: nn.Module) -> bool:
    """A 2-D convolution: ``nn.Conv2d`` or any module with a 4-D weight and a kernel size."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return False
    if isinstance(module, nn.Conv2d):
        return True
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.ndim == 4 and hasattr(module, "kernel_size")


def _conv_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in module.named_modules() if _is_conv(m)]


def _no_conv_error(module: nn.Module, func: str) -> ValueError:
    return ValueError(
        f"{func} needs a convolutional layer, but the network {type(module).__name__} has "
        "no Conv2d layer (no module with a 4-D weight and a kernel_size). Use a "
        "convolutional model such as 'fashion_cnn'."
    )


def _find_module(module: nn.Module, name: str, func: str) -> nn.Module:
    modules = dict(module.named_modules())
    if name in modules and name != "":
        return modules[name]
    convs = [n for n, _ in _conv_layers(module)]
    close = difflib.get_close_matches(name, [n for n in modules if n], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"The 'layer' parameter of {func} must be 'first', 'last' or the name of a module of "
        f"the network; {type(module).__name__} has no module {name!r}.{hint} Its "
        f"convolutional layers are {convs}."
    )


def _select_conv(module: nn.Module, layer: Any, func: str) -> tuple[str, nn.Module]:
    """The convolution named by ``layer`` ("first", "last" or a module name)."""
    if not isinstance(layer, str):
        raise ValueError(
            f"The 'layer' parameter of {func} must be 'first', 'last' or a module name; "
            f"got {layer!r} instead."
        )
    convs = _conv_layers(module)
    if layer in ("first", "last"):
        if not convs:
            raise _no_conv_error(module, func)
        return convs[0] if layer == "first" else convs[-1]
    found = _find_module(module, layer, func)
    if not _is_conv(found):
        raise ValueError(
            f"{func}: the module {layer!r} is a {type(found).__name__}, not a convolution. "
            f"The convolutional layers are {[n for n, _ in convs]}."
        )
    return layer, found


# ---------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------


def _get_history(obj: Any) -> list[dict[str, Any]]:
    if isinstance(obj, list):
        history = obj
    elif hasattr(obj, "history_") or hasattr(type(obj), "fit"):
        history = getattr(obj, "history_", None)
        if history is None:
            raise NotFittedError(
                f"This {type(obj).__name__} instance is not fitted yet: it has no training "
                "history. Call 'fit' with appropriate arguments first."
            )
    else:
        raise TypeError(
            "plot_training_curves expects a fitted estimator or a skorch History; got "
            f"{type(obj).__name__} instead."
        )
    if len(history) == 0 or not all(isinstance(row, Mapping) for row in history):
        raise ValueError(
            "plot_training_curves got an empty history (or one that is not a list of "
            "per-epoch dicts); fit the estimator for at least one epoch."
        )
    return list(history)


def _metric_keys(history: list[dict[str, Any]], metric: str, per: str) -> list[tuple[str, str]]:
    """(history key, legend label) pairs recorded for ``metric``."""
    if per == "epoch":
        rows: list[Mapping[str, Any]] = history
    else:
        rows = [b for row in history for b in row.get("batches", ())]
    present = set().union(*(row.keys() for row in rows)) if rows else set()
    aliases = _METRIC_ALIASES.get(metric, (metric,))
    found = []
    for prefix, label in (("train", "train"), ("valid", "validation")):
        for alias in aliases:
            key = f"{prefix}_{alias}"
            if key in present:
                found.append((key, label))
                break
    if not found and metric in present:
        found.append((metric, metric))
    return found


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and math.isfinite(float(value))


def _epoch_series(history: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, row in enumerate(history):
        value = row.get(key)
        if _finite(value):
            xs.append(float(row.get("epoch", i + 1)))
            ys.append(float(value))
    return xs, ys


def _batch_series(history: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """Batch values placed at fractional epochs: batch j of n in epoch e is at e - 1 + (j+1)/n."""
    xs, ys = [], []
    for i, row in enumerate(history):
        epoch = float(row.get("epoch", i + 1))
        values = [b[key] for b in row.get("batches", ()) if _finite(b.get(key))]
        for j, value in enumerate(values):
            xs.append(epoch - 1 + (j + 1) / len(values))
            ys.append(float(value))
    return xs, ys


def _check_ylim(ylim: Any, metrics: Sequence[str]) -> dict[str, Any]:
    if ylim is None:
        return {}
    if isinstance(ylim, Mapping):
        pairs = {k: v for k, v in ylim.items() if k in metrics}
    else:
        pairs = dict.fromkeys(metrics, ylim)
    for metric, pair in pairs.items():
        ok = (
            isinstance(pair, Sequence)
            and not isinstance(pair, str)
            and len(pair) == 2
            and all(
                v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool)) for v in pair
            )
        )
        if not ok:
            raise ValueError(
                "The 'ylim' parameter of plot_training_curves must be a (low, high) pair or a "
                f"dict of such pairs per metric; got {pair!r} for {metric!r}."
            )
    return pairs


def plot_training_curves(
    estimator_or_history: Any,
    *,
    per: str = "epoch",
    metrics: str | Sequence[str] | None = None,
    test_point: Mapping[str, float] | None = None,
    ylim: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    axes: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Plot the training and validation loss and accuracy recorded during ``fit``.

    One axes per metric, with one line for the training set (history key
    ``train_<metric>``) and one for the validation set (``valid_<metric>``) when they
    were recorded. ``CNNClassifier`` records ``train_loss``, ``valid_loss`` and
    ``valid_acc`` (the last two only with a validation split); a training accuracy
    appears when a ``train_acc`` scoring callback was added. A metric that was not
    recorded at all leaves a "not recorded" note on its axes instead of an error.

    Parameters
    ----------
    estimator_or_history : fitted estimator or skorch.History
        An estimator with a ``history_`` attribute, or the history itself (a list of
        per-epoch dicts).
    per : {"epoch", "batch"}, default="epoch"
        "epoch": one point per epoch. "batch": one point per training (and validation)
        batch, from the ``batches`` lists of the history; batch ``j`` of ``n`` in epoch
        ``e`` is drawn at ``x = e - 1 + (j + 1) / n`` so both lines share the epoch axis.
    metrics : str or sequence of str, default=None
        Metrics to plot, one axes each: "loss", "accuracy" (history keys ``*_acc`` or
        ``*_accuracy``) or any suffix ``m`` of recorded keys ``train_m``/``valid_m``, or
        a full history key (e.g. "lr"). None means ("loss", "accuracy") per epoch and
        ("loss",) per batch (only losses are recorded per batch).
    test_point : dict, default=None
        Test-set values keyed by metric, e.g. ``{"loss": 0.31, "accuracy": 0.9}``, drawn
        as a star at the last epoch. Keys of metrics that are not plotted are ignored.
    ylim : (low, high) pair or dict, default=None
        y-axis limits of every axes, or a dict ``{metric: (low, high)}`` (keys of
        metrics that are not plotted are ignored).
    axes : Axes or sequence of Axes, default=None
        Axes to draw on, one per metric. None creates a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the axes.

    Raises
    ------
    NotFittedError
        If the estimator has no history yet.
    ValueError
        If ``per``, ``metrics``, ``ylim`` or ``axes`` are invalid.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import CNNClassifier
    >>> from cnn_estimators.plots import plot_training_curves
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier("global_pool_cnn", max_epochs=2, random_state=0,
    ...                     device="cpu").fit(X[:200], y[:200])
    >>> fig = plot_training_curves(clf, test_point={"accuracy": clf.score(X[200:300], y[200:300])})
    >>> [ax.get_title() for ax in fig.axes]
    ['Loss', 'Accuracy']
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['train', 'validation']
    """
    func = "plot_training_curves"
    if per not in ("epoch", "batch"):
        raise ValueError(f"The 'per' parameter of {func} must be 'epoch' or 'batch'; got {per!r}.")
    history = _get_history(estimator_or_history)
    if metrics is None:
        metrics = ("loss", "accuracy") if per == "epoch" else ("loss",)
    elif isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise ValueError(
            f"The 'metrics' parameter of {func} must be a non-empty sequence of metric names; "
            f"got {metrics!r}."
        )
    limits = _check_ylim(ylim, metrics)
    if test_point is not None and not isinstance(test_point, Mapping):
        raise ValueError(
            f"The 'test_point' parameter of {func} must be a dict such as "
            f"{{'loss': 0.31, 'accuracy': 0.9}}; got {test_point!r}."
        )

    plt = _pyplot()
    if axes is None:
        fig, grid = plt.subplots(
            1, len(metrics), figsize=(5.0 * len(metrics), 3.8), squeeze=False, layout="constrained"
        )
        ax_list = list(grid.ravel())
    else:
        ax_list = (
            [axes] if hasattr(axes, "plot") else list(np.ravel(np.asarray(axes, dtype=object)))
        )
        if len(ax_list) != len(metrics):
            raise ValueError(
                f"The 'axes' parameter of {func} must hold one Axes per metric "
                f"({len(metrics)} for {list(metrics)}); got {len(ax_list)}."
            )
        fig = ax_list[0].figure

    from matplotlib.ticker import MaxNLocator

    series = _epoch_series if per == "epoch" else _batch_series
    last_epoch = float(history[-1].get("epoch", len(history)))
    for ax, metric in zip(ax_list, metrics, strict=True):
        keys = _metric_keys(history, metric, per)
        for key, label in keys:
            xs, ys = series(history, key)
            color = "C0" if label == "train" else "C1"
            if per == "epoch":
                ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, color=color, label=label)
            else:
                ax.plot(xs, ys, color=color, label=label, alpha=0.85, linewidth=1.0)
        if test_point is not None:
            aliases = _METRIC_ALIASES.get(metric, (metric,))
            value = next((test_point[k] for k in (metric, *aliases) if k in test_point), None)
            if value is not None:
                ax.plot(
                    [last_epoch],
                    [float(value)],
                    marker="*",
                    markersize=14,
                    linestyle="none",
                    color="C3",
                    label=f"test ({float(value):.3g})",
                )
        if not keys:
            where = "per epoch" if per == "epoch" else "per batch"
            ax.text(
                0.5,
                0.5,
                f"no {metric} recorded {where}",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="0.4",
            )
        name = metric.replace("_", " ")
        title = name[:1].upper() + name[1:]
        ax.set_title(title if per == "epoch" else f"{title} per batch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        low, high = ax.get_xlim()
        if high - low < 1:  # one epoch: whole epochs on the axis, not fractions of one
            left = last_epoch - 0.5 if per == "epoch" else last_epoch - 1
            ax.set_xlim(left, left + 1)
        if metric in limits:
            ax.set_ylim(*limits[metric])
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        ax.grid(True, alpha=0.3)
    return fig


# ---------------------------------------------------------------------------
# Filters and activations
# ---------------------------------------------------------------------------


def plot_filters(
    estimator_or_module: Any,
    *,
    layer: str | None = None,
    indices: Sequence[int] | None = None,
    ncols: int | None = None,
    fig: Figure | SubFigure | None = None,
) -> Figure | SubFigure:
    """Show the kernels of a convolutional layer as a grid of small images.

    The weight of a convolution has shape ``(O, C, kh, kw)``: ``O`` filters of ``C``
    input channels. A filter with ``C == 3`` (an RGB first layer) is shown in colour,
    min-max scaled to [0, 1] per filter; otherwise it is averaged over its input
    channels and shown in grayscale (scaled per filter).

    Parameters
    ----------
    estimator_or_module : fitted estimator or torch.nn.Module
        The network, or an estimator whose ``module_`` it is.
    layer : str, default=None
        The module name of the convolution (as in ``module.named_modules()``, e.g.
        ``"features.3"`` or ``"layer4.1.conv2"``), or "first"/"last". None means the
        first convolution (in registration order).
    indices : sequence of int, default=None
        The filters to show; None shows all ``O``.
    ncols : int, default=None
        Number of columns of the grid; None balances rows of at most 8 panels.
    fig : Figure or SubFigure, default=None
        Figure to draw on (it is cleared first). None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, with one axes (holding one image) per filter.

    Raises
    ------
    ValueError
        If the network has no convolution or ``layer`` does not name one.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from cnn_estimators.models import get_model
    >>> from cnn_estimators.plots import plot_filters
    >>> net = get_model("cifar_cnn", in_channels=3, num_classes=10, input_size=(32, 32))
    >>> fig = plot_filters(net, indices=range(8))
    >>> len(fig.axes), fig.axes[0].images[0].get_array().shape
    (8, (3, 3, 3))
    """
    func = "plot_filters"
    module, _ = _resolve_module(estimator_or_module, func)
    name, conv = _select_conv(module, "first" if layer is None else layer, func)
    if ncols is not None:
        ncols = _check_positive_int(ncols, "ncols", func)
    weight = conv.weight.detach().to("cpu", torch.float64)
    n_out, n_in, kh, kw = weight.shape
    chosen = (
        list(range(n_out))
        if indices is None
        else _check_indices(indices, n_out, "indices", func, "filters")
    )
    fig, axes = _image_grid(fig, len(chosen), ncols, size=1.0)
    for ax, index in zip(axes, chosen, strict=True):
        kernel = weight[index]
        if n_in == 3:
            img = kernel.permute(1, 2, 0).numpy()
            low, high = img.min(), img.max()
            img = (img - low) / (high - low) if high > low else np.full_like(img, 0.5)
            ax.imshow(img, interpolation="nearest")
        else:
            ax.imshow(kernel.mean(dim=0).numpy(), cmap="gray", interpolation="nearest")
        ax.set_title(str(index), fontsize=8)
    how = "" if n_in in (1, 3) else ", mean over input channels"
    fig.suptitle(f"Filters of {name} ({n_out}×{n_in}×{kh}×{kw}{how})")
    return fig


class _StopForward(Exception):
    """Raised by the capture hook to end the forward pass once the maps are recorded."""


def _activation_target(
    module: nn.Module, name: str, target: nn.Module
) -> tuple[nn.Module | None, str]:
    """The activation module directly following ``name`` in a Sequential parent, if any."""
    if not _is_conv(target) or not name:
        return None, ""
    parent_name, _, child = name.rpartition(".")
    parent = dict(module.named_modules()).get(parent_name) if parent_name else module
    if not isinstance(parent, nn.Sequential):
        return None, ""
    keys = list(parent._modules)
    position = keys.index(child) if child in keys else -1
    if position < 0 or position + 1 >= len(keys):
        return None, ""
    following = parent._modules[keys[position + 1]]
    if isinstance(following, ACTIVATIONS):
        return following, type(following).__name__
    return None, ""


def _load_default_image() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")


def _image_batch(image: Any, estimator: Any, func: str) -> torch.Tensor:
    """One image in any layout as a (1, C, H, W) float tensor in the image's scale."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        batch = arr
    elif arr.ndim in (1, 2, 3):
        batch = arr[None]
    else:
        raise ValueError(
            f"The 'image' parameter of {func} must be one image: (H, W), (C, H, W), (H, W, C), "
            f"a flat row, or a batch of one; got an array of shape {arr.shape}."
        )
    shape = getattr(estimator, "image_shape_", None) if arr.ndim == 1 else None
    tensor, _ = check_images(batch, owner=func, image_shape=shape)
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    return tensor.float()


def _expected_channels(module: nn.Module, estimator: Any, image_channels: int) -> int:
    if estimator is not None and getattr(estimator, "image_shape_", None) is not None:
        return int(estimator.image_shape_[0])
    preprocess = getattr(module, "preprocess", None)
    if _is_int(getattr(preprocess, "in_channels", None)):
        return int(preprocess.in_channels)
    convs = _conv_layers(module)
    if convs and _is_int(getattr(convs[0][1], "in_channels", None)):
        return int(convs[0][1].in_channels)
    return image_channels


def _match_channels(x: torch.Tensor, channels: int, func: str) -> torch.Tensor:
    have = x.shape[1]
    if have == channels:
        return x
    if channels == 1:
        return x.mean(dim=1, keepdim=True)
    if have == 1:
        return x.expand(-1, channels, -1, -1).clone()
    raise ValueError(
        f"{func}: the image has {have} channels but the network expects {channels}; give an "
        f"image with {channels} channel(s)."
    )


def _target_size(module: nn.Module, estimator: Any, image_size: Any, func: str) -> Any:
    if image_size is not None:
        if _is_int(image_size):
            image_size = (image_size, image_size)
        ok = (
            isinstance(image_size, Sequence)
            and len(image_size) == 2
            and all(_is_int(v) and v >= 1 for v in image_size)
        )
        if not ok:
            raise ValueError(
                f"The 'image_size' parameter of {func} must be an int or a (height, width) "
                f"pair of positive ints; got {image_size!r}."
            )
        return (int(image_size[0]), int(image_size[1]))
    if estimator is not None and getattr(estimator, "image_shape_", None) is not None:
        return (int(estimator.image_shape_[1]), int(estimator.image_shape_[2]))
    size = getattr(getattr(module, "preprocess", None), "image_size", None)
    if _is_int(size):
        return (int(size), int(size))
    return None


def plot_activations(
    estimator_or_module: Any,
    image: Any = None,
    *,
    layer: str = "first",
    indices: Sequence[int] | None = None,
    n: int = 16,
    image_size: int | tuple[int, int] | None = None,
    ncols: int | None = None,
    fig: Figure | SubFigure | None = None,
) -> Figure | SubFigure:
    """Show the feature maps a layer computes for one image.

    The first panel is the input image (after resizing and channel conversion, before
    any ``eval_transform``); the others are the chosen channels of the layer's output
    for that image, each with its own colour scale.

    **Which output is shown.** For a convolution directly followed, in the same
    ``nn.Sequential``, by an activation module (ReLU, LeakyReLU, ReLU6, ELU, SiLU, GELU,
    PReLU), the output of that activation is shown (the maps after the non-linearity,
    same size as the convolution's output). Otherwise -- e.g. ``fashion_cnn``, whose
    convolutions are followed by max pooling, or ResNet blocks, where batch
    normalisation follows -- the raw convolution output is shown. The figure's title
    says which.

    Parameters
    ----------
    estimator_or_module : fitted estimator or torch.nn.Module
        The network. With an estimator, the image goes through its
        ``_prepare_batch`` (``eval_transform``, ``precision``, device) like every
        prediction batch; with a bare module it is only scaled to [0, 1] (uint8 / 255;
        float images are used as they are).
    image : array-like or tensor, default=None
        One image: (H, W), (C, H, W), (H, W, C), a flat row (with an estimator), or a
        batch of one. uint8 images are scaled to [0, 1]. None uses scikit-learn's
        bundled photo ``load_sample_image("china.jpg")`` (427×640 RGB).
        The image is converted to the network's channels (RGB to grayscale by
        averaging; grayscale repeated to RGB) and resized (bilinear, antialiased).
    layer : str, default="first"
        "first" or "last" convolution of the network (in registration order; for
        ResNet-18 "last" is ``layer4.1.conv2``), or the name of any module whose
        output is a (N, C, H, W) tensor (e.g. ``"features.3"``, ``"layer2"``).
    indices : sequence of int, default=None
        The channels to show; None shows the first ``n``.
    n : int, default=16
        Number of channels shown when ``indices`` is None.
    image_size : int or (height, width), default=None
        Size the image is resized to. None means the estimator's ``image_shape_``
        (the size it was fitted on); for a bare module, the ``image_size`` of its
        ``preprocess`` submodule if it has one, else the image's own size.
    ncols : int, default=None
        Number of columns of the grid; None balances rows of at most 8 panels.
    fig : Figure or SubFigure, default=None
        Figure to draw on (it is cleared first). None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure: the input image, then one axes per channel.

    Raises
    ------
    ValueError
        If the network has no convolution (for "first"/"last"), ``layer`` names no
        module, the layer's output is not a batch of feature maps, or the image cannot
        be converted to the network's channels.

    Notes
    -----
    Forward hooks record the output; the pass runs under ``torch.no_grad()`` in eval
    mode and stops right after the layer, so fixed-size classifier heads never see
    the image. The train/eval mode of every submodule is restored afterwards.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from cnn_estimators.models import get_model
    >>> from cnn_estimators.plots import plot_activations
    >>> net = get_model("cifar_cnn", in_channels=3, num_classes=10, input_size=(32, 32))
    >>> fig = plot_activations(net, layer="first", n=8, image_size=64)
    >>> len(fig.axes), fig.axes[0].get_title(), fig.axes[1].images[0].get_array().shape
    (9, 'input', (64, 64))
    """
    func = "plot_activations"
    module, estimator = _resolve_module(estimator_or_module, func)
    n = _check_positive_int(n, "n", func)
    if ncols is not None:
        ncols = _check_positive_int(ncols, "ncols", func)
    if not isinstance(layer, str):
        raise ValueError(
            f"The 'layer' parameter of {func} must be 'first', 'last' or a module name; "
            f"got {layer!r} instead."
        )
    if layer in ("first", "last"):
        name, target = _select_conv(module, layer, func)
    else:
        name, target = layer, _find_module(module, layer, func)
    activation, activation_name = _activation_target(module, name, target)

    x = _image_batch(_load_default_image() if image is None else image, estimator, func)
    x = _match_channels(x, _expected_channels(module, estimator, x.shape[1]), func)
    size = _target_size(module, estimator, image_size, func)
    if size is not None and tuple(x.shape[-2:]) != size:
        clip = bool(x.min() >= 0 and x.max() <= 1)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        if clip:
            x = x.clamp_(0.0, 1.0)
    shown = x[0].numpy().copy()

    captured: dict[str, Any] = {}

    def conv_hook(_mod: nn.Module, _args: Any, output: Any) -> None:
        if "conv" in captured:
            return
        captured["conv"] = output
        if activation is None:
            raise _StopForward

    def act_hook(_mod: nn.Module, _args: Any, output: Any) -> None:
        if "conv" in captured:
            captured["act"] = output
            raise _StopForward

    modes = {m: m.training for m in module.modules()}
    handles = [target.register_forward_hook(conv_hook)]
    if activation is not None:
        handles.append(activation.register_forward_hook(act_hook))
    try:
        module.eval()
        with torch.no_grad():
            if estimator is not None:
                batch = estimator._prepare_batch(x, training=False)
                autocast = getattr(estimator, "_autocast", None)
                context = autocast() if callable(autocast) else torch.autocast("cpu", enabled=False)
            else:
                param = next((p for p in module.parameters() if p.is_floating_point()), None)
                batch = x if param is None else x.to(device=param.device, dtype=param.dtype)
                context = torch.autocast("cpu", enabled=False)
            try:
                with context:
                    module(batch)
            except _StopForward:
                pass
    finally:
        for handle in handles:
            handle.remove()
        for mod, training in modes.items():
            mod.training = training

    output = captured.get("act", captured.get("conv"))
    if output is None:
        raise ValueError(
            f"{func}: the layer {name!r} was not called during the forward pass of "
            f"{type(module).__name__}."
        )
    if not isinstance(output, torch.Tensor) or output.ndim != 4:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(
            f"{func}: the output of {name!r} is {shape}, not a (N, C, H, W) batch of feature "
            "maps. Choose a convolutional layer or a block of them."
        )
    maps = output[0].detach().to("cpu", torch.float32).numpy()
    n_maps = maps.shape[0]
    chosen = (
        list(range(min(n, n_maps)))
        if indices is None
        else _check_indices(indices, n_maps, "indices", func, "channels")
    )

    fig, axes = _image_grid(fig, 1 + len(chosen), ncols, size=1.5)
    _show_chw(axes[0], shown)
    axes[0].set_title("input", fontsize=9)
    for ax, index in zip(axes[1:], chosen, strict=True):
        ax.imshow(maps[index], cmap="viridis", interpolation="nearest")
        ax.set_title(str(index), fontsize=8)
    after = f"after {activation_name}" if activation is not None else type(target).__name__
    if activation is None and _is_conv(target):
        after += " output, before activation"
    fig.suptitle(
        f"Activations of {name} ({after}): {n_maps} maps of {maps.shape[1]}×{maps.shape[2]}"
    )
    return fig


# ---------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _config_label(row: Mapping[str, Any]) -> str:
    parts = [str(row["optimizer"])]
    lr = row.get("lr")
    if _finite(lr):
        parts.append(f"lr={float(lr):g}")
    params = row.get("params")
    if isinstance(params, Mapping):
        for key, value in params.items():
            short = str(key)
            for prefix in ("optimizer__", "module__"):
                short = short.removeprefix(prefix)
            if short in ("optimizer", "lr"):
                continue
            parts.append(f"{short}={_format_value(value)}")
    elif isinstance(params, str) and params.strip() not in ("", "{}"):
        parts.append(params.strip())
    return " ".join(parts)


def plot_optimizer_comparison(df: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Bar chart of the mean test score of optimizer configurations, with ± std error bars.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per configuration with the columns ``optimizer``, ``lr``, ``params``
        (a dict of further settings such as ``{"optimizer__momentum": 0.9}``, a string,
        or empty), ``mean_test_score`` and ``std_test_score``. Bars follow the row
        order, top to bottom; the best configuration is highlighted.
    ax : Axes, default=None
        Axes to draw on. None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes, with one horizontal bar per configuration, labelled
        ``"<optimizer> lr=<lr> <param>=<value> ..."``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from cnn_estimators.plots import plot_optimizer_comparison
    >>> df = pd.DataFrame({"optimizer": ["adam", "sgd"], "lr": [1e-3, 0.1],
    ...                    "params": [{}, {"optimizer__momentum": 0.9}],
    ...                    "mean_test_score": [0.91, 0.88], "std_test_score": [0.01, 0.02]})
    >>> ax = plot_optimizer_comparison(df)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['adam lr=0.001', 'sgd lr=0.1 momentum=0.9']
    """
    func = "plot_optimizer_comparison"
    _check_columns(df, ["optimizer", "mean_test_score"], func)
    if len(df) == 0:
        raise ValueError(f"{func} got an empty data frame.")
    rows = df.to_dict("records")
    labels = [_config_label(row) for row in rows]
    means = np.asarray([float(row["mean_test_score"]) for row in rows])
    stds = (
        np.asarray([float(row["std_test_score"]) for row in rows])
        if "std_test_score" in df.columns
        else None
    )
    if ax is None:
        height = 1.2 + 0.45 * len(rows)
        _, ax = _pyplot().subplots(figsize=(7.0, height), layout="constrained")
    positions = np.arange(len(rows))
    colors = ["C0"] * len(rows)
    if np.isfinite(means).any():
        colors[int(np.nanargmax(means))] = "C2"
    bars = ax.barh(
        positions,
        means,
        xerr=stds,
        color=colors,
        capsize=4,
        error_kw={"elinewidth": 1.2, "ecolor": "0.2"},
    )
    ax.bar_label(bars, fmt="%.3f", padding=4, fontsize=8)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel("mean test score (± std)")
    ax.set_title("Optimizer comparison")
    ax.grid(True, axis="x", alpha=0.3)
    return ax


def _is_fold(value: Any) -> bool:
    if isinstance(value, np.generic):
        value = value.item()
    if _is_int(value):
        return True
    if isinstance(value, str):
        return value.strip().isdigit()
    return isinstance(value, float) and value.is_integer()


def _row_key(fold: Any, label: Any) -> Any:
    """The ``fold`` value of a row, or its index label when ``fold`` is missing (NaN)."""
    if fold is None or (isinstance(fold, float) and math.isnan(fold)):
        return label
    return fold


def plot_cv_results(df: pd.DataFrame, *, metric: str = "accuracy", ax: Axes | None = None) -> Axes:
    """Bar chart of a cross-validation score per fold, with its mean and ± std band.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per fold, identified by an integer ``fold`` column (or, without that
        column or where it is NaN, by the index), plus optional rows whose ``fold`` (or
        index label) is "mean" and "std".
        When those rows are missing the mean and the standard deviation (``ddof=0``) of
        the folds are used.
    metric : str, default="accuracy"
        The column to plot: ``metric``, else ``test_<metric>``, else ``valid_<metric>``.
    ax : Axes, default=None
        Axes to draw on. None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes, with one bar per fold, a horizontal line at the mean and a shaded
        band of ± one standard deviation.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from cnn_estimators.plots import plot_cv_results
    >>> df = pd.DataFrame({"fold": [0, 1, 2, "mean", "std"],
    ...                    "accuracy": [0.90, 0.92, 0.88, 0.90, 0.016]})
    >>> ax = plot_cv_results(df)
    >>> len(ax.patches), ax.get_ylabel()
    (3, 'accuracy')
    """
    func = "plot_cv_results"
    _check_columns(df, [], func)
    if not isinstance(metric, str):
        raise ValueError(f"The 'metric' parameter of {func} must be a str; got {metric!r}.")
    column = next(
        (c for c in (metric, f"test_{metric}", f"valid_{metric}") if c in df.columns), None
    )
    if column is None:
        numeric = [c for c in df.columns if c != "fold"]
        raise ValueError(
            f"{func}: the data frame has no column {metric!r} (nor 'test_{metric}'); its "
            f"columns are {numeric}. Pass metric=<one of them>."
        )
    if "fold" in df.columns:
        keys = [_row_key(f, i) for f, i in zip(df["fold"], df.index, strict=True)]
    else:
        keys = list(df.index)
    values = [float(v) for v in df[column]]
    folds = [(int(float(k)), v) for k, v in zip(keys, values, strict=True) if _is_fold(k)]
    if not folds:
        raise ValueError(f"{func}: the data frame has no fold rows (integer 'fold' values).")
    named = {str(k).lower(): v for k, v in zip(keys, values, strict=True) if isinstance(k, str)}
    scores = np.asarray([v for _, v in folds])
    mean = named.get("mean", float(scores.mean()))
    std = named.get("std", float(scores.std()))

    if ax is None:
        _, ax = _pyplot().subplots(
            figsize=(1.0 + 0.6 * len(folds) + 2.0, 3.8), layout="constrained"
        )
    positions = np.arange(len(folds))
    bars = ax.bar(positions, scores, color="C0", width=0.7, label="fold")
    ax.bar_label(bars, fmt="%.3f", padding=2, fontsize=8)
    ax.set_xticks(positions, [str(k) for k, _ in folds])
    span = (-0.5, len(folds) - 0.5)
    ax.axhline(mean, color="C3", linewidth=1.5, label=f"mean = {mean:.3f}")
    ax.fill_between(span, mean - std, mean + std, color="C3", alpha=0.2, label=f"± std = {std:.3f}")
    ax.set_xlim(*span)
    ax.set_xlabel("fold")
    ax.set_ylabel(metric)
    ax.set_title(f"Cross-validation {metric}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def _image_titles_grid(
    X: Any,
    indices: Sequence[int],
    titles: Sequence[str],
    *,
    func: str,
    ncols: int,
    fig: Any,
    suptitle: str,
    empty: str,
) -> Any:
    if not indices:
        fig, axes = _image_grid(fig, 1, 1, size=3.0)
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, empty, ha="center", va="center", transform=axes[0].transAxes)
        fig.suptitle(suptitle)
        return fig
    images, _ = check_images(_take(X, indices), owner=func)
    fig, axes = _image_grid(fig, len(indices), ncols, size=1.7)
    for ax, image, title in zip(axes, images.numpy(), titles, strict=True):
        _show_chw(ax, image)
        ax.set_title(title, fontsize=8)
    fig.suptitle(suptitle)
    return fig


def plot_misclassified(
    X: Any,
    y_true: Any,
    y_pred: Any,
    *,
    indices: Sequence[int] | None = None,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    n: int = 16,
    ncols: int = 8,
    fig: Figure | SubFigure | None = None,
) -> Figure | SubFigure:
    """Show misclassified images titled "true → predicted".

    Parameters
    ----------
    X : array-like or tensor
        The images, in any layout the estimators accept: (N, C, H, W), (N, H, W),
        (N, H, W, C) or flat square rows (N, H*W). Only the shown ones are converted.
    y_true, y_pred : array-like of shape (N,)
        True and predicted labels.
    indices : sequence of int, default=None
        The images to show (at most ``n`` of them); None takes the first ``n`` images
        with ``y_true != y_pred``.
    class_names : sequence or dict, default=None
        Display names: a sequence indexed by integer labels, or a dict label → name.
    n : int, default=16
        Maximum number of images.
    ncols : int, default=8
        Number of columns of the grid.
    fig : Figure or SubFigure, default=None
        Figure to draw on (it is cleared first). None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per image, titled ``"<true> → <predicted>"`` (a single axes with a note
        when nothing is misclassified).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators.plots import plot_misclassified
    >>> X, y = load_digits(return_X_y=True)
    >>> y_pred = y.copy()
    >>> y_pred[[3, 7]] = 0
    >>> fig = plot_misclassified(X, y, y_pred)
    >>> [ax.get_title() for ax in fig.axes]
    ['3 → 0', '7 → 0']
    """
    func = "plot_misclassified"
    n = _check_positive_int(n, "n", func)
    ncols = _check_positive_int(ncols, "ncols", func)
    size = _n_samples(X, func)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != (size,) or y_pred.shape != (size,):
        raise ValueError(
            f"{func}: X has {size} images but y_true has shape {y_true.shape} and y_pred "
            f"{y_pred.shape}; give one label of each per image."
        )
    if indices is None:
        chosen = [int(i) for i in np.flatnonzero(y_true != y_pred)[:n]]
    else:
        chosen = _check_indices(indices, size, "indices", func, "images")[:n]
    titles = [
        f"{_class_name(y_true[i], class_names)} → {_class_name(y_pred[i], class_names)}"
        for i in chosen
    ]
    return _image_titles_grid(
        X,
        chosen,
        titles,
        func=func,
        ncols=ncols,
        fig=fig,
        suptitle="Misclassified images (true → predicted)",
        empty="no misclassified images",
    )


def plot_top_losses(
    X: Any,
    df: pd.DataFrame,
    *,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    n: int | None = None,
    ncols: int = 8,
    fig: Figure | SubFigure | None = None,
) -> Figure | SubFigure:
    """Show the images with the highest loss, titled with their labels, loss and p(true).

    Parameters
    ----------
    X : array-like or tensor
        The images (any layout :func:`plot_misclassified` accepts).
    df : pandas.DataFrame
        One row per image to show, in order, with the columns ``index`` (row of ``X``),
        ``true``, ``predicted``, ``loss`` and ``p_true`` (the predicted probability of
        the true class).
    class_names : sequence or dict, default=None
        Display names of the labels (see :func:`plot_misclassified`).
    n : int, default=None
        Show only the first ``n`` rows; None shows all.
    ncols : int, default=8
        Number of columns of the grid.
    fig : Figure or SubFigure, default=None
        Figure to draw on (it is cleared first). None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per row, titled ``"<true> → <predicted>"`` over
        ``"loss=<loss> p=<p_true>"``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators.plots import plot_top_losses
    >>> X, y = load_digits(return_X_y=True)
    >>> df = pd.DataFrame({"index": [5, 9], "true": [5, 9], "predicted": [3, 8],
    ...                    "loss": [4.2, 3.1], "p_true": [0.02, 0.05]})
    >>> fig = plot_top_losses(X, df)
    >>> fig.axes[0].get_title()
    '5 → 3\\nloss=4.20 p=0.02'
    """
    func = "plot_top_losses"
    _check_columns(df, ["index", "true", "predicted"], func)
    ncols = _check_positive_int(ncols, "ncols", func)
    rows = df.to_dict("records")
    if n is not None:
        rows = rows[: _check_positive_int(n, "n", func)]
    size = _n_samples(X, func)
    chosen = (
        _check_indices([r["index"] for r in rows], size, "index column", func, "images")
        if rows
        else []
    )
    titles = []
    for row in rows:
        title = (
            f"{_class_name(row['true'], class_names)} → "
            f"{_class_name(row['predicted'], class_names)}"
        )
        extra = []
        if _finite(row.get("loss")):
            extra.append(f"loss={float(row['loss']):.2f}")
        if _finite(row.get("p_true")):
            extra.append(f"p={float(row['p_true']):.2f}")
        titles.append(title + ("\n" + " ".join(extra) if extra else ""))
    return _image_titles_grid(
        X,
        chosen,
        titles,
        func=func,
        ncols=ncols,
        fig=fig,
        suptitle="Top losses (true → predicted)",
        empty="no images",
    )


def plot_confusion_matrix(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    normalize: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> ConfusionMatrixDisplay:
    """Confusion matrix of a fitted classifier on ``(X, y)``.

    A thin wrapper over :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_estimator`
    with all the estimator's classes as rows and columns (``labels=classes_``), the
    class names as tick labels, and vertical x tick labels when a name is longer than
    four characters.

    Parameters
    ----------
    estimator : fitted classifier
        Any fitted scikit-learn classifier (with ``classes_``).
    X : array-like
        Images, in any layout the estimator accepts.
    y : array-like of shape (n_samples,)
        True labels.
    class_names : sequence or dict, default=None
        Names for ``estimator.classes_``: a sequence in the order of ``classes_``, or a
        dict label → name. None shows the labels.
    normalize : {"true", "pred", "all"}, default=None
        Normalise over the true labels (rows), the predictions (columns) or all cells;
        None shows counts. Normalised values are printed with two decimals.
    ax : Axes, default=None
        Axes to draw on. None creates a new figure.
    **kwargs
        Passed on to ``from_estimator`` (e.g. ``cmap``, ``colorbar``,
        ``xticks_rotation``, ``values_format``).

    Returns
    -------
    display : sklearn.metrics.ConfusionMatrixDisplay
        With ``figure_``, ``ax_`` and ``confusion_matrix``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from cnn_estimators.plots import plot_confusion_matrix
    >>> X, y = load_digits(n_class=3, return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> disp = plot_confusion_matrix(clf, X, y, class_names=["zero", "one", "two"])
    >>> [t.get_text() for t in disp.ax_.get_xticklabels()]
    ['zero', 'one', 'two']
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    func = "plot_confusion_matrix"
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"The 'normalize' parameter of {func} must be 'true', 'pred', 'all' or None; "
            f"got {normalize!r}."
        )
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet: {func} needs a "
            "fitted classifier. Call 'fit' with appropriate arguments first."
        )
    classes = list(classes)
    if class_names is None:
        labels = [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    elif isinstance(class_names, Mapping):
        labels = [_class_name(c, class_names) for c in classes]
    else:
        labels = [str(name) for name in class_names]
        if len(labels) != len(classes):
            raise ValueError(
                f"The 'class_names' parameter of {func} has {len(labels)} names, but the "
                f"estimator has {len(classes)} classes {classes}."
            )
    long_labels = max(len(label) for label in labels) > 4
    kwargs.setdefault("xticks_rotation", "vertical" if long_labels else "horizontal")
    if normalize is not None:
        kwargs.setdefault("values_format", ".2f")
    display = ConfusionMatrixDisplay.from_estimator(
        estimator,
        X,
        y,
        labels=classes,
        display_labels=labels,
        normalize=normalize,
        ax=ax,
        **kwargs,
    )
    suffix = {None: "", "true": " (rows sum to 1)", "pred": " (columns sum to 1)", "all": ""}
    display.ax_.set_title(f"Confusion matrix{suffix[normalize]}")
    return display


def plot_lr_find(result: Any, *, ax: Any = None) -> Any:
    """The learning-rate range test: loss against learning rate (log scale).

    Parameters
    ----------
    result : LRFindResult
        What :func:`cnn_estimators.experiments.lr_find` returns.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib Axes
        Raw and smoothed loss, with the suggested learning rate marked.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from cnn_estimators.experiments import LRFindResult
    >>> history = pd.DataFrame({"lr": [1e-4, 1e-3, 1e-2], "loss": [2.3, 1.9, 3.0],
    ...                         "smoothed_loss": [2.3, 2.0, 2.4]})
    >>> ax = plot_lr_find(LRFindResult(history, suggested_lr=1e-3, diverged=True))
    >>> ax.get_xscale()
    'log'
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    history = result.history
    ax.plot(history["lr"], history["loss"], alpha=0.35, label="loss")
    ax.plot(history["lr"], history["smoothed_loss"], label="smoothed loss")
    ax.axvline(
        result.suggested_lr,
        color="C3",
        linestyle="--",
        label=f"suggested lr = {result.suggested_lr:.2g}",
    )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("Learning-rate range test" + (" (stopped: diverged)" if result.diverged else ""))
    ax.legend()
    return ax
