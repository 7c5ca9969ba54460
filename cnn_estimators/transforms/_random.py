"""The random transforms: each image of a batch gets its own draw."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .._validation import is_int, is_real
from ._base import (
    _check_float,
    _check_pair,
    _check_size,
    _fmt,
    _ImageTransform,
    _invalid,
    _sample,
    _uniform,
)

__all__ = [
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
]

_PADDING_MODES = ("constant", "reflect", "replicate")


class RandomHorizontalFlip(_ImageTransform):
    """Flip each image left-right independently with probability ``p``.

    Parameters
    ----------
    p : float, default=0.5
        Probability that an image is flipped, in [0, 1].

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(4.0).reshape(1, 1, 1, 4).repeat(6, 1, 1, 1)
    >>> RandomHorizontalFlip(p=1.0)(x)[0, 0, 0]
    tensor([3., 2., 1., 0.])
    >>> RandomHorizontalFlip()
    RandomHorizontalFlip(p=0.5)
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _check_float(
            "p", p, "RandomHorizontalFlip", kind="a float in [0, 1]", ok=lambda v: 0 <= v <= 1
        )

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        flip = torch.rand(x.shape[0], device=x.device) < self.p
        return torch.where(flip[:, None, None, None], x.flip(-1), x)

    def extra_repr(self) -> str:
        return f"p={_fmt(self.p)}"


