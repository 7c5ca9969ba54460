"""The state of one ``fit``: created when it starts, dropped when it ends, however it ends.

:class:`FitRun` holds what a fit needs between its steps -- the seed and the data-order
generator, the validation split, the number of training images, the resumed training
state, the Ctrl-C and interruption flags, whether features are cached, and the lock on a
resumable run folder. The estimator creates one per ``fit``/``partial_fit`` and passes it
to what needs it; callbacks read it through ``net.current_fit()``. Nothing of it survives
the fit, so no flag set by one fit can change the next one. Its plan (``plan``, see
:mod:`._plan`) says how many epochs the fit trains, and ``started`` when it began (on
the plan's clock, for ``time_budget``).

:class:`RunFolderLock` gives a resumable run folder one owner at a time: an OS file lock
(``filelock``), which the kernel releases when the owning process dies, so a run killed
with ``kill -9`` can be resumed at once, while a second live process with the same run
fails immediately with an error naming the folder and the owner.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock, Timeout

from . import _plan

__all__ = ["FitRun", "RunFolderBusyError", "RunFolderLock", "checkpoint_dir_error"]

LOCK_FILE = "lock"
OWNER_FILE = "owner.json"


class RunFolderBusyError(RuntimeError):
    """Another live fit owns the resumable run folder."""


@dataclass
class FitRun:
    """What one fit knows between its steps (see the module docstring)."""

    seed: int
    generator: torch.Generator
    n_train: int
    split: tuple[np.ndarray, np.ndarray] | None = None
    resume_state: dict | None = None
    stop_requested: bool = False
    interrupted: bool = False
    features_cached: bool = False
    lock: RunFolderLock | None = None
    plan: Any = None  # a _plan.FitPlan, set just before training
    loop_epochs: int | None = None  # the epochs skorch's loop runs in this fit
    budget_stopped: bool = False  # the time_budget callback ended training
    started: float = field(default_factory=lambda: _plan._clock())
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def planned_epochs(self) -> int | None:
        """The epochs of the plan, None before it is made."""
        return None if self.plan is None else self.plan.epochs

    def close(self) -> None:
        """Release what the run holds (the run-folder lock)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def checkpoint_dir_error(exc: OSError, path: Path | str, checkpoint_dir: Any) -> OSError:
    """``exc`` (disk full, permission denied ...) re-worded to name the file and parameter.

    Examples
    --------
    >>> import errno
    >>> err = checkpoint_dir_error(OSError(errno.ENOSPC, "No space left"), "runs/a", "runs")
    >>> print(err)
    [Errno 28] Cannot write 'runs/a' (checkpoint_dir='runs'): No space left. Free some disk space, or set checkpoint_dir to a folder on another disk.
    """  # noqa: E501
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        fix = "Free some disk space, or set checkpoint_dir to a folder on another disk."
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "Make the folder writable, or set checkpoint_dir to a folder you can write to."
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        fix = "checkpoint_dir must be a folder (it is created if missing), not a file."
    else:
        fix = "Check the folder, or set checkpoint_dir to another one."
    message = (
        f"Cannot write {str(path)!r} (checkpoint_dir={str(checkpoint_dir)!r}): {reason}. {fix}"
    )
    new = type(exc)(exc.errno, message) if exc.errno is not None else type(exc)(message)
    return new


class RunFolderLock:
    """An exclusive lock on a run folder, held by one fit of one process.

    Parameters
    ----------
    run_dir : path
        The run folder (created if missing).
    checkpoint_dir : str or path
        The estimator's ``checkpoint_dir``, named in errors.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> lock = RunFolderLock(folder + "/run-1", folder).acquire()
    >>> RunFolderLock(folder + "/run-1", folder).acquire()
    Traceback (most recent call last):
    ...
    cnn_estimators._run.RunFolderBusyError: The run folder ... is in use by another fit ...
    >>> lock.release()
    """

    def __init__(self, run_dir: str | os.PathLike, checkpoint_dir: Any) -> None:
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = checkpoint_dir
        self._lock: FileLock | None = None

    def acquire(self) -> RunFolderLock:
        """Take the lock at once, or raise :class:`RunFolderBusyError` naming the owner."""
        lock_path = self.run_dir / LOCK_FILE
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(lock_path))
            lock.acquire(timeout=0)
        except Timeout:
            raise RunFolderBusyError(
                f"The run folder {str(self.run_dir)!r} is in use by another fit "
                f"({self._owner()}) with the same parameters and data. Wait until it ends "
                "(then this fit resumes from its result), or give this fit another "
                "checkpoint_dir."
            ) from None
        except OSError as exc:
            raise checkpoint_dir_error(exc, lock_path, self.checkpoint_dir) from exc
        self._lock = lock
        try:  # who holds it, for the message of a second process (best effort)
            owner = {"pid": os.getpid(), "host": socket.gethostname()}
            tmp = self.run_dir / f".{OWNER_FILE}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(owner))
            os.replace(tmp, self.run_dir / OWNER_FILE)
        except OSError as exc:
            self.release()
            raise checkpoint_dir_error(exc, self.run_dir / OWNER_FILE, self.checkpoint_dir) from exc
        return self

    def _owner(self) -> str:
        try:
            raw = (self.run_dir / OWNER_FILE).read_text()[:1000]
            owner = json.loads(raw)
            return f"pid {int(owner['pid'])} on host {str(owner['host'])[:100]!r}"
        except (OSError, ValueError, KeyError, TypeError):
            return "owner unknown"

    def release(self) -> None:
        """Give the folder back (idempotent)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            # The owner file first: once the lock is free, the next owner writes its own.
            (self.run_dir / OWNER_FILE).unlink(missing_ok=True)
            lock.release()
