"""Safe checkpoint files: atomic writes, checksums, and loads that cannot run code.

A file is ``MAGIC`` + the SHA-256 of the payload (hex) + a newline + the payload written
by ``torch.save``. Writing goes to a temporary file in the same directory, which is
flushed, fsync'ed and renamed over the target (then the directory is fsync'ed), so a
process killed at any moment leaves either the old file or the new one, never a
truncated one. Reading verifies the checksum before ``torch.load(weights_only=True)``, so a
damaged file is reported, never half-loaded, and a file cannot execute code.

A process killed between creating its temporary file and the rename leaves that temporary
behind (never the target). Temporaries are named ``.<target>.<host>.<pid>.<random>.tmp``,
so :func:`remove_stale_temporaries` can delete those whose writer on this host is gone and
leave alone any that a live process (or another machine sharing the folder) is writing.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "load_checkpoint", "remove_stale_temporaries", "save_checkpoint"]

MAGIC = b"CNNE-CKPT-1\n"


class CheckpointError(ValueError):
    """A checkpoint file is damaged, truncated or not a checkpoint of this package."""


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` (tensors, dicts, lists, numbers, strings) to ``path`` atomically.

    Examples
    --------
    >>> import tempfile, torch
    >>> path = save_checkpoint({"w": torch.ones(2)}, tempfile.mkdtemp() + "/a.ckpt")
    >>> load_checkpoint(path)["w"].tolist()
    [1.0, 1.0]
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{_host()}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + digest + b"\n")
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "localhost"


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporaries that writers killed mid-save left in ``directory``.

    Only files named by :func:`save_checkpoint` on this host whose process no longer
    exists are removed; the finished checkpoints are never touched.

    Returns
    -------
    list of Path
        The files removed.

    Examples
    --------
    >>> import tempfile
    >>> remove_stale_temporaries(tempfile.mkdtemp())
    []
    """
    directory = Path(directory)
    host = _host()
    removed = []
    for tmp in directory.glob(".*.tmp"):
        parts = tmp.name[: -len(".tmp")].rsplit(".", 3)
        if len(parts) != 4 or parts[1] != host or not parts[2].isdigit():
            continue
        pid = int(parts[2])
        if pid == os.getpid() or _writer_alive(pid):
            continue
        try:
            tmp.unlink()
        except FileNotFoundError:
            continue
        removed.append(tmp)
    return removed


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on this platform/file system
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Read a file written by :func:`save_checkpoint`, verifying it first.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CheckpointError
        The file is truncated, damaged, or not such a checkpoint.
    """
    path = Path(path)
    data = path.read_bytes()
    header_len = len(MAGIC) + 65
    if not data.startswith(MAGIC) or len(data) < header_len:
        raise CheckpointError(
            f"{path} is not a cnn_estimators checkpoint (wrong header) or is truncated; "
            "delete it to start over."
        )
    expected = data[len(MAGIC) : header_len - 1].decode("ascii", "replace")
    payload = data[header_len:]
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise CheckpointError(
            f"Checkpoint {path} is damaged: its SHA-256 is {actual[:16]}..., expected "
            f"{expected[:16]}... (truncated or modified after it was written). Delete it "
            "to start over."
        )
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as exc:  # a payload that passed the checksum but is not loadable
        raise CheckpointError(f"Checkpoint {path} cannot be read: {exc}") from exc
