"""The deterministic transforms: normalisation, resizing, channel conversion, composition."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import is_real
from ._base import _check_size, _fmt, _ImageTransform, _invalid

__all__ = ["Compose", "Normalize", "Resize", "ToRGB"]


def _channel_values(name: str, value: Any, owner: str, *, positive: bool) -> tuple[float, ...]:
    kind = "a float or a non-empty sequence of finite floats" + (" > 0" if positive else "")
    values = (value,) if is_real(value) else value
    if isinstance(values, torch.Tensor):
        values = values.flatten().tolist()
    if (
        not isinstance(values, Sequence)
        or isinstance(values, str)
        or len(values) == 0
        or not all(is_real(v) and math.isfinite(v) and (v > 0 or not positive) for v in values)
    ):
        raise _invalid(name, owner, kind, value)
    return tuple(float(v) for v in values)


class Normalize(_ImageTransform):
    """Subtract a per-channel mean and divide by a per-channel standard deviation.

    Parameters
    ----------
    mean : float or sequence of float
        One value per channel, or a single value for all channels.
    std : float or sequence of float
        Positive; one value per channel, or a single value for all channels.

    Notes
    -----
    A single-channel ``mean`` and ``std`` apply to images with any number of channels;
    values for 3 channels need 3-channel images. The constants are float32 buffers of
    shape ``(C, 1, 1)`` (so the module can move to any device, MPS included), cast to the
    input's dtype and device: float64 input stays float64.

    Examples
    --------
    >>> import torch
    >>> t = Normalize((0.5,), (0.25,))
    >>> t(torch.full((2, 1, 2, 2), 0.75))[0, 0, 0]
    tensor([1., 1.])
    >>> t
    Normalize(mean=(0.5,), std=(0.25,))
    """

    _needs_float = True

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        super().__init__()
        mean_t = _channel_values("mean", mean, "Normalize", positive=False)
        std_t = _channel_values("std", std, "Normalize", positive=True)
        if len(mean_t) != len(std_t) and 1 not in (len(mean_t), len(std_t)):
            raise ValueError(
                f"The 'mean' and 'std' parameters of Normalize must have the same number of "
                f"channels (or one of them a single value); got {len(mean_t)} and "
                f"{len(std_t)}."
            )
        self.register_buffer("mean", torch.tensor(mean_t).reshape(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std_t).reshape(-1, 1, 1))

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        channels = max(self.mean.shape[0], self.std.shape[0])
        if channels != 1 and channels != x.shape[1]:
            raise ValueError(
                f"Normalize has a mean and std for {channels} channels, but the images have "
                f"{x.shape[1]} channel(s). Use the statistics of the images' dataset, or "
                "convert the images first (e.g. ToRGB() for grayscale images)."
            )
        mean = self.mean.to(device=x.device, dtype=x.dtype)
        std = self.std.to(device=x.device, dtype=x.dtype)
        return (x - mean) / std

    def extra_repr(self) -> str:
        mean = tuple(self.mean.flatten().tolist())
        std = tuple(self.std.flatten().tolist())
        return f"mean={_fmt(mean)}, std={_fmt(std)}"


class Resize(_ImageTransform):
    """Resize images with antialiased bilinear interpolation.

    Parameters
    ----------
    size : int or (height, width)
        Output size; an int gives square images.

    Examples
    --------
    >>> import torch
    >>> Resize(32)(torch.rand(4, 1, 28, 28)).shape
    torch.Size([4, 1, 32, 32])
    >>> Resize((16, 24))(torch.rand(3, 28, 28)).shape
    torch.Size([3, 16, 24])
    """

    _needs_float = True

    def __init__(self, size: int | tuple[int, int]) -> None:
        super().__init__()
        self.size = _check_size("size", size, "Resize", optional=False)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == self.size:
            return x
        return F.interpolate(
            x, size=self.size, mode="bilinear", antialias=True, align_corners=False
        )

    def extra_repr(self) -> str:
        return f"size={_fmt(self.size)}"


class ToRGB(_ImageTransform):
    """Repeat the channel of grayscale images three times; RGB images pass unchanged.

    Handy for networks built for RGB input (such as a pretrained ResNet) on grayscale data.

    Examples
    --------
    >>> import torch
    >>> ToRGB()(torch.rand(4, 1, 28, 28)).shape
    torch.Size([4, 3, 28, 28])
    >>> ToRGB()(torch.rand(3, 8, 8)).shape
    torch.Size([3, 8, 8])
    """

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        if channels == 3:
            return x
        if channels == 1:
            return x.repeat(1, 3, 1, 1)
        raise ValueError(f"ToRGB expects images with 1 or 3 channels; got {channels}.")


class Compose(nn.Sequential):
    """Apply transforms one after the other (an :class:`torch.nn.Sequential`).

    Parameters
    ----------
    *transforms : nn.Module
        The transforms, in order; a single list or tuple of them is also accepted.

    Examples
    --------
    >>> import torch
    >>> t = Compose(RandomHorizontalFlip(), Normalize((0.5,), (0.5,)))
    >>> t(torch.rand(4, 1, 8, 8)).shape
    torch.Size([4, 1, 8, 8])
    >>> len(Compose([RandomCrop(padding=2), RandomHorizontalFlip()]))
    2
    """

    def __init__(self, *transforms: nn.Module | Sequence[nn.Module]) -> None:
        if len(transforms) == 1 and isinstance(transforms[0], (list, tuple)):
            transforms = tuple(transforms[0])
        for i, t in enumerate(transforms):
            if not isinstance(t, nn.Module):
                raise TypeError(
                    f"Compose expects torch.nn.Module transforms; transform {i} is "
                    f"{t!r} ({type(t).__name__}). Wrap plain functions in an nn.Module."
                )
        super().__init__(*transforms)
