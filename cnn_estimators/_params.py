"""Validation of the estimator's parameters, done by ``fit``.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`ParamsMixin`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from torch import nn

from ._device import (
    check_device_available,
    resolve_device,
)
from ._tta import TTA_VIEWS
from ._validation import (
    check_param,
    is_int,
    is_real,
)
from .callbacks import (
    make_lr_scheduler,
)
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


#: Optimizers whose fused implementation runs on the CPU and CUDA (used when named).
_FUSED_OPTIMIZERS = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)


#: Values accepted by the ``precision`` parameter.
PRECISIONS = ("float32", "float64", "bf16", "fp16", "auto")


class ParamsMixin:
    """Validation of the estimator's parameters, done by ``fit``."""

    def _check_params(self) -> None:
        name = type(self).__name__
        check_param(
            "lr",
            self.lr,
            name,
            kind="a float in the range (0, inf)",
            ok=is_real(self.lr) and self.lr > 0,
        )
        check_param(
            "max_epochs",
            self.max_epochs,
            name,
            kind="an int in the range [1, inf)",
            ok=is_int(self.max_epochs) and self.max_epochs >= 1,
        )
        check_param(
            "batch_size",
            self.batch_size,
            name,
            kind="an int in the range [1, inf) or -1 (the whole data set)",
            ok=is_int(self.batch_size) and (self.batch_size >= 1 or self.batch_size == -1),
        )
        vf = self.validation_fraction
        check_param(
            "validation_fraction",
            vf,
            name,
            kind="a float in the range [0, 1)",
            ok=is_real(vf) and 0 <= vf < 1,
        )
        check_param(
            "early_stopping",
            self.early_stopping,
            name,
            kind="a bool",
            ok=isinstance(self.early_stopping, (bool, np.bool_)),
        )
        check_param(
            "n_iter_no_change",
            self.n_iter_no_change,
            name,
            kind="an int in the range [1, inf)",
            ok=is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1,
        )
        check_param(
            "tol",
            self.tol,
            name,
            kind="a float in the range [0, inf)",
            ok=is_real(self.tol) and self.tol >= 0,
        )
        check_param(
            "keep_best",
            self.keep_best,
            name,
            kind="a bool",
            ok=isinstance(self.keep_best, (bool, np.bool_)),
        )
        check_param(
            "precision",
            self.precision,
            name,
            kind=f"one of {', '.join(map(repr, PRECISIONS))}",
            ok=self.precision in PRECISIONS,
        )
        check_param(
            "progress_bar",
            self.progress_bar,
            name,
            kind="'auto' or a bool",
            ok=self.progress_bar == "auto" or isinstance(self.progress_bar, bool),
        )
        cw = self.class_weight
        check_param(
            "class_weight",
            cw,
            name,
            kind="None, 'balanced' or a dict {label: weight}",
            ok=cw is None or cw == "balanced" or isinstance(cw, Mapping),
        )
        if self.image_shape is not None:
            shape = self.image_shape
            ok = (
                isinstance(shape, (tuple, list))
                and len(shape) == 3
                and all(is_int(v) and v >= 1 for v in shape)
            )
            check_param(
                "image_shape",
                shape,
                name,
                kind="None or a tuple (channels, height, width) of positive ints",
                ok=ok,
            )
        if self.lr_schedule is not None and isinstance(self.lr_schedule, str):
            make_lr_scheduler(
                self.lr_schedule, lr=1.0, max_epochs=1, steps_per_epoch=1, has_validation=False
            )  # raises on an unknown name
        if (
            self.keep_best is True or self.checkpoint_dir is not None
        ) and not self._has_validation():
            raise ValueError(
                f"keep_best=True and checkpoint_dir keep the epoch with the best validation "
                f"accuracy, but {name} has validation_fraction=0 and no train_split. Set "
                "validation_fraction to a value in (0, 1), e.g. 0.1."
            )
        check_param(
            "resume", self.resume, name, kind="a bool", ok=isinstance(self.resume, (bool, np.bool_))
        )
        check_param(
            "torch_threads",
            self.torch_threads,
            name,
            kind="None or an int in the range [1, inf)",
            ok=self.torch_threads is None
            or (is_int(self.torch_threads) and self.torch_threads >= 1),
        )
        if self.checkpoint_dir is not None:
            check_param(
                "checkpoint_dir",
                self.checkpoint_dir,
                name,
                kind="None or a folder (str or path; created if missing)",
                ok=isinstance(self.checkpoint_dir, (str, os.PathLike))
                and not Path(self.checkpoint_dir).is_file(),
                hint="Give the folder to keep checkpoints in, not a file.",
            )
        if self.resume and self.checkpoint_dir is None:
            raise ValueError(
                f"resume=True needs a checkpoint_dir where {name} keeps the training state; "
                "set checkpoint_dir='runs/checkpoints' (any folder)."
            )
        if self.tta is not None and not (
            (isinstance(self.tta, str) and self.tta in TTA_VIEWS)
            or (isinstance(self.tta, (list, tuple)) and all(callable(v) for v in self.tta))
        ):
            raise ValueError(
                f"The 'tta' parameter of {name} must be None, "
                f"{', '.join(map(repr, TTA_VIEWS))} or a list of callables. Got {self.tta!r} "
                "instead."
            )
        check_param(
            "cache_features",
            self.cache_features,
            name,
            kind='"auto" or a bool',
            ok=isinstance(self.cache_features, (bool, np.bool_)) or self.cache_features == "auto",
        )
        if self.early_stopping and not self._has_validation():
            raise ValueError(
                f"early_stopping=True needs validation data, but {name} has "
                "validation_fraction=0 and no train_split. Set validation_fraction to a value "
                "in (0, 1), e.g. 0.1."
            )
        resolve_device(self.__dict__.get("device", "auto"))
        check_device_available(self.device, name)
        for key in ("train_transform", "eval_transform"):
            value = getattr(self, key)
            check_param(
                key,
                value,
                name,
                kind="None or a callable mapping an image batch to an image batch",
                ok=value is None or callable(value),
                hint="For example torchvision.transforms.v2.RandomHorizontalFlip() or "
                "cnn_estimators.augmentation('cifar10').",
            )
        check_param(
            "callbacks",
            self.callbacks,
            name,
            kind="None or a list of skorch callbacks or (name, callback) pairs",
            ok=self.callbacks is None or isinstance(self.callbacks, (list, tuple)),
        )
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
        if self.criterion is not None and not callable(self.criterion):  # None: trimmed
            raise TypeError(
                f"The 'criterion' parameter of {name} must be a loss class such as "
                f"torch.nn.CrossEntropyLoss (the default), with its arguments as "
                f"criterion__<name>; got {self.criterion!r} instead."
            )
        if isinstance(self.module, str):
            get_model_info(self.module)  # raises with the valid names and a suggestion
        elif not (isinstance(self.module, type) and issubclass(self.module, nn.Module)):
            if not callable(self.module):
                raise TypeError(
                    f"The 'module' parameter of {name} must be a registered model name "
                    f"({', '.join(list_models())}) or an nn.Module class; got "
                    f"{self.module!r} instead."
                )

    def _has_validation(self) -> bool:
        return self.train_split is not None or (
            is_real(self.validation_fraction) and self.validation_fraction > 0
        )

    def _keeps_best(self) -> bool:
        return self.keep_best is True or self.checkpoint_dir is not None
