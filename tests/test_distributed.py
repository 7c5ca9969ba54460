"""Searches and cross-validation on a Dask cluster: cnn_estimators.distributed.

The cluster tests start real clusters of worker processes on the loopback interface
(free ports only, so that pytest-xdist workers do not collide) and check that every
process they started is gone afterwards.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import multiprocessing
import operator
import os
import signal
import sys
import threading
import time
import types
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import loguniform
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score

from cnn_estimators import CNNClassifier
from cnn_estimators.distributed import (
    WorkerLostError,
    dask_backend,
)
from cnn_estimators.experiments import compare_optimizers

needs_dask = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="dask.distributed is not installed (pip install 'cnn-estimators[dask]')",
)
# 4 candidates x 2 folds, with four different scores on the digits.
GRID = {"lr": [1e-3, 3e-3], "batch_size": [64, 128]}


def small_cnn(**params):
    """A network that fits the digits in a fraction of a second, one torch thread."""
    defaults = dict(
        module="global_pool_cnn",
        max_epochs=2,
        random_state=0,
        torch_threads=1,  # the same float sums in the workers as in this process
        progress_bar=False,
        device="cpu",
    )
    return CNNClassifier(**{**defaults, **params})


def sequentially(fit):
    """Run ``fit()`` with n_jobs=1 semantics even inside an active Dask backend."""
    with joblib.parallel_config(backend="sequential"):
        return fit()


# ---------------------------------------------------------------------- processes
def _descendants():
    import psutil

    return {p.pid: p for p in psutil.Process().children(recursive=True)}


def _alive_after_wait(processes, timeout=10.0):
    """Those of ``processes`` still running (zombies count as gone) after ``timeout``."""
    import psutil

    _, alive = psutil.wait_procs(list(processes), timeout=timeout)
    still = []
    for proc in alive:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                still.append(proc)
        except psutil.NoSuchProcess:
            pass
    return still


def _is_resource_tracker(proc):
    """multiprocessing's resource tracker: started once per process, lives as long as it."""
    import psutil

    try:
        return "resource_tracker" in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def assert_no_process_left(before, worker_pids):
    """Every worker process, and every other process started since ``before``, is gone."""
    import psutil

    started = {pid: p for pid, p in _descendants().items() if pid not in before}
    started = {pid: p for pid, p in started.items() if not _is_resource_tracker(p)}
    workers = []
    for pid in worker_pids:
        try:
            workers.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    left = _alive_after_wait({p.pid: p for p in [*started.values(), *workers]}.values())
    assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"


# ---------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"n_workers": 0},
            ValueError,
            r"The 'n_workers' parameter of dask_backend must be None or an int >= 1\. "
            r"Got 0 instead\.",
        ),
        ({"n_workers": 1.5}, ValueError, r"'n_workers' parameter of dask_backend"),
        ({"threads_per_worker": 0}, ValueError, r"'threads_per_worker' parameter"),
        ({"timeout": 0}, ValueError, r"'timeout' parameter of dask_backend"),
        ({"gpus": 1.5}, ValueError, r"The 'gpus' parameter of dask_backend must be None, a"),
        ({"gpus": "1,2", "n_workers": 3}, ValueError, r"3 workers cannot have one GPU each"),
        (
            {"share_gpus": "yes"},
            ValueError,
            r"'share_gpus' parameter of dask_backend must be a bool",
        ),
        ({"address": ""}, ValueError, r"'address' parameter of dask_backend"),
        ({"scatter": np.zeros(3)}, TypeError, r"Wrap a single array in a list: scatter=\[X\]"),
        (
            {"env": {"CUDA_VISIBLE_DEVICES": "1"}},
            ValueError,
            r"Set the GPUs of the workers with the 'gpus' parameter",
        ),
        (
            {"address": "tcp://127.0.0.1:1", "n_workers": 2, "memory_limit": "1GB"},
            ValueError,
            r"got a scheduler address and n_workers=2, memory_limit='1GB'.*dask worker "
            r"tcp://127\.0\.0\.1:1 --nworkers N --nthreads 1",
        ),
        ({"address": "tcp://127.0.0.1:1", "gpus": "0"}, ValueError, r"gpus='0'"),
    ],
)
def test_dask_backend_checks_its_parameters_before_starting_anything(kwargs, error, match):
    before = set(_descendants())
    with pytest.raises(error, match=match):
        with dask_backend(**kwargs):
            pass  # pragma: no cover
    assert set(_descendants()) <= before


