"""The validation split: ``validation_fraction`` (stratified, seeded) or ``train_split``.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`SplitMixin`.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from ._data import (
    ImageTensorDataset,
)
from ._feature_cache import (
    compute_features,
)
from .adapters import PredefinedSplit


class SplitMixin:
    """The validation split: ``validation_fraction`` (stratified, seeded) or ``train_split``."""

    def _split_indices(self, y_enc: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(y_enc)
        n_valid = int(np.ceil(self.validation_fraction * n))
        n_classes = len(np.unique(y_enc))
        stratify = y_enc
        counts = np.bincount(y_enc)
        if n_valid < n_classes or (n - n_valid) < n_classes or counts[counts > 0].min() < 2:
            stratify = None
        if n_valid < 1 or n - n_valid < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {n - n_valid} "
                f"training and {n_valid} validation images out of {n}; give more data or set "
                "validation_fraction=0."
            )
        idx = np.arange(n)
        train_idx, valid_idx = train_test_split(
            idx, test_size=n_valid, random_state=seed, stratify=stratify
        )
        return np.sort(train_idx), np.sort(valid_idx)

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split off the validation set: ``train_split`` if given, else ``validation_fraction``."""
        if isinstance(self.train_split, PredefinedSplit):
            valid = self._dataset(*self._validation_input(self.train_split), None)
            if self._fit_run.features_cached:
                valid = ImageTensorDataset(compute_features(self, valid), valid.targets)
            return X, valid
        if self.train_split or not hasattr(X, "subset"):
            return super().get_split_datasets(X, y, **fit_params)
        if not self.validation_fraction:
            return X, None
        train_idx, valid_idx = self._fit_run.split
        return X.subset(train_idx), X.subset(valid_idx)
