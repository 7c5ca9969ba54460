"""Checks of what a checkpoint file holds, before anything uses it.

A file that passed :func:`~cnn_estimators._io.load_checkpoint` has a valid checksum and a
proportionate size, but its content was still written by a stranger: a list where a dict
belongs, a missing field, a history that is not JSON. The helpers here check every field's
type and raise :class:`Invalid` naming the field; the loaders turn it into a
:class:`~cnn_estimators._io.CheckpointError` naming the file. :func:`check_training_state`
checks the training state that ``resume=True`` reads.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable
from typing import Any, NoReturn

import torch

from ._io import MAX_DEPTH, CheckpointError

__all__ = ["Invalid", "check_training_state"]

#: The fields of a training state (see ``CNNClassifier.training_state``).
TRAINING_STATE_KEYS = (
    "format",
    "versions",
    "complete",
    "epochs_done",
    "module",
    "optimizer",
    "scheduler",
    "grad_scaler",
    "history",
    "rng_torch",
    "rng_numpy",
    "rng_python",
    "rng_data",
)
#: History columns that hold numbers when present.
_NUMERIC_COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_acc", "dur", "train_batch_size")


class Invalid(Exception):
    """A field of a checkpoint's content is not what it must be.

    Parameters
    ----------
    where : str
        The field, e.g. ``"params['lr']"``.
    problem : str
        What is wrong, completing "``where`` must be ...; got ...".

    Examples
    --------
    >>> str(Invalid("'format'", "must be 1; got 2"))
    "'format' must be 1; got 2"
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where} {problem}".strip())
        self.where = where
        self.problem = problem


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages (never its whole content)."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, (bool, numbers.Number, type(None))):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else f"a string of {len(value)} characters"
    if isinstance(value, dict):
        return f"a dict with keys {[describe(k) for k in list(value)[:5]]}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def fail(where: str, expected: str, value: Any) -> NoReturn:
    """Raise :class:`Invalid`: ``where`` must be ``expected``; got ``value``."""
    raise Invalid(where, f"must be {expected}; got {describe(value)} instead")


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_dict(
    value: Any, where: str, required: Iterable[str], optional: Iterable[str] = ()
) -> dict:
    """``value`` as a dict with all the ``required`` keys and no others than ``optional``."""
    required, optional = tuple(required), tuple(optional)
    if not isinstance(value, dict):
        fail(where, f"a dict with the keys {list(required)}", value)
    keys = set(value)
    missing = [k for k in required if k not in keys]
    extra = [k for k in keys if k not in required and k not in optional]
    if missing or extra:
        parts = [f"lacks {missing}" if missing else "", f"has unknown {extra}" if extra else ""]
        raise Invalid(where, " and ".join(p for p in parts if p) + f"; expected {list(required)}")
    return value


