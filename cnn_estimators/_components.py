"""Building the network, criterion, optimizer and callbacks of a fit.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`ComponentsMixin`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import numpy as np
import torch
from skorch.callbacks import EpochScoring, EpochTimer, PassthroughScoring, PrintLog

from ._device import (
    device_memory_bytes,
)
from ._params import _FUSED_OPTIMIZERS, resolve_optimizer
from ._plan import steps_per_epoch
from ._validation import is_int, takes_argument
from .callbacks import (
    BestCheckpoint,
    TimeBudget,
    TqdmProgressBar,
    make_early_stopping,
    make_lr_scheduler,
)
from .models import get_model, get_model_info


def _flag(value: Any) -> bool:
    """True only for a true bool (robust to arbitrary values set through set_params)."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _encoded_accuracy(net: Any, X: Any, y: Any) -> float:
    """Validation accuracy on encoded labels (``y`` holds 0..K-1, not the user's labels)."""
    proba = net.predict_proba(X)
    return float(np.mean(proba.argmax(axis=1) == np.asarray(y)))


class ComponentsMixin:
    """Building the network, criterion, optimizer and callbacks of a fit."""

    def _module_is_variable_size(self) -> bool:
        if isinstance(self.module, str):
            return get_model_info(self.module).variable_input_size
        return True  # unknown: let the network decide, errors are translated

    def _inferred_module_kwargs(self) -> dict[str, Any]:
        shape = self._network_input_shape()
        inferred: dict[str, Any] = {}
        if shape is not None:
            inferred["in_channels"] = shape[0]
            inferred["input_size"] = (shape[1], shape[2])
        if self._fitted_classes() is not None:
            inferred["num_classes"] = len(self._fitted_classes())
        elif self.classes is not None:
            inferred["num_classes"] = len(self.classes)
        return inferred

    def initialize_module(self):
        """Build the module from the registry name or class, sized from the data."""
        user = self.get_params_for("module")
        kwargs = {**self._inferred_module_kwargs(), **user}
        fitted = self._fitted_classes()
        n_classes = None if fitted is None else len(fitted)
        if n_classes is not None and kwargs.get("num_classes") != n_classes:
            raise ValueError(
                f"module__num_classes={kwargs.get('num_classes')!r} does not match the "
                f"{n_classes} classes found in y; remove module__num_classes to infer it."
            )
        if isinstance(self.module, str):
            if not get_model_info(self.module).variable_input_size:
                self._check_module_size(kwargs)
            module = get_model(self.module, **kwargs)
        else:
            module = self.module(**self._accepted_kwargs(self.module, kwargs, user))
        self.precision_ = self._precision()
        if self.precision_ == "float64":
            module = module.double()
        self.module_ = module
        return self

    def _check_module_size(self, kwargs: dict) -> None:
        """Refuse, before allocating it, a network sized from the images that cannot fit.

        A dense layer after flattening grows with the image size (a 4096x4096 image into
        'mlp' needs 67 GB of weights). The network is built on the 'meta' device, which
        allocates nothing, and its weights, gradients and two optimizer moments are
        compared with the memory of the training device.
        """
        with torch.device("meta"):
            probe = get_model(self.module, **kwargs)
        sizes = {name: p.numel() * 4 for name, p in probe.named_parameters()}
        need = 4 * sum(sizes.values())  # weights, gradients, two optimizer moments
        limit = device_memory_bytes(self.device or "cpu")
        if limit is None or need <= limit:
            return
        layer = max(sizes, key=sizes.get)
        shape = self._network_input_shape()
        fits = ""
        if shape is not None:
            scale = (limit / need) ** 0.5
            h, w = max(1, int(shape[1] * scale)), max(1, int(shape[2] * scale))
            fits = f" Images of about {h}x{w} pixels would fit."
        raise ValueError(
            f"Model {self.module!r} sized for images of shape {shape} needs about "
            f"{need / 2**30:.1f} GiB to train (weights, gradients and optimizer state; its "
            f"layer {layer!r} alone has {sizes[layer] // 4:,} weights), more than the "
            f"{limit / 2**30:.1f} GiB of {self.device or 'cpu'!r}.{fits} Downscale the "
            "images (e.g. eval_transform=torchvision.transforms.v2.Resize((64, 64))) or "
            "use a model with global pooling, such as 'global_pool_cnn'."
        )

    @staticmethod
    def _accepted_kwargs(cls: Any, kwargs: dict, user: dict) -> dict:
        """Drop the inferred arguments that a user's module class does not accept."""
        return {
            k: v for k, v in kwargs.items() if k in user or takes_argument(cls, k, unknown=False)
        }

    def initialize_criterion(self):
        """Build the criterion with per-sample losses, reduced in :meth:`get_loss`."""
        kwargs = self.get_params_for("criterion")
        criterion = self.criterion
        if isinstance(criterion, type) and "reduction" not in kwargs:
            if takes_argument(criterion, "reduction", var_keyword=False, unknown=False):
                kwargs["reduction"] = "none"
        self.criterion_ = self.initialized_instance(criterion, kwargs)
        return self

    def _optimizer_class(self) -> Any:
        return resolve_optimizer(self.optimizer, type(self).__name__)

    def _fuse_optimizer(self, kwargs: dict) -> bool:
        """Whether to ask for the fused implementation of an optimizer given by name."""
        if not isinstance(self.optimizer, str) or {"fused", "foreach", "differentiable"} & set(
            kwargs
        ):
            return False
        cls = self._optimizer_class()
        if cls not in _FUSED_OPTIMIZERS:
            return False
        params = [p for _, p in self.get_all_learnable_params()]
        return bool(params) and all(
            p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params
        )

    def initialize_optimizer(self, triggered_directly=None):
        """Build the optimizer from a name or class, over the trainable parameters only."""
        self.__dict__.pop("grad_scaler_", None)  # a new optimizer starts a new scale
        named = self.get_all_learnable_params()
        args, kwargs = self.get_params_for_optimizer("optimizer", named)
        if self._fuse_optimizer(kwargs):
            kwargs["fused"] = True
        try:
            self.optimizer_ = self._optimizer_class()(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(
                f"{exc}. Check the optimizer__* parameters of {type(self).__name__} against "
                f"the arguments of {getattr(self._optimizer_class(), '__name__', 'the optimizer')}"
                "; to compare optimizers with different arguments in a grid search, give "
                "GridSearchCV a list of sub-grids, one per optimizer."
            ) from exc
        return self

    def get_all_learnable_params(self):
        """Yield the (name, parameter) pairs that require gradients."""
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    @property
    def _default_callbacks(self):
        run = self.current_fit()
        n_train = run.n_train if run is not None else 1
        steps = steps_per_epoch(n_train, self.batch_size)
        epochs = self.max_epochs if is_int(self.max_epochs) else 1
        if run is not None and run.planned_epochs is not None:
            epochs = run.planned_epochs  # the schedule ends with the fit
        scheduler = None
        if self.lr_schedule is not None:
            # get_params() reads this property: an invalid value must not raise here,
            # fit() reports it (scikit-learn validates in fit, never in set_params).
            with contextlib.suppress(ValueError, TypeError):
                scheduler = make_lr_scheduler(
                    self.lr_schedule,
                    lr=self.lr,
                    max_epochs=epochs,
                    steps_per_epoch=steps,
                    has_validation=self._has_validation(),
                )
        checkpoint = None
        if _flag(self.keep_best) or isinstance(self.checkpoint_dir, (str, os.PathLike)):
            checkpoint = BestCheckpoint(dirname=str(self.checkpoint_dir or ""))
        early = None
        if _flag(self.early_stopping):
            early = make_early_stopping(
                patience=self.n_iter_no_change, tol=self.tol, verbose=self.verbose
            )
        show_bar = self.progress_bar
        if isinstance(show_bar, str) and show_bar == "auto":
            show_bar = bool(getattr(sys.stderr, "isatty", lambda: False)())
        verbose = is_int(self.verbose) and self.verbose > 0
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_acc", EpochScoring(_encoded_accuracy, name="valid_acc", lower_is_better=False)),
            ("lr_scheduler", scheduler),
            # Before early stopping, which ends the epoch by raising: the last epoch's
            # checkpoint and training state must be written first.
            ("checkpoint", checkpoint),
            ("early_stopping", early),
            ("time_budget", None if self.time_budget is None else TimeBudget(self.time_budget)),
            ("progress_bar", TqdmProgressBar() if _flag(show_bar) else None),
            ("print_log", PrintLog(keys_ignored=["planned_by"]) if verbose else None),
        ]
