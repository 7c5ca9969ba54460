"""Result container, data-home resolution, stratified subsets and the split helper."""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

__all__ = [
    "DATA_HOME_ENV",
    "ImageData",
    "get_data_home",
    "train_valid_split",
]

#: Environment variable naming the folder that holds local copies of the data sets.
DATA_HOME_ENV = "CNN_ESTIMATORS_DATA"

#: Name of the default data folder, created in the user's home folder when downloading.
DEFAULT_DATA_DIRNAME = "cnn_estimators_data"


@dataclass(frozen=True, eq=False, repr=False)
class ImageData:
    """An image classification data set split into a training and a test set.

    Attributes are read-only (the dataclass is frozen), the arrays themselves are
    ordinary writable numpy arrays.

    Parameters
    ----------
    X_train : ndarray of shape (n_train, n_channels, height, width), dtype uint8
        Training images, channels first, values 0..255.
    y_train : ndarray of shape (n_train,), dtype int64
        Training labels, ``0 .. n_classes - 1``.
    X_test : ndarray of shape (n_test, n_channels, height, width), dtype uint8
        Test images.
    y_test : ndarray of shape (n_test,), dtype int64
        Test labels.
    class_names : list of str
        ``class_names[k]`` is the name of label ``k``.
    name : str
        Short name of the data set, e.g. ``"mnist"``.
    source : str
        Where the data was loaded from (a folder, or the function that generated it).

    Examples
    --------
    >>> from cnn_estimators.datasets import load_digits_images
    >>> data = load_digits_images()
    >>> data.X_train.shape, data.X_test.shape
    ((1347, 1, 8, 8), (450, 1, 8, 8))
    >>> data.n_classes, data.image_shape
    (10, (1, 8, 8))
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    name: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        for images, labels, split in (
            (self.X_train, self.y_train, "train"),
            (self.X_test, self.y_test, "test"),
        ):
            if len(images) != len(labels):
                raise ValueError(
                    f"X_{split} has {len(images)} images but y_{split} has {len(labels)} labels"
                )

    @property
    def n_classes(self) -> int:
        """Number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image, ``(n_channels, height, width)``."""
        return tuple(int(s) for s in self.X_train.shape[1:])

    def __repr__(self) -> str:
        def describe(array: np.ndarray) -> str:
            return f"{tuple(array.shape)} {array.dtype}"

        return (
            f"ImageData(name={self.name!r}, "
            f"X_train={describe(self.X_train)}, y_train={describe(self.y_train)}, "
            f"X_test={describe(self.X_test)}, y_test={describe(self.y_test)}, "
            f"n_classes={self.n_classes}, source={self.source!r})"
        )


def get_data_home(data_home: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder where data sets are looked for and downloaded to.

    The folder is resolved in this order: the ``data_home`` argument, the
    ``CNN_ESTIMATORS_DATA`` environment variable, ``~/cnn_estimators_data``.
    ``~`` is expanded. The folder is not created.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit data folder. ``None`` means: use the environment variable or the
        default.

    Returns
    -------
    pathlib.Path
        The data folder (which may not exist).

    Examples
    --------
    >>> from cnn_estimators.datasets import get_data_home
    >>> str(get_data_home("/tmp/my_data"))
    '/tmp/my_data'
    """
    if data_home is not None:
        return Path(data_home).expanduser()
    from_env = os.environ.get(DATA_HOME_ENV, "")
    if from_env:
        return Path(from_env).expanduser()
    return Path.home() / DEFAULT_DATA_DIRNAME


def _check_count(n: object, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be a positive int or None, got {n!r}")
    if n < 1:
        raise ValueError(f"{name} must be a positive int or None, got {n}")
    return int(n)


def _check_label_range(labels: np.ndarray, n_classes: int, where: str) -> None:
    """Raise if an integer label is outside ``0..n_classes - 1``; ``where`` starts the message."""
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{where}: labels must be in 0..{n_classes - 1}, found values from "
            f"{labels.min()} to {labels.max()}"
        )


def _stratified_subset(
    X: np.ndarray,
    y: np.ndarray,
    n: int | None,
    *,
    random_state: int | np.random.RandomState | None,
    param_name: str = "n",
) -> tuple[np.ndarray, np.ndarray]:
    """Return a stratified, seeded subset of ``n`` samples, kept in their original order."""
    if n is None:
        return X, y
    n = _check_count(n, param_name)
    available = len(y)
    if n > available:
        raise ValueError(f"{param_name}={n} is larger than the {available} samples available")
    if n == available:
        return X, y
    try:
        keep, _ = train_test_split(
            np.arange(available), train_size=n, stratify=y, random_state=random_state
        )
    except ValueError as exc:
        raise ValueError(
            f"cannot draw a stratified subset of {param_name}={n} samples from {available} "
            f"samples with {len(np.unique(y))} classes: {exc}"
        ) from exc
    keep = np.sort(keep)
    return X[keep], y[keep]


def train_valid_split(
    X: np.ndarray,
    y: np.ndarray,
    *,
    valid_size: int | float = 10000,
    random_state: int | np.random.RandomState | None = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split a training set into a training and a validation part.

    The default ``valid_size=10000`` gives the 50 000 / 10 000 training /
    validation scheme on the 60 000 training images of MNIST and Fashion-MNIST.
    This is :func:`sklearn.model_selection.train_test_split` with ``stratify=y``
    (by default) and a fixed seed.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Images.
    y : array-like of shape (n_samples,)
        Labels.
    valid_size : int or float, default=10000
        An int is the number of validation samples, a float in (0, 1) the fraction
        of samples used for validation (as ``test_size`` in ``train_test_split``).
    random_state : int, RandomState instance or None, default=0
        Seed of the shuffling.
    stratify : bool, default=True
        Keep the class proportions in both parts.

    Returns
    -------
    X_train, X_valid, y_train, y_valid : ndarray
        The two parts, in ``train_test_split``'s order.

    Examples
    --------
    >>> from cnn_estimators.datasets import load_digits_images, train_valid_split
    >>> data = load_digits_images()
    >>> X_tr, X_va, y_tr, y_va = train_valid_split(data.X_train, data.y_train, valid_size=0.2)
    >>> X_tr.shape, X_va.shape
    ((1077, 1, 8, 8), (270, 1, 8, 8))
    """
    n_samples = len(y)
    if isinstance(valid_size, bool) or not isinstance(valid_size, numbers.Real):
        raise TypeError(f"valid_size must be an int or a float, got {valid_size!r}")
    if isinstance(valid_size, numbers.Integral):
        if not 1 <= valid_size < n_samples:
            raise ValueError(
                f"valid_size={valid_size} must be at least 1 and smaller than the number of "
                f"samples ({n_samples})"
            )
    elif not 0.0 < valid_size < 1.0:
        raise ValueError(f"a float valid_size must be in (0, 1), got {valid_size}")
    return train_test_split(
        X,
        y,
        test_size=valid_size,
        random_state=random_state,
        stratify=y if stratify else None,
    )
