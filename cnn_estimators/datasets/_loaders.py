"""Public loaders: scikit-learn's digits, MNIST, Fashion-MNIST and CIFAR-10.

Local copies are searched in torchvision's folder layout under, in this order,
the ``data_home`` argument, the ``CNN_ESTIMATORS_DATA`` environment variable and
``~/cnn_estimators_data`` (plus Debian's ``dataset-fashion-mnist`` package for
Fashion-MNIST). Downloads go through torchvision's dataset classes; the files are
always parsed and validated by this package's own parsers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from ._base import ImageData, _check_count, _check_label_range, _stratified_subset
from ._cifar import _parse_cifar_batch, _parse_cifar_meta
from ._idx import _parse_idx, _read_bytes
from ._sources import (
    DEBIAN_FASHION_MNIST_DIRS,
    _download,
    _known_md5s,
    _locate,
    _not_found_message,
    _Spec,
    _verify_md5,
)

__all__ = [
    "CIFAR10_CLASSES",
    "DEBIAN_FASHION_MNIST_DIRS",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "load_cifar10",
    "load_digits_images",
    "load_fashion_mnist",
    "load_mnist",
]

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]

_IDX_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_FILES = (*_IDX_SPLITS["train"], *_IDX_SPLITS["test"])
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_FILES = (*_CIFAR_TRAIN, "test_batch", "batches.meta")


_MNIST = _Spec("mnist", "MNIST", "MNIST/raw", _IDX_FILES, True, tuple(MNIST_CLASSES), "MNIST")
_FASHION = _Spec(
    "fashion_mnist",
    "Fashion-MNIST",
    "FashionMNIST/raw",
    _IDX_FILES,
    True,
    tuple(FASHION_MNIST_CLASSES),
    "FashionMNIST",
)
_CIFAR10 = _Spec(
    "cifar10",
    "CIFAR-10",
    "cifar-10-batches-py",
    _CIFAR_FILES,
    False,
    tuple(CIFAR10_CLASSES),
    "CIFAR10",
)


def _with_channel_axis(images: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, 1, H, W) with the plain C-order strides of a fresh array.

    With one channel, the same bytes can carry NCHW or channels-last strides, and PyTorch
    picks its convolution kernels from them: every array the loaders return has the same
    plain strides, whichever subset was asked for, so that a hand-written loop on them
    runs the same kernels each time. (The estimators give their one-channel batches
    channels-last strides themselves, whatever the input's.)
    """
    return np.ascontiguousarray(images).reshape(len(images), 1, *images.shape[1:])


# --------------------------------------------------------------------------- parsing


def _read_idx_verified(path: Path, name: str, md5s: dict[str, str], spec: _Spec) -> np.ndarray:
    raw, content = _read_bytes(path)
    _verify_md5(path, name, raw, content, md5s, spec)
    return _parse_idx(content, path)


def _load_idx_split(
    files: dict[str, Path], split: str, md5s: dict[str, str], spec: _Spec
) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = _IDX_SPLITS[split]
    images_path, labels_path = files[images_name], files[labels_name]
    images = _read_idx_verified(images_path, images_name, md5s, spec)
    labels = _read_idx_verified(labels_path, labels_name, md5s, spec)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, 28, 28), "
            f"got shape {images.shape} of {images.dtype}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{labels_path}: expected a 1-D array of integer labels, "
            f"got shape {labels.shape} of {labels.dtype}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"image/label count mismatch: {images_path} has {len(images)} images but "
            f"{labels_path} has {len(labels)} labels"
        )
    _check_label_range(labels, len(spec.class_names), str(labels_path))
    # reshape, not images[:, np.newaxis]: that axis would have stride 0, and subsets of it
    # stride 1, so that a hand-written loop would run different kernels on the same images
    return _with_channel_axis(images), labels.astype(np.int64)


