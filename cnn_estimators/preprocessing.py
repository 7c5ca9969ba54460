"""scikit-learn transformers for images, to use in a ``Pipeline`` before an estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import check_images, check_ragged_images, is_int, is_ragged

__all__ = ["ResizeImages"]


class ResizeImages(TransformerMixin, BaseEstimator):
    """Resize images (possibly of different sizes) to one size.

    Parameters
    ----------
    size : "smallest", "largest" or (height, width), default="smallest"
        The target size: the smallest (or largest) height and width seen at ``fit``, or a
        fixed size.
    antialias : bool, default=True
        Anti-aliased bilinear interpolation (``torch.nn.functional.interpolate``).

    Attributes
    ----------
    size_ : tuple (height, width)
        The size images are resized to.

    Examples
    --------
    >>> import numpy as np
    >>> images = [np.zeros((1, 10, 12)), np.zeros((1, 8, 9))]
    >>> ResizeImages("smallest").fit_transform(images).shape
    (2, 1, 8, 9)
    """

    def __init__(self, size: Any = "smallest", antialias: bool = True) -> None:
        self.size = size
        self.antialias = antialias

    def _images(self, X: Any) -> list[torch.Tensor]:
        if is_ragged(X):
            return check_ragged_images(X, owner=type(self).__name__)
        images, _ = check_images(X, owner=type(self).__name__)
        return list(images)

    def fit(self, X: Any, y: Any = None) -> ResizeImages:
        """Find the target size."""
        images = self._images(X)
        if isinstance(self.size, str) and self.size in ("smallest", "largest"):
            pick = min if self.size == "smallest" else max
            self.size_ = (
                pick(int(i.shape[1]) for i in images),
                pick(int(i.shape[2]) for i in images),
            )
        elif (
            isinstance(self.size, (tuple, list))
            and len(self.size) == 2
            and all(is_int(v) and v > 0 for v in self.size)
        ):
            self.size_ = (int(self.size[0]), int(self.size[1]))
        else:
            raise ValueError(
                "The 'size' parameter of ResizeImages must be 'smallest', 'largest' or a "
                f"(height, width) tuple of positive ints. Got {self.size!r} instead."
            )
        self.n_channels_ = int(images[0].shape[0])
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Resize every image to ``size_``; uint8 stays uint8, the rest becomes float32."""
        check_is_fitted(self)
        images = self._images(X)
        out = []
        for image in images:
            if tuple(image.shape[1:]) == self.size_:
                out.append(image)
                continue
            resized = F.interpolate(
                image[None].float(),
                size=self.size_,
                mode="bilinear",
                align_corners=False,
                antialias=self.antialias,
            )[0]
            if image.dtype == torch.uint8:
                resized = resized.round().clamp(0, 255).to(torch.uint8)
            out.append(resized)
        return torch.stack(out).numpy()