@needs_dask
def test_dask_backend_without_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(ImportError, match=r"pip install 'cnn-estimators\[dask\]'"):
        with dask_backend(n_workers=1):
            pass  # pragma: no cover


def test_module_imports_without_dask(monkeypatch):
    """``import cnn_estimators.distributed`` must not need dask: load a fresh copy of the
    module while ``import dask`` and ``import distributed`` fail."""
    import cnn_estimators.distributed as module

    for name in ("dask", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)
    spec = importlib.util.spec_from_file_location(
        "cnn_estimators._distributed_copy", module.__file__
    )
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    assert copy.worker_gpu_assignment(2, "2,5") == ["2", "5"]
    with pytest.raises(ImportError, match=r"cnn-estimators\[dask\]"):
        with copy.dask_backend(n_workers=1):
            pass  # pragma: no cover


# ---------------------------------------------------------------------- a real cluster
@pytest.fixture(scope="module")
def cluster(digits):
    """Two single-threaded worker processes on 127.0.0.1 with the digits broadcast to
    both; joblib's Dask backend is active in the tests that use it."""
    pytest.importorskip("distributed")
    X, y = digits
    before = set(_descendants())
    with dask_backend(n_workers=2, gpus=None, scatter=[X, y], timeout=120) as client:
        pids = client.run(os.getpid)
        yield client
    assert_no_process_left(before, pids.values())


def worker_env(client, name):
    """``os.environ.get(name)`` in each worker. (``client.run(os.environ.get, name)``
    would pickle this process's ``os.environ`` along with its bound method.)"""
    return client.run(lambda: os.environ.get(name))


def task_stream(client):
    from distributed import get_task_stream

    return get_task_stream(client)


def fit_workers(stream):
    """Workers that ran fits of a search (joblib's tasks call ``_fit_and_score``)."""
    return {t["worker"] for t in stream.data if "_fit_and_score" in str(t["key"])}


@needs_dask
@pytest.mark.slow
def test_local_cluster_has_single_threaded_worker_processes(cluster):
    workers = cluster.scheduler_info()["workers"]
    assert len(workers) == 2
    assert cluster.scheduler.address.startswith("tcp://127.0.0.1:")
    assert all(address.startswith("tcp://127.0.0.1:") for address in workers)
    assert cluster.nthreads() == dict.fromkeys(workers, 1)
    pids = cluster.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    # Dask's nanny sets OMP_NUM_THREADS=1 before it spawns a worker: with one dask thread
    # each, two workers use two cores. torch is asked from a task thread, where fits run.
    env = worker_env(cluster, "OMP_NUM_THREADS")
    assert set(env.values()) == {os.environ.get("OMP_NUM_THREADS", "1")}
    threads = [cluster.submit(torch.get_num_threads, workers=[w], pure=False) for w in workers]
    assert cluster.gather(threads) == [int(os.environ.get("OMP_NUM_THREADS", "1"))] * 2
    # Not daemonic, so they may start DataLoader workers, which are forked (on Linux) as
    # in a plain Python process, not spawned like the dask workers themselves.
    assert set(cluster.run(lambda: multiprocessing.current_process().daemon).values()) == {False}
    if sys.platform.startswith("linux"):
        methods = cluster.run(lambda: multiprocessing.get_start_method(allow_none=True))
        assert set(methods.values()) == {"fork"}
    # gpus=None leaves CUDA_VISIBLE_DEVICES as it is here.
    cuda = worker_env(cluster, "CUDA_VISIBLE_DEVICES")
    assert set(cuda.values()) == {os.environ.get("CUDA_VISIBLE_DEVICES")}