def _load_cifar_files(
    files: dict[str, Path], md5s: dict[str, str], spec: _Spec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def read(name: str) -> bytes:
        raw = files[name].read_bytes()
        _verify_md5(files[name], name, raw, raw, md5s, spec)
        return raw

    meta_path = files["batches.meta"]
    label_names = _parse_cifar_meta(read("batches.meta"), meta_path)
    if label_names != list(spec.class_names):
        raise ValueError(
            f"{meta_path}: label_names {label_names} are not the CIFAR-10 classes "
            f"{list(spec.class_names)}"
        )
    batches = [_parse_cifar_batch(read(name), files[name]) for name in _CIFAR_TRAIN]
    X_train = np.concatenate([images for images, _ in batches])
    y_train = np.concatenate([labels for _, labels in batches])
    X_test, y_test = _parse_cifar_batch(read("test_batch"), files["test_batch"])
    return X_train, y_train, X_test, y_test


def _check_counts(n_train: int | None, n_test: int | None) -> None:
    for n, param in ((n_train, "n_train"), (n_test, "n_test")):
        if n is not None:
            _check_count(n, param)


def _subsets(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    n_train: int | None,
    n_test: int | None,
    random_state: int | np.random.RandomState | None,
    class_names: Sequence[str],
    name: str,
    source: str,
) -> ImageData:
    """The :class:`ImageData` of stratified, seeded subsets of the train and test sets."""
    X_train, y_train, X_test, y_test = arrays
    X_train, y_train = _stratified_subset(
        X_train, y_train, n_train, random_state=random_state, param_name="n_train"
    )
    X_test, y_test = _stratified_subset(
        X_test, y_test, n_test, random_state=random_state, param_name="n_test"
    )
    return ImageData(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        class_names=list(class_names),
        name=name,
        source=source,
    )


def _load(
    spec: _Spec,
    *,
    data_home: str | os.PathLike[str] | None,
    download: bool,
    n_train: int | None,
    n_test: int | None,
    random_state: int | np.random.RandomState | None,
) -> ImageData:
    _check_counts(n_train, n_test)  # before reading tens of megabytes
    directory, files, searched = _locate(spec, data_home)
    if directory is None:
        if not download:
            raise FileNotFoundError(_not_found_message(spec, searched, data_home))
        directory, files = _download(spec, data_home, searched)
    md5s = _known_md5s(spec.key)
    if spec.key == "cifar10":
        X_train, y_train, X_test, y_test = _load_cifar_files(files, md5s, spec)
    else:
        X_train, y_train = _load_idx_split(files, "train", md5s, spec)
        X_test, y_test = _load_idx_split(files, "test", md5s, spec)
    return _subsets(
        (X_train, y_train, X_test, y_test),
        n_train=n_train,
        n_test=n_test,
        random_state=random_state,
        class_names=spec.class_names,
        name=spec.key,
        source=str(directory),
    )


# --------------------------------------------------------------------------- public loaders


def load_digits_images(
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    test_size: int | float = 0.25,
    random_state: int | np.random.RandomState | None = 0,
) -> ImageData:
    """Load scikit-learn's bundled 8x8 digits as uint8 images (no download).

    The 1797 images (values 0..16) are scaled to 0..255 with
    ``round(v * 255 / 16)`` and split with a stratified, seeded
    ``train_test_split``. Handy for quick, offline experiments and examples.

    Parameters
    ----------
    n_train : int, default=None
        Keep a stratified, seeded subset of this many training images
        (in their original order). ``None`` keeps all.
    n_test : int, default=None
        Same for the test images.
    test_size : int or float, default=0.25
        Size of the test set, as in ``train_test_split``: an int is a count,
        a float a fraction.
    random_state : int, RandomState instance or None, default=0
        Seed of the split and of the subsets.

    Returns
    -------
    ImageData
        ``X_*`` of shape (n, 1, 8, 8), uint8; ``y_*`` int64 in 0..9;
        ``class_names`` ``["0", ..., "9"]``.

    Examples
    --------
    >>> from cnn_estimators.datasets import load_digits_images
    >>> data = load_digits_images(n_train=500, n_test=100)
    >>> data.X_train.shape, data.X_train.dtype, int(data.X_train.max())
    ((500, 1, 8, 8), dtype('uint8'), 255)
    >>> data.class_names[:3]
    ['0', '1', '2']
    """
    from sklearn.datasets import load_digits

    _check_counts(n_train, n_test)
    digits = load_digits()
    images = _with_channel_axis(np.round(digits.images * 255.0 / 16.0).astype(np.uint8))
    labels = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_size, stratify=labels, random_state=random_state
    )
    return _subsets(
        (X_train, y_train, X_test, y_test),
        n_train=n_train,
        n_test=n_test,
        random_state=random_state,
        class_names=MNIST_CLASSES,
        name="digits",
        source="sklearn.datasets.load_digits",
    )


