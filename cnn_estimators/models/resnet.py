"""``resnet18``: transfer learning with torchvision's ResNet-18.

The network is torchvision's ResNet-18 whose last layer ``fc`` is replaced by a
fresh ``Linear(512, num_classes)``, preceded by a small preprocessing module that
resizes the images to ``image_size`` x ``image_size``, repeats a grayscale channel
three times and normalises with the ImageNet mean and standard deviation. Putting
the preprocessing inside the model means the estimators can feed it the same
``[0, 1]`` images as every other model, and ``.to(device)`` moves it along.

torchvision is imported when a ResNet-18 is first built (or ``ResNet18Transfer`` first
looked up), not with the package: it takes about a second to import.
"""

from __future__ import annotations

import os
import pickle
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ._registry import _check_choice, _check_common, _check_int, _param_error, register_model

if TYPE_CHECKING:
    from torchvision.models import ResNet18_Weights

    from ._resnet18_net import ResNet18Transfer

__all__ = [
    "FREEZE_OPTIONS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImagePreprocess",
    "ResNet18Transfer",
    "resnet18",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Which top-level ResNet modules stay trainable for each ``freeze`` option.
FREEZE_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "all_but_layer4": ("layer4", "fc"),
    "all_but_fc": ("fc",),
    "none": None,
}


class ImagePreprocess(nn.Module):
    """Resize, expand grayscale to RGB and normalise images for an ImageNet backbone.

    Parameters
    ----------
    in_channels : {1, 3}
        Channels of the incoming images; 1 is repeated to 3 channels.
    image_size : int
        Images are resized (bilinear, ``align_corners=False``, no antialiasing) to
        ``image_size`` x ``image_size`` unless they already have that size.
    normalize : bool, default=True
        Subtract the ImageNet mean and divide by the ImageNet standard deviation.
        The statistics are non-persistent buffers: they follow ``.to(device)`` but
        are not part of the ``state_dict``.

    Examples
    --------
    >>> import torch
    >>> pre = ImagePreprocess(in_channels=1, image_size=64)
    >>> pre(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 3, 64, 64])
    """

    def __init__(self, in_channels: int, image_size: int, normalize: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.image_size = image_size
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the preprocessed batch of shape ``(N, 3, image_size, image_size)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Expected images of shape (N, {self.in_channels}, H, W); "
                f"got {tuple(x.shape)} instead."
            )
        size = (self.image_size, self.image_size)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.normalize:
            x = (x - self.mean) / self.std
        return x

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, image_size={self.image_size}, "
            f"normalize={self.normalize}"
        )


def __getattr__(name: str) -> Any:
    # ResNet18Transfer subclasses torchvision's ResNet: defined in a module of its own,
    # imported on first use (pickles of models that name this module still load)
    if name == "ResNet18Transfer":
        from ._resnet18_net import ResNet18Transfer

        globals()[name] = ResNet18Transfer  # found directly from now on
        return ResNet18Transfer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "ResNet18Transfer"})


def _load_state_dict_file(path: str | os.PathLike[str]) -> Mapping[str, torch.Tensor]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The weights file {path!r} given to resnet18 does not exist.")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"Could not load {path!r} with torch.load(weights_only=True): {err}. Save a "
            "state dict (torch.save(model.state_dict(), path)), not a whole model."
        ) from err
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state_dict.values()
    ):
        raise ValueError(
            f"The weights file {path!r} does not contain a state dict (a mapping from "
            f"parameter names to tensors); got {type(state_dict).__name__}."
        )
    return state_dict


def _cache_file(weights: ResNet18_Weights) -> str:
    filename = os.path.basename(urllib.parse.urlparse(weights.url).path)
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def _download_state_dict(weights: ResNet18_Weights) -> Mapping[str, torch.Tensor]:
    """Load torchvision's pretrained weights, from torch hub's cache or the internet."""
    cache_file = _cache_file(weights)
    try:
        # torchvision's own machinery: torch.hub.load_state_dict_from_url into
        # <torch.hub.get_dir()>/checkpoints, with the hash check torchvision uses.
        return weights.get_state_dict(progress=True, check_hash=True)
    except OSError as err:  # urllib.error.URLError, socket timeouts, HTTP errors...
        if os.path.exists(cache_file):
            raise
        raise RuntimeError(
            f"Could not download the pretrained ResNet-18 weights ({weights!r}): {err}. "
            f"Without internet access, download {weights.url} on another machine and "
            f"place the file at {cache_file} (the torch hub cache, set by $TORCH_HOME), "
            "or pass weights=<path to a state-dict file>, or weights=None."
        ) from err


def _resolve_weights(weights: Any) -> ResNet18_Weights | str | None:
    """Return a ``ResNet18_Weights`` member, a file path, or ``None``."""
    from torchvision.models import ResNet18_Weights

    if weights is None or isinstance(weights, ResNet18_Weights):
        return weights
    if isinstance(weights, os.PathLike):
        return os.fspath(weights)
    valid = list(ResNet18_Weights.__members__)
    if isinstance(weights, str):
        name = weights.removeprefix("ResNet18_Weights.")
        if name in ResNet18_Weights.__members__:
            return ResNet18_Weights[name]
        looks_like_path = (
            os.path.exists(weights)
            or os.sep in weights
            or (os.altsep is not None and os.altsep in weights)
            or os.path.splitext(weights)[1] != ""
        )
        if looks_like_path:
            return weights
    raise _param_error(
        "weights",
        "resnet18",
        f"None, one of {', '.join(repr(v) for v in valid)}, or the path to a state-dict file",
        weights,
    )