@needs_dask
@pytest.mark.slow
def test_grid_search_on_cluster_equals_sequential(cluster, digits):
    X, y = digits
    reference = sequentially(lambda: GridSearchCV(small_cnn(), GRID, cv=2, n_jobs=1).fit(X, y))
    with task_stream(cluster) as stream:
        search = GridSearchCV(small_cnn(), GRID, cv=2, n_jobs=-1).fit(X, y)
    # The 8 fits ran on the two workers, not here.
    assert fit_workers(stream) == set(cluster.scheduler_info()["workers"])
    assert search.cv_results_["params"] == reference.cv_results_["params"]
    for key in ("mean_test_score", "split0_test_score", "split1_test_score", "rank_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], reference.cv_results_[key])
    assert len(set(reference.cv_results_["mean_test_score"])) == 4  # a real ranking
    assert search.best_params_ == reference.best_params_
    np.testing.assert_array_equal(
        search.best_estimator_.predict_proba(X[:50]),
        reference.best_estimator_.predict_proba(X[:50]),
    )


@needs_dask
@pytest.mark.slow
def test_randomized_search_and_cross_val_score_on_cluster_equal_sequential(cluster, digits):
    X, y = digits
    distributions = {"lr": loguniform(1e-4, 1e-2), "batch_size": [64, 128]}

    def randomized():
        return RandomizedSearchCV(
            small_cnn(), distributions, n_iter=2, cv=2, random_state=0, refit=False
        ).fit(X, y)

    reference = sequentially(randomized)
    reference_scores = sequentially(lambda: cross_val_score(small_cnn(max_epochs=1), X, y, cv=2))
    with task_stream(cluster) as stream:
        search = randomized()
        scores = cross_val_score(small_cnn(max_epochs=1), X, y, cv=2)
    assert fit_workers(stream) <= set(cluster.scheduler_info()["workers"])
    assert len([t for t in stream.data if "_fit_and_score" in str(t["key"])]) >= 2
    assert search.cv_results_["params"] == reference.cv_results_["params"]
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(scores, reference_scores)


@needs_dask
@pytest.mark.slow
def test_compare_optimizers_on_cluster_equals_sequential(cluster, digits):
    X, y = digits

    def compare(n_jobs):
        return compare_optimizers(
            small_cnn(max_epochs=1),
            X,
            y,
            optimizers=["sgd", "adam"],
            lr=1e-3,
            cv=2,
            n_jobs=n_jobs,
            random_state=0,
        )

    reference = sequentially(lambda: compare(1))
    with task_stream(cluster) as stream:
        table = compare(None)
    assert fit_workers(stream)  # the fits ran on the cluster
    columns = ["optimizer", "lr", "params", "mean_test_score", "std_test_score", "rank_test_score"]
    pd.testing.assert_frame_equal(table[columns], reference[columns])


@needs_dask
@pytest.mark.slow
def test_lazily_read_dataset_with_dataloader_workers_on_cluster(cluster):
    """A dataset read image by image (the shared-storage way) is loaded by DataLoader
    processes inside the workers, which daemonic dask workers could not start."""
    from torchvision.datasets import FakeData

    from cnn_estimators import as_dataset

    view = as_dataset(FakeData(size=60, image_size=(1, 8, 8), num_classes=2, random_offset=0))
    y = view.targets
    clf = small_cnn(max_epochs=1, iterator_train__num_workers=1, iterator_valid__num_workers=1)
    reference = sequentially(lambda: cross_val_score(clf, view, y, cv=2))
    with task_stream(cluster) as stream:
        scores = cross_val_score(clf, view, y, cv=2)
    assert fit_workers(stream)
    np.testing.assert_array_equal(scores, reference)


@needs_dask
@pytest.mark.slow
def test_data_reaches_each_worker_once(cluster, digits):
    """Nothing as large as X travels with a fit: ``scatter=[X, y]`` broadcast it once when
    the block started, and a copy of X that was not scattered is sent once per search.

    Two witnesses: a worker plugin records every piece of data that arrives on a worker
    from outside (``client.scatter`` or a transfer from another worker), and dask's
    large-graph warning, with its threshold set below the size of X, reports any task
    sent with X inside (a control task checks that it does)."""
    import dask
    from distributed import WorkerPlugin

    X, y = digits

    class DataArrivals(WorkerPlugin):
        name = "test-data-arrivals"

        def setup(self, worker):
            self.worker = worker
            self.arrivals = []

        def transition(self, key, start, finish, **kwargs):
            # Results of tasks come from "executing"; data from elsewhere does not.
            if finish == "memory" and start != "executing":
                self.arrivals.append((key, self.worker.state.tasks[key].nbytes))

    def large_arrivals():
        found = cluster.run(lambda dask_worker: dask_worker.plugins["test-data-arrivals"].arrivals)
        return {w: [key for key, nbytes in log if nbytes >= X.nbytes] for w, log in found.items()}

    # The broadcast: one copy of X on each worker, under a single key.
    held = {key: n for key, n in cluster.nbytes(summary=False).items() if n >= X.nbytes}
    assert len(held) == 1
    (x_key,) = held
    assert len(cluster.who_has()[x_key]) == 2

    cluster.register_plugin(DataArrivals())
    try:
        threshold = {"distributed.admin.large-graph-warning-threshold": X.nbytes // 2}
        with dask.config.set(threshold), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            GridSearchCV(small_cnn(max_epochs=1), {"lr": [1e-3, 3e-3]}, cv=2).fit(X, y)
            cross_val_score(small_cnn(max_epochs=1), X, y, cv=2)
            after_scattered = large_arrivals()
            X_copy = X.copy()  # not scattered: joblib sends it once for the whole search
            GridSearchCV(small_cnn(max_epochs=1), {"lr": [1e-3, 3e-3]}, cv=2).fit(X_copy, y)
            after_copy = large_arrivals()
            # Control, through joblib like the fits: an object that looks small to joblib
            # (which scatters only arguments it sizes above 1 kB) travels inside its task.
            holder = types.SimpleNamespace(data=X_copy)
            assert joblib.Parallel()([joblib.delayed(hasattr)(holder, "data")]) == [True]
        large_graphs = [w for w in caught if "Sending large graph" in str(w.message)]
    finally:
        cluster.unregister_worker_plugin("test-data-arrivals")

    assert all(keys == [] for keys in after_scattered.values()), after_scattered
    copy_keys = [key for keys in after_copy.values() for key in keys]
    assert len(set(copy_keys)) == 1, after_copy  # one scatter for the 4 fits of the search
    assert all(len(keys) <= 1 for keys in after_copy.values())  # at most once per worker
    assert len(large_graphs) == 1  # the control only: no fit carried X
    # Both copies are still there for later searches: dask's active memory manager, which
    # would drop the copy of an idle worker every 2 s, is off in the local cluster.
    assert len(cluster.who_has()[x_key]) == 2
    assert cluster.amm.running() is False


def _kill_when_busy(client, pids, killed, stop):
    """Wait until a worker has tasks, then SIGKILL its process (from a thread)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not stop.is_set():
        busy = [w for w, keys in client.processing().items() if keys and w in pids]
        if busy:
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(busy[0])
            return
        time.sleep(0.005)


@needs_dask
@pytest.mark.slow
def test_worker_killed_mid_search_gives_a_clear_error_and_no_process_is_left(digits):
    pytest.importorskip("distributed")
    X, y = digits
    before = set(_descendants())
    reference = GridSearchCV(small_cnn(), GRID, cv=2, n_jobs=1).fit(X, y)
    killed, stop, error, search = [], threading.Event(), None, None
    try:
        with dask_backend(n_workers=2, gpus=None, timeout=120) as client:
            pids = client.run(os.getpid)
            killer = threading.Thread(target=_kill_when_busy, args=(client, pids, killed, stop))
            killer.start()
            try:
                search = GridSearchCV(small_cnn(), GRID, cv=2, n_jobs=-1).fit(X, y)
            finally:
                stop.set()
                killer.join()
            # Its nanny restarts the worker; whatever ran since, nothing must be left.
            pids.update(client.run(os.getpid))
    except WorkerLostError as exc:
        error = exc
    assert killed, "no worker got a task to kill"
    if error is not None:
        # The fits queued on the dead worker lost their data: a clear error naming it.
        assert killed[0] in str(error) and "run the search again" in str(error)
        assert isinstance(error.__cause__, concurrent.futures.CancelledError)
    else:  # the search recovered: then with the same results
        np.testing.assert_array_equal(
            search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
        )
    assert_no_process_left(before, pids.values())


@needs_dask
@pytest.mark.slow
def test_gpu_per_worker_connect_by_address_and_shut_down_on_error():
    """Each worker sees its own GPU; a second dask_backend reaches the same scheduler by
    address and leaves it running; an error in the block shuts everything down."""
    pytest.importorskip("distributed")
    before = set(_descendants())
    pids = {}
    with pytest.raises(RuntimeError, match="error inside the block"):
        with dask_backend(n_workers=2, gpus="2,5") as client:
            pids = client.run(os.getpid)
            devices = worker_env(client, "CUDA_VISIBLE_DEVICES")
            assert sorted(devices.values()) == ["2", "5"]
            # Inside the block joblib runs on the workers, even with n_jobs=1.
            ran_on = joblib.Parallel(n_jobs=1)(joblib.delayed(os.getpid)() for _ in range(4))
            assert set(ran_on) <= set(pids.values())

            with dask_backend(client.scheduler.address, timeout=30) as other:
                assert other is not client
                assert set(other.scheduler_info()["workers"]) == set(pids)
                ran_on = joblib.Parallel()(joblib.delayed(os.getpid)() for _ in range(4))
                assert set(ran_on) <= set(pids.values())
            # Leaving the inner block closed its client only: the cluster still works.
            assert client.submit(operator.add, 1, 2).result() == 3
            assert client.run(os.getpid) == pids
            raise RuntimeError("error inside the block")
    assert len(pids) == 2
    assert_no_process_left(before, pids.values())
