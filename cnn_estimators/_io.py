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
import stat
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "MAX_CHECKPOINT_BYTES",
    "CheckpointError",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_checkpoint",
]

MAGIC = b"CNNE-CKPT-1\n"
_HEADER_LEN = len(MAGIC) + 65  # the magic, 64 hex digits of SHA-256, a newline

#: Largest file :func:`load_checkpoint` reads unless given a larger ``max_bytes`` (4 GiB).
MAX_CHECKPOINT_BYTES = 4 * 2**30
#: Most members the payload's zip archive may have (one per tensor storage, plus five).
MAX_ARCHIVE_MEMBERS = 100_000
#: Deepest nesting of containers a payload may have.
MAX_DEPTH = 64
#: Visits of containers, numbers and string characters allowed beyond the payload's size.
_WALK_SLACK = 1_000_000


class CheckpointError(ValueError):
    """A checkpoint file is damaged, truncated, malformed or not a checkpoint of this package.

    Every problem :func:`load_checkpoint` (and the loaders built on it) finds in a file
    raises this error, whose message names the file and what is wrong with it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> _ = path.write_text("not a checkpoint")
    >>> try:
    ...     load_checkpoint(path)
    ... except CheckpointError as exc:
    ...     print("wrong header" in str(exc))
    True
    """


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


def load_checkpoint(
    path: str | os.PathLike,
    map_location: Any = "cpu",
    *,
    max_bytes: int = MAX_CHECKPOINT_BYTES,
) -> Any:
    """Read a file written by :func:`save_checkpoint`, verifying it first.

    The file is treated as written by a stranger: before ``torch.load(weights_only=True)``
    its size is checked against ``max_bytes``, its SHA-256 against the header, and the
    zip archive inside against compression and sizes out of proportion to the file; after
    it, the tensors must not hold more bytes than the file. So reading a file allocates
    memory in proportion to its size, and no file runs code.

    Parameters
    ----------
    path : str or path
        The file.
    map_location : str, torch.device or dict, default="cpu"
        Where to put the tensors (passed to ``torch.load``).
    max_bytes : int, default=MAX_CHECKPOINT_BYTES
        Largest file size read (4 GiB); raise it for larger files you trust.

    Returns
    -------
    object
        What was saved: tensors, dicts, lists, tuples, numbers and strings.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CheckpointError
        The file is too large, truncated, damaged, not such a checkpoint, or its payload
        is out of proportion to its size.

    Examples
    --------
    >>> import tempfile, torch
    >>> path = save_checkpoint({"w": torch.zeros(3)}, tempfile.mkdtemp() + "/w.ckpt")
    >>> load_checkpoint(path)["w"].shape
    torch.Size([3])
    """
    path = Path(path)
    payload = _read_verified(path, max_bytes)
    _check_archive(payload, path)
    try:
        obj = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as exc:  # a payload that passed the checksum but is not loadable
        raise CheckpointError(f"Checkpoint {path} cannot be read: {exc}") from exc
    _check_tensors(obj, len(payload), path)
    return obj


def _read_verified(path: Path, max_bytes: int) -> bytes:
    """The payload of ``path``, read with a bound and checked against its SHA-256."""
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path} is not a regular file, so not a checkpoint.")
        if info.st_size > max_bytes:
            raise CheckpointError(
                f"{path} has {info.st_size} bytes, more than the {max_bytes} bytes a "
                "checkpoint may have (max_bytes); if you trust the file, pass a larger "
                "max_bytes to load_checkpoint."
            )
        header = f.read(_HEADER_LEN)
        try:
            payload = f.read(max(0, info.st_size - len(header)))
        except MemoryError:
            raise CheckpointError(
                f"{path} ({info.st_size} bytes) does not fit in memory."
            ) from None
        grew = f.read(1) != b""  # written to while being read: the checksum will tell
    if grew:
        raise CheckpointError(f"{path} changed while it was read; try again.")
    if not header.startswith(MAGIC) or len(header) < _HEADER_LEN:
        raise CheckpointError(
            f"{path} is not a cnn_estimators checkpoint (wrong header) or is truncated; "
            "delete it to start over."
        )
    expected = header[len(MAGIC) : _HEADER_LEN - 1].decode("ascii", "replace")
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise CheckpointError(
            f"Checkpoint {path} is damaged: its SHA-256 is {actual[:16]}..., expected "
            f"{expected[:16]}... (truncated or modified after it was written). Delete it "
            "to start over."
        )
    return payload


