"""Factories: configured :class:`CNNClassifier` instances for the course datasets.

Each returns a plain estimator whose every setting is a parameter, so the result can be
cloned, grid-searched and pickled; any keyword overrides the defaults.
"""

from __future__ import annotations

from typing import Any

from .estimator import CNNClassifier
from .models import get_model_info
from .transforms import MEAN_STD, normalize

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "make_cifar_cnn",
    "make_classifier",
    "make_fashion_mnist_cnn",
    "make_fast_cnn",
    "make_mlp",
    "make_mnist_cnn",
    "make_resnet18_classifier",
]

MNIST_MEAN, MNIST_STD = MEAN_STD["mnist"]
# Measured on the 60,000 Fashion-MNIST training images (pixels scaled to [0, 1]).
FASHION_MNIST_MEAN, FASHION_MNIST_STD = MEAN_STD["fashion_mnist"]
CIFAR10_MEAN, CIFAR10_STD = MEAN_STD["cifar10"]


def _build(defaults: dict[str, Any], params: dict[str, Any]) -> CNNClassifier:
    model = params.pop("model", None)
    if model is not None:
        defaults["module"] = model
    get_model_info(defaults["module"]) if isinstance(defaults["module"], str) else None
    defaults.update(params)
    return CNNClassifier(**defaults)


def _takes_momentum(optimizer: Any) -> bool:
    import torch

    if isinstance(optimizer, str):
        return optimizer.lower() in ("sgd", "rmsprop")
    return isinstance(optimizer, type) and issubclass(
        optimizer, (torch.optim.SGD, torch.optim.RMSprop)
    )


def make_classifier(name: str, **params: Any) -> CNNClassifier:
    """A :class:`CNNClassifier` for the registered model ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`~cnn_estimators.list_models`.
    **params
        Any estimator parameter, routed ones included (``module__dropout=0.2``).

    Returns
    -------
    CNNClassifier

    Examples
    --------
    >>> from cnn_estimators import make_classifier
    >>> make_classifier("bn_cnn", lr=1e-3).module
    'bn_cnn'
    """
    get_model_info(name)
    return CNNClassifier(module=name, **params)


def make_mlp(**params: Any) -> CNNClassifier:
    """The course MLP (Flatten → Linear(D, 1000) → ReLU → Linear(1000, K)), Adam, lr 1e-3.

    ``module__hidden_sizes=(H, H, H)`` gives the four-layer CIFAR-10 MLP.

    Examples
    --------
    >>> from cnn_estimators import make_mlp
    >>> make_mlp(max_epochs=3).get_params()["module"]
    'mlp'
    """
    return _build(
        dict(module="mlp", optimizer="adam", lr=1e-3, batch_size=128, max_epochs=10), params
    )


def make_mnist_cnn(**params: Any) -> CNNClassifier:
    """``fashion_cnn`` for MNIST digits: MNIST normalisation, Adam, lr 1e-3, batch 128.

    ``model=`` picks any registered network instead.

    Examples
    --------
    >>> from cnn_estimators import make_mnist_cnn
    >>> make_mnist_cnn(model="example_cnn").module
    'example_cnn'
    """
    return _build(
        dict(
            module="fashion_cnn",
            optimizer="adam",
            lr=1e-3,
            batch_size=128,
            max_epochs=10,
            eval_transform=normalize("mnist"),
        ),
        params,
    )


def make_fashion_mnist_cnn(**params: Any) -> CNNClassifier:
    """``fashion_cnn`` for Fashion-MNIST: its normalisation, Adam, lr 1e-3, batch 128.

    Examples
    --------
    >>> from cnn_estimators import make_fashion_mnist_cnn
    >>> make_fashion_mnist_cnn().optimizer
    'adam'
    """
    return _build(
        dict(
            module="fashion_cnn",
            optimizer="adam",
            lr=1e-3,
            batch_size=128,
            max_epochs=10,
            eval_transform=normalize("fashion_mnist"),
        ),
        params,
    )


def make_cifar_cnn(**params: Any) -> CNNClassifier:
    """The CIFAR-10 lab network: SGD with momentum 0.9, lr 0.01, batch 128, CIFAR normalisation.

    Examples
    --------
    >>> from cnn_estimators import make_cifar_cnn
    >>> est = make_cifar_cnn()
    >>> est.optimizer, est.lr, est.optimizer__momentum
    ('sgd', 0.01, 0.9)
    """
    defaults = dict(
        module="cifar_cnn",
        optimizer="sgd",
        lr=0.01,
        batch_size=128,
        max_epochs=20,
        optimizer__momentum=0.9,
        eval_transform=normalize("cifar10"),
    )
    if not _takes_momentum(params.get("optimizer", "sgd")) and "optimizer__momentum" not in params:
        defaults.pop("optimizer__momentum")  # momentum is SGD's (and RMSprop's) argument
    return _build(defaults, params)


def make_fast_cnn(*, dataset: str = "fashion_mnist", **params: Any) -> CNNClassifier:
    """Our ``fast_cnn`` with the recipe it was tuned with (see ``benchmarks/RESULTS.md``).

    SGD with Nesterov momentum 0.9, a one-cycle schedule peaking at lr 0.4, weight decay
    5e-4, label smoothing 0.1, batch 128, 4 epochs, inputs normalised with ``dataset``'s
    channel statistics. On Fashion-MNIST it reaches 85% test accuracy with 2.3-2.8x less
    CPU time than the best course networks (``benchmarks/model_zoo.py --recipes``).

    Parameters
    ----------
    dataset : {"fashion_mnist", "mnist", "cifar10", "imagenet"}, default="fashion_mnist"
        Whose mean and standard deviation normalise the inputs.
    **params
        Other estimator parameters (``max_epochs`` sets the length of the schedule).

    Examples
    --------
    >>> from cnn_estimators import make_fast_cnn
    >>> est = make_fast_cnn(max_epochs=6)
    >>> est.lr_schedule, est.lr, est.max_epochs
    ('onecycle', 0.4, 6)
    """
    return _build(
        dict(
            module="fast_cnn",
            optimizer="sgd",
            lr=0.4,
            optimizer__momentum=0.9,
            optimizer__nesterov=True,
            optimizer__weight_decay=5e-4,
            lr_schedule="onecycle",
            criterion__label_smoothing=0.1,
            batch_size=128,
            max_epochs=4,
            eval_transform=normalize(dataset),
        ),
        params,
    )


def make_resnet18_classifier(
    *,
    weights: str | None = None,
    freeze: str = "all_but_layer4",
    image_size: int = 224,
    **params: Any,
) -> CNNClassifier:
    """ResNet18 transfer learning: Adam, lr 5e-4, batch 32, ImageNet normalisation inside.

    Parameters
    ----------
    weights : None, "DEFAULT", "IMAGENET1K_V1" or path, default=None
        ImageNet weights (downloaded once into torch's hub cache) or a state-dict file.
    freeze : {"all_but_layer4", "all_but_fc", "none"}, default="all_but_layer4"
        Which part of the backbone trains.
    image_size : int, default=224
        Images are resized to ``image_size`` x ``image_size`` inside the model.
    **params
        Other estimator parameters.

    Examples
    --------
    >>> from cnn_estimators import make_resnet18_classifier
    >>> make_resnet18_classifier(image_size=112).module__image_size
    112
    """
    return _build(
        dict(
            module="resnet18",
            optimizer="adam",
            lr=5e-4,
            batch_size=32,
            max_epochs=5,
            module__weights=weights,
            module__freeze=freeze,
            module__image_size=image_size,
        ),
        params,
    )
