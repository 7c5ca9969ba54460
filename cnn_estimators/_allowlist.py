"""The exact classes and functions a saved estimator may name, and what each may be given.

A file written by :func:`~cnn_estimators.persistence.save` names classes and functions as
``"module:name"`` strings. Loading looks each string up in the tables below, as a whole:
a string that is not a key is refused, so no other module is imported and no attribute
is looked up from what the file says. ``NAMES`` are stored by name and never called by
``load`` (the estimator calls them at ``fit`` in their role: criterion, optimizer...);
``OBJECTS`` are built by ``load`` from their arguments, each of which must pass its check.

The keys are the classes' own ``module:qualname`` (what version 0.1 wrote);
``tests/test_load_security.py`` checks that each key still names its object.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._schema import Invalid, fail, is_int, is_real

__all__ = ["KINDS", "NAMES", "OBJECTS", "build", "key_of", "resolve"]

_LOSSES = ("CrossEntropyLoss", "NLLLoss", "MultiMarginLoss")
_OPTIMIZERS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "NAdam",
    "radam": "RAdam",
    "asgd": "ASGD",
    "rprop": "Rprop",
}
_SCHEDULERS = (
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
    "CyclicLR",
    "ReduceLROnPlateau",
    "LinearLR",
    "ConstantLR",
    "PolynomialLR",
)
_COURSE = ("mlp", "fashion_cnn", "global_pool_cnn", "cifar_cnn", "example_cnn", "bn_cnn")
_COURSE_CLASSES = ("MLP", "FashionCNN", "GlobalPoolCNN", "CifarCNN", "ExampleCNN", "BatchNormCNN")

#: Classes and functions a file may name (criterion, optimizer, lr_schedule, module,
#: iterator_train/iterator_valid, dataset, and EpochScoring's target_extractor).
NAMES = frozenset(
    [f"torch.nn.modules.loss:{n}" for n in _LOSSES]
    + [f"torch.optim.{m}:{n}" for m, n in _OPTIMIZERS.items()]
    + [f"torch.optim.lr_scheduler:{n}" for n in _SCHEDULERS]
    + [f"cnn_estimators.models.course:{n}" for n in _COURSE + _COURSE_CLASSES]
    + [f"cnn_estimators.models.fast:{n}" for n in ("fast_cnn", "fast_cnn_v2")]
    + [f"cnn_estimators.models.fast:{n}" for n in ("FastCNN", "FastCNNV2")]
    + [
        "cnn_estimators.models.resnet:resnet18",
        "cnn_estimators.models._resnet18_net:ResNet18Transfer",
        "torch.utils.data.dataloader:DataLoader",
        "skorch.dataset:Dataset",
        "skorch.utils:to_numpy",
    ]
)

#: The estimator classes a file may be.
KINDS = frozenset(
    [
        "cnn_estimators.estimator:CNNClassifier",
        "cnn_estimators.accelerated:AcceleratedCNNClassifier",
    ]
)


@dataclass(frozen=True)
class Check:
    """What a constructor argument may be: a description and a test."""

    text: str
    test: Callable[[Any], bool]

    def __call__(self, value: Any, where: str) -> None:
        if not self.test(value):
            fail(where, self.text, value)


def _seq(item: Callable[[Any], bool], value: Any, longest: int = 16) -> bool:
    return isinstance(value, (list, tuple)) and len(value) <= longest and all(map(item, value))


def _is_numbers(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and value.numel() <= 4096
    return is_real(value) or _seq(is_real, value)


def _is_data(value: Any) -> bool:
    """Images or labels: arrays, tensors, numbers, strings, and lists of those."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biufU"
    if value is None or isinstance(value, (bool, numbers.Real, str, torch.Tensor)):
        return True
    return isinstance(value, (list, tuple)) and all(_is_data(v) for v in value)


def _is_transform(value: Any) -> bool:
    return any(type(value) is cls for cls in _transform_classes())


def _is_to_numpy(value: Any) -> bool:
    from skorch.utils import to_numpy

    return value is to_numpy


def _optional(check: Check) -> Check:
    return Check(f"None or {check.text}", lambda v: v is None or check.test(v))


NUMBER = Check("a number", is_real)
INT = Check("an int", is_int)
BOOL = Check("a bool", lambda v: isinstance(v, bool))
STR = Check("a string", lambda v: isinstance(v, str) and len(v) <= 200)
NUMBERS = Check("a number or a sequence of numbers", _is_numbers)
INTS = Check("an int or a sequence of ints", lambda v: is_int(v) or _seq(is_int, v))
DATA = Check("images or labels (arrays, tensors, numbers, strings)", _is_data)
TRANSFORM = Check("a transform", _is_transform)
TRANSFORMS = Check("a list of transforms", lambda v: _seq(_is_transform, v, 1000))


@dataclass(frozen=True)
class Constructor:
    """A class ``load`` may build: its arguments by name, and the positional ones."""

    args: Mapping[str, Check] = field(default_factory=dict)
    varargs: Check | None = None


_PKG = "cnn_estimators.transforms"
_V2 = "torchvision.transforms.v2"

