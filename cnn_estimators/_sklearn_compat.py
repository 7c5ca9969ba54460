"""scikit-learn's estimator contract on top of skorch: parameters, fitted state, tags.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`SklearnCompatMixin`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

from ._device import (
    resolve_device,
)

if TYPE_CHECKING:
    from .estimator import CNNClassifier


class SklearnCompatMixin:
    """scikit-learn's estimator contract on top of skorch: parameters, fitted state, tags."""

    # State kept between calls, set by the methods below only (class-level defaults, so
    # that __init__ sets nothing but parameters).
    _classes: np.ndarray | None = None  # the fitted labels behind classes_
    _stale: frozenset[str] = frozenset()  # components set_params changed since the fit

    def __setattr__(self, name: str, value: Any) -> None:
        # skorch registers torch objects set on the net as components, and refuses them
        # outside its initialize methods. A parameter (no trailing underscore) holding a
        # module -- a torchvision transform, or a module instance that fit then rejects
        # with a clear message -- is a plain value.
        if not name.endswith("_") and isinstance(value, (nn.Module, torch.optim.Optimizer)):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @property
    def device(self) -> str | None:
        """The concrete device ("auto" resolved on this machine).

        An invalid value is returned unchanged here and reported by ``fit``.
        """
        raw = self.__dict__.get("device", "auto")
        try:
            return resolve_device(raw)
        except ValueError:
            return raw

    @device.setter
    def device(self, value: Any) -> None:
        self.__dict__["device"] = value

    _COMPONENTS = ("module", "criterion", "optimizer", "callbacks")

    def set_params(self, **params: Any) -> CNNClassifier:
        """Set parameters; they take effect at the next ``fit`` (scikit-learn's convention).

        Unlike skorch, nothing is re-initialised here and nothing is validated: an invalid
        value is reported by ``fit``. On a fitted estimator, ``lr`` and ``optimizer__<name>``
        are also applied to the live optimizer, so that ``partial_fit`` or a warm-started
        ``fit`` continue with them; a new module, criterion, optimizer or callback setting
        rebuilds that part at the next ``fit``.
        """
        routed = [
            k
            for k in params
            if "__" in k
            or k in self._COMPONENTS
            or (self.initialized_ and any(k.startswith(p) for p in self.prefixes_))
        ]
        if not self.initialized_:
            routed = [k for k in routed if k.startswith("callbacks")]
        stale = set(self._stale)
        try:
            for key in routed:
                value = params.pop(key)
                self.__dict__[key] = value
                component = key.split("__", 1)[0]
                if "__" in key or self.initialized_:
                    self._params_to_validate.add(key)
                if self.initialized_ and component == "optimizer" and "__" in key:
                    if not self._set_live_optimizer_param(key.split("__", 1)[1], value):
                        stale.add("optimizer")
                elif component in self._COMPONENTS:
                    stale.add(component)
                elif self.initialized_:
                    stale.add("validate")
        finally:
            if self.initialized_:  # before the first fit everything is built anyway
                self._stale = frozenset(stale)
        if "lr" in params and self.initialized_:
            self.__dict__["lr"] = params.pop("lr")
            self._set_live_optimizer_param("lr", self.lr)
        return super().set_params(**params)

    def _set_live_optimizer_param(self, name: str, value: Any) -> bool:
        """Set ``name`` in every param group of the live optimizer, if it has it."""
        optimizer = self.__dict__.get("optimizer_")
        groups = getattr(optimizer, "param_groups", None)
        if not groups or "__" in name or not all(name in g for g in groups):
            return False
        for group in groups:
            group[name] = value
        return True

    def _get_param_names(self) -> list[str]:
        return [k for k in self.__dict__ if not k.endswith("_") and not k.startswith("_")]

    def get_params(self, deep: bool = True, **kwargs: Any) -> dict[str, Any]:
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device", "auto")
        if deep:
            # skorch lists the callbacks' current settings, read from callbacks built
            # afresh (or at the last fit): the values set since (in __init__ or
            # set_params), which the next fit applies, win.
            for key, value in self.__dict__.items():
                if key.startswith("callbacks__") and key in params:
                    params[key] = value
        return params

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the order of ``predict_proba``'s columns."""
        if self._classes is None:
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted yet: it has no "
                "'classes_'. Call 'fit' with appropriate arguments first."
            )
        return self._classes

    def _fitted_classes(self) -> np.ndarray | None:
        """:attr:`classes_`, or None before the first fit (no error)."""
        return self._classes

    def _set_classes(self, classes: np.ndarray) -> None:
        """Store the fitted labels behind :attr:`classes_` (fit and ``load`` call this)."""
        self._classes = classes

    def _take_stale(self) -> set[str]:
        """The components that ``set_params`` changed since the last fit; forgets them."""
        stale, self._stale = set(self._stale), frozenset()
        return stale

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.initialized_) and self._fitted_classes() is not None

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_class = True
        tags.non_deterministic = False
        return tags

    def __setstate__(self, state):
        raw = state.get("device", "auto")
        state = dict(state)
        state["device"] = resolve_device(raw) or "cpu"
        super().__setstate__(state)
        if raw == "auto":
            self.__dict__["device"] = raw

    def check_data(self, X, y=None):
        """Data are validated in :meth:`fit`; nothing left to check here."""

    def _module_name(self) -> str:
        return repr(self.module) if isinstance(self.module, str) else self.module.__name__
