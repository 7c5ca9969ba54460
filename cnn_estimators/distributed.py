"""Run scikit-learn's searches and cross-validation on a Dask cluster.

scikit-learn parallelises ``GridSearchCV``, ``RandomizedSearchCV``, ``cross_val_score``
(and :func:`~cnn_estimators.experiments.compare_optimizers`, which is a grid search) with
joblib. Inside ``with joblib.parallel_config(backend="dask")`` joblib sends every fit to
the workers of a :class:`dask.distributed.Client` instead of local processes; the
estimator does not change. :func:`dask_backend` does the set-up: it connects to a
scheduler, or starts a cluster of worker processes on this machine with one GPU per
worker, activates joblib's Dask backend, optionally sends the data to every worker once,
and shuts down what it started when the block ends.

dask is an optional dependency (``pip install 'cnn-estimators[dask]'``); it is imported
when :func:`dask_backend` is called, not when this module is imported.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._gpus import _as_devices, visible_gpus, worker_gpu_assignment
from ._validation import check_param, is_int, is_real

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["WorkerLostError", "dask_backend", "visible_gpus", "worker_gpu_assignment"]

_INSTALL_HINT = "pip install 'cnn-estimators[dask]'"


def _import_distributed() -> Any:
    """Import ``distributed``, with an install hint if it is missing."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "dask_backend runs the fits on a Dask cluster and needs dask.distributed, which "
            f"is not installed. Install it with {_INSTALL_HINT} (or "
            "pip install 'dask[distributed]')."
        ) from exc
    return distributed


class WorkerLostError(RuntimeError):
    """A worker of the Dask cluster died while a search ran, with data the search needed.

    Raised by :func:`dask_backend` in place of the ``CancelledError`` that a search gets
    when a worker process dies (killed, out of memory, a crash in native code) holding
    data that joblib sent to it: the train/test indices of the fits queued there, and
    the training data unless it was broadcast with ``scatter=``. Dask cannot recompute
    data sent from the client, so the search cannot go on. The worker is restarted by its
    nanny: run the search again, and look in the worker's log for the cause.
    """


# ---------------------------------------------------------------------- the backend
def _workers_died(client: Any, workers: Iterable[str]) -> list[str]:
    """Those of ``workers`` that the scheduler removed unexpectedly (they died).

    Each worker's removal is logged in its own event topic (the topic "all" cannot be
    read once ``scatter(broadcast=True)`` has logged an event holding worker objects).
    """
    died = []
    for address in workers:
        try:
            events = client.get_events(address)
        except Exception:  # the scheduler is unreachable: nothing to add to the error
            return died
        if any(
            isinstance(msg, dict)
            and msg.get("action") == "remove-worker"
            and not msg.get("expected", False)
            for _, msg in events
        ):
            died.append(address)
    return died


