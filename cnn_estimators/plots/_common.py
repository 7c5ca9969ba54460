"""Helpers shared by the plotting modules: argument checks, image grids, modules."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure


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


# Training curves


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and math.isfinite(float(value))