def load_mnist(
    *,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> ImageData:
    """Load the MNIST handwritten digits.

    60 000 training and 10 000 test images of 28x28 pixels. A local copy is
    searched in torchvision's folder layout and the first complete one wins:
    ``<data_home>/MNIST/raw/``, then ``$CNN_ESTIMATORS_DATA/MNIST/raw/``, then
    ``~/cnn_estimators_data/MNIST/raw/``. The files ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``) are checked against the
    MD5s of the original files and validated.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder searched first, and where ``download=True`` saves the data
        (default: ``$CNN_ESTIMATORS_DATA``, else ``~/cnn_estimators_data``).
    download : bool, default=False
        If no local copy is found, download it with
        ``torchvision.datasets.MNIST`` into the data home.
    n_train : int, default=None
        Keep a stratified, seeded subset of this many training images, in their
        original order. ``None`` keeps all.
    n_test : int, default=None
        Same for the test images.
    random_state : int, RandomState instance or None, default=0
        Seed of the subsets.

    Returns
    -------
    ImageData
        ``X_*`` uint8 of shape (n, 1, 28, 28), ``y_*`` int64 in 0..9, and
        ``class_names``.

    Raises
    ------
    FileNotFoundError
        If no local copy is found and ``download`` is False; the message lists
        every place searched and how to fix it.
    ConnectionError
        If the download fails (for instance without internet access).
    ValueError
        If a file is corrupt or not the original, or if ``n_train``/``n_test``
        is larger than the data.

    Examples
    --------
    Loading needs a local copy or ``download=True`` (not run here):

    >>> from cnn_estimators.datasets import load_mnist
    >>> data = load_mnist(n_train=2000, n_test=500)  # doctest: +SKIP
    >>> data.X_train.shape  # doctest: +SKIP
    (2000, 1, 28, 28)

    :func:`load_digits_images` returns the same container without a download:

    >>> from cnn_estimators.datasets import load_digits_images
    >>> data = load_digits_images(n_train=200)
    >>> data.X_train.shape, data.y_train.dtype
    ((200, 1, 8, 8), dtype('int64'))
    """
    return _load(
        _MNIST,
        data_home=data_home,
        download=download,
        n_train=n_train,
        n_test=n_test,
        random_state=random_state,
    )


def load_fashion_mnist(
    *,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> ImageData:
    """Load Fashion-MNIST, Zalando's 28x28 clothing images.

    60 000 training and 10 000 test images of 28x28 pixels. A local copy is
    searched in torchvision's folder layout and the first complete one wins:
    ``<data_home>/FashionMNIST/raw/``, then ``$CNN_ESTIMATORS_DATA/FashionMNIST/raw/``,
    then ``~/cnn_estimators_data/FashionMNIST/raw/``, and last Debian's
    ``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist``).
    The files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``)
    are checked against the MD5s of the original files and validated. Debian's
    re-compressed ``.gz`` files pass through the MD5 of their decompressed content.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder searched first, and where ``download=True`` saves the data
        (default: ``$CNN_ESTIMATORS_DATA``, else ``~/cnn_estimators_data``).
    download : bool, default=False
        If no local copy is found, download it with
        ``torchvision.datasets.FashionMNIST`` into the data home.
    n_train : int, default=None
        Keep a stratified, seeded subset of this many training images, in their
        original order. ``None`` keeps all.
    n_test : int, default=None
        Same for the test images.
    random_state : int, RandomState instance or None, default=0
        Seed of the subsets.

    Returns
    -------
    ImageData
        ``X_*`` uint8 of shape (n, 1, 28, 28), ``y_*`` int64 in 0..9, and
        ``class_names``.

    Raises
    ------
    FileNotFoundError
        If no local copy is found and ``download`` is False; the message lists
        every place searched and how to fix it.
    ConnectionError
        If the download fails (for instance without internet access).
    ValueError
        If a file is corrupt or not the original, or if ``n_train``/``n_test``
        is larger than the data.

    Examples
    --------
    Loading needs a local copy or ``download=True`` (not run here):

    >>> from cnn_estimators.datasets import load_fashion_mnist
    >>> data = load_fashion_mnist(n_train=2000, n_test=500)  # doctest: +SKIP
    >>> data.X_train.shape  # doctest: +SKIP
    (2000, 1, 28, 28)

    :func:`load_digits_images` returns the same container without a download:

    >>> from cnn_estimators.datasets import load_digits_images
    >>> data = load_digits_images(n_train=200)
    >>> data.X_train.shape, data.y_train.dtype
    ((200, 1, 8, 8), dtype('int64'))
    """
    return _load(
        _FASHION,
        data_home=data_home,
        download=download,
        n_train=n_train,
        n_test=n_test,
        random_state=random_state,
    )


def load_cifar10(
    *,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> ImageData:
    """Load CIFAR-10, 32x32 colour images of 10 classes.

    50 000 training and 10 000 test images of 32x32 pixels, 3 channels. A local
    copy is searched in torchvision's folder layout and the first complete one
    wins: ``<data_home>/cifar-10-batches-py/``, then
    ``$CNN_ESTIMATORS_DATA/cifar-10-batches-py/``, then
    ``~/cnn_estimators_data/cifar-10-batches-py/``. The files ``data_batch_1`` ..
    ``data_batch_5``, ``test_batch`` and ``batches.meta`` are checked against the
    MD5s of the original files, read with a restricted unpickler and validated.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder searched first, and where ``download=True`` saves the data
        (default: ``$CNN_ESTIMATORS_DATA``, else ``~/cnn_estimators_data``).
    download : bool, default=False
        If no local copy is found, download it with
        ``torchvision.datasets.CIFAR10`` into the data home.
    n_train : int, default=None
        Keep a stratified, seeded subset of this many training images, in their
        original order. ``None`` keeps all.
    n_test : int, default=None
        Same for the test images.
    random_state : int, RandomState instance or None, default=0
        Seed of the subsets.

    Returns
    -------
    ImageData
        ``X_*`` uint8 of shape (n, 3, 32, 32), ``y_*`` int64 in 0..9, and
        ``class_names``.

    Raises
    ------
    FileNotFoundError
        If no local copy is found and ``download`` is False; the message lists
        every place searched and how to fix it.
    ConnectionError
        If the download fails (for instance without internet access).
    ValueError
        If a file is corrupt or not the original, or if ``n_train``/``n_test``
        is larger than the data.

    Examples
    --------
    Loading needs a local copy or ``download=True`` (not run here):

    >>> from cnn_estimators.datasets import load_cifar10
    >>> data = load_cifar10(n_train=2000, n_test=500)  # doctest: +SKIP
    >>> data.X_train.shape  # doctest: +SKIP
    (2000, 3, 32, 32)

    :func:`load_digits_images` returns the same container without a download:

    >>> from cnn_estimators.datasets import load_digits_images
    >>> data = load_digits_images(n_train=200)
    >>> data.X_train.shape, data.y_train.dtype
    ((200, 1, 8, 8), dtype('int64'))
    """
    return _load(
        _CIFAR10,
        data_home=data_home,
        download=download,
        n_train=n_train,
        n_test=n_test,
        random_state=random_state,
    )