def _check_dask_backend_params(
    address: Any,
    n_workers: Any,
    threads_per_worker: Any,
    gpus: Any,
    share_gpus: Any,
    scatter: Any,
    dashboard: Any,
    timeout: Any,
    worker_kwargs: Mapping[str, Any],
) -> None:
    owner = "dask_backend"
    check_param(
        "address",
        address,
        owner,
        kind="None (start a local cluster) or a scheduler address such as 'tcp://10.0.0.5:8786'",
        ok=address is None or (isinstance(address, str) and address.strip() != ""),
    )
    check_param(
        "n_workers",
        n_workers,
        owner,
        kind="None or an int >= 1",
        ok=n_workers is None or (is_int(n_workers) and n_workers >= 1),
        hint="It is the number of worker processes of the local cluster; None starts one "
        "per GPU, or one per CPU core without GPU.",
    )
    check_param(
        "threads_per_worker",
        threads_per_worker,
        owner,
        kind="an int >= 1",
        ok=is_int(threads_per_worker) and threads_per_worker >= 1,
        hint="1 (the default) runs one fit at a time per worker, as with n_jobs.",
    )
    check_param(
        "timeout",
        timeout,
        owner,
        kind="a number of seconds > 0",
        ok=is_real(timeout) and timeout > 0,
    )
    if not (isinstance(gpus, str) and gpus == "auto"):
        _as_devices(gpus, "gpus", owner)
    for name, value in (("share_gpus", share_gpus), ("dashboard", dashboard)):
        check_param(name, value, owner, kind="a bool", ok=isinstance(value, bool))
    if scatter is not None and not isinstance(scatter, (list, tuple)):
        raise TypeError(
            "The 'scatter' parameter of dask_backend must be None or a list or tuple of "
            f"objects to send to every worker, such as [X, y]; got {type(scatter).__name__} "
            "instead. Wrap a single array in a list: scatter=[X]."
        )
    if "CUDA_VISIBLE_DEVICES" in (worker_kwargs.get("env") or {}):
        raise ValueError(
            "Set the GPUs of the workers with the 'gpus' parameter of dask_backend, not "
            "with env={'CUDA_VISIBLE_DEVICES': ...}: gpus gives each worker its own GPU."
        )
    if address is not None:
        local_only = {
            "n_workers": n_workers,
            "threads_per_worker": None if threads_per_worker == 1 else threads_per_worker,
            "gpus": None if isinstance(gpus, str) and gpus == "auto" else gpus,
            "share_gpus": share_gpus or None,
            "dashboard": dashboard or None,
            **worker_kwargs,
        }
        given = {name: value for name, value in local_only.items() if value is not None}
        if given:
            settings = ", ".join(f"{name}={value!r}" for name, value in given.items())
            raise ValueError(
                f"dask_backend got a scheduler address and {settings}, which configure the "
                "local cluster it starts without an address. The workers of a running "
                "cluster are set up where they are started: `dask worker "
                f"{address} --nworkers N --nthreads 1`, with CUDA_VISIBLE_DEVICES per worker "
                "process on GPU machines. Drop these arguments, or drop the address to start "
                "a local cluster."
            )


def _fork_child_processes_plugin(distributed: Any) -> Any:
    """A worker plugin: child processes of a worker (DataLoader workers) are forked.

    Dask spawns its workers, and a spawned process spawns its own children by default: a
    DataLoader worker would then start a fresh interpreter that imports torch and the
    package again, seconds for each DataLoader (each epoch). Forking, the default of a
    plain Python process on Linux, starts it in milliseconds.
    """

    class ForkChildProcesses(distributed.WorkerPlugin):
        name = "cnn-estimators-fork-child-processes"

        def setup(self, worker: Any) -> None:
            import multiprocessing

            multiprocessing.set_start_method("fork", force=True)

    return ForkChildProcesses()