def _check_archive(payload: bytes, path: Path) -> None:
    """Refuse zip archives whose members are compressed or larger than the file."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise CheckpointError(
                    f"Checkpoint {path} cannot be read: its archive has {len(members)} "
                    f"members, more than {MAX_ARCHIVE_MEMBERS}."
                )
            total = 0
            for member in members:
                local = payload[member.header_offset : member.header_offset + 30]
                if len(local) < 30 or local[:4] != b"PK\x03\x04":
                    raise zipfile.BadZipFile(f"no local header for {member.filename!r}")
                flags, method = struct.unpack("<HH", local[6:10])
                if (
                    member.compress_type != zipfile.ZIP_STORED
                    or method != zipfile.ZIP_STORED
                    or flags & 0x1
                    or member.compress_size != member.file_size
                ):
                    raise CheckpointError(
                        f"Checkpoint {path} cannot be read: its member {member.filename!r} "
                        "is compressed or encrypted (save_checkpoint stores them as they "
                        "are), so it could expand out of proportion to the file."
                    )
                total += member.file_size
    except CheckpointError:
        raise
    except Exception as exc:  # BadZipFile, struct.error, ... from a crafted archive
        raise CheckpointError(
            f"Checkpoint {path} cannot be read: its payload is not a valid zip archive "
            f"as torch.save writes ({exc})."
        ) from exc
    if total > len(payload):
        raise CheckpointError(
            f"Checkpoint {path} cannot be read: its archive members declare {total} bytes, "
            f"more than the {len(payload)} bytes of the payload (overlapping members)."
        )


def _check_tensors(obj: Any, size: int, path: Path) -> None:
    """Refuse payloads whose tensors hold more bytes than the file, or are not plain.

    Counts each distinct storage and each distinct view once, so that neither a storage
    larger than its record nor many (or expanded, stride-0) views of one storage can
    make later copies allocate out of proportion to the file. Containers are walked with
    a budget and a depth limit, so that a payload sharing one list many times over (a
    "billion laughs") is refused too.
    """
    storages: dict[int, int] = {}
    views: set[tuple] = set()
    view_bytes = 0
    budget = size + _WALK_SLACK
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        budget -= 1 + (len(value) if isinstance(value, (str, bytes)) else 0)
        if budget < 0 or depth > MAX_DEPTH:
            what = "nested too deeply" if depth > MAX_DEPTH else "too many values"
            raise CheckpointError(
                f"Checkpoint {path} cannot be read: its payload has {what} for its size "
                f"(at most {MAX_DEPTH} levels, and values in proportion to the file)."
            )
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, torch.Tensor):
            if (
                type(value) not in (torch.Tensor, torch.nn.Parameter)
                or value.layout != torch.strided
                or value.is_quantized
                or value.is_nested
            ):
                raise CheckpointError(
                    f"Checkpoint {path} cannot be read: it holds a {value.layout} "
                    f"{type(value).__name__}; only dense tensors are allowed."
                )
            storage = value.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
            key = (storage.data_ptr(), value.storage_offset(), value.dtype)
            key += (tuple(value.shape), value.stride())
            if key not in views:
                views.add(key)
                view_bytes += value.numel() * value.element_size()
    held = max(sum(storages.values()), view_bytes)
    if held > size:
        raise CheckpointError(
            f"Checkpoint {path} cannot be read: its tensors hold {held} bytes, more than "
            f"the {size} bytes of its payload (tensors that repeat or overstate their data)."
        )
