"""Data adapters: torch/torchvision datasets as sliceable inputs for scikit-learn tools.

scikit-learn's ``cross_val_score``, ``GridSearchCV`` and ``train_test_split`` index ``X``
with arrays of positions. :class:`ImageDatasetView` gives a map-style dataset (torchvision's
``MNIST``, ``FashionMNIST``, ``CIFAR10``, ``ImageFolder``, or any dataset returning
``(image, label)``) exactly that, the way skorch's ``SliceDataset`` does, but

* indexing returns another view (positions are composed), never a list of loaded images;
* the labels come from ``.targets`` / ``.samples`` / ``.tensors`` without opening a single
  image (skorch's ``SliceDataset(ds, idx=1)`` loads every sample to read its label);
* :meth:`ImageDatasetView.in_memory_images` hands the estimator the dataset's own uint8
  array when it has one (``MNIST.data``, ``CIFAR10.data``), so training on a torchvision
  dataset is as fast as on arrays; other datasets (``ImageFolder``, files) are read lazily,
  one batch at a time, by DataLoader workers.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["ImageDatasetView", "PredefinedSplit", "as_dataset", "predefined_split", "to_uint8_chw"]


def to_uint8_chw(image: Any) -> torch.Tensor:
    """Convert one image (PIL, numpy HWC/HW, or tensor CHW/HW) to a (C, H, W) tensor.

    uint8 stays uint8; PIL images become uint8 tensors; float arrays become float32.

    Examples
    --------
    >>> import numpy as np
    >>> to_uint8_chw(np.zeros((32, 32, 3), dtype=np.uint8)).shape
    torch.Size([3, 32, 32])
    """
    if isinstance(image, torch.Tensor):
        tensor = image
        if tensor.ndim == 2:
            tensor = tensor[None]
        return tensor if tensor.dtype == torch.uint8 else tensor.float()
    if hasattr(image, "getbands"):  # a PIL image
        from torchvision.transforms.v2.functional import pil_to_tensor

        return pil_to_tensor(image)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 3 and array.shape[-1] in (1, 3, 4) and array.shape[0] not in (1, 3, 4):
        array = array.transpose(2, 0, 1)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor if tensor.dtype == torch.uint8 else tensor.float()


def _dataset_targets(dataset: Any) -> np.ndarray | None:
    """The labels of a dataset read from its attributes, or None if it has none."""
    for name in ("targets", "labels", "y"):
        targets = getattr(dataset, name, None)
        if targets is not None and not callable(targets):
            if isinstance(targets, torch.Tensor):
                return targets.cpu().numpy()
            return np.asarray(targets)
    samples = getattr(dataset, "samples", None)  # ImageFolder: [(path, class), ...]
    if samples is not None:
        return np.asarray([s[1] for s in samples])
    tensors = getattr(dataset, "tensors", None)  # TensorDataset
    if isinstance(tensors, tuple) and len(tensors) >= 2:
        return tensors[1].cpu().numpy()
    if isinstance(dataset, torch.utils.data.Subset):
        parent = _dataset_targets(dataset.dataset)
        return None if parent is None else parent[np.asarray(dataset.indices)]
    return None


class ImageDatasetView:
    """A sliceable, lazily loaded view of a map-style image dataset.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Returns ``(image, label)`` for an int index; images may be PIL images, numpy arrays
        or tensors.
    indices : array-like of int, optional
        The positions of this view in ``dataset`` (all of them by default).

    Attributes
    ----------
    targets : ndarray
        The labels of the view, read without loading images where the dataset allows.
    shape : tuple
        ``(len(view),)``, what scikit-learn needs to count samples.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> ds = TensorDataset(torch.zeros(10, 1, 8, 8, dtype=torch.uint8), torch.arange(10) % 2)
    >>> view = ImageDatasetView(ds)
    >>> part = view[[0, 2, 4]]
    >>> len(part), part.targets.tolist()
    (3, [0, 0, 0])
    """

    def __init__(self, dataset: Any, indices: Any = None) -> None:
        if isinstance(dataset, ImageDatasetView):
            base = dataset.indices
            dataset = dataset.dataset
            if indices is not None:
                indices = base[np.asarray(indices, dtype=np.int64)]
            else:
                indices = base
        self.dataset = dataset
        n = len(dataset)
        if indices is None:
            self.indices = np.arange(n, dtype=np.int64)
        else:
            self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
            if len(self.indices) and (self.indices.min() < -n or self.indices.max() >= n):
                raise IndexError(f"indices out of range for a dataset of {n} samples")
            self.indices = self.indices % max(n, 1)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def shape(self) -> tuple[int]:
        return (len(self.indices),)

    @property
    def targets(self) -> np.ndarray:
        labels = _dataset_targets(self.dataset)
        if labels is None:  # no label attribute: the samples must be read once
            return np.asarray([self.dataset[int(i)][1] for i in self.indices])
        return labels[self.indices]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):  # scikit-learn's _safe_indexing uses view[key, ...]
            key = key[0] if len(key) == 1 or key[1:] == (Ellipsis,) else key
            if isinstance(key, tuple):
                raise IndexError("an ImageDatasetView is indexed along its first axis only")
        if isinstance(key, numbers.Integral):
            image = self.dataset[int(self.indices[key])][0]
            return to_uint8_chw(image)
        if isinstance(key, slice):
            return ImageDatasetView(self.dataset, self.indices[key])
        key = np.asarray(key)
        if key.dtype == bool:
            return ImageDatasetView(self.dataset, self.indices[key])
        return ImageDatasetView(self.dataset, self.indices[key.astype(np.int64)])

    def __repr__(self) -> str:
        return f"ImageDatasetView({type(self.dataset).__name__}, n_samples={len(self)})"

    def in_memory_images(self) -> np.ndarray | torch.Tensor | None:
        """The view's images as one uint8 array, when the dataset holds them in memory.

        torchvision's MNIST-like datasets keep a uint8 tensor ``data`` (N, H, W) and
        CIFAR10 a numpy array (N, H, W, C); a ``TensorDataset`` keeps its first tensor.
        Returns None when images must be read one by one (ImageFolder, files, datasets
        with a ``transform``).
        """
        ds = self.dataset
        if getattr(ds, "transform", None) is not None:
            return None
        data = getattr(ds, "data", None)
        if data is None and isinstance(getattr(ds, "tensors", None), tuple):
            data = ds.tensors[0]
        if data is None or len(data) != len(ds):
            return None
        if isinstance(data, torch.Tensor):
            idx = torch.from_numpy(self.indices)
            return (
                data
                if len(idx) == len(data) and _is_identity(self.indices)
                else data.index_select(0, idx)
            )
        if isinstance(data, np.ndarray):
            return data if _is_identity(self.indices) else data[self.indices]
        return None


def _is_identity(indices: np.ndarray) -> bool:
    return bool(len(indices) == 0 or (indices[0] == 0 and np.all(np.diff(indices) == 1)))


def as_dataset(dataset: Any) -> ImageDatasetView:
    """Wrap a map-style dataset so scikit-learn can slice it; see :class:`ImageDatasetView`.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> view = as_dataset(TensorDataset(torch.zeros(6, 1, 8, 8), torch.arange(6) % 3))
    >>> view.shape
    (6,)
    """
    return ImageDatasetView(dataset)


class LazyImageDataset(Dataset):
    """Per-sample reading of a view for the estimator's DataLoader (files, ImageFolder).

    Yields ``(uint8 or float tensor (C, H, W), encoded label)`` pairs, or
    ``({"X": image, "sample_weight": w}, label)`` with weights.
    """

    def __init__(
        self, view: ImageDatasetView, y: np.ndarray | None, sample_weight: np.ndarray | None = None
    ) -> None:
        self.view = view
        self.y = None if y is None else torch.as_tensor(y, dtype=torch.long)
        self.sample_weight = (
            None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
        )

    def __len__(self) -> int:
        return len(self.view)

    @property
    def targets(self) -> torch.Tensor | None:
        return self.y

    def subset(self, positions: Any) -> LazyImageDataset:
        positions = np.asarray(positions, dtype=np.int64)
        return LazyImageDataset(
            self.view[positions],
            None if self.y is None else self.y[positions].numpy(),
            None if self.sample_weight is None else self.sample_weight[positions].numpy(),
        )

    def __getitem__(self, index: int) -> tuple[Any, torch.Tensor]:
        image = self.view[int(index)]
        label = self.y[index] if self.y is not None else torch.zeros((), dtype=torch.long)
        if self.sample_weight is not None:
            return {"X": image, "sample_weight": self.sample_weight[index]}, label
        return image, label


class PredefinedSplit:
    """A fixed validation set for the ``train_split`` parameter (skorch's semantics).

    The images and labels are validated and encoded like the training data at ``fit``,
    so labels of any type work (skorch's ``predefined_split`` needs encoded labels).

    Parameters
    ----------
    X : array-like, tensor, list of images or dataset
        Validation images, in any form ``fit`` accepts.
    y : array-like, optional
        Validation labels (read from the dataset when ``X`` is one).

    Examples
    --------
    >>> from cnn_estimators import CNNClassifier, load_digits_images, predefined_split
    >>> d = load_digits_images()
    >>> est = CNNClassifier("mlp", max_epochs=1, random_state=0,
    ...                     train_split=predefined_split(d.X_test, d.y_test))
    >>> len(est.fit(d.X_train, d.y_train).validation_scores_)
    1
    """

    def __init__(self, X: Any, y: Any = None) -> None:
        self.X = X
        self.y = y

    def __call__(self, dataset: Any, y: Any = None, **kwargs: Any) -> Any:
        raise TypeError(
            "PredefinedSplit is read by CNNClassifier.fit, which validates and encodes the "
            "validation set; it is not a skorch train_split for other nets."
        )

    def __repr__(self) -> str:
        return f"PredefinedSplit(n_samples={len(self.X)})"


def predefined_split(X: Any, y: Any = None) -> PredefinedSplit:
    """Use ``(X, y)`` as the validation set: ``CNNClassifier(train_split=predefined_split(...))``.

    The parameters are those of :class:`PredefinedSplit`, which this returns.

    Examples
    --------
    >>> import numpy as np
    >>> from cnn_estimators import predefined_split
    >>> predefined_split(np.zeros((4, 1, 8, 8), dtype=np.uint8), ["cat", "dog", "cat", "dog"])
    PredefinedSplit(n_samples=4)
    """
    return PredefinedSplit(X, y)
