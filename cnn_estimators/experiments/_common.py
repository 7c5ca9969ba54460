"""Helpers shared by the experiment modules: folds, rows, labels."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import _safe_indexing

from .._labels import encode
from ..adapters import ImageDatasetView


def _stratified_cv(cv: Any, random_state: Any) -> Any:
    """An int becomes a shuffled ``StratifiedKFold``; splitters pass through."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        return StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=random_state)
    return cv


def _take(X: Any, positions: np.ndarray) -> Any:
    """Rows ``positions`` of X (arrays, lists, DataFrames, tensors, dataset views)."""
    if isinstance(X, torch.utils.data.Dataset) and not isinstance(X, ImageDatasetView):
        X = ImageDatasetView(X)
    if isinstance(X, ImageDatasetView):
        return X[positions]
    if isinstance(X, torch.Tensor):
        return X[torch.as_tensor(positions, dtype=torch.long)]
    return _safe_indexing(X, positions)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, type):
        return value.__name__
    return str(value)


def _positions(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Column of each label in ``classes`` (ValueError for unknown labels)."""
    return encode(
        labels,
        classes,
        unseen="y contains labels {labels} that the estimator never saw (classes_ = {classes}).",
    )
