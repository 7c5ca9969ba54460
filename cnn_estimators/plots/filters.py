"""Inside the network: convolution kernels and the feature maps of one image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_images
from ._common import (
    _check_indices,
    _check_positive_int,
    _conv_layers,
    _find_module,
    _image_grid,
    _is_conv,
    _is_int,
    _resolve_module,
    _select_conv,
    _show_chw,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure, SubFigure

#: Modules whose output is shown instead of the convolution's when they directly
#: follow it in an ``nn.Sequential`` (see :func:`plot_activations`).
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.ELU, nn.SiLU, nn.GELU, nn.PReLU)


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
