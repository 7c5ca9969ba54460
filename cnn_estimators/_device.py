"""Device resolution: ``device="auto"`` and moving a fitted estimator between devices."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

import torch

__all__ = [
    "bf16_supported",
    "cuda_available",
    "cudnn_benchmark",
    "fits_in_device_memory",
    "resolve_device",
    "to_device",
]

#: Share of the free GPU memory that in-memory training data may take to be kept there.
DEVICE_DATA_FRACTION = 0.25

_VALID_TYPES = ("cpu", "cuda", "mps", "xpu", "meta")


def cuda_available() -> bool:
    """Whether a CUDA device can be used, checked without creating a CUDA context.

    ``torch.cuda.device_count`` asks NVML where it can instead of initialising the driver,
    so a parent process that later forks joblib or DataLoader workers stays fork-safe.
    """
    if not torch.backends.cuda.is_built():
        return False
    return _cuda_device_count(os.environ.get("CUDA_VISIBLE_DEVICES")) > 0


@functools.lru_cache(maxsize=8)
def _cuda_device_count(visible_devices: str | None) -> int:
    """``torch.cuda.device_count()``, asked once per value of ``CUDA_VISIBLE_DEVICES``.

    The estimator resolves ``device="auto"`` several times per batch, and each NVML query
    takes tens to hundreds of microseconds (2% of a Fashion-MNIST fit here). torch itself
    does not cache the count before CUDA is initialised, because ``CUDA_VISIBLE_DEVICES``
    may still change; the cache is keyed on that variable for the same reason. It assumes
    that no GPU is plugged in or out while the variable stays the same.
    """
    return torch.cuda.device_count()


def fits_in_device_memory(nbytes: int, device: Any, fraction: float = DEVICE_DATA_FRACTION) -> bool:
    """Whether ``nbytes`` of training data should be kept in ``device``'s memory.

    True for a CUDA device whose free memory (``torch.cuda.mem_get_info``) is at least
    ``nbytes / fraction``, so that the data take at most ``fraction`` of it and the rest
    stays for the network's activations. Always False for other devices: on the CPU
    the data are already there, and other accelerators are not measured.

    Examples
    --------
    >>> fits_in_device_memory(10**6, "cpu")
    False
    """
    device = torch.device(device)
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= fraction * free


@contextlib.contextmanager
def cudnn_benchmark(device: Any, enabled: bool = True) -> Iterator[None]:
    """Let cuDNN time its convolution algorithms on ``device`` (CUDA only), then restore.

    For images of one size, cuDNN's autotuner picks the fastest algorithm once per layer
    shape; the setting is global in torch, so it is set for the block and restored after.

    Examples
    --------
    >>> with cudnn_benchmark("cuda:0"):
    ...     torch.backends.cudnn.benchmark
    True
    >>> with cudnn_benchmark("cpu"):
    ...     torch.backends.cudnn.benchmark
    False
    """
    if not enabled or torch.device(device).type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def bf16_supported(device: Any = "cpu") -> bool:
    """Whether ``device`` computes in bfloat16 natively (so bf16 autocast is a speed-up).

    On the CPU: whether oneDNN has bfloat16 kernels for this processor (AVX512-BF16, AMX
    or AVX512 with the bf16 emulation oneDNN accepts); elsewhere bfloat16 autocast runs
    through slow conversions. On CUDA: ``torch.cuda.is_bf16_supported()`` (compute
    capability 8.0 and later), which needs the device, so it is asked only for a CUDA
    ``device``. Other devices: False.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        The device that will run the network.

    Returns
    -------
    bool

    Examples
    --------
    >>> bf16_supported("cpu") in (True, False)
    True
    >>> bf16_supported("meta")
    False
    """
    kind = torch.device(device).type
    if kind == "cpu":
        return _cpu_bf16_supported()
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return False


@functools.lru_cache(maxsize=1)
def _cpu_bf16_supported() -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:  # a build without the operator
        return False


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


@functools.lru_cache(maxsize=64)
def _is_device_string(device: str) -> bool:
    """Whether ``device`` names a device of a supported type (parsed once per string:
    the estimator asks for every batch)."""
    try:
        parsed = torch.device(device)
    except RuntimeError:
        return False
    return parsed.type in _VALID_TYPES


def resolve_device(device: Any) -> str | None:
    """Turn the ``device`` parameter into a concrete torch device string.

    ``"auto"`` picks ``"cuda"`` when available, then ``"mps"``, else ``"cpu"``; other
    strings and ``torch.device`` objects are honoured as given; ``None`` means "leave
    tensors where they are" (skorch's semantics).

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("auto") in ("cpu", "cuda", "mps")
    True
    """
    if device is None:
        return None
    if isinstance(device, torch.device):
        return str(device)
    if isinstance(device, str):
        if device == "auto":
            if cuda_available():
                return "cuda"
            if _mps_available():
                return "mps"
            return "cpu"
        if _is_device_string(device):
            return device
    raise ValueError(
        "The 'device' parameter must be 'auto', None, or a torch device such as 'cpu', "
        f"'cuda' or 'cuda:1'. Got {device!r} instead."
    )


def device_memory_bytes(device: Any) -> int | None:
    """The total memory of ``device`` in bytes (RAM for the CPU); None if unknown.

    Examples
    --------
    >>> device_memory_bytes("cpu") > 0
    True
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        try:
            return int(torch.cuda.get_device_properties(dev).total_memory)
        except (RuntimeError, AssertionError):  # no usable CUDA driver here
            return None
    if dev.type == "cpu":
        try:
            return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):  # not on this platform
            return None
    return None


