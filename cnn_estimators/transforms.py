"""Batch image transforms that draw their randomness per image.

Every transform here is an :class:`torch.nn.Module` that takes a whole batch of images,
a float tensor ``(B, C, H, W)`` (or a single image ``(C, H, W)``), and returns a tensor of
the same dtype. They are meant for the ``train_transform`` and ``eval_transform``
parameters of :class:`~cnn_estimators.CNNClassifier`, which apply them to each batch on
the training device.

Unlike torchvision's ``v2`` transforms applied to a batch tensor, which make *one* random
draw for the whole batch (every image flipped, or none), the random transforms here draw
independently for each image, with vectorised tensor operations (no Python loop over the
images). Randomness comes from torch's default generator on the input's device, so inside
a fit -- which seeds that generator from ``random_state`` -- augmentation is reproducible.

Examples
--------
>>> import torch
>>> from cnn_estimators.transforms import augmentation, normalize
>>> x = torch.rand(8, 3, 32, 32)
>>> augmentation("cifar10")(x).shape
torch.Size([8, 3, 32, 32])
>>> normalize("cifar10")(x).shape
torch.Size([8, 3, 32, 32])
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import is_int, is_real

__all__ = [
    "MEAN_STD",
    "Compose",
    "Normalize",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "Resize",
    "ToRGB",
    "augmentation",
    "normalize",
]

#: Per-channel ``(mean, std)`` of common datasets, for images scaled to [0, 1].
#: The Fashion-MNIST values were measured on its 60,000 training images.
MEAN_STD: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

_PADDING_MODES = ("constant", "reflect", "replicate")


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


def _suggest(name: Any, valid: Iterable[str], what: str) -> ValueError:
    valid = sorted(valid)
    msg = f"Unknown {what} {name!r}; valid names are {', '.join(map(repr, valid))}."
    close = difflib.get_close_matches(str(name).lower(), valid, n=1, cutoff=0.5)
    if close:
        msg += f" Did you mean {close[0]!r}?"
    return ValueError(msg)


def _canonical(name: Any) -> Any:
    return name.lower().replace("-", "_") if isinstance(name, str) else name


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


# ---------------------------------------------------------------------------
# random transforms
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# deterministic transforms
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------


def normalize(dataset: str) -> Normalize:
    """Build the :class:`Normalize` for a dataset's channel statistics.

    Parameters
    ----------
    dataset : {"mnist", "fashion_mnist", "cifar10", "imagenet"}
        Dataset whose mean and standard deviation (see :data:`MEAN_STD`) to use. Case
        and hyphens are ignored ("Fashion-MNIST" works).

    Returns
    -------
    Normalize
        A new module.

    Examples
    --------
    >>> normalize("mnist")
    Normalize(mean=(0.1307,), std=(0.3081,))
    """
    key = _canonical(dataset)
    if key not in MEAN_STD:
        raise _suggest(dataset, MEAN_STD, "dataset")
    mean, std = MEAN_STD[key]
    return Normalize(mean, std)


_AUGMENTATIONS: dict[str, Callable[[], list[nn.Module]]] = {
    "cifar10": lambda: [RandomCrop(padding=4), RandomHorizontalFlip()],
    "cifar10_resized_crop": lambda: [RandomResizedCrop(), RandomHorizontalFlip()],
    "mnist": lambda: [RandomAffine(degrees=7, translate=(0.05, 0.05))],
    "fashion_mnist": lambda: [RandomHorizontalFlip(), RandomCrop(padding=2)],
    "imagenet": lambda: [RandomResizedCrop(), RandomHorizontalFlip()],
}


def augmentation(preset: str) -> Compose:
    """Build the training augmentation commonly used with a dataset.

    Parameters
    ----------
    preset : str
        One of

        - ``"cifar10"``: ``RandomCrop(padding=4)`` then ``RandomHorizontalFlip()``;
        - ``"cifar10_resized_crop"``: ``RandomResizedCrop()`` then
          ``RandomHorizontalFlip()``;
        - ``"mnist"``: ``RandomAffine(degrees=7, translate=(0.05, 0.05))`` (no flips:
          a mirrored digit is not the same digit);
        - ``"fashion_mnist"``: ``RandomHorizontalFlip()`` then ``RandomCrop(padding=2)``;
        - ``"imagenet"``: ``RandomResizedCrop()`` then ``RandomHorizontalFlip()``.

        Case and hyphens are ignored.

    Returns
    -------
    Compose
        New modules, for ``train_transform``; they keep the images' size.

    Examples
    --------
    >>> import torch
    >>> t = augmentation("mnist")
    >>> t
    Compose(
      (0): RandomAffine(degrees=(-7, 7), translate=(0.05, 0.05), scale=None, fill=0)
    )
    >>> t(torch.rand(8, 1, 28, 28)).shape
    torch.Size([8, 1, 28, 28])
    """
    key = _canonical(preset)
    if key not in _AUGMENTATIONS:
        raise _suggest(preset, _AUGMENTATIONS, "augmentation preset")
    return Compose(*_AUGMENTATIONS[key]())
