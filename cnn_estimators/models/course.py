"""The networks of the course, reproduced layer for layer.

All layers use PyTorch defaults (bias on, no padding) unless stated otherwise.
Every network outputs logits; the loss (``nn.CrossEntropyLoss``) applies the
softmax. Fully connected layers are sized from ``input_size`` by shape arithmetic,
so the networks work for any dataset whose images are at least ``min_input_size``.

Each convolutional network is a :class:`ConvClassifier` with the attributes
``features`` (an ``nn.Sequential`` of convolution blocks), optionally ``pool``
(global pooling) and ``classifier`` (an ``nn.Sequential`` starting with
``nn.Flatten``), so layers can be inspected as ``model.features[0]`` and appear as
``features.0`` in :func:`cnn_estimators.summary.summary`.

The convolutional networks take ``conv_impl="torch"`` (default, ``nn.Conv2d``) or
``conv_impl="unfold"``: every convolution is then a
:class:`~cnn_estimators.unfold.UnfoldConv2d` (im2col + matrix multiply, with a
hand-written backward pass) with the same hyper-parameters, parameter shapes and
initialisation, so the same seed gives the same network.
"""

from __future__ import annotations

from torch import nn

from ._conv import (
    ConvClassifier,
    _conv_class,
    _conv_relu_pool,
    _dropout_layers,
    _flat_features,
)
from ._mlp import MLP, mlp
from ._registry import _check_choice, _check_common, _check_dropout, register_model

__all__ = [
    "MLP",
    "BatchNormCNN",
    "CifarCNN",
    "ConvClassifier",
    "ExampleCNN",
    "FashionCNN",
    "GlobalPoolCNN",
    "bn_cnn",
    "cifar_cnn",
    "example_cnn",
    "fashion_cnn",
    "global_pool_cnn",
    "mlp",
]

# ConvClassifier, MLP and mlp live in private modules but keep the name
# cnn_estimators.models.course.<name> they had before the split: saved estimators
# (cnn_estimators.persistence) and pickles refer to them by that name.
for _obj in (ConvClassifier, MLP, mlp):
    _obj.__module__ = __name__
del _obj


# ---------------------------------------------------------------------------
# fashion_cnn
# ---------------------------------------------------------------------------


class FashionCNN(ConvClassifier):
    """Two-convolution network of the Fashion-MNIST lecture; see :func:`fashion_cnn`.

    Examples
    --------
    >>> net = FashionCNN(in_channels=1, num_classes=10, input_size=(28, 28))
    >>> net.classifier[1]
    Linear(in_features=3200, out_features=200, bias=True)
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: tuple[int, int],
        dropout: float = 0.0,
        conv_impl: str = "torch",
    ) -> None:
        conv = _conv_class(conv_impl, type(self).__name__)
        features = nn.Sequential(
            conv(in_channels, 64, kernel_size=3),
            nn.MaxPool2d(2),
            nn.ReLU(),
            conv(64, 128, kernel_size=3),
            nn.MaxPool2d(2),
            nn.ReLU(),
        )
        n_flat = _flat_features(features, input_size, "fashion_cnn")
        classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_flat, 200),
            nn.ReLU(),
            *_dropout_layers(dropout),
            nn.Linear(200, num_classes),
        )
        super().__init__(features, classifier)


@register_model(
    "fashion_cnn",
    # 10 -> conv3 -> 8 -> pool -> 4 -> conv3 -> 2 -> pool -> 1; 9 gives 0 after the last pool.
    min_input_size=(10, 10),
    variable_input_size=False,
    default_input_size=(28, 28),
    default_in_channels=1,
    description="Two 3x3 convolutions with max pooling and a 200-unit hidden layer.",
)
def fashion_cnn(
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: tuple[int, int] = (28, 28),
    dropout: float = 0.0,
    conv_impl: str = "torch",
) -> FashionCNN:
    """Two-convolution network of the Fashion-MNIST lecture.

    ``Conv2d(C, 64, 3) -> MaxPool2d(2) -> ReLU -> Conv2d(64, 128, 3) -> MaxPool2d(2)
    -> ReLU -> Flatten -> Linear(., 200) -> ReLU [-> Dropout] -> Linear(200, K)``.
    On 1x28x28 images the flattened size is 128 * 5 * 5 = 3200 and the network has
    716,706 parameters for 10 classes. Images must be at least 10x10.

    Parameters
    ----------
    in_channels : int, default=1
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(28, 28)
        ``(height, width)`` of the images (sizes the first Linear layer).
    dropout : float, default=0.0
        Dropout probability before the last Linear layer (no Dropout layer when 0).
    conv_impl : {"torch", "unfold"}, default="torch"
        Convolution implementation: ``nn.Conv2d`` or
        :class:`~cnn_estimators.unfold.UnfoldConv2d` (im2col + matmul).

    Returns
    -------
    model : FashionCNN
        The network, with ``features`` and ``classifier`` submodules.

    Examples
    --------
    >>> import torch
    >>> net = fashion_cnn(in_channels=1, num_classes=10, input_size=(28, 28))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> fashion_cnn(conv_impl="unfold").features[0]
    UnfoldConv2d(1, 64, kernel_size=(3, 3), stride=(1, 1))
    """
    in_channels, num_classes, input_size = _check_common(
        "fashion_cnn", in_channels, num_classes, input_size
    )
    dropout = _check_dropout(dropout, "fashion_cnn")
    _conv_class(conv_impl, "fashion_cnn")
    return FashionCNN(in_channels, num_classes, input_size, dropout=dropout, conv_impl=conv_impl)


# ---------------------------------------------------------------------------
# global_pool_cnn
# ---------------------------------------------------------------------------

_GLOBAL_POOLS = {"max": nn.AdaptiveMaxPool2d, "avg": nn.AdaptiveAvgPool2d}


class GlobalPoolCNN(ConvClassifier):
    """Three conv blocks, global pooling and one Linear layer; see :func:`global_pool_cnn`.

    Examples
    --------
    >>> net = GlobalPoolCNN(in_channels=3, num_classes=10, global_pool="avg")
    >>> net.pool
    AdaptiveAvgPool2d(output_size=1)
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        global_pool: str = "max",
        conv_impl: str = "torch",
    ) -> None:
        conv = _conv_class(conv_impl, type(self).__name__)
        super().__init__(
            nn.Sequential(*_conv_relu_pool(conv, in_channels, (16, 32, 81), 3, padding=1)),
            nn.Sequential(nn.Flatten(), nn.Linear(81, num_classes)),
            pool=_GLOBAL_POOLS[global_pool](1),
        )


