"""Per-fit state (cnn_estimators._run): one owner per run folder, nothing outlives a fit."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_images

from cnn_estimators import CNNClassifier
from cnn_estimators._io import load_checkpoint
from cnn_estimators._run import RunFolderBusyError, RunFolderLock, checkpoint_dir_error
from cnn_estimators.callbacks import STATE_FILE

PARAMS = dict(
    module="mlp",
    module__hidden_sizes=(8,),
    max_epochs=3,
    lr=1e-2,
    random_state=0,
    device="cpu",
    progress_bar=False,
)


def resumable(folder, **kw):
    return CNNClassifier(**{**PARAMS, "checkpoint_dir": str(folder), "resume": True, **kw})


# ---------------------------------------------------------------- one owner per run folder
def test_a_held_run_folder_refuses_a_second_fit_at_once(tmp_path):
    X, y = make_images(n=40)
    first = resumable(tmp_path).fit(X, y)
    run_dir = tmp_path / first.run_name_
    lock = RunFolderLock(run_dir, tmp_path).acquire()  # as another fit would hold it
    try:
        with pytest.raises(RunFolderBusyError, match=f"{run_dir}.*pid {os.getpid()}"):
            resumable(tmp_path).fit(X, y)
    finally:
        lock.release()
    resumable(tmp_path).fit(X, y)  # free again: the finished run is loaded


def test_the_lock_is_released_however_the_fit_ends(tmp_path):
    X, y = make_images(n=40)

    def boom(x):
        raise RuntimeError("transform failed")

    with pytest.raises(RuntimeError, match="transform failed"):
        resumable(tmp_path, train_transform=boom).fit(X, y)
    (run_dir,) = tmp_path.glob("run-*")
    RunFolderLock(run_dir, tmp_path).acquire().release()  # not held any more
    assert not (run_dir / "owner.json").exists()


CHILD = """
import sys
from conftest import make_images
from cnn_estimators import CNNClassifier
X, y = make_images(n=400)
CNNClassifier(**{params!r}, checkpoint_dir=sys.argv[1], resume=True).fit(X, y)
"""


@pytest.mark.slow
def test_two_processes_never_share_a_run_folder(tmp_path):
    """A second process fails at once naming the owner; after kill -9 the folder is free."""
    params = {**PARAMS, "max_epochs": 400}
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(params=params))
    folder = tmp_path / "ckpt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, str(script), str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        states = []
        while time.monotonic() < deadline and child.poll() is None and not states:
            states = list(folder.glob(f"run-*/{STATE_FILE}"))
            time.sleep(0.05)
        assert states, child.stderr.read().decode()[-2000:] if child.poll() is not None else ""
        X, y = make_images(n=400)
        with pytest.raises(RunFolderBusyError, match=rf"in use by another fit \(pid {child.pid}"):
            CNNClassifier(**params, checkpoint_dir=str(folder), resume=True).fit(X, y)
        assert child.poll() is None  # the owner was not disturbed
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    run_dir = states[0].parent
    RunFolderLock(run_dir, folder).acquire().release()  # the kernel released the dead owner's lock
    assert load_checkpoint(states[0])["complete"] is False


# ---------------------------------------------------------------- clear errors, early
def test_a_checkpoint_dir_that_cannot_be_written_fails_before_training(tmp_path, monkeypatch):
    X, y = make_images(n=40)
    steps = []
    monkeypatch.setattr(CNNClassifier, "train_step", lambda self, *a, **k: steps.append(1))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for params in (dict(resume=True), dict(keep_best=True)):
        est = CNNClassifier(**PARAMS, checkpoint_dir=str(blocker / "sub"), **params)
        with pytest.raises(OSError, match=r"checkpoint_dir=.*a-file/sub"):
            est.fit(X, y)
    assert steps == []


def test_disk_full_names_the_file_and_the_parameter(tmp_path, monkeypatch):
    import cnn_estimators.callbacks as callbacks

    def full(obj, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(callbacks, "save_checkpoint", full)
    X, y = make_images(n=40)
    with pytest.raises(OSError, match=r"Cannot write '.*run-.*' \(checkpoint_dir='.*'\).*disk"):
        resumable(tmp_path).fit(X, y)


def test_checkpoint_dir_error_keeps_the_exception_type():
    err = checkpoint_dir_error(PermissionError(errno.EACCES, "denied"), "/x/y", "/x")
    assert isinstance(err, PermissionError) and err.errno == errno.EACCES
    assert "checkpoint_dir='/x'" in str(err) and "writable" in str(err)


# ---------------------------------------------------------------- nothing outlives a fit
def test_keep_best_fit_that_raises_leaves_no_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    X, y = make_images(n=40)
    calls = {"n": 0}

    def fails_in_second_epoch(x):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("a transform failed")
        return x

    est = CNNClassifier(**PARAMS, keep_best=True, train_transform=fails_in_second_epoch)
    with pytest.raises(RuntimeError, match="a transform failed"):
        est.fit(X, y)
    assert list(tmp_path.iterdir()) == []
    assert dict(est.callbacks_)["checkpoint"].dirname == ""
    est.set_params(train_transform=None)
    est.partial_fit(X, y)  # a later fit: still no folder left anywhere
    assert list(tmp_path.iterdir()) == []
    assert est.current_fit() is None


def test_ctrl_c_then_fit_again_marks_the_run_complete(tmp_path, monkeypatch):
    X, y = make_images(n=40)
    original = CNNClassifier.train_step
    calls = {"n": 0}

    def interrupted_once(self, batch, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, batch, **kw)

    monkeypatch.setattr(CNNClassifier, "train_step", interrupted_once)
    est = resumable(tmp_path)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, y)
    state_file = tmp_path / est.run_name_ / STATE_FILE
    assert load_checkpoint(state_file)["complete"] is False
    est.fit(X, y)  # the same object: resumes and finishes
    state = load_checkpoint(state_file)
    assert state["complete"] is True and state["epochs_done"] == 3
    assert est.current_fit() is None


def test_per_fit_state_exists_only_during_fit(tmp_path):
    X, y = make_images(n=40)
    seen = []

    def record(x):
        seen.append(est.current_fit())
        return x

    est = CNNClassifier(**PARAMS, train_transform=record)
    est.fit(X, y)
    assert seen and all(run is seen[0] for run in seen) and seen[0] is not None
    assert est.current_fit() is None
    est.fit(X, y)
    assert seen[-1] is not seen[0]  # a new object for each fit
    per_fit = {"_generator", "_split", "_fitting", "_resume_state", "_stop_requested"}
    assert not per_fit & set(vars(est)) and not {"_features_cached", "_interrupted"} & set(
        vars(est)
    )
    assert np.isfinite(est.loss_curve_).all()
