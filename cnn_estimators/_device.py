"""Device resolution: ``device="auto"`` and moving a fitted estimator between devices."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["cuda_available", "resolve_device", "to_device"]

_VALID_TYPES = ("cpu", "cuda", "mps", "xpu", "meta")


def cuda_available() -> bool:
    """Whether a CUDA device can be used, checked without creating a CUDA context.

    ``torch.cuda.device_count`` asks NVML where it can instead of initialising the driver,
    so a parent process that later forks joblib or DataLoader workers stays fork-safe.
    """
    if not torch.backends.cuda.is_built():
        return False
    return torch.cuda.device_count() > 0


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


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
        try:
            parsed = torch.device(device)
        except RuntimeError:
            parsed = None
        if parsed is not None and parsed.type in _VALID_TYPES:
            return device
    raise ValueError(
        "The 'device' parameter must be 'auto', None, or a torch device such as 'cpu', "
        f"'cuda' or 'cuda:1'. Got {device!r} instead."
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