@register_model(
    "global_pool_cnn",
    # Three 2x2 max pools: 8 -> 4 -> 2 -> 1; 7 gives 0 after the third pool.
    min_input_size=(8, 8),
    variable_input_size=True,
    default_input_size=(32, 32),
    default_in_channels=3,
    description="Three conv blocks (16, 32, 81 channels) with global max/average pooling.",
)
def global_pool_cnn(
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: tuple[int, int] = (32, 32),
    global_pool: str = "max",
    conv_impl: str = "torch",
) -> GlobalPoolCNN:
    """Convolutional network with global pooling instead of a flattened feature map.

    Three blocks ``Conv2d(3x3, stride 1, padding 1) -> ReLU -> MaxPool2d(2, 2)``
    with 16, 32 and 81 channels, then global max (or average) pooling,
    ``Flatten -> Linear(81, K)``. Because of the global pooling the classifier does
    not depend on the image size: the network accepts any image of at least 8x8
    pixels, also of another size than ``input_size`` at predict time.

    Parameters
    ----------
    in_channels : int, default=3
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(32, 32)
        ``(height, width)`` of the training images (only checked, not needed for sizing).
    global_pool : {"max", "avg"}, default="max"
        Global pooling operation.
    conv_impl : {"torch", "unfold"}, default="torch"
        Convolution implementation: ``nn.Conv2d`` or
        :class:`~cnn_estimators.unfold.UnfoldConv2d` (im2col + matmul).

    Returns
    -------
    model : GlobalPoolCNN
        The network, with ``features``, ``pool`` and ``classifier`` submodules.

    Examples
    --------
    >>> import torch
    >>> net = global_pool_cnn(in_channels=3, num_classes=10, input_size=(32, 32))
    >>> net(torch.zeros(2, 3, 32, 32)).shape, net(torch.zeros(2, 3, 50, 40)).shape
    (torch.Size([2, 10]), torch.Size([2, 10]))
    """
    in_channels, num_classes, input_size = _check_common(
        "global_pool_cnn", in_channels, num_classes, input_size
    )
    global_pool = _check_choice(global_pool, "global_pool", "global_pool_cnn", _GLOBAL_POOLS)
    _conv_class(conv_impl, "global_pool_cnn")
    return GlobalPoolCNN(in_channels, num_classes, global_pool=global_pool, conv_impl=conv_impl)


# ---------------------------------------------------------------------------
# cifar_cnn
# ---------------------------------------------------------------------------


