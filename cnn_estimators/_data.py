"""The in-memory data path: images kept as given (uint8 stays uint8), batches indexed at once.

A training epoch over an :class:`ImageTensorDataset` costs one ``index_select`` per batch:
no per-sample ``__getitem__`` and no per-sample collate. Subsets (the validation split,
cross-validation folds) hold an index tensor into the same storage, so splitting never
copies the images.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

__all__ = [
    "BatchIndexSampler",
    "ImageTensorDataset",
    "RaggedImageDataset",
    "SequentialBatches",
    "SizeBucketSampler",
]


def _batch(
    images: torch.Tensor, labels: torch.Tensor | None, weights: torch.Tensor | None
) -> tuple[Any, torch.Tensor]:
    """``(X, y)`` for skorch: zero labels for prediction, and ``X`` a dict with weights."""
    if labels is None:
        labels = torch.zeros(len(images), dtype=torch.long, device=images.device)
    if weights is not None:
        return {"X": images, "sample_weight": weights}, labels
    return images, labels


def _select(
    data: _LabelledImages, images: torch.Tensor, rows: torch.Tensor | slice
) -> tuple[Any, torch.Tensor]:
    """The batch of ``images`` with the labels and weights of ``rows`` (positions or a slice)."""

    def take(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        return t[rows] if isinstance(rows, slice) else t.index_select(0, rows)

    return _batch(images, take(data.y), take(data.sample_weight))


class _LabelledImages(Dataset):
    """Images with optional labels and weights, and the positions of a subset of them."""

    def __init__(
        self,
        images: Any,
        y: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
        indices: torch.Tensor | None = None,
    ) -> None:
        self.images = images
        self.y = y
        self.sample_weight = sample_weight
        self.indices = indices

    @property
    def targets(self) -> torch.Tensor | None:
        """The encoded labels of this subset, without touching the images."""
        if self.y is None:
            return None
        return self.y if self.indices is None else self.y.index_select(0, self.indices)

    def subset(self, positions: Any) -> Any:
        """A view on ``positions`` of this dataset (no copy of the images)."""
        positions = torch.as_tensor(positions, dtype=torch.long)
        if self.indices is None:
            rows = positions
        else:
            rows = self.indices.index_select(0, positions.to(self.indices.device))
        return type(self)(self.images, self.y, self.sample_weight, rows)


class ImageTensorDataset(_LabelledImages):
    """Images (N, C, H, W), encoded labels and optional per-sample weights.

    Indexing with an int returns one ``(image, label)`` pair; indexing with a 1-D sequence
    or tensor of positions returns a whole batch. A batch is ``(X, y)`` where ``X`` is the
    image tensor, or ``{"X": images, "sample_weight": weights}`` when weights are present.

    Parameters
    ----------
    images : torch.Tensor
        (N, C, H, W), uint8 or floating point.
    y : torch.Tensor or None
        (N,) int64 encoded labels; ``None`` for prediction (zeros are returned as labels).
    sample_weight : torch.Tensor or None
        (N,) float32 weights.
    indices : torch.Tensor or None
        Positions of this subset in ``images``; ``None`` means all of them.
    """

    images: torch.Tensor

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.images)

    def _rows(self, positions: torch.Tensor) -> torch.Tensor:
        rows = positions if self.indices is None else self.indices.index_select(0, positions)
        return rows.to(self.images.device, non_blocking=True)

    def to(self, device: Any) -> ImageTensorDataset:
        """The same dataset with its tensors on ``device`` (e.g. kept in GPU memory).

        Batches are then gathered on that device: the sampler's positions are moved
        there, and no image crosses the bus again during training.
        """

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return ImageTensorDataset(
            move(self.images), move(self.y), move(self.sample_weight), move(self.indices)
        )

    def __getitem__(self, index: Any) -> tuple[Any, torch.Tensor]:
        if isinstance(index, int) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            row = int(self.indices[index]) if self.indices is not None else int(index)
            label = self.y[row] if self.y is not None else torch.zeros((), dtype=torch.long)
            weight = self.sample_weight[row] if self.sample_weight is not None else None
            return _batch(self.images[row], label, weight)
        rows = self._rows(torch.as_tensor(index, dtype=torch.long))
        return _select(self, self.images.index_select(0, rows), rows)


class SequentialBatches:
    """The batches of an :class:`ImageTensorDataset` in order, without a DataLoader.

    For prediction on in-memory images: no sampler, fetcher or worker machinery per
    batch, and for a dataset that is not a subset, a batch of uint8 images is a slice
    (a view) of the images rather than a gathered copy. Batches of other dtypes are copies,
    as from a DataLoader, so that a transform working in place never writes into the
    caller's array.

    Parameters
    ----------
    dataset : ImageTensorDataset
        The images (and labels) to batch.
    batch_size : int
        Images per batch (the last batch may be smaller).
    """

    def __init__(self, dataset: ImageTensorDataset, batch_size: int) -> None:
        self.dataset = dataset
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, torch.Tensor]]:
        data = self.dataset
        if data.indices is not None:  # a subset: gathered copies, as from a DataLoader
            for start, stop in self._bounds():
                yield data[torch.arange(start, stop)]
            return
        for start, stop in self._bounds():
            yield _select(data, self._slice(start, stop), slice(start, stop))

    def inputs(self) -> Iterator[torch.Tensor]:
        """The image batches alone, which is all prediction needs (no labels or weights)."""
        data = self.dataset
        for start, stop in self._bounds():
            if data.indices is not None:
                yield data.images.index_select(0, data._rows(torch.arange(start, stop)))
            else:
                yield self._slice(start, stop)

    def _bounds(self) -> Iterator[tuple[int, int]]:
        n = len(self.dataset)
        for start in range(0, n, self.batch_size):
            yield start, min(start + self.batch_size, n)

    def _slice(self, start: int, stop: int) -> torch.Tensor:
        images = self.dataset.images[start:stop]
        return images if images.dtype == torch.uint8 else images.clone()


class BatchIndexSampler(Sampler):
    """Yield batches of positions as int64 tensors, shuffled with a seeded generator.

    Used with ``DataLoader(dataset, batch_size=None, sampler=BatchIndexSampler(...))`` so
    that the dataset receives a whole batch of positions at once.
    """

    def __init__(
        self,
        n_samples: int,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self) -> int:
        if self.drop_last:
            return self.n_samples // self.batch_size
        return -(-self.n_samples // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.shuffle:
            order = torch.randperm(self.n_samples, generator=self.generator)
        else:
            order = torch.arange(self.n_samples)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size]


class RaggedImageDataset(_LabelledImages):
    """Images of different sizes (a list of (C, H, W) tensors), batched by size.

    Used with :class:`SizeBucketSampler`, which only ever asks for positions of images of
    one size, so that each batch stacks into a (B, C, H, W) tensor without padding.
    """

    indices: torch.Tensor

    def __init__(
        self,
        images: list[torch.Tensor],
        y: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
        indices: torch.Tensor | None = None,
    ) -> None:
        if indices is None:
            indices = torch.arange(len(images))
        super().__init__(images, y, sample_weight, indices)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(H, W) of each image of this subset, in order."""
        return [tuple(self.images[int(i)].shape[1:]) for i in self.indices]

    def __getitem__(self, index: Any) -> tuple[Any, torch.Tensor]:
        if isinstance(index, int):
            index = [index]
        rows = self.indices.index_select(0, torch.as_tensor(index, dtype=torch.long))
        return _select(self, torch.stack([self.images[int(r)] for r in rows]), rows)


class SizeBucketSampler(Sampler):
    """Batches of positions whose images share one size; shuffled within and across sizes."""

    def __init__(
        self,
        sizes: list[tuple[int, int]],
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
    ) -> None:
        self.sizes = sizes
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def _groups(self) -> list[torch.Tensor]:
        groups: dict[tuple[int, int], list[int]] = {}
        for position, size in enumerate(self.sizes):
            groups.setdefault(size, []).append(position)
        return [torch.tensor(v) for _, v in sorted(groups.items())]

    def __len__(self) -> int:
        return sum(-(-len(g) // self.batch_size) for g in self._groups())

    def __iter__(self) -> Iterator[torch.Tensor]:
        batches = []
        for group in self._groups():
            if self.shuffle:
                group = group[torch.randperm(len(group), generator=self.generator)]
            batches.extend(group.split(self.batch_size))
        if self.shuffle:
            order = torch.randperm(len(batches), generator=self.generator).tolist()
            batches = [batches[i] for i in order]
        yield from batches