def check_device_available(device: str | None, owner: str) -> None:
    """Refuse, before any work, a device that this machine does not have.

    Examples
    --------
    >>> check_device_available("cpu", "Est")
    >>> import torch
    >>> if not torch.cuda.is_available():
    ...     check_device_available("cuda:1", "Est")
    Traceback (most recent call last):
    ...
    ValueError: The 'device' parameter of Est is 'cuda:1', but this machine has no CUDA device (torch.cuda.is_available() is False). Use device='auto' (CUDA when present, else the CPU) or device='cpu'.
    """  # noqa: E501
    if device is None:
        return
    dev = torch.device(device)
    if dev.type == "cuda":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        count = _cuda_device_count(visible) if torch.backends.cuda.is_built() else 0
        if count == 0:
            raise ValueError(
                f"The 'device' parameter of {owner} is {device!r}, but this machine has no "
                "CUDA device (torch.cuda.is_available() is False). Use device='auto' (CUDA "
                "when present, else the CPU) or device='cpu'."
            )
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"The 'device' parameter of {owner} is {device!r}, but this machine has "
                f"{count} CUDA device(s): 'cuda:0' to 'cuda:{count - 1}'."
            )
    elif dev.type == "mps" and not _mps_available():
        raise ValueError(
            f"The 'device' parameter of {owner} is {device!r}, but MPS (Apple GPUs) is not "
            "available here. Use device='auto' or device='cpu'."
        )


def to_device(estimator: Any, device: str) -> Any:
    """Move a fitted estimator's module, criterion and optimizer state to ``device``.

    skorch has no in-place move (``set_params(device=...)`` leaves the module where it
    is); this moves every torch component and the optimizer's state tensors, then sets
    the ``device`` parameter, so later ``fit``/``predict`` calls run on ``device``.

    Parameters
    ----------
    estimator : CNNClassifier
        A fitted estimator.
    device : str
        Target device, e.g. ``"cpu"`` or ``"cuda:0"``, or ``"auto"``.

    Returns
    -------
    estimator
        The same estimator, moved.

    Examples
    --------
    >>> import numpy as np
    >>> from cnn_estimators import make_mlp, to_device
    >>> X = np.random.default_rng(0).random((20, 1, 8, 8), dtype=np.float32)
    >>> y = np.arange(20) % 2
    >>> est = make_mlp(max_epochs=1, random_state=0).fit(X, y)
    >>> to_device(est, "cpu").device
    'cpu'
    """
    target = resolve_device(device)
    if getattr(estimator, "initialized_", False):
        for name in list(estimator._modules) + list(estimator._criteria):
            component = getattr(estimator, name + "_", None)
            if isinstance(component, torch.nn.Module):
                component.to(target)
        for name in estimator._optimizers:
            optimizer = getattr(estimator, name + "_", None)
            if optimizer is None:
                continue
            for state in optimizer.state.values():
                for key, value in state.items():
                    if isinstance(value, torch.Tensor) and key != "step":
                        state[key] = value.to(target)
    estimator.set_params(device=device)
    return estimator