class CifarCNN(ConvClassifier):
    """The CIFAR-10 lab network; see :func:`cifar_cnn`.

    Examples
    --------
    >>> net = CifarCNN(in_channels=3, num_classes=10)
    >>> net.classifier[1]
    Linear(in_features=126, out_features=64, bias=True)
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dropout: float = 0.1,
        conv_impl: str = "torch",
    ) -> None:
        conv = _conv_class(conv_impl, type(self).__name__)
        features = nn.Sequential(
            *_conv_relu_pool(conv, in_channels, (32, 64), 3, padding=1),
            conv(64, 126, kernel_size=3, padding=1),
            nn.ReLU(),
        )
        classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(126, 64),
            nn.ReLU(),
            *_dropout_layers(dropout),
            nn.Linear(64, num_classes),
        )
        super().__init__(features, classifier, pool=nn.AdaptiveAvgPool2d(1))


@register_model(
    "cifar_cnn",
    # Two 2x2 max pools: 4 -> 2 -> 1; 3 gives 0 after the second pool.
    min_input_size=(4, 4),
    variable_input_size=True,
    default_input_size=(32, 32),
    default_in_channels=3,
    description="CIFAR-10 lab network: three padded 3x3 convs, global average pooling.",
)
def cifar_cnn(
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: tuple[int, int] = (32, 32),
    dropout: float = 0.1,
    conv_impl: str = "torch",
) -> CifarCNN:
    """The CIFAR-10 lab network.

    ``Conv2d(C, 32, 3, padding=1) -> ReLU -> MaxPool2d(2, 2) -> Conv2d(32, 64, 3,
    padding=1) -> ReLU -> MaxPool2d(2, 2) -> Conv2d(64, 126, 3, padding=1) -> ReLU
    -> AdaptiveAvgPool2d(1) -> Flatten -> Linear(126, 64) -> ReLU -> Dropout(0.1)
    -> Linear(64, K)``. 100,872 parameters for 3x32x32 images and 10 classes. The
    global average pooling makes it accept any image of at least 4x4 pixels.

    Parameters
    ----------
    in_channels : int, default=3
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(32, 32)
        ``(height, width)`` of the training images (only checked, not needed for sizing).
    dropout : float, default=0.1
        Dropout probability in the classifier (no Dropout layer when 0).
    conv_impl : {"torch", "unfold"}, default="torch"
        Convolution implementation: ``nn.Conv2d`` or
        :class:`~cnn_estimators.unfold.UnfoldConv2d` (im2col + matmul).

    Returns
    -------
    model : CifarCNN
        The network, with ``features``, ``pool`` and ``classifier`` submodules.

    Examples
    --------
    >>> import torch
    >>> net = cifar_cnn(in_channels=3, num_classes=10, input_size=(32, 32))
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    in_channels, num_classes, input_size = _check_common(
        "cifar_cnn", in_channels, num_classes, input_size
    )
    dropout = _check_dropout(dropout, "cifar_cnn")
    _conv_class(conv_impl, "cifar_cnn")
    return CifarCNN(in_channels, num_classes, dropout=dropout, conv_impl=conv_impl)


# ---------------------------------------------------------------------------
# example_cnn
# ---------------------------------------------------------------------------


class ExampleCNN(ConvClassifier):
    """The assignment network; see :func:`example_cnn`.

    Examples
    --------
    >>> net = ExampleCNN(in_channels=3, num_classes=10, input_size=(32, 32))
    >>> net.classifier[1]
    Linear(in_features=2048, out_features=64, bias=True)
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: tuple[int, int],
        conv_impl: str = "torch",
    ) -> None:
        conv = _conv_class(conv_impl, type(self).__name__)
        features = nn.Sequential(*_conv_relu_pool(conv, in_channels, (32, 64, 128), 5, padding=2))
        n_flat = _flat_features(features, input_size, "example_cnn")
        classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_flat, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )
        super().__init__(features, classifier)


@register_model(
    "example_cnn",
    # Three 2x2 max pools: 8 -> 4 -> 2 -> 1; 7 gives 0 after the third pool.
    min_input_size=(8, 8),
    variable_input_size=False,
    default_input_size=(32, 32),
    default_in_channels=3,
    description="Assignment network: three 5x5 conv blocks (32, 64, 128) and a 64-unit layer.",
)
def example_cnn(
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: tuple[int, int] = (32, 32),
    conv_impl: str = "torch",
) -> ExampleCNN:
    """The assignment network.

    Three blocks ``Conv2d(5x5, stride 1, padding 2) -> ReLU -> MaxPool2d(2, 2)``
    with 32, 64 and 128 filters, then ``Flatten -> Linear(., 64) -> ReLU ->
    Linear(64, K)``. On 3x32x32 images the flattened size is 128 * 4 * 4 = 2048 and
    the network has 390,410 parameters for 10 classes. Images must be at least 8x8.

    Parameters
    ----------
    in_channels : int, default=3
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(32, 32)
        ``(height, width)`` of the images (sizes the first Linear layer).
    conv_impl : {"torch", "unfold"}, default="torch"
        Convolution implementation: ``nn.Conv2d`` or
        :class:`~cnn_estimators.unfold.UnfoldConv2d` (im2col + matmul).

    Returns
    -------
    model : ExampleCNN
        The network, with ``features`` and ``classifier`` submodules.

    Examples
    --------
    >>> import torch
    >>> net = example_cnn(in_channels=1, num_classes=10, input_size=(28, 28))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    in_channels, num_classes, input_size = _check_common(
        "example_cnn", in_channels, num_classes, input_size
    )
    _conv_class(conv_impl, "example_cnn")
    return ExampleCNN(in_channels, num_classes, input_size, conv_impl=conv_impl)


