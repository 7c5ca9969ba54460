"""Image data sets as uint8 numpy arrays, ready for the CNN estimators.

Small offline data (:func:`load_digits_images`), MNIST, Fashion-MNIST and CIFAR-10
loaders that find local copies in torchvision's folder layout or download them,
safe parsers for the original file formats, and the train/validation split helper.
"""

from ._base import DATA_HOME_ENV, ImageData, get_data_home, train_valid_split
from ._cifar import read_cifar_batch
from ._idx import read_idx
from ._loaders import (
    CIFAR10_CLASSES,
    DEBIAN_FASHION_MNIST_DIRS,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    load_cifar10,
    load_digits_images,
    load_fashion_mnist,
    load_mnist,
)
from ._names import DATASET_NAMES, dataset_name

__all__ = [
    "CIFAR10_CLASSES",
    "DATASET_NAMES",
    "DATA_HOME_ENV",
    "DEBIAN_FASHION_MNIST_DIRS",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "ImageData",
    "dataset_name",
    "get_data_home",
    "load_cifar10",
    "load_digits_images",
    "load_fashion_mnist",
    "load_mnist",
    "read_cifar_batch",
    "read_idx",
    "train_valid_split",
]
