"""The base of the course's convolutional networks and the shape arithmetic that sizes them.

:class:`ConvClassifier` is ``classifier(pool(features(x)))``; ``conv_impl`` picks
``nn.Conv2d`` or :class:`~cnn_estimators.unfold.UnfoldConv2d` for every convolution, and
:func:`_flat_features` sizes the first Linear layer from ``input_size``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..unfold import UnfoldConv2d
from ..unfold import _output_size as conv_output_size
from ._registry import _check_choice

__all__ = ["ConvClassifier"]


#: Implementations of the 2-D convolutions, selected with ``conv_impl``.
_CONV_IMPLS: dict[str, type[nn.Module]] = {"torch": nn.Conv2d, "unfold": UnfoldConv2d}
_CONV_TYPES = (nn.Conv2d, UnfoldConv2d)


def _conv_class(conv_impl: str, func: str) -> type[nn.Module]:
    """The convolution class of ``conv_impl`` (ValueError listing the options otherwise)."""
    return _CONV_IMPLS[_check_choice(conv_impl, "conv_impl", func, _CONV_IMPLS)]


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _output_size(layer: nn.Module, size: tuple[int, int]) -> tuple[int, int]:
    """Spatial output size of ``layer`` for an input of ``size`` (shape arithmetic)."""
    if isinstance(layer, (*_CONV_TYPES, nn.MaxPool2d)):
        return conv_output_size(
            size,
            _pair(layer.kernel_size),
            _pair(layer.stride),
            _pair(layer.padding),
            _pair(layer.dilation),
            ceil_mode=getattr(layer, "ceil_mode", False),
        )
    if isinstance(layer, nn.Sequential):
        for sub in layer:
            size = _output_size(sub, size)
        return size
    # Activations, batch normalisation, dropout: size unchanged.
    return size


def _flat_features(features: nn.Sequential, input_size: tuple[int, int], model: str) -> int:
    """Number of values per image after ``features`` and ``nn.Flatten``."""
    size = input_size
    channels = None
    for layer in features:
        size = _output_size(layer, size)
        if size[0] < 1 or size[1] < 1:
            raise ValueError(
                f"Model {model!r} cannot process images of {input_size[0]}x{input_size[1]} "
                f"pixels: they are too small for layer {layer!r}."
            )
        if isinstance(layer, _CONV_TYPES):
            channels = layer.out_channels
    assert channels is not None
    return channels * size[0] * size[1]


class ConvClassifier(nn.Module):
    """Base class: ``classifier(pool(features(x)))``.

    Parameters
    ----------
    features : torch.nn.Sequential
        Convolutional feature extractor.
    classifier : torch.nn.Sequential
        Head mapping the (pooled) feature maps to logits; starts with ``nn.Flatten``.
    pool : torch.nn.Module, optional
        Global pooling between ``features`` and ``classifier``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = ConvClassifier(nn.Sequential(nn.Conv2d(1, 4, 3)),
    ...                      nn.Sequential(nn.Flatten(), nn.Linear(4, 2)),
    ...                      pool=nn.AdaptiveAvgPool2d(1))
    >>> net(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        features: nn.Sequential,
        classifier: nn.Sequential,
        pool: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.features = features
        self.pool = pool  # registered as a submodule unless None
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits for a batch of images ``x`` of shape ``(N, C, H, W)``."""
        x = self.features(x)
        if self.pool is not None:
            x = self.pool(x)
        return self.classifier(x)


def _conv_relu_pool(
    conv: type[nn.Module], in_channels: int, widths: tuple[int, ...], kernel_size: int, padding: int
) -> list[nn.Module]:
    """``conv(kernel_size, stride 1, padding) -> ReLU -> MaxPool2d(2, 2)`` for each width."""
    layers: list[nn.Module] = []
    channels = in_channels
    for width in widths:
        layers += [
            conv(channels, width, kernel_size=kernel_size, stride=1, padding=padding),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
        ]
        channels = width
    return layers


def _dropout_layers(p: float) -> list[nn.Module]:
    """A Dropout layer when ``p > 0``, nothing otherwise."""
    return [nn.Dropout(p)] if p > 0 else []
