"""Test-time augmentation: class probabilities averaged over views of each image.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`TTAMixin`.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import torch


def _hflip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


class _Shift:
    """Shift a batch by (dy, dx) pixels, filling with zeros (picklable)."""

    def __init__(self, dy: int, dx: int) -> None:
        self.dy, self.dx = dy, dx

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad = (max(self.dx, 0), max(-self.dx, 0), max(self.dy, 0), max(-self.dy, 0))
        padded = torch.nn.functional.pad(x, pad)
        top, left = max(-self.dy, 0), max(-self.dx, 0)
        return padded[..., top : top + h, left : left + w]


#: Named test-time augmentations (None is the image itself).
TTA_VIEWS = MappingProxyType(
    {
        "flip": (None, _hflip),
        "flip_shift": (None, _hflip, _Shift(2, 0), _Shift(-2, 0), _Shift(0, 2), _Shift(0, -2)),
    }
)


class TTAMixin:
    """Test-time augmentation: class probabilities averaged over views of each image."""

    def _tta_views(self) -> list:
        if isinstance(self.tta, str):
            return list(TTA_VIEWS[self.tta])
        return [None, *self.tta]

    def _infer_tta(self, x, **fit_params):
        """log of the class probabilities averaged over the views (softmax gives them back)."""
        log_probs = []
        for view in self._tta_views():
            out = self._forward(self._prepare_batch(x, False, view=view), **fit_params)
            log_probs.append(torch.log_softmax(out.float(), dim=1))
        return torch.logsumexp(torch.stack(log_probs), dim=0) - float(np.log(len(log_probs)))
