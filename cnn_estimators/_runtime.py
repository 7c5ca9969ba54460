"""What a fit changes in the process while it runs, and gives back when it ends.

Three context managers: :func:`seeded` (torch, numpy and ``random`` seeded for the fit,
the caller's generator states restored after it), :func:`torch_threads` (a torch thread
count for the fit, the caller's restored) and :func:`stop_after_batch_on_ctrl_c` (a
first Ctrl-C asks the fit to stop after its current batch). The estimator enters them
around every ``fit`` (and ``predict`` for the thread count), so no fit depends on, or
leaves behind, hidden global state.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = [
    "fit_seed",
    "python_rng_state",
    "python_rng_tuple",
    "seeded",
    "stop_after_batch_on_ctrl_c",
    "torch_threads",
]


def fit_seed(random_state: Any) -> int:
    """The seed of a fit: drawn from ``random_state`` as scikit-learn estimators draw.

    An int gives the same seed every time, a ``RandomState`` the next of its draws, None
    a draw from numpy's global generator.

    Examples
    --------
    >>> fit_seed(0) == fit_seed(0) != fit_seed(1)
    True
    """
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(seed: int, device: Any = "cpu", threads: int | None = None) -> Iterator[None]:
    """Seed torch (CPU and ``device``), numpy and ``random``; restore all three afterwards.

    Code run during training (dropout, augmentation, DataLoader workers, a user's
    transform drawing from numpy) is reproducible, and nothing outside sees a changed
    global generator.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_rng_state()
    >>> with seeded(0):
    ...     a = torch.rand(1)
    >>> with seeded(0):
    ...     b = torch.rand(1)
    >>> bool(a == b), torch.equal(before, torch.get_rng_state())
    (True, True)
    """
    dev = torch.device(device or "cpu")
    cuda = [dev.index or 0] if dev.type == "cuda" else []
    np_state = np.random.get_state()  # noqa: NPY002 -- the legacy global generator
    py_state = random.getstate()
    try:
        with torch.random.fork_rng(devices=cuda), torch_threads(threads):
            torch.default_generator.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed(seed)
            np.random.seed(seed)  # noqa: NPY002 -- restored below
            random.seed(seed)
            yield
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads (None: unchanged), restoring the caller's.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def stop_after_batch_on_ctrl_c(request_stop: Callable[[], None]) -> Iterator[None]:
    """A first Ctrl-C calls ``request_stop`` (the fit stops after its batch); a second
    one interrupts at once.

    Only in the main thread, where Python delivers signals, and only when Ctrl-C has
    Python's default handler (a notebook kernel or a test runner keeps its own).

    Examples
    --------
    >>> import signal
    >>> before = signal.getsignal(signal.SIGINT)
    >>> with stop_after_batch_on_ctrl_c(lambda: None):
    ...     pass
    >>> signal.getsignal(signal.SIGINT) is before  # restored, or never replaced
    True
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        request_stop()
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C interrupts at once

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def python_rng_state() -> list:
    """``random.getstate()`` as lists and numbers (storable with ``weights_only``).

    Examples
    --------
    >>> import random
    >>> random.setstate(python_rng_tuple(python_rng_state()))
    """
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def python_rng_tuple(state: list) -> tuple:
    """The inverse of :func:`python_rng_state`, for ``random.setstate``."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
