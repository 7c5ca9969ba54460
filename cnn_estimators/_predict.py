"""Prediction: class probabilities in batches, labels and accuracy.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`PredictMixin`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from skorch import NeuralNet

from ._data import (
    ImageTensorDataset,
    RaggedImageDataset,
    SequentialBatches,
)
from ._labels import encode
from ._loop import LoopMixin
from ._validation import (
    check_labels,
)


class PredictMixin:
    """Prediction: class probabilities in batches, labels and accuracy."""

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images in any layout accepted by :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        self._check_fitted()
        dataset = self._as_dataset(X)
        with self._threads():
            if isinstance(dataset, RaggedImageDataset) and dataset.y is None:
                return self._predict_proba_by_size(dataset)
            batches = self._lean_batches(dataset)
            if batches is not None:
                return self._predict_proba_batches(batches)
            return NeuralNet.predict_proba(self, dataset)

    def _lean_batches(self, dataset: Any) -> SequentialBatches | None:
        """The in-memory prediction batches, when skorch's per-batch loop can be skipped.

        Only for :class:`SequentialBatches` (in-memory images, no iterator_valid__*
        arguments) and only where no subclass changes the per-batch steps.
        """
        cls = type(self)
        if (
            cls.evaluation_step is not LoopMixin.evaluation_step
            or cls.forward_iter is not NeuralNet.forward_iter
        ):
            return None
        batches = self.get_iterator(dataset, training=False)
        return batches if isinstance(batches, SequentialBatches) else None

    def _predict_proba_batches(self, batches: SequentialBatches) -> np.ndarray:
        """skorch's predict_proba over ``batches``, with one concatenation at the end."""
        nonlin = self._get_predict_nonlinearity()
        self._set_training(False)
        outputs = []
        with torch.no_grad():
            for Xi in batches.inputs():
                out = self.infer(Xi)
                out = out[0] if isinstance(out, tuple) else out
                outputs.append(nonlin(out).cpu())
        return torch.cat(outputs).numpy()

    def _predict_proba_by_size(self, dataset: RaggedImageDataset) -> np.ndarray:
        """Predict each size group as one stacked tensor; rows in the input's order."""
        groups: dict[tuple, list[int]] = {}
        for position, size in enumerate(dataset.sizes):
            groups.setdefault(size, []).append(position)
        out = None
        for positions in groups.values():
            stacked = torch.stack([dataset.images[int(dataset.indices[p])] for p in positions])
            proba = NeuralNet.predict_proba(self, ImageTensorDataset(stacked))
            if out is None:
                out = np.empty((len(dataset), proba.shape[1]), dtype=proba.dtype)
            out[positions] = proba
        return out

    def predict(self, X):
        """Predicted labels (the user's labels, from ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy on ``X``, ``y``; labels never seen at fit are an error."""
        self._check_fitted()
        y_arr = check_labels(y, len(y) if hasattr(y, "__len__") else -1, owner=type(self).__name__)
        encode(
            y_arr,
            self.classes_,
            unseen="y contains labels {labels} that were not seen at fit (classes_ = {classes}); "
            "the classifier can never predict them. Pass all labels at fit with the 'classes' "
            "parameter.",
        )
        return super().score(X, y_arr, sample_weight=sample_weight)
