"""Which GPU each worker process of a local cluster gets (``CUDA_VISIBLE_DEVICES``).

:func:`visible_gpus` lists the GPUs of this process without initialising CUDA, and
:func:`worker_gpu_assignment` hands them out, one per worker. Both are public as
``cnn_estimators.distributed.<name>``, which :func:`~cnn_estimators.distributed.dask_backend`
uses to start its workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ._validation import check_param, is_int

__all__ = ["visible_gpus", "worker_gpu_assignment"]

_UUID_PREFIXES = ("GPU-", "MIG-")


def _parse_visible_devices(value: str) -> list[str]:
    """The devices named by a ``CUDA_VISIBLE_DEVICES`` value, with CUDA's rules.

    Items are indices ("2") or UUIDs ("GPU-...", "MIG-..."); the list ends at the first
    item that is neither (so "-1" or "" hide every GPU), and a repeated item hides them all.
    """
    devices: list[str] = []
    for raw in value.split(","):
        item = raw.strip()
        if item.isdigit():
            item = str(int(item))
        elif not item.startswith(_UUID_PREFIXES) or item in _UUID_PREFIXES:
            break
        if item in devices:
            return []
        devices.append(item)
    return devices


def visible_gpus() -> list[str]:
    """The GPUs this process may give to workers, without initialising CUDA.

    The count comes from :func:`torch.cuda.device_count`, which asks NVML where it can
    rather than creating a CUDA context (workers started later then get a clean driver),
    and honours ``CUDA_VISIBLE_DEVICES``. The names are those of ``CUDA_VISIBLE_DEVICES``
    when it is set (a parent limited to "2,5" gives its workers GPUs 2 and 5), else the
    indices ``"0"``, ``"1"``, ...

    Returns
    -------
    devices : list of str
        One ``CUDA_VISIBLE_DEVICES`` item per GPU; empty without a CUDA GPU.

    See Also
    --------
    worker_gpu_assignment : Which GPU each worker gets.

    Examples
    --------
    >>> from cnn_estimators.distributed import visible_gpus
    >>> gpus = visible_gpus()  # [] on a machine without a CUDA GPU
    >>> all(isinstance(gpu, str) for gpu in gpus)
    True
    """
    import torch

    count = torch.cuda.device_count()  # 0 when torch is built without CUDA
    if count <= 0:
        return []
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return [str(i) for i in range(count)]
    return _parse_visible_devices(value)[:count]


def _as_devices(
    visible_devices: Any, name: str = "visible_devices", owner: str = "worker_gpu_assignment"
) -> list[str]:
    """``visible_devices`` of :func:`worker_gpu_assignment` as a list of device names."""
    if visible_devices is None:
        return []
    if isinstance(visible_devices, str):
        items = [item.strip() for item in visible_devices.split(",")]
        bad = [
            item
            for item in items
            if not (item.lstrip("-").isdigit() or item.startswith(_UUID_PREFIXES))
        ]
        check_param(
            name,
            visible_devices,
            owner,
            kind="a CUDA_VISIBLE_DEVICES value: GPU indices or UUIDs separated by commas, such "
            'as "2,5" or "GPU-8f3a...", or "" for none',
            ok=not visible_devices.strip() or not bad,
        )
        if not visible_devices.strip():
            return []
        listed = []  # CUDA reads up to the first negative index
        for item in items:
            if item.startswith("-"):
                break
            listed.append(str(int(item)) if item.isdigit() else item)
        return _each_once(listed, visible_devices, name, owner)
    if is_int(visible_devices):
        check_param(name, visible_devices, owner, kind="a count >= 0", ok=visible_devices >= 0)
        return [str(i) for i in range(visible_devices)]
    ok = isinstance(visible_devices, Sequence) and all(
        (is_int(d) and d >= 0) or (isinstance(d, str) and d.strip() != "") for d in visible_devices
    )
    check_param(
        name,
        visible_devices,
        owner,
        kind='None, a count, a CUDA_VISIBLE_DEVICES value such as "2,5", or a list of GPU '
        "indices or UUIDs",
        ok=ok,
    )
    devices = [str(d).strip() for d in visible_devices]
    return _each_once(devices, devices, name, owner)


def _each_once(devices: list[str], given: Any, name: str, owner: str) -> list[str]:
    """``devices``, unless one is named twice (CUDA would then hide every GPU)."""
    if len(set(devices)) != len(devices):
        raise ValueError(
            f"The '{name}' parameter of {owner} lists a GPU twice: {given!r}. "
            "Name each GPU once; use share_gpus=True to put several workers on one GPU."
        )
    return devices


def worker_gpu_assignment(
    n_workers: int,
    visible_devices: int | str | Sequence[int | str] | None,
    *,
    share_gpus: bool = False,
) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each worker: one GPU per worker.

    Each worker process sees one GPU, so the estimator's default ``device="auto"``
    resolves to ``"cuda"`` in the worker, which is that GPU. A pure function: it looks at
    no hardware (use :func:`visible_gpus` for that).

    Parameters
    ----------
    n_workers : int
        Number of worker processes, >= 1.
    visible_devices : None, int, str or sequence of int or str
        The GPUs to hand out: None (no GPU), a count (GPUs ``"0"`` to ``"count-1"``), a
        ``CUDA_VISIBLE_DEVICES`` value such as ``"2,5"`` (as in CUDA, the list ends at the
        first negative index, so ``""`` and ``"-1"`` mean no GPU), or a list of indices or
        UUIDs (``"GPU-..."``, ``"MIG-..."``).
    share_gpus : bool, default=False
        With fewer GPUs than workers, place the workers on the GPUs in turn (worker ``i``
        on GPU ``i % n_gpus``; each GPU must then hold several models) instead of raising.

    Returns
    -------
    assignment : list of str or None, of length n_workers
        Worker ``i`` gets GPU ``visible_devices[i]``; GPUs beyond ``n_workers`` stay idle.
        Without GPU every entry is None: leave ``CUDA_VISIBLE_DEVICES`` alone, the
        workers train on the CPU.

    Raises
    ------
    ValueError
        If there are fewer GPUs than workers and ``share_gpus`` is False.

    See Also
    --------
    visible_gpus : The GPUs of this process.
    dask_backend : Starts a local cluster with this placement.

    Examples
    --------
    >>> from cnn_estimators.distributed import worker_gpu_assignment
    >>> worker_gpu_assignment(2, "2,5")
    ['2', '5']
    >>> worker_gpu_assignment(3, 2, share_gpus=True)
    ['0', '1', '0']
    >>> worker_gpu_assignment(2, None)
    [None, None]
    """
    check_param(
        "n_workers",
        n_workers,
        "worker_gpu_assignment",
        kind="an int >= 1",
        ok=is_int(n_workers) and n_workers >= 1,
    )
    devices = _as_devices(visible_devices)
    if not devices:
        return [None] * n_workers
    if len(devices) < n_workers and not share_gpus:
        raise ValueError(
            f"{n_workers} workers cannot have one GPU each: {len(devices)} GPU(s) are "
            f"visible ({','.join(devices)}). Start one worker per GPU "
            f"(n_workers={len(devices)}), pass share_gpus=True to place several workers on "
            "each GPU in turn (each GPU must then hold several models), or train on the "
            "CPU (gpus=None in dask_backend)."
        )
    return [devices[i % len(devices)] for i in range(n_workers)]