def check_plain(value: Any, where: str, depth: int = 0) -> None:
    """Plain data: None, bools, numbers, strings, tensors, lists, tuples, dicts of those."""
    if depth > MAX_DEPTH:
        raise Invalid(where, f"is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, numbers.Real, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                fail(f"{where} key", "a string or an int", key)
            check_plain(item, f"{where}[{key!r}]", depth + 1)
        return
    fail(where, "plain data (numbers, strings, lists, dicts, tensors)", value)


def check_state_dict(value: Any, where: str) -> dict:
    """A module's ``state_dict``: a dict from strings to tensors."""
    if not isinstance(value, dict):
        fail(where, "a dict from parameter names to tensors (a state_dict)", value)
    for key, tensor in value.items():
        if not isinstance(key, str) or not isinstance(tensor, torch.Tensor):
            fail(f"{where}[{describe(key)}]", "a tensor under a string key", tensor)
    return value


def check_optimizer_state(value: Any, where: str) -> dict:
    """An optimizer's ``state_dict``: per-parameter states and parameter groups."""
    check_dict(value, where, ("state", "param_groups"))
    states = value["state"]
    if not isinstance(states, dict):
        fail(f"{where}['state']", "a dict", states)
    for key, state in states.items():
        if not is_int(key) or not isinstance(state, dict):
            fail(f"{where}['state'][{describe(key)}]", "a dict under an int key", state)
        check_plain(state, f"{where}['state'][{key}]")
    groups = value["param_groups"]
    if not isinstance(groups, list):
        fail(f"{where}['param_groups']", "a list of dicts", groups)
    for i, group in enumerate(groups):
        at = f"{where}['param_groups'][{i}]"
        if not isinstance(group, dict) or not all(isinstance(k, str) for k in group):
            fail(at, "a dict with string keys", group)
        params = group.get("params")
        if not isinstance(params, list) or not all(is_int(p) for p in params):
            fail(f"{at}['params']", "a list of ints", params)
        check_plain(group, at)
    return value


def check_history(text: Any, where: str) -> list:
    """Parse a JSON history: a list of epoch dicts (with lists of batch dicts)."""
    if not isinstance(text, str):
        fail(where, "a JSON string", text)
    try:
        rows = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Invalid(where, f"is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(rows, list):
        fail(where, "a JSON list of epochs", rows)
    for i, row in enumerate(rows):
        at = f"{where}[{i}]"
        _check_row(row, at)
        batches = row.get("batches", [])
        if not isinstance(batches, list):
            fail(f"{at}['batches']", "a list", batches)
        for j, batch in enumerate(batches):
            _check_row(batch, f"{at}['batches'][{j}]")
    return rows


def _check_row(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        fail(where, "a dict", row)
    for key, value in row.items():
        if key == "batches":
            continue
        if key in _NUMERIC_COLUMNS:
            if not is_real(value):
                fail(f"{where}[{key!r}]", "a number", value)
        elif isinstance(value, list):
            if not all(v is None or isinstance(v, (bool, numbers.Real, str)) for v in value):
                fail(f"{where}[{key!r}]", "a list of numbers or strings", value)
        elif not (value is None or isinstance(value, (bool, numbers.Real, str))):
            fail(f"{where}[{key!r}]", "a number, a string, a bool or null", value)


def check_versions(value: Any, where: str) -> dict:
    """The recorded library versions: a dict from strings to strings."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) < 200 for k, v in value.items()
    ):
        fail(where, "a dict from library names to version strings", value)
    return value


def check_tensor(value: Any, where: str, dtype: torch.dtype, shape: tuple | None) -> None:
    """A tensor of ``dtype`` (and of ``shape``, if given)."""
    if (
        not isinstance(value, torch.Tensor)
        or value.dtype != dtype
        or (shape is not None and tuple(value.shape) != shape)
    ):
        fail(where, f"a {dtype} tensor" + (f" of shape {shape}" if shape else ""), value)


def check_training_state(state: Any, path: str | os.PathLike) -> dict:
    """Check the training state ``resume=True`` read from ``path`` before it is used.

    Parameters
    ----------
    state : object
        What :func:`~cnn_estimators._io.load_checkpoint` returned for ``path``.
    path : str or path
        The file, for the error message.

    Returns
    -------
    dict
        ``state``, each of whose fields has the type ``CNNClassifier.training_state``
        writes.

    Raises
    ------
    CheckpointError
        Naming the file and the first field that is missing or of the wrong type.

    Examples
    --------
    >>> try:
    ...     check_training_state({"module": {}}, "runs/run-1/training_state.ckpt")
    ... except CheckpointError as exc:
    ...     print(str(exc)[:68])
    runs/run-1/training_state.ckpt is not a training state of this versi
    """
    try:
        _check_training_state(state)
    except Invalid as exc:
        raise CheckpointError(
            f"{path} is not a training state of this version of cnn_estimators: the "
            f"state {exc}. Delete it (or its run directory) to start over."
        ) from None
    return state


def _check_training_state(state: Any) -> None:
    check_dict(state, "", TRAINING_STATE_KEYS)
    if not is_int(state["format"]) or state["format"] != 1:
        fail("'format'", "1", state["format"])
    check_versions(state["versions"], "'versions'")
    if not isinstance(state["complete"], bool):
        fail("'complete'", "a bool", state["complete"])
    if not is_int(state["epochs_done"]) or state["epochs_done"] < 0:
        fail("'epochs_done'", "an int >= 0", state["epochs_done"])
    check_state_dict(state["module"], "'module'")
    check_optimizer_state(state["optimizer"], "'optimizer'")
    for key in ("scheduler", "grad_scaler"):
        if state[key] is not None:
            if not isinstance(state[key], dict):
                fail(f"'{key}'", "None or a dict", state[key])
            check_plain(state[key], f"'{key}'")
            # load_state_dict updates the object's __dict__ with these keys
            for name in state[key]:
                if not isinstance(name, str) or name == "optimizer" or name.startswith("__"):
                    fail(f"'{key}' key", "the name of a state attribute", name)
    check_history(state["history"], "'history'")
    rng_size = (torch.get_rng_state().numel(),)
    check_tensor(state["rng_torch"], "'rng_torch'", torch.uint8, rng_size)
    if state["rng_data"] is not None:
        check_tensor(state["rng_data"], "'rng_data'", torch.uint8, rng_size)
    rng = state["rng_numpy"]
    if not isinstance(rng, list) or len(rng) != 4:
        fail("'rng_numpy'", "a list [keys, pos, has_gauss, cached_gaussian]", rng)
    check_tensor(rng[0], "'rng_numpy'[0]", torch.int64, (624,))
    if not (is_int(rng[1]) and 0 <= rng[1] <= 624 and rng[2] in (0, 1) and is_real(rng[3])):
        fail("'rng_numpy'[1:]", "an int in [0, 624], 0 or 1, and a float", rng[1:])
    rng = state["rng_python"]
    if (
        not isinstance(rng, list)
        or len(rng) != 3
        or not is_int(rng[0])
        or not isinstance(rng[1], list)
        or len(rng[1]) != 625
        or not all(is_int(v) and 0 <= v < 2**32 for v in rng[1])
        or not (rng[2] is None or is_real(rng[2]))
    ):
        fail("'rng_python'", "[version, 625 ints in [0, 2**32), gauss]", rng)
