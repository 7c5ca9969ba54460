"""Safe parser for the CIFAR-10 "python version" batches (pickle files).

The batches are pickles, and unpickling can run arbitrary code. They are read with
a restricted unpickler that only builds numpy arrays, bytes and plain containers.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ._base import _check_label_range

__all__ = ["read_cifar_batch"]

IMAGE_SHAPE = (3, 32, 32)
ROW_SIZE = 3 * 32 * 32
N_CLASSES = 10


def _numpy_reconstruct() -> Any:
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_frombuffer() -> Any:
    try:  # numpy >= 2
        from numpy._core.numeric import _frombuffer
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.numeric import _frombuffer
    return _frombuffer


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use to rebuild bytes."""
    if not isinstance(text, str) or codecs.lookup(encoding).name not in {"iso8859-1", "utf-8"}:
        raise pickle.UnpicklingError(
            f"_codecs.encode called with a {type(text).__name__} and encoding {encoding!r}"
        )
    return codecs.encode(text, encoding, errors)


#: (module, name) -> factory of the object a CIFAR batch may reference. Everything
#: else is refused. Pickles written by numpy < 2 say ``numpy.core``, numpy >= 2
#: ``numpy._core``; ``_frombuffer`` is what protocol 5 uses for arrays.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _latin1_encode,
}


class _ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle referenced something a CIFAR-10 batch never needs."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only build what a CIFAR batch contains."""

    def find_class(self, module: str, name: str) -> Any:
        factory = _ALLOWED_GLOBALS.get((module, name))
        if factory is None:
            raise _ForbiddenGlobal(
                f"refusing to load global {module}.{name}: not allowed in a CIFAR-10 batch"
            )
        return factory()

    def persistent_load(self, pid: Any) -> Any:
        raise _ForbiddenGlobal("persistent ids are not allowed in a CIFAR-10 batch")


def _safe_unpickle(raw: bytes, path: Path) -> Any:
    try:
        return _RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except _ForbiddenGlobal as exc:
        raise ValueError(f"{path}: unsafe pickle, not loaded: {exc}") from exc
    except Exception as exc:  # truncated or garbled pickles raise many kinds of errors
        raise ValueError(
            f"{path}: not a valid CIFAR-10 batch, unpickling failed ({type(exc).__name__}: {exc})"
        ) from exc


def _as_str(key: Any) -> Any:
    return key.decode("latin1") if isinstance(key, bytes) else key


def _unpickle_dict(raw: bytes, path: Path) -> dict[str, Any]:
    obj = _safe_unpickle(raw, path)
    if not isinstance(obj, dict):
        raise ValueError(
            f"{path}: not a valid CIFAR-10 batch: expected a pickled dict, got {type(obj).__name__}"
        )
    # Python 2 pickles loaded with encoding="bytes" (or written by hand) have bytes keys.
    return {_as_str(k): v for k, v in obj.items()}


def _parse_cifar_batch(raw: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    entry = _unpickle_dict(raw, path)
    for key in ("data", "labels"):
        if key not in entry:
            raise ValueError(
                f"{path}: not a valid CIFAR-10 batch: no {key!r} entry "
                f"(found {sorted(map(str, entry))})"
            )
    data = entry["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        description = (
            f"a {data.ndim}-D {data.dtype} array"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise ValueError(
            f"{path}: invalid CIFAR-10 batch: 'data' must be a 2-D uint8 array of shape "
            f"(n, {ROW_SIZE}), got {description}"
        )
    if data.shape[1] != ROW_SIZE:
        raise ValueError(
            f"{path}: invalid CIFAR-10 batch: 'data' has shape {data.shape}, expected "
            f"(n, {ROW_SIZE}) (3 planes of 32x32)"
        )
    try:
        labels = np.asarray(entry["labels"])
    except Exception as exc:
        raise ValueError(f"{path}: invalid CIFAR-10 batch: unreadable 'labels': {exc}") from exc
    if labels.ndim != 1 or labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{path}: invalid CIFAR-10 batch: 'labels' must be a list of ints, got "
            f"{labels.ndim}-D {labels.dtype} values"
        )
    if len(labels) != len(data):
        raise ValueError(
            f"{path}: invalid CIFAR-10 batch: {len(data)} images but {len(labels)} labels"
        )
    _check_label_range(labels, N_CLASSES, f"{path}: invalid CIFAR-10 batch")
    images = np.ascontiguousarray(data).reshape((len(data), *IMAGE_SHAPE))
    return images, labels.astype(np.int64)


def _parse_cifar_meta(raw: bytes, path: Path) -> list[str]:
    meta = _unpickle_dict(raw, path)
    names = meta.get("label_names")
    if not isinstance(names, list) or not all(isinstance(n, str | bytes) for n in names):
        raise ValueError(f"{path}: invalid CIFAR-10 batches.meta: no 'label_names' list of strings")
    return [_as_str(n) for n in names]


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file of the CIFAR-10 "python version".

    The file is unpickled with a restricted unpickler that refuses every global
    except the few numpy constructors a batch needs, so a malicious file cannot
    run code. Keys may be ``str`` or ``bytes``.

    Parameters
    ----------
    path : str or path-like
        A batch file such as ``cifar-10-batches-py/data_batch_1``.

    Returns
    -------
    images : ndarray of shape (n, 3, 32, 32), dtype uint8
        Channels first (the rows of the file are the R, G and B planes).
    labels : ndarray of shape (n,), dtype int64
        Labels in ``0..9``.

    Raises
    ------
    ValueError
        If the file is not a valid CIFAR-10 batch or references a forbidden
        global. The message names the file.

    Examples
    --------
    >>> import pickle, tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from cnn_estimators.datasets import load_digits_images, read_cifar_batch
    >>> y = load_digits_images().y_train[:4]
    >>> batch = {b"data": np.zeros((4, 3072), np.uint8), b"labels": y.tolist()}
    >>> path = Path(tempfile.mkdtemp()) / "data_batch_1"
    >>> _ = path.write_bytes(pickle.dumps(batch, protocol=2))
    >>> images, labels = read_cifar_batch(path)
    >>> images.shape, labels.tolist() == y.tolist()
    ((4, 3, 32, 32), True)
    """
    path = Path(path)
    return _parse_cifar_batch(path.read_bytes(), path)
