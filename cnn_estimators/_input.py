"""What X is (array, tensor, ragged list, lazy dataset), checked and wrapped as a dataset.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`InputMixin`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ._data import (
    ImageTensorDataset,
    RaggedImageDataset,
)
from ._device import (
    fits_in_device_memory,
)
from ._feature_cache import (
    AUTO_CACHE_LIMIT_BYTES,
    cache_obstacle,
    compute_features,
    feature_bytes,
)
from ._labels import encode
from ._validation import (
    check_images,
    check_labels,
    check_ragged_images,
    is_ragged,
    warn_on_pixel_range,
)
from .adapters import ImageDatasetView, LazyImageDataset, PredefinedSplit
from .models import get_model_info


class InputMixin:
    """What X is (array, tensor, ragged list, lazy dataset), checked and wrapped as a dataset."""

    #: The (C, H, W) the network was fitted on (after eval_transform); set by the
    #: methods below only. A class-level default, so that __init__ sets only parameters.
    _net_shape: tuple[int, int, int] | None = None

    def _images(self, X: Any, *, fitting: bool) -> tuple[torch.Tensor, bool]:
        name = type(self).__name__
        if fitting:
            images, was_flat = check_images(X, owner=name, image_shape=self.image_shape)
            warn_on_pixel_range(images, name)
            return images, was_flat
        return check_images(
            X,
            owner=name,
            image_shape=None,
            fitted_shape=self.image_shape_,
            variable_size=self._module_is_variable_size(),
        )

    def _on_cuda(self) -> bool:
        return self.device is not None and torch.device(self.device).type == "cuda"

    def _keep_on_device(self, dataset: Any) -> Any:
        """In-memory training data that fit in a quarter of the free GPU memory move there once."""
        if not (isinstance(dataset, ImageTensorDataset) and self._on_cuda()):
            return dataset
        tensors = (dataset.images, dataset.y, dataset.sample_weight)
        nbytes = sum(t.numel() * t.element_size() for t in tensors if t is not None)
        if not fits_in_device_memory(nbytes, self.device):
            return dataset
        self.data_on_device_ = True
        return dataset.to(self.device)

    def _maybe_cache_features(
        self, kind: str, dataset: Any, probe: torch.Tensor, y_enc: Any, weights: Any
    ) -> Any:
        """The training data as features of the frozen layers, if ``cache_features`` says so."""
        self.features_cached_ = False
        if self.cache_features is False:
            return dataset
        obstacle = cache_obstacle(self, kind)
        if obstacle is not None:
            if self.cache_features is True:
                raise ValueError(
                    f"cache_features=True, but {type(self).__name__} cannot cache features: "
                    f"{obstacle}. Set cache_features='auto' (caches when it can) or False."
                )
            return dataset
        if self.cache_features == "auto":
            size = feature_bytes(self, probe, len(dataset))
            if size > AUTO_CACHE_LIMIT_BYTES:
                return dataset
        features = compute_features(self, dataset)
        self._fit_run.features_cached = True
        self.features_cached_ = True
        return self._dataset("tensor", features, y_enc, weights)

    def _input(self, X: Any, *, fitting: bool) -> tuple[str, Any]:
        """Classify and validate X: ("tensor", images), ("ragged", list) or ("lazy", view)."""
        if isinstance(X, torch.utils.data.Dataset):
            X = ImageDatasetView(X)
        if isinstance(X, ImageDatasetView):
            in_memory = X.in_memory_images()
            if in_memory is None:
                if len(X) == 0:
                    raise ValueError(f"{type(self).__name__} got an empty dataset.")
                return "lazy", X
            X = in_memory
        if is_ragged(X):
            fitted = None if fitting else self.image_shape_
            return "ragged", check_ragged_images(
                X, owner=type(self).__name__, fitted_channels=fitted and fitted[0]
            )
        images, _ = self._images(X, fitting=fitting)
        return "tensor", images

    @staticmethod
    def _probe(kind: str, images: Any) -> torch.Tensor:
        """One image per distinct size class, for the network-input checks."""
        if kind == "tensor":
            return images[:1]
        if kind == "lazy":
            return images[0][None]
        c = images[0].shape[0]
        h = min(int(img.shape[1]) for img in images)
        w = min(int(img.shape[2]) for img in images)
        return torch.zeros((1, c, h, w), dtype=images[0].dtype)

    def _dataset(self, kind: str, images: Any, y_enc: Any, weights: Any) -> Any:
        y_t = None if y_enc is None else torch.from_numpy(np.asarray(y_enc, dtype=np.int64))
        w_t = None if weights is None else torch.from_numpy(weights)
        if kind == "tensor":
            return ImageTensorDataset(images, y_t, w_t)
        if kind == "ragged":
            return RaggedImageDataset(images, y_t, w_t)
        return LazyImageDataset(images, y_enc, weights)

    def _set_input_attributes(
        self, kind: str, images: Any, probe: torch.Tensor, X: Any, classes: np.ndarray
    ) -> None:
        self._set_network_input_shape(None)
        self._set_classes(classes)
        if kind == "ragged":
            sizes = {tuple(img.shape[1:]) for img in images}
            if not self._module_is_variable_size():
                raise ValueError(
                    f"X holds images of {len(sizes)} different sizes, but model "
                    f"{self.module!r} needs one size. Resize them first, e.g. with "
                    "cnn_estimators.preprocessing.ResizeImages('smallest') in a Pipeline, or "
                    "use a model with global pooling such as 'global_pool_cnn'."
                )
            self.image_shape_ = (int(images[0].shape[0]), None, None)
            self.__dict__.pop("n_features_in_", None)
            self.__dict__.pop("feature_names_in_", None)
            return
        shape = tuple(int(v) for v in probe.shape[1:])
        self.image_shape_ = shape
        self.n_features_in_ = int(np.prod(shape))
        names = getattr(X, "columns", None)
        if names is not None and all(isinstance(c, str) for c in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        else:
            self.__dict__.pop("feature_names_in_", None)

    def _network_input_shape(self) -> tuple[int, int, int] | None:
        """The (C, H, W) the network was fitted on, after ``eval_transform``; None before."""
        return self._net_shape

    def _set_network_input_shape(self, shape: tuple[int, ...] | None) -> None:
        """Record (or with None forget) the network's input shape; fit and ``load``."""
        self._net_shape = None if shape is None else tuple(int(d) for d in shape)

    def _check_module_input(self, images: torch.Tensor) -> None:
        """Find the shape the network receives (after ``eval_transform``) and check it."""
        with torch.no_grad():
            sample = self._prepare_batch(images[:1], training=False)
        shape = tuple(int(v) for v in sample.shape[1:])
        if len(shape) != 3:
            raise ValueError(
                f"eval_transform must return image batches (B, C, H, W); it returned a "
                f"tensor of shape {tuple(sample.shape)}."
            )
        fitted = self._network_input_shape()
        if fitted is not None and fitted[0] != shape[0]:
            raise ValueError(
                f"X has images with {shape[0]} channel(s) after eval_transform, but the "
                f"network was fitted on {fitted[0]}."
            )
        if fitted is None:
            self._set_network_input_shape(shape)
        if not isinstance(self.module, str):
            return
        info = get_model_info(self.module)
        h, w = shape[1], shape[2]
        mh, mw = info.min_input_size
        if h < mh or w < mw:
            raise ValueError(
                f"Model {self.module!r} needs images of at least {mh}x{mw} pixels; got "
                f"{h}x{w}. Resize the images (e.g. eval_transform=torchvision.transforms.v2"
                f".Resize(({mh}, {mw}))) or choose a model that accepts smaller images, such "
                "as 'mlp'."
            )

    def _validation_input(self, split: PredefinedSplit) -> tuple[str, Any, np.ndarray]:
        """Validate and encode a predefined validation set like the training data."""
        kind, images = self._input(split.X, fitting=False)
        y = split.y
        if y is None and isinstance(split.X, (ImageDatasetView, torch.utils.data.Dataset)):
            y = ImageDatasetView(split.X).targets
        y = check_labels(y, len(images), owner=type(self).__name__)
        y_enc = encode(
            y,
            self.classes_,
            unseen="The validation labels {labels} are not among the training classes {classes}.",
        )
        return kind, images, y_enc

    def _as_dataset(self, X: Any) -> Any:
        if isinstance(X, (ImageTensorDataset, RaggedImageDataset, LazyImageDataset)):
            return X
        self._check_fitted()
        kind, images = self._input(X, fitting=False)
        if kind == "tensor":
            self._check_feature_names(X)
        return self._dataset(kind, images, None, None)

    def _check_feature_names(self, X: Any) -> None:
        if not hasattr(self, "feature_names_in_"):
            return
        names = getattr(X, "columns", None)
        if names is not None and list(names) != list(self.feature_names_in_):
            raise ValueError("The feature names should match those that were passed during fit.")
        if names is None:
            warnings.warn(
                f"X does not have valid feature names, but {type(self).__name__} was "
                "fitted with feature names",
                UserWarning,
                stacklevel=4,
            )
