"""Validation of the estimator's parameters, done by ``fit``.

Every parameter's accepted values are declared in
``ParamsMixin._parameter_constraints``, in scikit-learn's vocabulary
(:mod:`sklearn.utils._param_validation`), and checked by scikit-learn's own
``validate_parameter_constraints``, so that a wrong value reads as in scikit-learn:
"The 'lr' parameter of CNNClassifier must be a float in the range (0, inf). Got 0
instead." What a constraint cannot say is checked by hand in
:meth:`ParamsMixin._check_params_together`: values that are valid alone but not
together, names looked up in a registry (with the closest name suggested), instances
where a class is expected, and a device this machine lacks.

scikit-learn's ``_fit_context`` is not used: it calls ``self._validate_params()``, which
on a skorch net is skorch's check of the routed ``module__*`` parameters.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`ParamsMixin`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from sklearn.utils._param_validation import (
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from torch import nn

from ._device import check_device_available, resolve_device
from ._tta import TTA_VIEWS
from ._validation import is_int, is_real
from .callbacks import LR_SCHEDULES, make_lr_scheduler
from .models import get_model_info, list_models

#: Optimizer names accepted by the ``optimizer`` parameter (case-insensitive).
OPTIMIZERS = MappingProxyType(
    {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
    }
)


def resolve_optimizer(optimizer: Any, owner: str) -> type:
    """The optimizer class of a name (case-insensitive) or a class given as is.

    The one place that turns the ``optimizer`` parameter into a class, for the estimator
    and the experiments alike; an unknown name is a ValueError suggesting the closest one.

    Examples
    --------
    >>> resolve_optimizer("Adam", "Est").__name__
    'Adam'
    >>> resolve_optimizer("adamm", "Est")
    Traceback (most recent call last):
    ...
    ValueError: The 'optimizer' parameter of Est must be one of 'sgd', 'adam', 'adamw', 'rmsprop' or a torch.optim.Optimizer class. Got 'adamm' instead. Did you mean 'adam'?
    """  # noqa: E501
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            close = difflib.get_close_matches(key, list(OPTIMIZERS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"The 'optimizer' parameter of {owner} must be one of "
                f"{', '.join(map(repr, OPTIMIZERS))} or a torch.optim.Optimizer class. "
                f"Got {optimizer!r} instead.{hint}"
            )
        return OPTIMIZERS[key]
    return optimizer


#: Optimizers whose fused implementation runs on the CPU and CUDA (used when named).
_FUSED_OPTIMIZERS = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)


#: Values accepted by the ``precision`` parameter.
PRECISIONS = ("float32", "float64", "bf16", "fp16", "auto")


# ---------------------------------------------------------------- constraint kinds
# scikit-learn's make_constraint passes through instances of Interval, Options (and
# StrOptions), HasMethods and MissingValues only, so the kinds below subclass those.


class _Range(Interval):
    """scikit-learn's ``Interval`` without bools, worded with its bounds as written:
    "an int in the range [1, inf)", "a float in the range (0, inf)"."""

    def is_satisfied_by(self, val: Any) -> bool:
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

    def __str__(self) -> str:
        kind = "an int" if self.type is Integral else "a float"
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        low = "-inf" if self.left is None else self.left
        high = "inf" if self.right is None else self.right
        return f"{kind} in the range {left}{low}, {high}{right}"


class _OneOf(StrOptions):
    """scikit-learn's ``StrOptions``, worded in the order given ("one of 'a', 'b'", or
    "'a'" for a single option) unless ``text`` says otherwise."""

    def __init__(self, options: Any, text: str | None = None) -> None:
        self.order = tuple(options)
        super().__init__(set(self.order))
        self.text = text

    def __str__(self) -> str:
        if self.text is not None:
            return self.text
        if len(self.order) == 1:
            return repr(self.order[0])
        return "one of " + ", ".join(map(repr, self.order))


class _Rule(Options):
    """A constraint given by a test and the words for it (``text``, or a function
    returning them when the error is raised).

    An ``Options`` with no options of its own: scikit-learn's ``check_param_validation``
    cannot make up a wrong value of the right type for it, and tries a value of no valid
    type only.
    """

    def __init__(self, text: str | Callable[[], str], test: Callable[[Any], bool]) -> None:
        super().__init__(object, set())
        self.text = text
        self.test = test

    def is_satisfied_by(self, val: Any) -> bool:
        return bool(self.test(val))

    def __str__(self) -> str:
        return self.text() if callable(self.text) else self.text


def _is_device(value: Any) -> bool:
    try:
        resolve_device(value)
    except ValueError:
        return False
    return True


def _is_image_shape(value: Any) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(is_int(v) and v >= 1 for v in value)
    )


def _is_folder(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and not Path(value).is_file()


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


_BOOL = _Rule("a bool", lambda v: isinstance(v, (bool, np.bool_)))
_POSITIVE_INT = _Range(Integral, 1, None, closed="left")
_TRANSFORM = _Rule("a callable mapping an image batch to an image batch", callable)

_TRANSFORM_HINT = (
    "For example torchvision.transforms.v2.RandomHorizontalFlip() or "
    "cnn_estimators.augmentation('cifar10')."
)

#: Appended to the message of a parameter that fails its constraints: how to fix it.
_HINTS = MappingProxyType(
    {
        "checkpoint_dir": "Give the folder to keep checkpoints in, not a file.",
        "min_steps": "None trains max_epochs epochs.",
        "time_budget": "Give the seconds the fit may take, e.g. time_budget=60.0, or None.",
        "train_transform": _TRANSFORM_HINT,
        "eval_transform": _TRANSFORM_HINT,
    }
)


class ParamsMixin:
    """Validation of the estimator's parameters, done by ``fit``."""

    #: The values each parameter accepts, in scikit-learn's vocabulary. A name (of a
    #: model, an optimizer, a schedule) passes as any str here and is looked up by
    #: ``_check_params_together``, which suggests the closest valid name.
    _parameter_constraints: dict = {
        # skorch's parameters
        "module": [
            _Rule(
                lambda: (
                    f"a registered model name ({', '.join(list_models())}) or an nn.Module class"
                ),
                lambda v: isinstance(v, str) or callable(v),  # instances: refused later
            )
        ],
        "criterion": [
            _Rule(
                "a loss class such as torch.nn.CrossEntropyLoss (the default), with its "
                "arguments as criterion__<name>",
                callable,  # instances: refused later, with a message of their own
            ),
            Hidden(None),  # after trim_for_prediction; fit refuses it with its own message
        ],
        "optimizer": [
            _Rule("one of " + ", ".join(map(repr, OPTIMIZERS)), _is_str),
            _Rule("a torch.optim.Optimizer class", callable),
        ],
        "lr": [_Range(Real, 0, None, closed="neither")],
        "max_epochs": [_POSITIVE_INT],
        "min_steps": [None, _POSITIVE_INT],
        "time_budget": [None, _Range(Real, 0, None, closed="neither")],
        "batch_size": [
            _POSITIVE_INT,
            _Rule("-1 (the whole data set)", lambda v: is_int(v) and v == -1),
        ],
        "iterator_train": [_Rule("a DataLoader class", callable)],
        "iterator_valid": [_Rule("a DataLoader class", callable)],
        "dataset": [_Rule("a Dataset class", callable)],
        "train_split": [
            None,
            _Rule("a split such as cnn_estimators.predefined_split(X_valid, y_valid)", callable),
        ],
        "callbacks": [
            None,
            _Rule(
                "a list of skorch callbacks or (name, callback) pairs",
                lambda v: isinstance(v, (list, tuple)),
            ),
        ],
        "predict_nonlinearity": [_OneOf(["auto"]), None, callable],
        "warm_start": [_BOOL],
        "verbose": [_Range(Integral, 0, None, closed="left"), _BOOL],
        "device": [
            _Rule("'auto', None, or a torch device such as 'cpu', 'cuda' or 'cuda:1'", _is_device)
        ],
        "compile": [_BOOL],
        "use_caching": [_OneOf(["auto"]), _BOOL],
        "torch_load_kwargs": [None, _Rule("a dict", lambda v: isinstance(v, Mapping))],
        "classes": [None, "array-like"],
        # CNNClassifier's own
        "image_shape": [
            None,
            _Rule("a tuple (channels, height, width) of positive ints", _is_image_shape),
        ],
        "validation_fraction": [_Range(Real, 0, 1, closed="left")],
        "early_stopping": [_BOOL],
        "n_iter_no_change": [_POSITIVE_INT],
        "tol": [_Range(Real, 0, None, closed="left")],
        "class_weight": [
            None,
            _OneOf(["balanced"]),
            _Rule("a dict {label: weight}", lambda v: isinstance(v, Mapping)),
        ],
        "lr_schedule": [
            None,
            _Rule("one of " + ", ".join(map(repr, LR_SCHEDULES)), _is_str),
            _Rule("a torch.optim.lr_scheduler class", callable),
        ],
        "keep_best": [_BOOL],
        "checkpoint_dir": [None, _Rule("a folder (str or path; created if missing)", _is_folder)],
        "resume": [_BOOL],
        "train_transform": [None, _TRANSFORM],
        "eval_transform": [None, _TRANSFORM],
        "precision": [_OneOf(PRECISIONS)],
        "tta": [
            None,
            _OneOf(TTA_VIEWS, text=", ".join(map(repr, TTA_VIEWS))),
            _Rule(
                "a list of callables",
                lambda v: isinstance(v, (list, tuple)) and all(map(callable, v)),
            ),
        ],
        "cache_features": [_OneOf(["auto"], text='"auto"'), _BOOL],
        "random_state": ["random_state"],
        "torch_threads": [None, _POSITIVE_INT],
        "progress_bar": [_OneOf(["auto"]), _BOOL],
    }

    def _check_params(self) -> None:
        """Check every parameter against ``_parameter_constraints``, then together.

        Routed parameters (``module__*``, ``optimizer__*``, ...) have no constraint:
        their components check them when they are built.
        """
        self.check_training_readiness()  # skorch's: not trimmed for prediction
        owner = type(self).__name__
        constraints = self._parameter_constraints
        for name, value in self.get_params(deep=False).items():
            if name not in constraints:
                continue
            try:
                validate_parameter_constraints(
                    {name: constraints[name]}, {name: value}, caller_name=owner
                )
            except InvalidParameterError as exc:
                if name not in _HINTS:
                    raise
                raise InvalidParameterError(f"{exc} {_HINTS[name]}") from None
        self._check_params_together()

    def _check_params_together(self) -> None:
        """The checks a constraint cannot express (each parameter's type is valid here)."""
        name = type(self).__name__
        if isinstance(self.module, nn.Module):
            raise TypeError(
                f"The 'module' parameter of {name} must be a registered model name or an "
                f"nn.Module class; got an instance of {type(self.module).__name__} instead. "
                "Pass the class and its arguments (module=MyNet, module__width=64): an instance "
                "is never re-initialised, so every cross-validation fold and grid-search "
                "candidate would keep training the same weights."
            )
        if isinstance(self.criterion, nn.Module):
            raise TypeError(
                f"The 'criterion' parameter of {name} must be a loss class; got an instance "
                f"of {type(self.criterion).__name__} instead. Pass the class and its "
                "arguments as criterion__<name>, e.g. criterion=nn.CrossEntropyLoss, "
                "criterion__label_smoothing=0.1."
            )
        if isinstance(self.module, str):
            get_model_info(self.module)  # raises with the valid names and a suggestion
        self._optimizer_class()  # likewise for an optimizer name
        if isinstance(self.lr_schedule, str):
            make_lr_scheduler(
                self.lr_schedule, lr=1.0, max_epochs=1, steps_per_epoch=1, has_validation=False
            )
        if self._keeps_best() and not self._has_validation():
            raise ValueError(
                f"keep_best=True and checkpoint_dir keep the epoch with the best validation "
                f"accuracy, but {name} has validation_fraction=0 and no train_split. Set "
                "validation_fraction to a value in (0, 1), e.g. 0.1."
            )
        if self.resume and self.checkpoint_dir is None:
            raise ValueError(
                f"resume=True needs a checkpoint_dir where {name} keeps the training state; "
                "set checkpoint_dir='runs/checkpoints' (any folder)."
            )
        if self.early_stopping and not self._has_validation():
            raise ValueError(
                f"early_stopping=True needs validation data, but {name} has "
                "validation_fraction=0 and no train_split. Set validation_fraction to a value "
                "in (0, 1), e.g. 0.1."
            )
        check_device_available(self.device, name)

    def _has_validation(self) -> bool:
        return self.train_split is not None or (
            is_real(self.validation_fraction) and self.validation_fraction > 0
        )

    def _keeps_best(self) -> bool:
        return bool(self.keep_best) or self.checkpoint_dir is not None
