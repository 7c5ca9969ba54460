"""``fast_cnn``: a small residual network designed for training on a CPU.

Notes
-----
The course networks spend most of their compute on large convolutions at full
resolution (``example_cnn``: 5x5 kernels; ``fashion_cnn``: 64 channels at 26x26, then
a 64->128 convolution at 11x11) or on large fully connected layers (``bn_cnn``: a
3136x1000 Linear layer on 28x28 images). On a CPU the cost of training a small network
is also driven by the memory traffic of the full-resolution activations (batch
normalisation and ReLU are memory bound). ``fast_cnn`` therefore never computes a
full-resolution feature map:

* every convolution is 3x3, without bias, followed by batch normalisation and
  ReLU (``Conv-BN-ReLU``); batch normalisation allows high learning rates and few
  epochs;
* the stem has stride 2: the first feature map already has 1/4 of the pixels
  (28x28 -> 14x14), and the wider layers run on 1/4, 1/16 and 1/49 of the pixels;
* widths ``32 -> 64 -> 128`` (times ``width``), doubling when the resolution halves;
* one residual block (two ``Conv-BN-ReLU``, identity shortcut) at 7x7, where it is
  cheap, adds depth without hurting optimisation; the last batch normalisation of
  the residual branch starts with zero scale so the block starts as the identity;
* global average pooling and a single Linear layer: few parameters, no
  dependence on the image size, and optional Dropout before the Linear layer.

The pools use ``ceil_mode=True``, so odd sizes keep their border
(28 -> 14 -> 7 -> 4) and any image of at least 1x1 pixel is accepted.
For 1x28x28 images and ``width=1`` the network has 168,170 parameters and needs
8.5 M multiply-accumulates per image in the forward pass (``fashion_cnn``: 0.72 M and
9.9 M, ``bn_cnn``: 3.7 M and 21.9 M; see benchmarks/RESULTS.md).

Training recipe
---------------
The network is meant to be trained with a short, fixed-length one-cycle schedule.
The recipe below was chosen on a validation split of the training data (8,000
training / 2,000 validation images of a 10,000-image Fashion-MNIST subset; never on
the test set)::

    from cnn_estimators import CNNClassifier
    from cnn_estimators.transforms import normalize

    clf = CNNClassifier(
        "fast_cnn",
        optimizer="sgd",
        lr=0.4,  # the peak of the one-cycle schedule
        optimizer__momentum=0.9,
        optimizer__nesterov=True,
        optimizer__weight_decay=5e-4,
        lr_schedule="onecycle",
        criterion__label_smoothing=0.1,
        batch_size=128,
        max_epochs=4,
        eval_transform=normalize("fashion_mnist"),
    )

No training augmentation: in runs of at most 6 epochs, ``augmentation("fashion_mnist")``
(flip + 2-pixel crop) lowered the validation accuracy (4 epochs: 0.854 with it, 0.886
without); it only pays off for longer training.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ._registry import _check_common, _check_dropout, _param_error, register_model

__all__ = [
    "ConvBNReLU",
    "FastCNN",
    "FastCNNV2",
    "FastCNNV3",
    "ResidualBlock",
    "fast_cnn",
    "fast_cnn_v2",
    "fast_cnn_v3",
]


class ConvBNReLU(nn.Sequential):
    """``Conv2d(3x3, padding 1, no bias) -> BatchNorm2d -> ReLU``.

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels.
    stride : int, default=1
        Stride of the convolution (2 halves the resolution, keeping odd borders).

    Examples
    --------
    >>> import torch
    >>> block = ConvBNReLU(3, 8)
    >>> block(torch.zeros(2, 3, 5, 5)).shape
    torch.Size([2, 8, 5, 5])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """``x + body(x)`` where ``body`` is two :class:`ConvBNReLU` blocks.

    The scale of the last batch normalisation is initialised to zero, so the block
    is the identity at initialisation (a well-known trick that eases training).

    Parameters
    ----------
    channels : int
        Number of input and output channels.

    Examples
    --------
    >>> import torch
    >>> block = ResidualBlock(8)
    >>> x = torch.rand(2, 8, 4, 4)
    >>> torch.equal(block(x), x)
    True
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBNReLU(channels, channels), ConvBNReLU(channels, channels))
        nn.init.zeros_(self.body[1][1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + body(x)``."""
        return x + self.body(x)