class RandomCrop(_ImageTransform):
    """Pad each image, then crop it at an independent random offset.

    With the defaults this is the classic CIFAR-10 augmentation: pad 4 pixels of zeros on
    each side and crop back to the original size, which shifts each image by up to 4
    pixels in each direction.

    Parameters
    ----------
    size : int, (height, width) or None, default=None
        Size of the crop; None keeps the input's height and width.
    padding : int or sequence of int, default=4
        Pixels added to each border before cropping: an int for all four borders,
        ``(horizontal, vertical)``, or ``(left, top, right, bottom)`` as in torchvision.
    fill : float, default=0.0
        Value of the padded pixels for ``padding_mode="constant"``.
    padding_mode : {"constant", "reflect", "replicate"}, default="constant"
        How the border is padded (see :func:`torch.nn.functional.pad`).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(16, 3, 32, 32)
    >>> RandomCrop(padding=4)(x).shape
    torch.Size([16, 3, 32, 32])
    >>> RandomCrop(size=24, padding=0)(x).shape
    torch.Size([16, 3, 24, 24])
    >>> RandomCrop(padding=2, padding_mode="reflect")
    RandomCrop(size=None, padding=2, fill=0, padding_mode='reflect')
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        padding: int | Sequence[int] = 4,
        fill: float = 0.0,
        padding_mode: str = "constant",
    ) -> None:
        super().__init__()
        owner = "RandomCrop"
        self.size = _check_size("size", size, owner, optional=True)
        self._pad = self._check_padding(padding)
        self.padding = int(padding) if is_int(padding) else tuple(int(p) for p in padding)
        self.fill = _check_float("fill", fill, owner, kind="a finite float", ok=lambda v: True)
        if padding_mode not in _PADDING_MODES:
            raise _invalid("padding_mode", owner, f"one of {_PADDING_MODES}", padding_mode)
        self.padding_mode = padding_mode

    @staticmethod
    def _check_padding(padding: Any) -> tuple[int, int, int, int]:
        """Return ``(left, right, top, bottom)``, the order of :func:`F.pad`."""
        if is_int(padding) and padding >= 0:
            p = int(padding)
            return (p, p, p, p)
        if (
            isinstance(padding, Sequence)
            and not isinstance(padding, str)
            and len(padding) in (2, 4)
            and all(is_int(v) and v >= 0 for v in padding)
        ):
            if len(padding) == 2:
                h, v = (int(p) for p in padding)
                return (h, h, v, v)
            left, top, right, bottom = (int(p) for p in padding)
            return (left, right, top, bottom)
        raise _invalid(
            "padding",
            "RandomCrop",
            "a non-negative int, or a sequence of 2 or 4 non-negative ints",
            padding,
        )

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        left, right, top, bottom = self._pad
        if any(self._pad):
            if self.padding_mode == "reflect" and (max(left, right) >= w or max(top, bottom) >= h):
                raise ValueError(
                    f"RandomCrop with padding_mode='reflect' needs padding smaller than the "
                    f"image; got padding {_fmt(self.padding)} for {h}x{w} images."
                )
            if self.padding_mode == "constant":
                x = F.pad(x, self._pad, mode="constant", value=self.fill)
            else:
                x = F.pad(x, self._pad, mode=self.padding_mode)
        hp, wp = h + top + bottom, w + left + right
        ch, cw = self.size if self.size is not None else (h, w)
        if ch > hp or cw > wp:
            raise ValueError(
                f"RandomCrop cannot crop {ch}x{cw} from {h}x{w} images padded to {hp}x{wp}; "
                "reduce 'size' or increase 'padding'."
            )
        device = x.device
        tops = torch.randint(0, hp - ch + 1, (b,), device=device)
        lefts = torch.randint(0, wp - cw + 1, (b,), device=device)
        # One gather on the flattened padded images: the window of image i starts at
        # tops[i] * wp + lefts[i]; its pixels sit at fixed offsets from there.
        window = torch.arange(ch, device=device)[:, None] * wp + torch.arange(cw, device=device)
        index = (tops * wp + lefts)[:, None] + window.reshape(1, -1)  # (B, ch * cw)
        flat = x.reshape(b, c, hp * wp)
        out = flat.gather(2, index[:, None, :].expand(b, c, ch * cw))
        return out.reshape(b, c, ch, cw)

    def extra_repr(self) -> str:
        return (
            f"size={_fmt(self.size)}, padding={_fmt(self.padding)}, fill={_fmt(self.fill)}, "
            f"padding_mode={self.padding_mode!r}"
        )


class RandomResizedCrop(_ImageTransform):
    """Crop a random area and aspect ratio of each image, resized to ``size``.

    For each image, the crop's area is a fraction of the image's drawn uniformly from
    ``scale`` and its aspect ratio (width / height) is drawn log-uniformly from ``ratio``;
    the box is then shrunk, if needed, to fit inside the image and placed at a uniformly
    random position. It is resampled to ``size`` with bilinear interpolation
    (:func:`torch.nn.functional.grid_sample`, ``align_corners=False``), so crop boxes need
    not be whole pixels.

    Parameters
    ----------
    size : int, (height, width) or None, default=None
        Output size; None keeps the input's height and width.
    scale : (float, float), default=(0.08, 1.0)
        Range of the crop's area as a fraction of the image, in (0, 1].
    ratio : (float, float), default=(3/4, 4/3)
        Range of the crop's aspect ratio (width / height), positive.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(16, 3, 32, 32)
    >>> RandomResizedCrop()(x).shape
    torch.Size([16, 3, 32, 32])
    >>> RandomResizedCrop(size=24, scale=(0.5, 1.0))(x).shape
    torch.Size([16, 3, 24, 24])
    """

    _needs_float = True

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
    ) -> None:
        super().__init__()
        owner = "RandomResizedCrop"
        self.size = _check_size("size", size, owner, optional=True)
        self.scale = _check_pair(
            "scale",
            scale,
            owner,
            kind="a (low, high) pair with 0 < low <= high <= 1",
            ok=lambda v: 0 < v <= 1,
        )
        self.ratio = _check_pair(
            "ratio",
            ratio,
            owner,
            kind="a (low, high) pair with 0 < low <= high",
            ok=lambda v: v > 0,
        )

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        area = _uniform(b, *self.scale, x) * (h * w)
        log_ratio = _uniform(b, math.log(self.ratio[0]), math.log(self.ratio[1]), x)
        aspect = torch.exp(log_ratio)
        cw = torch.sqrt(area * aspect).clamp(max=w)  # crop width and height in pixels
        ch = torch.sqrt(area / aspect).clamp(max=h)
        left = _uniform(b, 0.0, 1.0, x) * (w - cw)
        top = _uniform(b, 0.0, 1.0, x) * (h - ch)
        # Normalised coordinates (align_corners=False): -1 and 1 are the image's outer
        # edges, so the box [left, left + cw] maps to a half-width cw / w around its centre.
        theta = torch.zeros(b, 2, 3, device=x.device, dtype=area.dtype)
        theta[:, 0, 0] = cw / w
        theta[:, 0, 2] = (2 * left + cw) / w - 1
        theta[:, 1, 1] = ch / h
        theta[:, 1, 2] = (2 * top + ch) / h - 1
        # "border": samples within half a pixel of the image's edge repeat the edge pixel,
        # like resizing does, instead of blending in zeros.
        return _sample(x, theta, self.size or (h, w), "border")

    def extra_repr(self) -> str:
        return f"size={_fmt(self.size)}, scale={_fmt(self.scale)}, ratio={_fmt(self.ratio)}"


class RandomAffine(_ImageTransform):
    """Rotate, translate and scale each image by its own random amounts.

    All three are drawn independently per image and applied in one bilinear
    :func:`torch.nn.functional.grid_sample` (``align_corners=False``) about the image's
    centre. Pixels that come from outside the image take the value ``fill``.

    Parameters
    ----------
    degrees : float or (float, float), default=0.0
        Rotation angle range in degrees: ``d`` means [-d, d]; a pair ``(low, high)`` is
        used as is. Positive angles turn the image counter-clockwise, as in torchvision.
    translate : (float, float) or None, default=None
        Maximum shift ``(fx, fy)`` as a fraction of the width and the height: the shift
        is drawn from [-fx * W, fx * W] and [-fy * H, fy * H]. None: no shift.
    scale : (float, float) or None, default=None
        Range of the zoom factor (> 1 enlarges the content). None: no scaling.
    fill : float, default=0.0
        Value of the pixels that come from outside the image.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(16, 1, 28, 28)
    >>> t = RandomAffine(degrees=7, translate=(0.05, 0.05))
    >>> t(x).shape
    torch.Size([16, 1, 28, 28])
    >>> t
    RandomAffine(degrees=(-7, 7), translate=(0.05, 0.05), scale=None, fill=0)
    """

    _needs_float = True

    def __init__(
        self,
        degrees: float | tuple[float, float] = 0.0,
        translate: tuple[float, float] | None = None,
        scale: tuple[float, float] | None = None,
        fill: float = 0.0,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if is_real(degrees):
            d = _check_float(
                "degrees",
                degrees,
                owner,
                kind="a non-negative float or a (low, high) pair",
                ok=lambda v: v >= 0,
            )
            self.degrees = (-d, d)
        else:
            self.degrees = _check_pair(
                "degrees",
                degrees,
                owner,
                kind="a non-negative float or a (low, high) pair",
                ok=lambda v: True,
            )
        self.translate = (
            None
            if translate is None
            else _check_pair(
                "translate",
                translate,
                owner,
                kind="None or a pair (fx, fy) of fractions in [0, 1]",
                ok=lambda v: 0 <= v <= 1,
            )
        )
        self.scale = (
            None
            if scale is None
            else _check_pair(
                "scale",
                scale,
                owner,
                kind="None or a (low, high) pair with 0 < low <= high",
                ok=lambda v: v > 0,
            )
        )
        self.fill = _check_float("fill", fill, owner, kind="a finite float", ok=lambda v: True)

    def _theta(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image maps from output to input normalised coordinates, shape (B, 2, 3)."""
        b, _, h, w = x.shape
        angle = torch.deg2rad(_uniform(b, *self.degrees, x))
        if self.translate is not None:
            tx = _uniform(b, -self.translate[0], self.translate[0], x) * w
            ty = _uniform(b, -self.translate[1], self.translate[1], x) * h
        else:
            tx = ty = torch.zeros_like(angle)
        s = _uniform(b, *self.scale, x) if self.scale is not None else torch.ones_like(angle)
        # In pixel units about the centre (y pointing down), the forward map is
        # out = s * R(-angle) @ in + t, R(-angle) turning the picture counter-clockwise
        # as displayed. grid_sample needs the inverse, in = R(angle) @ (out - t) / s,
        # conjugated by D = diag(w/2, h/2) to act on normalised coordinates.
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        a, b_, c, d = cos, -sin, sin, cos  # R(angle) / s = [[a, b], [c, d]]
        theta = torch.empty(b, 2, 3, device=x.device, dtype=angle.dtype)
        theta[:, 0, 0] = a
        theta[:, 0, 1] = b_ * (h / w)
        theta[:, 1, 0] = c * (w / h)
        theta[:, 1, 1] = d
        theta[:, 0, 2] = -(a * tx + b_ * ty) * (2 / w)
        theta[:, 1, 2] = -(c * tx + d * ty) * (2 / h)
        return theta

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        theta = self._theta(x)
        size = (x.shape[-2], x.shape[-1])
        if self.fill == 0:
            return _sample(x, theta, size, "zeros")
        # grid_sample pads with zeros: sample x - fill, so the outside becomes fill.
        return _sample(x - self.fill, theta, size, "zeros") + self.fill

    def extra_repr(self) -> str:
        return (
            f"degrees={_fmt(self.degrees)}, translate={_fmt(self.translate)}, "
            f"scale={_fmt(self.scale)}, fill={_fmt(self.fill)}"
        )


class RandomRotation(RandomAffine):
    """Rotate each image by its own random angle (a :class:`RandomAffine` without shifts).

    Parameters
    ----------
    degrees : float or (float, float), default=7.0
        Angle range in degrees: ``d`` means [-d, d]; a pair ``(low, high)`` is used as is.
        Positive angles turn the image counter-clockwise.
    fill : float, default=0.0
        Value of the pixels that come from outside the image.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(16, 1, 28, 28)
    >>> RandomRotation(10)(x).shape
    torch.Size([16, 1, 28, 28])
    >>> RandomRotation(10)
    RandomRotation(degrees=(-10, 10), fill=0)
    """

    def __init__(self, degrees: float | tuple[float, float] = 7.0, fill: float = 0.0) -> None:
        super().__init__(degrees=degrees, fill=fill)

    def extra_repr(self) -> str:
        return f"degrees={_fmt(self.degrees)}, fill={_fmt(self.fill)}"
