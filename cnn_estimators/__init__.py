"""scikit-learn compatible CNN image classifiers built on skorch, PyTorch and torchvision.

Every network is a :class:`CNNClassifier` (a skorch ``NeuralNetClassifier``), so
``cross_val_score``, ``GridSearchCV``, ``clone``, pickling and ``ConfusionMatrixDisplay``
work as for any scikit-learn classifier.
"""

from . import distributed, experiments, persistence, plots, transforms
from ._device import bf16_supported, resolve_device, to_device
from .accelerated import AcceleratedCNNClassifier, make_accelerated
from .adapters import ImageDatasetView, PredefinedSplit, as_dataset, predefined_split
from .datasets import (
    ImageData,
    load_cifar10,
    load_digits_images,
    load_fashion_mnist,
    load_mnist,
    train_valid_split,
)
from .estimator import OPTIMIZERS, PRECISIONS, CNNClassifier
from .experiments import compare_optimizers, compare_recipes, cross_validate_estimator, lr_find
from .factories import (
    make_cifar_cnn,
    make_classifier,
    make_fashion_mnist_cnn,
    make_fast_cnn,
    make_mlp,
    make_mnist_cnn,
    make_resnet18_classifier,
)
from .models import get_model, get_model_info, list_models, register_model
from .summary import format_summary, summary

__version__ = "0.1.0"

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "AcceleratedCNNClassifier",
    "CNNClassifier",
    "ImageData",
    "ImageDatasetView",
    "PredefinedSplit",
    "__version__",
    "as_dataset",
    "bf16_supported",
    "compare_optimizers",
    "compare_recipes",
    "cross_validate_estimator",
    "distributed",
    "experiments",
    "format_summary",
    "get_model",
    "get_model_info",
    "list_models",
    "load_cifar10",
    "load_digits_images",
    "load_fashion_mnist",
    "load_mnist",
    "lr_find",
    "make_accelerated",
    "make_cifar_cnn",
    "make_classifier",
    "make_fashion_mnist_cnn",
    "make_fast_cnn",
    "make_mlp",
    "make_mnist_cnn",
    "make_resnet18_classifier",
    "persistence",
    "plots",
    "predefined_split",
    "register_model",
    "resolve_device",
    "summary",
    "to_device",
    "train_valid_split",
    "transforms",
]