# ---------------------------------------------------------------------------
# bn_cnn
# ---------------------------------------------------------------------------


def _conv_bn_lrelu(
    in_channels: int, out_channels: int, conv: type[nn.Module] = nn.Conv2d
) -> list[nn.Module]:
    return [
        conv(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(),
    ]


class BatchNormCNN(ConvClassifier):
    """Four convolutions with batch normalisation; see :func:`bn_cnn`.

    Examples
    --------
    >>> net = BatchNormCNN(in_channels=3, num_classes=10, input_size=(32, 32))
    >>> net.classifier[2]
    Linear(in_features=4096, out_features=1000, bias=True)
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: tuple[int, int],
        dropout: float = 0.1,
        conv_impl: str = "torch",
    ) -> None:
        conv = _conv_class(conv_impl, type(self).__name__)
        features = nn.Sequential(
            *_conv_bn_lrelu(in_channels, 32, conv),
            *_conv_bn_lrelu(32, 32, conv),
            nn.MaxPool2d(2, 2),
            *_conv_bn_lrelu(32, 64, conv),
            *_conv_bn_lrelu(64, 64, conv),
            nn.MaxPool2d(2, 2),
        )
        n_flat = _flat_features(features, input_size, "bn_cnn")
        classifier = nn.Sequential(
            nn.Flatten(),
            *_dropout_layers(dropout),
            nn.Linear(n_flat, 1000),
            nn.ReLU(),
            nn.Linear(1000, 512),
            nn.ReLU(),
            *_dropout_layers(dropout),
            nn.Linear(512, num_classes),
        )
        super().__init__(features, classifier)


@register_model(
    "bn_cnn",
    # Two 2x2 max pools: 4 -> 2 -> 1; 3 gives 0 after the second pool.
    min_input_size=(4, 4),
    variable_input_size=False,
    default_input_size=(32, 32),
    default_in_channels=3,
    description="Four 3x3 convs with batch normalisation and LeakyReLU, three Linear layers.",
)
def bn_cnn(
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: tuple[int, int] = (32, 32),
    dropout: float = 0.1,
    conv_impl: str = "torch",
) -> BatchNormCNN:
    """Convolutional network with batch normalisation.

    ``[Conv2d(C, 32, 3, p=1) BN LeakyReLU, Conv2d(32, 32, 3, p=1) BN LeakyReLU,
    MaxPool2d(2, 2), Conv2d(32, 64, 3, p=1) BN LeakyReLU, Conv2d(64, 64, 3, p=1) BN
    LeakyReLU, MaxPool2d(2, 2)] -> Flatten -> Dropout -> Linear(., 1000) -> ReLU ->
    Linear(1000, 512) -> ReLU -> Dropout -> Linear(512, K)``. Images must be at
    least 4x4. Train it with batches of more than one image (batch normalisation).

    Parameters
    ----------
    in_channels : int, default=3
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(32, 32)
        ``(height, width)`` of the images (sizes the first Linear layer).
    dropout : float, default=0.1
        Probability of both Dropout layers (no Dropout layers when 0).
    conv_impl : {"torch", "unfold"}, default="torch"
        Convolution implementation: ``nn.Conv2d`` or
        :class:`~cnn_estimators.unfold.UnfoldConv2d` (im2col + matmul).

    Returns
    -------
    model : BatchNormCNN
        The network, with ``features`` and ``classifier`` submodules.

    Examples
    --------
    >>> import torch
    >>> net = bn_cnn(in_channels=3, num_classes=10, input_size=(32, 32)).eval()
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    in_channels, num_classes, input_size = _check_common(
        "bn_cnn", in_channels, num_classes, input_size
    )
    dropout = _check_dropout(dropout, "bn_cnn")
    _conv_class(conv_impl, "bn_cnn")
    return BatchNormCNN(in_channels, num_classes, input_size, dropout=dropout, conv_impl=conv_impl)