#: Classes a file may build, with the checks of their arguments.
OBJECTS: Mapping[str, Constructor] = {
    f"{_PKG}:RandomHorizontalFlip": Constructor({"p": NUMBER}),
    f"{_PKG}:RandomCrop": Constructor(
        {"size": _optional(INTS), "padding": INTS, "fill": NUMBER, "padding_mode": STR}
    ),
    f"{_PKG}:RandomResizedCrop": Constructor(
        {"size": _optional(INTS), "scale": NUMBERS, "ratio": NUMBERS}
    ),
    f"{_PKG}:RandomAffine": Constructor(
        {
            "degrees": NUMBERS,
            "translate": _optional(NUMBERS),
            "scale": _optional(NUMBERS),
            "fill": NUMBER,
        }
    ),
    f"{_PKG}:RandomRotation": Constructor({"degrees": NUMBERS, "fill": NUMBER}),
    f"{_PKG}:Normalize": Constructor({"mean": NUMBERS, "std": NUMBERS}),
    f"{_PKG}:Resize": Constructor({"size": INTS}),
    f"{_PKG}:ToRGB": Constructor(),
    f"{_PKG}:Compose": Constructor(varargs=TRANSFORM),
    f"{_V2}._container:Compose": Constructor({"transforms": TRANSFORMS}),
    f"{_V2}._geometry:Resize": Constructor(
        {
            "size": _optional(INTS),
            "interpolation": Check("a string or an int", lambda v: STR.test(v) or is_int(v)),
            "max_size": _optional(INT),
            "antialias": _optional(BOOL),
        }
    ),
    f"{_V2}._geometry:CenterCrop": Constructor({"size": INTS}),
    f"{_V2}._geometry:RandomHorizontalFlip": Constructor({"p": NUMBER}),
    f"{_V2}._misc:Normalize": Constructor({"mean": NUMBERS, "std": NUMBERS, "inplace": BOOL}),
    f"{_V2}._color:Grayscale": Constructor({"num_output_channels": INT}),
    "cnn_estimators.adapters:PredefinedSplit": Constructor({"X": DATA, "y": _optional(DATA)}),
    "skorch.dataset:ValidSplit": Constructor(
        {"cv": NUMBER, "stratified": BOOL, "random_state": _optional(INT)}
    ),
    "skorch.callbacks.regularization:GradientNormClipping": Constructor(
        {
            "gradient_clip_value": _optional(NUMBER),
            "gradient_clip_norm_type": Check(
                "a number or a string", lambda v: is_real(v) or STR.test(v)
            ),
        }
    ),
    "skorch.callbacks.scoring:EpochScoring": Constructor(
        {
            "scoring": _optional(STR),
            "lower_is_better": BOOL,
            "on_train": BOOL,
            "name": _optional(STR),
            "target_extractor": Check("skorch.utils.to_numpy", _is_to_numpy),
            "use_caching": BOOL,
        }
    ),
}

_TRANSFORM_KEYS = tuple(k for k in OBJECTS if k.startswith((_PKG, _V2)))


def _import(key: str) -> Any:
    """The object a key of the tables names (keys come from this module, never a file)."""
    module, _, name = key.partition(":")
    return getattr(importlib.import_module(module), name)


def _transform_classes() -> list[type]:
    return [_import(k) for k in _TRANSFORM_KEYS]


def resolve(key: Any, where: str, table: frozenset[str] = NAMES) -> Any:
    """The class or function ``key`` names, if it is a key of ``table``; else :class:`Invalid`."""
    if not isinstance(key, str) or key not in table:
        what = "an estimator class" if table is KINDS else "a class or function"
        raise Invalid(
            where,
            f"names {key!r}, which is not {what} a saved estimator may name "
            "(cnn_estimators.persistence.ALLOWED_NAMES); refusing to import it",
        )
    return _import(key)


def build(key: Any, args: list, kwargs: dict, where: str) -> Any:
    """Build the object ``key`` names from decoded ``args`` and ``kwargs``, checking them."""
    if not isinstance(key, str) or key not in OBJECTS:
        raise Invalid(where, f"names {key!r}, not a class a saved estimator may build")
    spec = OBJECTS[key]
    if args and spec.varargs is None:
        raise Invalid(where, f"gives {key} positional arguments; it takes none")
    for i, value in enumerate(args):
        spec.varargs(value, f"{where} argument {i}")
    for name, value in kwargs.items():
        if name not in spec.args:
            raise Invalid(where, f"gives {key} an unknown argument {name!r}")
        spec.args[name](value, f"{where} argument {name!r}")
    try:
        return _import(key)(*args, **kwargs)
    except Exception as exc:  # the class's own validation
        raise Invalid(where, f"does not build a {key}: {exc}") from None


def key_of(obj: Any, table: frozenset[str] | Mapping[str, Any]) -> str | None:
    """The key of ``table`` that names ``obj`` itself, or None (used by ``save``)."""
    module = getattr(obj, "__module__", None) or ""
    key = f"{module}:{getattr(obj, '__qualname__', '')}"
    if key in table and _import(key) is obj:
        return key
    return None
