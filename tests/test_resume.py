"""Resuming after a crash: a killed fit continues from its last completed epoch and ends
with the same weights as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from cnn_estimators import CNNClassifier
from cnn_estimators._io import CheckpointError, _host, load_checkpoint, save_checkpoint
from cnn_estimators.callbacks import STATE_FILE

X, Y = load_digits(return_X_y=True)
PARAMS = dict(
    module="global_pool_cnn",
    max_epochs=4,
    lr=3e-3,
    random_state=0,
    device="cpu",
    lr_schedule="step",
    optimizer="adam",
    progress_bar=False,
)


def resumable(tmp_path, **kw):
    return CNNClassifier(**{**PARAMS, "checkpoint_dir": str(tmp_path), "resume": True, **kw})


def reference():
    return CNNClassifier(**PARAMS, keep_best=True).fit(X, Y)


def interrupt_at_batch(monkeypatch, n):
    original = CNNClassifier._prepare_batch
    calls = {"n": 0}

    def patched(self, x, training, view=None):
        if training:
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
        return original(self, x, training, view)

    monkeypatch.setattr(CNNClassifier, "_prepare_batch", patched)


def test_interrupted_fit_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    ref = reference()
    interrupt_at_batch(monkeypatch, 2 * 13 + 3)  # 13 batches per epoch: in the third epoch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumable(tmp_path).fit(X, Y)
    monkeypatch.undo()
    (run,) = tmp_path.glob("run-*")
    assert load_checkpoint(run / STATE_FILE)["epochs_done"] == 2
    # what a writer killed mid-save leaves: a temporary named for a process that is gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = run / f".{STATE_FILE}.{_host()}.{dead.pid}.x1y2z3w4.tmp"
    stale.write_bytes(b"partial")
    resumed = resumable(tmp_path).fit(X, Y)
    assert not stale.exists()
    assert resumed.loss_curve_ == ref.loss_curve_
    np.testing.assert_array_equal(resumed.predict_proba(X), ref.predict_proba(X))
    # a finished run is loaded, not trained again
    again = resumable(tmp_path).fit(X, Y)
    assert len(again.history_) == 4
    np.testing.assert_array_equal(again.predict_proba(X), ref.predict_proba(X))


def test_resumed_fit_stops_early_where_the_uninterrupted_fit_stops(tmp_path, monkeypatch):
    # tol=1: after the first epoch no validation accuracy can improve by 1, so the
    # uninterrupted fit stops after 1 + n_iter_no_change epochs
    params = dict(max_epochs=8, early_stopping=True, n_iter_no_change=3, tol=1.0)
    ref = CNNClassifier(**{**PARAMS, **params}, keep_best=True).fit(X, Y)
    assert ref.n_iter_ == 4
    interrupt_at_batch(monkeypatch, 2 * 13 + 3)  # in the third epoch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumable(tmp_path, **params).fit(X, Y)
    monkeypatch.undo()
    (run,) = tmp_path.glob("run-*")
    assert load_checkpoint(run / STATE_FILE)["epochs_done"] == 2
    resumed = resumable(tmp_path, **params).fit(X, Y)
    # counting afresh after the two epochs done, it would train six epochs (2 + 1 + 3)
    assert resumed.n_iter_ == 4
    assert resumed.loss_curve_ == ref.loss_curve_
    np.testing.assert_array_equal(resumed.predict_proba(X), ref.predict_proba(X))
    # a warm start is a new training run (MLPClassifier's semantics): its first epoch is
    # its first best, then three misses; replaying the history would stop it after one
    resumed.set_params(warm_start=True).fit(X, Y)
    assert resumed.n_iter_ == 4 + 4


def test_finished_run_loaded_then_continued_counts_patience_afresh(tmp_path):
    params = dict(max_epochs=8, early_stopping=True, n_iter_no_change=3, tol=1.0)
    resumable(tmp_path, **params).fit(X, Y)
    loaded = resumable(tmp_path, **params).fit(X, Y)  # the finished run, not trained again
    assert loaded.n_iter_ == 4
    loaded.partial_fit(X, Y)  # a new training run: its first best, then three misses
    assert loaded.n_iter_ == 4 + 4


@pytest.mark.parametrize("early_stopping", [True, False])
def test_killed_between_last_epoch_and_end_of_fit(tmp_path, monkeypatch, early_stopping):
    # The state of the last epoch is written before the fit ends (best weights loaded,
    # state marked complete). Killed in between, the resumed fit trains no epoch, but
    # still ends like the uninterrupted fit.
    from cnn_estimators.callbacks import BestCheckpoint

    params = dict(max_epochs=4, early_stopping=early_stopping, n_iter_no_change=2, tol=1.0)
    ref = CNNClassifier(**{**PARAMS, **params}, keep_best=True).fit(X, Y)
    assert ref.n_iter_ == (3 if early_stopping else 4)

    def killed(self, net, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(BestCheckpoint, "on_train_end", killed)
    with pytest.raises(RuntimeError, match="killed"):
        resumable(tmp_path, **params).fit(X, Y)
    monkeypatch.undo()
    (run,) = tmp_path.glob("run-*")
    state = load_checkpoint(run / STATE_FILE)
    assert not state["complete"] and state["epochs_done"] == ref.n_iter_
    resumed = resumable(tmp_path, **params).fit(X, Y)
    assert resumed.n_iter_ == ref.n_iter_  # no epoch trained
    np.testing.assert_array_equal(resumed.predict_proba(X), ref.predict_proba(X))
    assert load_checkpoint(run / STATE_FILE)["complete"]


def test_other_data_or_parameters_start_their_own_run(tmp_path):
    resumable(tmp_path, max_epochs=1).fit(X, Y)
    resumable(tmp_path, max_epochs=1, lr=1e-3).fit(X, Y)
    resumable(tmp_path, max_epochs=1).fit(X[:1000], Y[:1000])
    assert len(list(tmp_path.glob("run-*"))) == 3


def test_damaged_training_state_is_reported(tmp_path):
    resumable(tmp_path, max_epochs=1).fit(X, Y)
    (run,) = tmp_path.glob("run-*")
    state = run / STATE_FILE
    state.write_bytes(state.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"training_state\.ckpt is damaged"):
        resumable(tmp_path, max_epochs=1).fit(X, Y)


def test_version_mismatch_warns(tmp_path):
    resumable(tmp_path, max_epochs=2).fit(X, Y)
    (run,) = tmp_path.glob("run-*")
    state = load_checkpoint(run / STATE_FILE)
    state["versions"] = {"torch": "1.0", "skorch": "0.1", "cnn_estimators": "0.0"}
    state["complete"] = False
    state["epochs_done"] = 1
    save_checkpoint(state, run / STATE_FILE)
    with pytest.warns(UserWarning, match="was written with"):
        resumable(tmp_path, max_epochs=2).fit(X, Y)


CHILD = """
import sys, torch
from sklearn.datasets import load_digits
from cnn_estimators import CNNClassifier
torch.set_num_threads(int(sys.argv[2]))
X, Y = load_digits(return_X_y=True)
PARAMS = {params!r}
CNNClassifier(**PARAMS, checkpoint_dir=sys.argv[1], resume=True, max_epochs=sys.argv[3] and
              int(sys.argv[3])).fit(X, Y)
