"""What every transform shares: argument checks, the batch/image base class, sampling."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import is_int, is_real

# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------


def _invalid(name: str, owner: str, kind: str, value: Any) -> ValueError:
    return ValueError(f"The '{name}' parameter of {owner} must be {kind}; got {value!r} instead.")


def _check_float(name: str, value: Any, owner: str, *, kind: str, ok: Callable) -> float:
    if not is_real(value) or not math.isfinite(value) or not ok(value):
        raise _invalid(name, owner, kind, value)
    return float(value)


def _check_pair(
    name: str, value: Any, owner: str, *, kind: str, ok: Callable[[float], bool]
) -> tuple[float, float]:
    """A ``(low, high)`` pair of finite reals with ``low <= high``, each passing ``ok``."""
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 2
        or not all(is_real(v) and math.isfinite(v) and ok(v) for v in value)
        or value[0] > value[1]
    ):
        raise _invalid(name, owner, kind, value)
    return (float(value[0]), float(value[1]))


def _check_size(name: str, value: Any, owner: str, *, optional: bool) -> tuple[int, int] | None:
    """An int (square) or ``(height, width)`` pair of positive ints, or None if allowed."""
    if value is None and optional:
        return None
    if is_int(value) and value > 0:
        return (int(value), int(value))
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(is_int(v) and v > 0 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    kind = "a positive int or a (height, width) pair of positive ints"
    raise _invalid(name, owner, kind + (", or None" if optional else ""), value)


def _fmt(value: Any) -> str:
    """Format numbers in reprs without spurious float digits."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


# ---------------------------------------------------------------------------
# base class
# ---------------------------------------------------------------------------


class _ImageTransform(nn.Module):
    """Accept ``(B, C, H, W)`` or ``(C, H, W)`` and delegate batches to ``_transform``."""

    #: Whether the transform interpolates (and so needs floating point input).
    _needs_float = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Transform a batch ``(B, C, H, W)`` or a single image ``(C, H, W)``.

        Parameters
        ----------
        x : torch.Tensor
            Images; floating point for transforms that interpolate or normalise.

        Returns
        -------
        torch.Tensor
            The transformed images, with the dtype and number of dimensions of ``x``.
        """
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} expects a torch.Tensor; got {type(x).__name__}.")
        if x.ndim not in (3, 4):
            raise ValueError(
                f"{name} expects images of shape (B, C, H, W) or (C, H, W); got a tensor of "
                f"shape {tuple(x.shape)}."
            )
        if self._needs_float and not x.is_floating_point():
            raise TypeError(
                f"{name} expects floating point images; got dtype {x.dtype}. Convert them "
                "first, e.g. x.float() / 255."
            )
        if x.ndim == 3:
            return self._transform(x.unsqueeze(0)).squeeze(0)
        return self._transform(x)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _param_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype in which to draw random parameters (and build grids) for ``x``."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _uniform(n: int, low: float, high: float, x: torch.Tensor) -> torch.Tensor:
    """``n`` draws from U[low, high) on ``x``'s device, from torch's default generator."""
    u = torch.rand(n, device=x.device, dtype=_param_dtype(x))
    return low + (high - low) * u


def _sample(
    x: torch.Tensor, theta: torch.Tensor, size: tuple[int, int], padding: str
) -> torch.Tensor:
    """Bilinear ``grid_sample`` of ``x`` through the per-image affine maps ``theta``."""
    b, c = x.shape[:2]
    grid = F.affine_grid(theta.to(x.dtype), [b, c, size[0], size[1]], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)
