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

__all__ = ["BatchIndexSampler", "ImageTensorDataset"]


class ImageTensorDataset(Dataset):
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

    def __init__(
        self,
        images: torch.Tensor,
        y: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
        indices: torch.Tensor | None = None,
    ) -> None:
        self.images = images
        self.y = y
        self.sample_weight = sample_weight
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.images)

    @property
    def targets(self) -> torch.Tensor | None:
        """The encoded labels of this subset, without touching the images."""
        if self.y is None:
            return None
        return self.y if self.indices is None else self.y.index_select(0, self.indices)

    def subset(self, positions: Any) -> ImageTensorDataset:
        """A view on ``positions`` of this dataset (no copy of the images)."""
        positions = torch.as_tensor(positions, dtype=torch.long)
        rows = positions if self.indices is None else self.indices.index_select(0, positions)
        return ImageTensorDataset(self.images, self.y, self.sample_weight, rows)

    def _rows(self, positions: torch.Tensor) -> torch.Tensor:
        return positions if self.indices is None else self.indices.index_select(0, positions)

    def __getitem__(self, index: Any) -> tuple[Any, torch.Tensor]:
        if isinstance(index, int) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            row = int(self.indices[index]) if self.indices is not None else int(index)
            label = self.y[row] if self.y is not None else torch.zeros((), dtype=torch.long)
            if self.sample_weight is not None:
                return {"X": self.images[row], "sample_weight": self.sample_weight[row]}, label
            return self.images[row], label
        rows = self._rows(torch.as_tensor(index, dtype=torch.long))
        images = self.images.index_select(0, rows)
        if self.y is not None:
            labels = self.y.index_select(0, rows)
        else:
            labels = torch.zeros(len(rows), dtype=torch.long)
        if self.sample_weight is not None:
            return {"X": images, "sample_weight": self.sample_weight.index_select(0, rows)}, labels
        return images, labels


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