def _load_backbone(model: ResNet18Transfer, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load all weights except ``fc`` (which stays freshly initialised)."""
    state_dict = {
        key.removeprefix("module."): value
        for key, value in state_dict.items()
        if not key.removeprefix("module.").startswith("fc.")
    }
    result = model.load_state_dict(state_dict, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    if missing or result.unexpected_keys:
        raise ValueError(
            "The weights do not match ResNet-18: "
            f"missing keys {missing[:5]}, unexpected keys {result.unexpected_keys[:5]}."
        )


@register_model(
    "resnet18",
    # The images are resized to image_size x image_size inside the model.
    min_input_size=(1, 1),
    variable_input_size=True,
    default_input_size=(224, 224),
    default_in_channels=3,
    description="torchvision ResNet-18 for transfer learning (new fc, preprocessing inside).",
)
def resnet18(
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: tuple[int, int] = (224, 224),
    weights: str | os.PathLike[str] | None = None,
    freeze: str = "all_but_layer4",
    image_size: int = 224,
    normalize: bool = True,
) -> ResNet18Transfer:
    """ResNet-18 for transfer learning, with its ``fc`` layer replaced for ``num_classes``.

    The input images (values in ``[0, 1]``) are resized to ``image_size`` x
    ``image_size`` with bilinear interpolation, grayscale images are repeated to three
    channels, and the ImageNet normalisation (mean ``(0.485, 0.456, 0.406)``, std
    ``(0.229, 0.224, 0.225)``) is applied, all inside the model. The weights only
    initialise the backbone: ``fc`` is always a new ``Linear(512, num_classes)``.

    Parameters
    ----------
    in_channels : {1, 3}, default=3
        Number of image channels; grayscale images are repeated to RGB.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(224, 224)
        ``(height, width)`` of the training images; any size works since the images
        are resized to ``image_size``.
    weights : None, "DEFAULT", "IMAGENET1K_V1" or path, default=None
        ``None`` for random initialisation; a name of ``torchvision.models.ResNet18_Weights``
        for the ImageNet weights (downloaded once into the torch hub cache,
        ``<TORCH_HOME>/hub/checkpoints``); or the path of a file saved with
        ``torch.save(state_dict)``: a ResNet-18 state dict (its ``fc`` is ignored).
    freeze : {"all_but_layer4", "all_but_fc", "none"}, default="all_but_layer4"
        ``"all_but_layer4"``: only ``layer4`` and ``fc`` train (the course default);
        ``"all_but_fc"``: only ``fc`` trains (feature extraction); ``"none"``: full
        fine-tuning. Frozen BatchNorm layers stay in eval mode, see
        :class:`ResNet18Transfer`.
    image_size : int, default=224
        Side length the images are resized to (224 as in ImageNet; smaller is faster).
    normalize : bool, default=True
        Apply the ImageNet normalisation; set to False if the data pipeline already
        normalises the images.

    Returns
    -------
    model : ResNet18Transfer
        The network (a ``torchvision.models.ResNet`` with a ``preprocess`` submodule).

    Raises
    ------
    ValueError
        If an argument is invalid or the weights file does not hold ResNet-18 weights.
    FileNotFoundError
        If ``weights`` is a path that does not exist.
    RuntimeError
        If the ImageNet weights are not cached and cannot be downloaded; the message
        names the cache file where a pre-downloaded copy can be placed.

    Examples
    --------
    >>> import torch
    >>> net = resnet18(in_channels=1, num_classes=10, image_size=32, weights=None)
    >>> net(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    in_channels, num_classes, input_size = _check_common(
        "resnet18", in_channels, num_classes, input_size
    )
    if in_channels not in (1, 3):
        raise _param_error("in_channels", "resnet18", "1 (grayscale) or 3 (RGB)", in_channels)
    image_size = _check_int(image_size, "image_size", "resnet18", minimum=1)
    if not isinstance(normalize, bool):
        raise _param_error("normalize", "resnet18", "a bool", normalize)
    freeze = _check_choice(freeze, "freeze", "resnet18", FREEZE_OPTIONS)
    from torchvision.models import ResNet18_Weights

    from ._resnet18_net import ResNet18Transfer

    resolved = _resolve_weights(weights)
    # Load (or fail) before building, so errors come fast.
    if resolved is None:
        state_dict = None
    elif isinstance(resolved, ResNet18_Weights):
        state_dict = _download_state_dict(resolved)
    else:
        state_dict = _load_state_dict_file(resolved)

    model = ResNet18Transfer(in_channels, num_classes, image_size=image_size, normalize=normalize)
    if state_dict is not None:
        _load_backbone(model, state_dict)
    return model.set_freeze(freeze)