def _local_cluster(
    distributed: Any,
    *,
    n_workers: int | None,
    threads_per_worker: int,
    gpus: Any,
    share_gpus: bool,
    dashboard: bool,
    worker_kwargs: Mapping[str, Any],
) -> Any:
    """A ``SpecCluster`` of worker processes on this machine, one GPU each."""
    from dask.system import CPU_COUNT

    if isinstance(gpus, str) and gpus == "auto":
        devices = visible_gpus()
    else:
        devices = _as_devices(gpus, "gpus", "dask_backend")
    if n_workers is None:
        n_workers = len(devices) or max(1, CPU_COUNT // threads_per_worker)
    assignment = worker_gpu_assignment(n_workers, devices, share_gpus=share_gpus)

    options = dict(worker_kwargs)
    host = options.pop("host", "127.0.0.1")
    env = dict(options.pop("env", None) or {})
    # As LocalCluster: an equal share of the memory each, dask's logs from WARNING up.
    options.setdefault("memory_limit", 1 / n_workers)
    options.setdefault("silence_logs", logging.WARNING)
    options.update(nthreads=threads_per_worker, host=host)
    workers = {
        i: {
            "cls": distributed.Nanny,
            "options": {
                **options,
                "env": env if gpu is None else {**env, "CUDA_VISIBLE_DEVICES": gpu},
            },
        }
        for i, gpu in enumerate(assignment)
    }
    scheduler = {
        "cls": distributed.Scheduler,
        "options": {
            "host": host,
            "port": 0,
            "dashboard": dashboard,
            # The scheduler always serves HTTP (health checks); a free port avoids 8787.
            "dashboard_address": f"{host}:{8787 if dashboard else 0}",
        },
    }
    # cluster.scale(n) adds workers like the first one, unless they have a GPU each.
    template = workers[0] if all(gpu is None for gpu in assignment) else None
    # SpecCluster starts every worker before returning, and closes what it started if one
    # of them fails.
    return distributed.SpecCluster(
        workers=workers,
        scheduler=scheduler,
        worker=template,
        silence_logs=options["silence_logs"],
        name="cnn_estimators",
    )


@contextlib.contextmanager
def dask_backend(
    address: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    gpus: int | str | Sequence[int | str] | None = "auto",
    share_gpus: bool = False,
    scatter: Sequence[Any] | None = None,
    dashboard: bool = False,
    timeout: float = 60,
    **worker_kwargs: Any,
) -> Iterator[Client]:
    """Run joblib's parallel calls on a Dask cluster inside a ``with`` block.

    Inside the block, every joblib call (``GridSearchCV``, ``RandomizedSearchCV``,
    ``cross_val_score``, ``cross_validate``,
    :func:`~cnn_estimators.experiments.compare_optimizers` ...) sends its fits to the
    workers of the cluster, whatever their ``n_jobs``: joblib's Dask backend uses all the
    worker threads. Results equal a run with ``n_jobs=1`` for the same ``random_state``
    values (bitwise with the estimator's ``torch_threads=1``).

    Without ``address``, a cluster of worker processes (spawned, not forked) is started
    on this machine, on the loopback interface, with one GPU per worker when there are
    GPUs. Everything started is shut down when the block ends, also on an error; a
    cluster reached through ``address`` is left running.

    Parameters
    ----------
    address : str, default=None
        Address of a running scheduler, such as ``"tcp://10.0.0.5:8786"`` (see
        ``dask scheduler`` and ``dask worker``). None starts a local cluster.
    n_workers : int, default=None
        Worker processes of the local cluster. None starts one per GPU, or without GPU
        one per CPU core (divided by ``threads_per_worker``).
    threads_per_worker : int, default=1
        Fits run at the same time by each worker. Keep 1: a worker then runs one fit at a
        time, as a process of ``n_jobs`` does.
    gpus : "auto", None, int, str or sequence, default="auto"
        GPUs to give the workers, one each, through ``CUDA_VISIBLE_DEVICES``, so that
        ``device="auto"`` uses that GPU in the worker. "auto" takes those of this process
        (:func:`visible_gpus`; CUDA is not initialised here); None leaves
        ``CUDA_VISIBLE_DEVICES`` alone (every worker sees every GPU); otherwise as
        ``visible_devices`` of :func:`worker_gpu_assignment`, e.g. ``"2,5"``.
    share_gpus : bool, default=False
        With fewer GPUs than ``n_workers``, place several workers on each GPU in turn
        instead of raising a ``ValueError``.
    scatter : list or tuple, default=None
        Objects sent to every worker once, when the block starts, such as ``[X, y]``:
        every fit of the block that is given one of these objects (the same object, not a
        copy) uses the workers' copy. Without it, joblib sends each argument larger than
        1 kB once per parallel call (once per search) to one worker, from which the other
        workers fetch it.
    dashboard : bool, default=False
        Serve the scheduler's dashboard (local cluster only) on port 8787 of the
        loopback interface, or a free port if taken: ``client.dashboard_link``.
    timeout : float, default=60
        Seconds to wait for the scheduler and for workers to be available.
    **worker_kwargs
        Passed to every worker of the local cluster (:class:`distributed.Nanny`), e.g.
        ``memory_limit="4GB"`` (default: an equal share of the machine's memory),
        ``env={...}``, ``local_directory=...``, or ``host`` (default "127.0.0.1").

    Yields
    ------
    client : distributed.Client
        Connected to the cluster (``client.cluster`` is the local cluster). Use it to
        watch the workers, or to ``client.scatter`` data yourself.

    Raises
    ------
    ImportError
        If dask.distributed is not installed: ``pip install 'cnn-estimators[dask]'``.
    ValueError
        For invalid parameters, local cluster options given with an ``address``, or
        fewer GPUs than workers without ``share_gpus``.

    See Also
    --------
    worker_gpu_assignment : The GPU placement of the local cluster.

    Notes
    -----
    Workers started by dask run one torch thread (``distributed.nanny.pre-spawn-environ``
    sets ``OMP_NUM_THREADS=1`` unless the environment sets it), so ``n_workers`` workers
    of ``threads_per_worker=1`` use ``n_workers`` cores. Use ``random_state`` ints: each
    fit is then seeded as with ``n_jobs=1``, whichever worker runs it.

    A worker process that dies during a search (killed, out of memory) is restarted by
    its nanny, but the data joblib sent to it is lost with it (dask cannot recompute data
    sent from the client): the search stops with :class:`WorkerLostError`, and is run
    again from the start.

    Examples
    --------
    Two worker processes on this machine; joblib runs on them inside the block:

    >>> import os
    >>> import joblib
    >>> from cnn_estimators.distributed import dask_backend
    >>> with dask_backend(n_workers=2, gpus=None) as client:
    ...     pids = joblib.Parallel()(joblib.delayed(os.getpid)() for _ in range(4))
    ...     workers = client.run(os.getpid)
    >>> set(pids) <= set(workers.values())
    True

    A search on a local cluster, the data sent to each worker once; then on a running
    cluster (``dask scheduler`` and ``dask worker`` started on the machines):

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from cnn_estimators import CNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier("global_pool_cnn", max_epochs=2, random_state=0)
    >>> grid = {"lr": [1e-3, 3e-3], "batch_size": [64, 128]}
    >>> with dask_backend(n_workers=2, scatter=[X, y]):  # doctest: +SKIP
    ...     search = GridSearchCV(clf, grid, cv=2).fit(X, y)
    >>> with dask_backend("tcp://10.0.0.5:8786", scatter=[X, y]):  # doctest: +SKIP
    ...     search = GridSearchCV(clf, grid, cv=5).fit(X, y)
    """
    _check_dask_backend_params(
        address,
        n_workers,
        threads_per_worker,
        gpus,
        share_gpus,
        scatter,
        dashboard,
        timeout,
        worker_kwargs,
    )
    distributed = _import_distributed()
    import dask
    import joblib

    with contextlib.ExitStack() as stack:
        if address is None:
            # - Non-daemonic worker processes may start processes of their own: the
            #   DataLoader workers of lazily read datasets (read at each worker start).
            # - The active memory manager would drop the copies that scatter= broadcast to
            #   every worker (keeping one), and the workers would then copy the data from
            #   each other again at each search.
            config = {
                "distributed.worker.daemon": False,
                "distributed.scheduler.active-memory-manager.start": False,
            }
            stack.enter_context(dask.config.set(config))
            cluster = _local_cluster(
                distributed,
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                gpus=gpus,
                share_gpus=share_gpus,
                dashboard=dashboard,
                worker_kwargs=worker_kwargs,
            )
            stack.callback(cluster.close)
            client = distributed.Client(cluster, timeout=timeout)
            stack.callback(client.close)
            if sys.platform.startswith("linux"):  # where fork is safe and was the default
                client.register_plugin(_fork_child_processes_plugin(distributed))
        else:
            client = distributed.Client(address, timeout=timeout)
            stack.callback(client.close)
        # Worker addresses are not reused: a removal of one of these is a death in the block.
        workers = list(client.nthreads())
        stack.enter_context(
            joblib.parallel_config(
                backend="dask",
                client=client,
                scatter=None if scatter is None else list(scatter),
                wait_for_workers_timeout=timeout,
            )
        )
        try:
            yield client
        except concurrent.futures.CancelledError as exc:
            died = _workers_died(client, workers)
            if not died:
                raise
            raise WorkerLostError(
                f"A Dask worker died while the block ran ({', '.join(died)}), with data "
                "that its tasks needed (the train/test indices joblib sends with each fit, "
                "and the training data unless it was broadcast with scatter=[X, y]); dask "
                "cannot recompute data sent from here, so the fits were cancelled. The "
                "worker is restarted by its nanny: run the search again. Look in the "
                "worker's log for the cause (often memory: lower batch_size or give the "
                "workers more memory_limit)."
            ) from exc