class _PooledNet(nn.Module):
    """``features`` (named layers) -> global average pool -> [Dropout ->] Linear."""

    def __init__(
        self,
        layers: list[tuple[str, nn.Module]],
        channels: int,
        num_classes: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict(layers))
        self.pool = nn.AdaptiveAvgPool2d(1)
        head: list[nn.Module] = [nn.Flatten()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(channels, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits for a batch of images ``x`` of shape ``(N, C, H, W)``."""
        return self.classifier(self.pool(self.features(x)))


def _build(
    cls: type[_PooledNet],
    func: str,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    width: float,
    dropout: float,
) -> Any:
    """Check the arguments of builder ``func`` and build a ``cls`` from them."""
    in_channels, num_classes, input_size = _check_common(func, in_channels, num_classes, input_size)
    if not isinstance(width, numbers.Real) or isinstance(width, bool) or not 0 < float(width) <= 16:
        raise _param_error("width", func, "a float in the range (0, 16]", width)
    dropout = _check_dropout(dropout, func)
    return cls(in_channels, num_classes, width=float(width), dropout=dropout)


class FastCNN(_PooledNet):
    """Small residual network for fast CPU training; see :func:`fast_cnn`.

    Parameters
    ----------
    in_channels : int
        Number of image channels.
    num_classes : int
        Number of output logits.
    width : float, default=1.0
        Multiplier of the channel widths 32, 64 and 128.
    dropout : float, default=0.0
        Dropout probability before the Linear layer (no Dropout layer when 0).

    Examples
    --------
    >>> net = FastCNN(in_channels=3, num_classes=10, width=0.5)
    >>> net.classifier[-1]
    Linear(in_features=64, out_features=10, bias=True)
    """

    def __init__(
        self, in_channels: int, num_classes: int, width: float = 1.0, dropout: float = 0.0
    ) -> None:
        c1, c2, c3 = (max(1, round(base * width)) for base in (32, 64, 128))
        layers = [
            ("stem", ConvBNReLU(in_channels, c1, stride=2)),
            ("conv2", ConvBNReLU(c1, c2)),
            ("pool2", nn.MaxPool2d(2, 2, ceil_mode=True)),
            ("res2", ResidualBlock(c2)),
            ("pool3", nn.MaxPool2d(2, 2, ceil_mode=True)),
            ("conv3", ConvBNReLU(c2, c3)),
        ]
        super().__init__(layers, c3, num_classes, dropout)


@register_model(
    "fast_cnn",
    # The pools use ceil_mode=True, so a 1x1 image stays 1x1.
    min_input_size=(1, 1),
    variable_input_size=True,
    default_input_size=(32, 32),
    default_in_channels=3,
    description="Our small Conv-BN-ReLU residual network (32-64-128, stride-2 stem) for CPU.",
)
def fast_cnn(
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: tuple[int, int] = (32, 32),
    width: float = 1.0,
    dropout: float = 0.0,
) -> FastCNN:
    """Small residual network designed for accuracy per CPU-second.

    ``stem: Conv-BN-ReLU(C, 32, stride 2) -> Conv-BN-ReLU(32, 64) -> MaxPool(2) ->
    Residual(64) -> MaxPool(2) -> Conv-BN-ReLU(64, 128) -> AdaptiveAvgPool2d(1) ->
    Flatten [-> Dropout] -> Linear(128, K)``, where ``Residual(c)`` is
    ``x + Conv-BN-ReLU(Conv-BN-ReLU(x))``. See the module docstring of
    :mod:`cnn_estimators.models.fast` for the design rationale and the training
    recipe (SGD with Nesterov momentum, one-cycle schedule with peak lr 0.4, label
    smoothing 0.1, batch 128, 4 epochs, normalised inputs, no augmentation).
    Accepts images of any size (global average pooling); train it with batches of
    more than one image (batch normalisation).

    Parameters
    ----------
    in_channels : int, default=3
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(32, 32)
        ``(height, width)`` of the training images (only checked, not needed for sizing).
    width : float, default=1.0
        Multiplier of the channel widths 32, 64 and 128 (e.g. 0.5 for a network
        about four times cheaper, 2.0 for a more accurate, slower one).
    dropout : float, default=0.0
        Dropout probability before the Linear layer (no Dropout layer when 0).

    Returns
    -------
    model : FastCNN
        The network, with ``features``, ``pool`` and ``classifier`` submodules.

    Examples
    --------
    >>> import torch
    >>> net = fast_cnn(in_channels=1, num_classes=10, input_size=(28, 28))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    return _build(FastCNN, "fast_cnn", in_channels, num_classes, input_size, width, dropout)


class FastCNNV2(_PooledNet):
    """Plain Conv-BN-ReLU network, deeper and wider than FastCNN; see :func:`fast_cnn_v2`.

    Parameters
    ----------
    in_channels : int
        Number of image channels.
    num_classes : int
        Number of output logits.
    width : float, default=1.0
        Multiplier of the channel widths 32, 64, 96 and 192.
    dropout : float, default=0.0
        Dropout probability before the Linear layer (no Dropout layer when 0).

    Examples
    --------
    >>> net = FastCNNV2(in_channels=1, num_classes=10)
    >>> [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
    [32, 64, 96, 96, 192]
    """

    def __init__(
        self, in_channels: int, num_classes: int, width: float = 1.0, dropout: float = 0.0
    ) -> None:
        c1, c2, c3, c4 = (max(1, round(base * width)) for base in (32, 64, 96, 192))
        layers = [
            ("stem", ConvBNReLU(in_channels, c1, stride=2)),
            ("conv2", ConvBNReLU(c1, c2)),
            ("pool2", nn.MaxPool2d(2, 2, ceil_mode=True)),
            ("conv3", ConvBNReLU(c2, c3)),
            ("conv4", ConvBNReLU(c3, c3)),
            ("pool4", nn.MaxPool2d(2, 2, ceil_mode=True)),
            ("conv5", ConvBNReLU(c3, c4)),
        ]
        super().__init__(layers, c4, num_classes, dropout)


@register_model(
    "fast_cnn_v2",
    min_input_size=(1, 1),
    variable_input_size=True,
    default_input_size=(28, 28),
    default_in_channels=1,
    description="Our 5-conv Conv-BN-ReLU network (32-64-96-96-192): 92% on Fashion-MNIST "
    "in 4 epochs.",
)
def fast_cnn_v2(
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: tuple[int, int] = (28, 28),
    width: float = 1.0,
    dropout: float = 0.0,
) -> FastCNNV2:
    """Five Conv-BN-ReLU layers tuned for accuracy per CPU-second on Fashion-MNIST.

    ``stem: Conv-BN-ReLU(C, 32, stride 2) -> Conv-BN-ReLU(32, 64) -> MaxPool(2) ->
    Conv-BN-ReLU(64, 96) -> Conv-BN-ReLU(96, 96) -> MaxPool(2) -> Conv-BN-ReLU(96, 192) ->
    AdaptiveAvgPool2d(1) -> Flatten [-> Dropout] -> Linear(192, K)``; 3x3 convolutions
    without bias, max pools with ``ceil_mode=True`` (28 -> 14 -> 7 -> 4 pixels).

    Compared with :func:`fast_cnn` it moves compute from the 14x14 maps to the 7x7 and
    4x4 ones: two 96-channel convolutions at 7x7 instead of a 64-channel residual block,
    and 192 instead of 128 channels at 4x4 (13.1 M multiply-accumulates per 1x28x28
    image instead of 8.5 M). Chosen on a 50,000/10,000 split of the Fashion-MNIST
    training set among variants trained with the recipe of
    :func:`~cnn_estimators.make_fashion_mnist_cnn` (4 epochs, batch 256, SGD with
    Nesterov momentum, one-cycle schedule peaking at lr 0.6, weight decay 5e-4, label
    smoothing 0.1, bf16 autocast): it reached the best validation accuracy per second,
    ahead of a residual block at 7x7 and of wider 128-256 layouts (see
    ``benchmarks/RESULTS.md``, "Time to accuracy").

    Parameters
    ----------
    in_channels : int, default=1
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(28, 28)
        ``(height, width)`` of the training images (only checked; any size works).
    width : float, default=1.0
        Multiplier of the channel widths 32, 64, 96 and 192.
    dropout : float, default=0.0
        Dropout probability before the Linear layer (no Dropout layer when 0).

    Returns
    -------
    model : FastCNNV2
        The network, with ``features``, ``pool`` and ``classifier`` submodules.

    Examples
    --------
    >>> import torch
    >>> net = fast_cnn_v2(in_channels=1, num_classes=10, input_size=(28, 28))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    return _build(FastCNNV2, "fast_cnn_v2", in_channels, num_classes, input_size, width, dropout)


class FastCNNV3(_PooledNet):
    """:class:`FastCNNV2` behind a full-resolution stem; see :func:`fast_cnn_v3`.

    Parameters
    ----------
    in_channels : int
        Number of image channels.
    num_classes : int
        Number of output logits.
    width : float, default=1.0
        Multiplier of the channel widths 16, 32, 64, 96 and 192.
    dropout : float, default=0.0
        Dropout probability before the Linear layer (no Dropout layer when 0).

    Examples
    --------
    >>> net = FastCNNV3(in_channels=1, num_classes=10)
    >>> [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
    [16, 32, 64, 96, 96, 192]
    """

    def __init__(
        self, in_channels: int, num_classes: int, width: float = 1.0, dropout: float = 0.0
    ) -> None:
        c0, c1, c2, c3, c4 = (max(1, round(base * width)) for base in (16, 32, 64, 96, 192))
        layers = [
            ("stem0", ConvBNReLU(in_channels, c0)),
            ("stem", ConvBNReLU(c0, c1, stride=2)),
            ("conv2", ConvBNReLU(c1, c2)),
            ("pool2", nn.MaxPool2d(2, 2, ceil_mode=True)),
            ("conv3", ConvBNReLU(c2, c3)),
            ("conv4", ConvBNReLU(c3, c3)),
            ("pool4", nn.MaxPool2d(2, 2, ceil_mode=True)),
            ("conv5", ConvBNReLU(c3, c4)),
        ]
        super().__init__(layers, c4, num_classes, dropout)


@register_model(
    "fast_cnn_v3",
    min_input_size=(1, 1),
    variable_input_size=True,
    default_input_size=(28, 28),
    default_in_channels=1,
    description="fast_cnn_v2 behind a 16-channel full-resolution convolution: the "
    "network of make_fashion_mnist_cnn(recipe='accurate').",
)
def fast_cnn_v3(
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: tuple[int, int] = (28, 28),
    width: float = 1.0,
    dropout: float = 0.0,
) -> FastCNNV3:
    """:func:`fast_cnn_v2` with one Conv-BN-ReLU at full resolution before its stem.

    ``Conv-BN-ReLU(C, 16) -> Conv-BN-ReLU(16, 32, stride 2) -> Conv-BN-ReLU(32, 64) ->
    MaxPool(2) -> Conv-BN-ReLU(64, 96) -> Conv-BN-ReLU(96, 96) -> MaxPool(2) ->
    Conv-BN-ReLU(96, 192) -> AdaptiveAvgPool2d(1) -> Flatten [-> Dropout] ->
    Linear(192, K)``.

    ``fast_cnn_v2`` reduces the image to 14x14 in its first convolution, so it never sees
    the finest details at full resolution. One cheap 16-channel convolution at 28x28
    (14.1 M multiply-accumulates per 1x28x28 image instead of 13.1 M; about 15% more
    training time on a CPU) raised the validation accuracy after 6 epochs with random
    flips from 0.9311 and 0.9304 to 0.9378 and 0.9369 (two seeds; 0.9418 and 0.9385 with
    flip test-time augmentation), on a 50,000/10,000 split of the Fashion-MNIST training
    set. A 32-channel first convolution did not do better (0.9366). See
    ``benchmarks/RESULTS.md``.

    Parameters
    ----------
    in_channels : int, default=1
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(28, 28)
        ``(height, width)`` of the training images (only checked; any size works).
    width : float, default=1.0
        Multiplier of the channel widths 16, 32, 64, 96 and 192.
    dropout : float, default=0.0
        Dropout probability before the Linear layer (no Dropout layer when 0).

    Returns
    -------
    model : FastCNNV3
        The network, with ``features``, ``pool`` and ``classifier`` submodules.

    Examples
    --------
    >>> import torch
    >>> net = fast_cnn_v3(in_channels=1, num_classes=10, input_size=(28, 28))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    return _build(FastCNNV3, "fast_cnn_v3", in_channels, num_classes, input_size, width, dropout)
