"""Curves: the training curves of a fitted estimator and the learning-rate range test."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.exceptions import NotFittedError

from ._common import _finite, _pyplot

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: History key suffixes tried for each metric name (``train_<suffix>``, ``valid_<suffix>``).
_METRIC_ALIASES = {
    "loss": ("loss",),
    "accuracy": ("acc", "accuracy"),
    "acc": ("acc", "accuracy"),
}


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