"""


@pytest.mark.slow
def test_sigkill_after_second_epoch_then_resume(tmp_path):
    params = {k: v for k, v in PARAMS.items() if k != "max_epochs"}
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(params=params))
    ckpt = tmp_path / "ckpt"
    threads = torch.get_num_threads()
    epochs = 6
    child = subprocess.Popen(
        [sys.executable, str(script), str(ckpt), str(threads), str(epochs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    done = 0
    try:
        while time.monotonic() < deadline and child.poll() is None:
            states = list(ckpt.glob(f"run-*/{STATE_FILE}"))
            if states:
                try:
                    done = load_checkpoint(states[0])["epochs_done"]
                except (CheckpointError, OSError):
                    done = 0  # never seen: the file is replaced atomically
                if done >= 2:
                    os.kill(child.pid, signal.SIGKILL)
                    break
            time.sleep(0.05)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()[-2000:]
    assert 2 <= done < epochs
    resumed = CNNClassifier(**params, max_epochs=epochs, checkpoint_dir=str(ckpt), resume=True).fit(
        X, Y
    )
    uninterrupted = CNNClassifier(**params, max_epochs=epochs, keep_best=True).fit(X, Y)
    assert len(resumed.history_) == epochs
    assert resumed.loss_curve_ == uninterrupted.loss_curve_
    for a, b in zip(
        resumed.module_.state_dict().values(),
        uninterrupted.module_.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    assert not list(ckpt.glob("run-*/.*.tmp"))  # a temporary left by the kill: removed on resume
