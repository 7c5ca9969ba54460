"""Save and load fitted estimators without pickle: loading a file runs no code of its choosing.

:func:`save` writes one checkpoint file (atomic, SHA-256 checked; see
:mod:`cnn_estimators._io`) holding the estimator's parameters, its fitted attributes
(``classes_``, shapes, history) and the network's weights. Parameters are stored as data:
numbers, strings, lists, arrays and tensors; classes and functions *by name*; objects such
as transforms by class name and constructor arguments.

:func:`load` treats the file as written by a stranger. It imports and builds only the
classes and functions whose exact names are listed in :data:`ALLOWED_NAMES` (the
criterion, optimizer, scheduler, model, data-loader, transform, split and callback classes
the package uses), each object only from arguments of the types it takes; it checks every
field of the file before using it; it builds the network on the ``meta`` device first,
so a file cannot make it allocate more than the weights the file holds; and every
problem raises :class:`~cnn_estimators._io.CheckpointError` naming the file and the
field. The reliability guide states what this does and does not guarantee.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import numbers
import os
import pathlib
import warnings
from typing import Any

import numpy as np
import torch

from . import _allowlist
from ._allowlist import KINDS, NAMES, OBJECTS
from ._io import MAX_CHECKPOINT_BYTES, MAX_DEPTH, CheckpointError, load_checkpoint, save_checkpoint
from ._schema import (
    Invalid,
    check_dict,
    check_history,
    check_optimizer_state,
    check_state_dict,
    check_versions,
    describe,
    fail,
    is_int,
    is_real,
)

__all__ = [
    "ALLOWED_NAMES",
    "CheckpointError",
    "load",
    "load_checkpoint",
    "save",
    "save_checkpoint",
]

#: The exact ``"module:name"`` strings a saved file may use: estimator classes, classes
#: and functions stored by name, and classes built from their arguments.
ALLOWED_NAMES = tuple(sorted(KINDS | NAMES | set(OBJECTS)))

_FIELDS = (
    "format",
    "kind",
    "versions",
    "params",
    "fitted",
    "classes",
    "net_shape",
    "feature_names",
    "module",
    "optimizer",
    "history",
)
_PREFIXES = ("module", "criterion", "optimizer", "iterator_train", "iterator_valid", "dataset")
_PREFIXES += ("callbacks",)


def _is_numbers(value: Any) -> bool:
    return isinstance(value, list) and all(is_real(v) for v in value)


#: The fitted attributes a file stores, and what each must be.
_FITTED = {
    "image_shape_": _allowlist.Check(
        "a tuple of 3 positive ints",
        lambda v: isinstance(v, tuple) and len(v) == 3 and all(is_int(d) and d > 0 for d in v),
    ),
    "n_features_in_": _allowlist.Check("an int >= 1", lambda v: is_int(v) and v >= 1),
    "loss_curve_": _allowlist.Check("a list of numbers", _is_numbers),
    "validation_scores_": _allowlist.Check(
        "None or a list of numbers", lambda v: v is None or _is_numbers(v)
    ),
    "best_validation_score_": _allowlist.Check(
        "None or a number", lambda v: v is None or is_real(v)
    ),
    "n_iter_": _allowlist.Check("an int >= 0", lambda v: is_int(v) and v >= 0),
}

_REFUSED_AT_SAVE = (
    "cannot be saved as data: a saved estimator may only name the classes and functions "
    "in cnn_estimators.persistence.ALLOWED_NAMES (not lambdas, local functions or classes "
    "of your own). Save the estimator with pickle/joblib instead (which loads only from "
    "trusted files)."
)


# --------------------------------------------------------------------------- encoding
def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)  # the plain string of a str subclass (an enum member)
    if isinstance(value, (list, tuple)):
        items = [_encode(v, where) for v in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, where), _encode(v, where)] for k, v in value.items()]}
    if isinstance(value, pathlib.PurePath):  # e.g. checkpoint_dir=Path("runs")
        return {"__path__": str(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
        return {"__list_array__": [_encode(v, where) for v in value.tolist()]}
    if isinstance(value, torch.Tensor):
        return {"__tensor__": value.detach().cpu()}
    if isinstance(value, type) or inspect.isfunction(value) or inspect.isbuiltin(value):
        key = _allowlist.key_of(value, NAMES)
        if key is None:
            name = getattr(value, "__qualname__", type(value).__name__)
            raise TypeError(
                f"{where}: {getattr(value, '__module__', '')}.{name} {_REFUSED_AT_SAVE}"
            )
        return {"__ref__": key}
    return _encode_object(value, where)


def _encode_object(value: Any, where: str) -> Any:
    """An object rebuilt by calling its class with the arguments it stores by name."""
    cls = type(value)
    key = _allowlist.key_of(cls, OBJECTS)
    if key is None:
        raise TypeError(f"{where}: a {cls.__name__} (from {cls.__module__}) {_REFUSED_AT_SAVE}")
    spec = OBJECTS[key]
    args = [_encode(m, where) for m in value.children()] if spec.varargs is not None else []
    kwargs = {}
    for name in spec.args:
        if not hasattr(value, name):
            raise TypeError(
                f"{where}: a {cls.__name__} cannot be saved as data (it does not store its "
                f"argument {name!r}). Save the estimator with pickle/joblib instead (which "
                "loads only from trusted files)."
            )
        kwargs[name] = _encode(getattr(value, name), where)
    return {"__object__": key, "args": args, "kwargs": kwargs}


# --------------------------------------------------------------------------- decoding
_TAGS = ("__tuple__", "__dict__", "__ndarray__", "__path__", "__list_array__", "__tensor__")
_TAGS += ("__ref__", "__object__")
_NDARRAY_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
_NDARRAY_DTYPES += (torch.float16, torch.float32, torch.float64)


def _decode(value: Any, where: str, limit: int, depth: int = 0) -> Any:
    """Rebuild an encoded value, checking it; ``limit`` bounds the arrays built (bytes)."""
    if depth > MAX_DEPTH:
        raise Invalid(where, f"is nested more than {MAX_DEPTH} levels deep")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, list):
        return [_decode(v, f"{where}[{i}]", limit, depth + 1) for i, v in enumerate(value)]
    tag = next((t for t in _TAGS if isinstance(value, dict) and t in value), None)
    expected = {tag, "args", "kwargs"} if tag == "__object__" else {tag}
    if tag is None or set(value) != expected:
        fail(
            where, "a number, a string, a list or a tagged dict such as {'__tuple__': [...]}", value
        )
    content = value[tag]
    at = f"{where}[{tag!r}]"
    if tag in ("__tuple__", "__dict__", "__list_array__") and not isinstance(content, list):
        fail(at, "a list", content)
    if tag == "__tuple__":
        return tuple(_decode(v, f"{at}[{i}]", limit, depth + 1) for i, v in enumerate(content))
    if tag == "__dict__":
        result = {}
        for i, pair in enumerate(content):
            if not isinstance(pair, list) or len(pair) != 2:
                fail(f"{at}[{i}]", "a [key, value] pair", pair)
            key = _decode(pair[0], f"{at}[{i}][0]", limit, depth + 1)
            if not (key is None or isinstance(key, (bool, int, float, str))):
                fail(f"{at}[{i}][0]", "a number or a string (a dict key)", key)
            result[key] = _decode(pair[1], f"{at}[{i}][1]", limit, depth + 1)
        return result
    if tag in ("__ndarray__", "__tensor__"):
        if not isinstance(content, torch.Tensor) or (
            tag == "__ndarray__" and content.dtype not in _NDARRAY_DTYPES
        ):
            fail(at, "a tensor of a numpy dtype", content)
        return content.numpy() if tag == "__ndarray__" else content
    if tag == "__path__":
        if not isinstance(content, str):
            fail(at, "a string", content)
        return pathlib.Path(content)
    if tag == "__list_array__":
        return _list_array(_decode(content, at, limit, depth + 1), at, limit)
    if tag == "__ref__":
        return _allowlist.resolve(content, where)
    args, kwargs = value["args"], value["kwargs"]
    if not isinstance(args, list):
        fail(f"{where}['args']", "a list", args)
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        fail(f"{where}['kwargs']", "a dict with string keys", kwargs)
    args = [_decode(v, f"{where}['args'][{i}]", limit, depth + 1) for i, v in enumerate(args)]
    kwargs = {
        k: _decode(v, f"{where}['kwargs'][{k!r}]", limit, depth + 1) for k, v in kwargs.items()
    }
    return _allowlist.build(content, args, kwargs, where)


def _list_array(items: list, where: str, limit: int) -> np.ndarray:
    """``np.asarray`` of strings and numbers, refused if it would outgrow the file."""
    objects = np.empty(0, dtype=object)
    with contextlib.suppress(ValueError):
        objects = np.array(items, dtype=object)
    flat = list(objects.flat)
    if not all(v is None or isinstance(v, (bool, int, float, str)) for v in flat):
        fail(where, "a (nested) list of numbers and strings of one shape", items)
    longest = max((len(v) for v in flat if isinstance(v, str)), default=1)
    if len(flat) * max(longest, 2) * 4 > limit:
        raise Invalid(where, "would make an array out of proportion to the file")
    try:
        return np.asarray(items)
    except Exception as exc:  # ragged lists
        raise Invalid(where, f"is not an array ({exc})") from None


# --------------------------------------------------------------------------- save
def save(estimator: Any, path: str | os.PathLike) -> str:
    """Save a fitted :class:`~cnn_estimators.CNNClassifier` to ``path``.

    Parameters
    ----------
    estimator : CNNClassifier
        A fitted estimator.
    path : str or path
        The file to write (replaced atomically).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    TypeError
        A parameter cannot be stored as data that :func:`load` accepts: a lambda, a
        function or class of your own, an object outside :data:`ALLOWED_NAMES` or
        with arguments of another type. Use pickle or joblib for such estimators.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp, persistence
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(max_epochs=1, random_state=0).fit(X / 16, y)
    >>> path = persistence.save(est, tempfile.mkdtemp() + "/digits.ckpt")
    >>> loaded = persistence.load(path)
    >>> bool((loaded.predict(X / 16) == est.predict(X / 16)).all())
    True
    """
    from .estimator import _versions

    estimator._check_fitted()
    kind = _allowlist.key_of(type(estimator), KINDS)
    if kind is None:
        raise TypeError(f"a {type(estimator).__name__} {_REFUSED_AT_SAVE}")
    params = {
        k: _encode(v, f"parameter {k!r}") for k, v in estimator.get_params(deep=False).items()
    }
    fitted = {k: _encode(getattr(estimator, k), k) for k in _FITTED if hasattr(estimator, k)}
    names = getattr(estimator, "feature_names_in_", None)
    payload = {
        "format": 1,
        "kind": kind,
        "versions": _versions(),
        "params": params,
        "fitted": fitted,
        "classes": _encode(estimator.classes_, "classes_"),
        "net_shape": [int(d) for d in estimator._network_input_shape() or ()],
        "feature_names": None if names is None else [str(n) for n in names],
        "module": {k: v.detach().cpu() for k, v in estimator.module_.state_dict().items()},
        "optimizer": (
            None
            if getattr(estimator, "optimizer_", None) is None
            else estimator.optimizer_.state_dict()
        ),
        "history": json.dumps(list(estimator.history_), default=float),
    }
    try:  # what load would refuse is refused now, not when the file is read
        _check_fields(payload, limit=2**62)
    except Invalid as exc:
        raise TypeError(f"The estimator cannot be saved as data: {exc}.") from None
    return str(save_checkpoint(payload, path))


# --------------------------------------------------------------------------- load
def load(
    path: str | os.PathLike,
    *,
    device: str | None = None,
    max_bytes: int = MAX_CHECKPOINT_BYTES,
) -> Any:
    """Load an estimator written by :func:`save`, ready to predict.

    The file may come from a stranger: nothing outside :data:`ALLOWED_NAMES` is imported
    or called, memory is allocated in proportion to the file's size, and every problem
    raises :class:`~cnn_estimators._io.CheckpointError` naming the file.

    Parameters
    ----------
    path : str or path
        The file.
    device : str, optional
        Where to put the network ("cpu", "cuda", "auto"); by default the saved ``device``
        parameter, falling back to the CPU (with a warning) when it is not available here.
    max_bytes : int, default=4 GiB
        Largest file read; raise it for larger files you trust.

    Returns
    -------
    CNNClassifier

    Raises
    ------
    CheckpointError
        The file is damaged, too large, malformed, names something outside
        :data:`ALLOWED_NAMES`, or holds weights for another network than its parameters
        build.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import CNNClassifier, make_mlp
    >>> X, y = load_digits(return_X_y=True)
    >>> path = make_mlp(max_epochs=1, random_state=0).fit(X / 16, y).save(
    ...     tempfile.mkdtemp() + "/digits.ckpt")
    >>> CNNClassifier.load(path, device="cpu").predict(X[:3] / 16).shape
    (3,)
    """
    state = load_checkpoint(path, max_bytes=max_bytes)
    if not isinstance(state, dict) or "params" not in state or "kind" not in state:
        raise CheckpointError(f"{path} is a checkpoint, but not a saved estimator.")
    try:
        return _load(state, path, device, limit=os.stat(path).st_size)
    except Invalid as exc:
        raise CheckpointError(f"{path} is not a valid saved estimator: its {exc}.") from None


def _check_fields(state: dict, limit: int) -> tuple[type, dict, dict]:
    """Check every field of a saved estimator; its class, parameters and fitted attributes."""
    check_dict(state, "content", _FIELDS)
    if not is_int(state["format"]) or state["format"] != 1:
        fail("'format'", "1", state["format"])
    check_versions(state["versions"], "'versions'")
    cls = _allowlist.resolve(state["kind"], "'kind'", KINDS)
    if not isinstance(state["params"], dict):
        fail("'params'", "a dict", state["params"])
    names = set(cls().get_params(deep=False))
    params = {}
    for key, value in state["params"].items():
        where = f"parameter {describe(key)}"
        if not (
            isinstance(key, str)
            and key.isidentifier()
            and not key.startswith("_")
            and not key.endswith("_")
            and (key in names or ("__" in key and key.partition("__")[0] in _PREFIXES))
        ):
            raise Invalid(where, f"is not a parameter of {cls.__name__}")
        params[key] = _decode(value, where, limit)
    load_kwargs = params.get("torch_load_kwargs")
    if load_kwargs is not None and (
        not isinstance(load_kwargs, dict) or load_kwargs.get("weights_only", True) is not True
    ):
        fail(
            "parameter 'torch_load_kwargs'",
            "None or a dict without weights_only=False",
            load_kwargs,
        )
    fitted = check_dict(state["fitted"], "'fitted'", (), _FITTED)
    fitted = {k: _decode(v, f"'fitted'[{k!r}]", limit) for k, v in fitted.items()}
    for key, value in fitted.items():
        _FITTED[key](value, f"'fitted'[{key!r}]")
    classes = _decode(state["classes"], "'classes'", limit)
    if not isinstance(classes, np.ndarray) or classes.ndim != 1 or len(classes) == 0:
        fail("'classes'", "a 1-D array of at least one label", classes)
    fitted["_classes"] = classes
    shape = state["net_shape"]
    if not (
        isinstance(shape, list) and len(shape) in (0, 3) and all(is_int(d) and d > 0 for d in shape)
    ):
        fail("'net_shape'", "a list of 0 or 3 positive ints", shape)
    names = state["feature_names"]
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        fail("'feature_names'", "None or a list of strings", names)
    check_state_dict(state["module"], "'module'")
    if state["optimizer"] is not None:
        check_optimizer_state(state["optimizer"], "'optimizer'")
    fitted["history_"] = check_history(state["history"], "'history'")
    return cls, params, fitted


@contextlib.contextmanager
def _without_pretrained_weights(est: Any):
    """Build the network without reading or downloading pretrained weights (the file's
    weights replace them): ``module__weights`` is None meanwhile."""
    saved = est.__dict__.get("module__weights")
    if saved is not None:
        est.__dict__["module__weights"] = None
    try:
        yield
    finally:
        if saved is not None:
            est.__dict__["module__weights"] = saved


def _check_network_size(est: Any, weights: dict, path: Any) -> None:
    """Build the network on the meta device (no memory) and compare it to the weights."""
    with _without_pretrained_weights(est), torch.device("meta"):
        with est._current_init_context("module"):  # skorch's context for setting module_
            est.initialize_module()
    meta = est.__dict__.pop("module_")
    built = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in weights.items()}
    if built != saved:
        diff = sorted(set(built.items()) ^ set(saved.items()))[:3]
        raise CheckpointError(
            f"{path} holds weights for another architecture than its parameters build "
            f"({est._module_name()}): the shapes differ at {diff}."
        )
    held = sum(v.numel() * v.element_size() for v in weights.values())
    tensors = [*meta.parameters(), *meta.buffers()]
    needed = sum(t.numel() * t.element_size() for t in tensors)
    if needed > 2 * held + 2**24:
        raise Invalid(
            "parameters", f"build a network of {needed} bytes for {held} bytes of weights"
        )


def _load(state: dict, path: Any, device: str | None, limit: int) -> Any:
    from skorch.history import History

    from ._device import resolve_device
    from .estimator import _versions

    cls, params, fitted = _check_fields(state, limit)
    if state["versions"] != _versions():
        warnings.warn(
            f"{path} was saved with {state['versions']}; running with {_versions()}. "
            "Predictions may differ slightly.",
            UserWarning,
            stacklevel=3,
        )
    wanted = device if device is not None else params.get("device", "auto")
    try:
        resolved = resolve_device(wanted)
    except (TypeError, ValueError) as exc:
        raise Invalid("parameter 'device'", f"is not a device here: {exc}") from None
    if resolved is not None and resolved.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"{path} was saved for device {wanted!r}, which is not available here; "
            "loading on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        wanted = "cpu"
    params["device"] = wanted
    try:
        est = cls(**params)
    except Exception as exc:
        raise Invalid("parameters", f"do not build a {cls.__name__}: {exc}") from None
    history = fitted.pop("history_")
    est._set_classes(fitted.pop("_classes"))
    for key, value in fitted.items():
        setattr(est, key, value)
    if state["net_shape"]:
        est._set_network_input_shape(state["net_shape"])
    if state["feature_names"] is not None:
        est.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
    trimmed = params.get("criterion") is None or params.get("optimizer") is None
    try:
        with torch.random.fork_rng(devices=[]):  # building the network draws random weights
            _check_network_size(est, state["module"], path)
            with _without_pretrained_weights(est):
                if trimmed:  # saved after trim_for_prediction: the network, to predict
                    est.initialize_virtual_params()
                    est._initialize_module()
                    est.criterion_ = est.optimizer_ = None
                    est.callbacks_ = []
                    est.initialized_ = True
                    est._trimmed_for_prediction = True
                else:
                    est.initialize()
            est.module_.load_state_dict(state["module"])
            est.module_.to(est.device or "cpu")
    except (CheckpointError, Invalid):
        raise
    except RuntimeError as exc:  # load_state_dict: missing keys, other shapes
        raise CheckpointError(
            f"{path} holds weights for another architecture than its parameters build "
            f"({est._module_name()}): {str(exc).splitlines()[0]}"
        ) from exc
    except Exception as exc:
        raise Invalid("parameters", f"do not build its network: {str(exc)[:300]}") from None
    if state["optimizer"] is not None:  # so that training can continue
        if est.optimizer_ is None:
            raise Invalid("'optimizer'", "is saved for an estimator without an optimizer")
        try:
            est.optimizer_.load_state_dict(state["optimizer"])
        except Exception as exc:
            raise Invalid("'optimizer'", f"does not fit the network: {str(exc)[:300]}") from None
    est.history_ = History(history)
    return est
