"""Save and load fitted estimators without pickle: a file cannot execute code.

:func:`save` writes one checkpoint file (atomic, SHA-256 checked; see
:mod:`cnn_estimators._io`) holding the estimator's parameters, its fitted attributes
(``classes_``, shapes, history) and the network's weights. Parameters are stored as data:
numbers, strings, lists, tensors, classes and functions *by name*, and objects such as
transforms by class name and constructor arguments. :func:`load` imports names only from
``torch``, ``torchvision``, ``skorch``, ``sklearn`` and ``cnn_estimators``, so loading a
file from elsewhere runs no code of the file's choosing.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pathlib
import warnings
from typing import Any

import numpy as np
import torch

from ._io import CheckpointError, load_checkpoint, save_checkpoint

__all__ = [
    "ALLOWED_MODULES",
    "CheckpointError",
    "load",
    "load_checkpoint",
    "save",
    "save_checkpoint",
]

#: Packages whose classes and functions a saved file may name.
ALLOWED_MODULES = ("torch", "torchvision", "skorch", "sklearn", "cnn_estimators")

_FITTED = (
    "image_shape_",
    "n_features_in_",
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "n_iter_",
)


def _ref(obj: Any) -> str:
    module = getattr(obj, "__module__", "") or ""
    return f"{module}:{obj.__qualname__}"


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
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
        ref = _ref(value)
        module = ref.partition(":")[0].split(".")[0]
        if module not in ALLOWED_MODULES or "<" in ref:
            raise TypeError(
                f"{where}: {ref!r} cannot be saved as data (only classes and functions of "
                f"{', '.join(ALLOWED_MODULES)} can, not lambdas or local functions). Save "
                "the estimator with pickle/joblib instead (which loads only from trusted "
                "files)."
            )
        return {"__ref__": ref}
    return _encode_object(value, where)


def _encode_object(value: Any, where: str) -> Any:
    """An object rebuilt by calling its class with the arguments it stores by name."""
    cls = type(value)
    if _ref(cls).partition(":")[0].split(".")[0] not in ALLOWED_MODULES or "<" in _ref(cls):
        raise TypeError(
            f"{where}: a {cls.__name__} (from {cls.__module__}) cannot be saved as data: only "
            f"objects of {', '.join(ALLOWED_MODULES)} can. Save the estimator with "
            "pickle/joblib instead (which loads only from trusted files)."
        )
    if isinstance(value, torch.nn.Sequential):  # Sequential(*modules), Compose(*transforms)
        return {
            "__object__": _ref(cls),
            "kwargs": {},
            "args": [_encode(m, where) for m in value.children()],
        }
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        params = {}
    args, kwargs = [], {}
    for name, param in list(params.items())[1:]:
        if param.kind is param.VAR_KEYWORD:
            continue
        if not hasattr(value, name):
            raise TypeError(
                f"{where}: a {cls.__name__} cannot be saved as data (it does not store its "
                f"argument {name!r}). Use one of the package's transforms, or save the "
                "estimator with pickle/joblib instead (which loads only from trusted files)."
            )
        encoded = _encode(getattr(value, name), where)
        if param.kind is param.VAR_POSITIONAL:
            args = encoded if isinstance(encoded, list) else encoded.get("__tuple__", [])
        else:
            kwargs[name] = encoded
    return {"__object__": _ref(cls), "args": args, "kwargs": kwargs}


def _resolve(ref: str) -> Any:
    module_name, _, qualname = ref.partition(":")
    if module_name.split(".")[0] not in ALLOWED_MODULES:
        raise ValueError(
            f"The file names {ref!r}, outside the packages a saved estimator may use "
            f"({', '.join(ALLOWED_MODULES)}); refusing to import it."
        )
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    if "__ndarray__" in value:
        return value["__ndarray__"].numpy()
    if "__path__" in value:
        return pathlib.Path(value["__path__"])
    if "__list_array__" in value:
        return np.asarray(_decode(value["__list_array__"]))
    if "__tensor__" in value:
        return value["__tensor__"]
    if "__ref__" in value:
        return _resolve(value["__ref__"])
    if "__object__" in value:
        cls = _resolve(value["__object__"])
        args = [_decode(v) for v in value["args"]]
        return cls(*args, **{k: _decode(v) for k, v in value["kwargs"].items()})
    raise ValueError(f"Unknown entry in a saved estimator: {sorted(value)}")


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
    params = {
        k: _encode(v, f"parameter {k!r}") for k, v in estimator.get_params(deep=False).items()
    }
    fitted = {k: _encode(getattr(estimator, k), k) for k in _FITTED if hasattr(estimator, k)}
    names = getattr(estimator, "feature_names_in_", None)
    payload = {
        "format": 1,
        "kind": f"{type(estimator).__module__}:{type(estimator).__qualname__}",
        "versions": _versions(),
        "params": params,
        "fitted": fitted,
        "classes": _encode(estimator.classes_, "classes_"),
        "net_shape": list(estimator.__dict__.get("_net_shape") or ()),
        "feature_names": None if names is None else [str(n) for n in names],
        "module": {k: v.detach().cpu() for k, v in estimator.module_.state_dict().items()},
        "optimizer": (
            None
            if getattr(estimator, "optimizer_", None) is None
            else estimator.optimizer_.state_dict()
        ),
        "history": json.dumps(list(estimator.history_), default=float),
    }
    return str(save_checkpoint(payload, path))


def load(path: str | os.PathLike, *, device: str | None = None) -> Any:
    """Load an estimator written by :func:`save`, ready to predict.

    Parameters
    ----------
    path : str or path
        The file.
    device : str, optional
        Where to put the network ("cpu", "cuda", "auto"); by default the saved ``device``
        parameter, falling back to the CPU (with a warning) when it is not available here.

    Returns
    -------
    CNNClassifier
    """
    from skorch.history import History

    from ._device import resolve_device
    from .estimator import _versions

    state = load_checkpoint(path)
    if state.get("format") != 1 or "params" not in state:
        raise ValueError(f"{path} is a checkpoint, but not a saved estimator.")
    if state["versions"] != _versions():
        warnings.warn(
            f"{path} was saved with {state['versions']}; running with {_versions()}. "
            "Predictions may differ slightly.",
            UserWarning,
            stacklevel=2,
        )
    cls = _resolve(state["kind"])
    params = {k: _decode(v) for k, v in state["params"].items()}
    wanted = device if device is not None else params.get("device", "auto")
    resolved = resolve_device(wanted)
    if resolved is not None and resolved.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"{path} was saved for device {wanted!r}, which is not available here; "
            "loading on the CPU.",
            UserWarning,
            stacklevel=2,
        )
        wanted = "cpu"
    params["device"] = wanted
    est = cls(**params)
    est.__dict__["_classes"] = np.asarray(_decode(state["classes"]))
    for key, value in state["fitted"].items():
        setattr(est, key, _decode(value))
    if state["net_shape"]:
        est.__dict__["_net_shape"] = tuple(state["net_shape"])
    if state["feature_names"] is not None:
        est.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
    trimmed = params.get("criterion") is None or params.get("optimizer") is None
    with torch.random.fork_rng(devices=[]):  # building the network draws random weights
        if trimmed:  # saved after trim_for_prediction: the network alone, for prediction
            est.initialize_virtual_params()
            est._initialize_module()
            est.criterion_ = est.optimizer_ = None
            est.callbacks_ = []
            est.initialized_ = True
            est._trimmed_for_prediction = True
        else:
            est.initialize()
    try:
        est.module_.load_state_dict(state["module"])
    except RuntimeError as exc:
        raise ValueError(
            f"{path} holds weights for another architecture than its parameters build "
            f"({est._module_name()}): {str(exc).splitlines()[0]}"
        ) from exc
    est.module_.to(est.device or "cpu")
    if state.get("optimizer") is not None:  # so that training can continue
        est.optimizer_.load_state_dict(state["optimizer"])
    est.history_ = History(json.loads(state["history"]))
    return est
