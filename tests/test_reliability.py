"""Reliability: safe checkpoint files, divergence, interruption, out-of-memory messages."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from cnn_estimators import CNNClassifier
from cnn_estimators._io import (
    CheckpointError,
    _host,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from cnn_estimators.estimator import TrainingDivergedError, TrainingInterrupted


def small(**params):
    defaults = dict(
        module="mlp",
        module__hidden_sizes=(16,),
        max_epochs=3,
        random_state=0,
        device="cpu",
        lr=1e-2,
        progress_bar=False,
    )
    defaults.update(params)
    return CNNClassifier(**defaults)


# ---------------------------------------------------------------- checkpoint files
def test_checkpoint_round_trip_and_atomic_replace(tmp_path):
    path = tmp_path / "a.ckpt"
    save_checkpoint({"w": torch.arange(4.0), "epoch": 3}, path)
    save_checkpoint({"w": torch.ones(2), "epoch": 4}, path)  # replaces atomically
    state = load_checkpoint(path)
    assert state["epoch"] == 4 and state["w"].tolist() == [1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"]  # no temporary left behind


def test_only_temporaries_of_dead_writers_on_this_host_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    save_checkpoint({"epoch": 1}, tmp_path / "state.ckpt")
    stale = tmp_path / f".state.ckpt.{_host()}.{dead.pid}.ab_cd12.tmp"
    live = tmp_path / f".state.ckpt.{_host()}.{os.getppid()}.ef34gh56.tmp"
    mine = tmp_path / f".state.ckpt.{_host()}.{os.getpid()}.ij78kl90.tmp"
    elsewhere = tmp_path / f".state.ckpt.other-host.{dead.pid}.mn12op34.tmp"
    foreign = tmp_path / ".notes.txt.tmp"  # not named by save_checkpoint
    for f in (stale, live, mine, elsewhere, foreign):
        f.write_bytes(b"partial")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["state.ckpt", live.name, mine.name, elsewhere.name, foreign.name]
    )
    assert load_checkpoint(tmp_path / "state.ckpt") == {"epoch": 1}


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "empty"])
def test_damaged_checkpoint_is_detected_and_named(tmp_path, damage):
    path = tmp_path / "model.ckpt"
    save_checkpoint({"w": torch.randn(100)}, path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-50] ^= 0xFF
    elif damage == "header":
        data[:5] = b"XXXXX"
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.ckpt"):
        load_checkpoint(path)


def test_checkpoint_cannot_execute_code(tmp_path):
    import hashlib
    import io
    import pickle

    from cnn_estimators._io import MAGIC

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    payload = io.BytesIO()
    torch.save({"x": Evil()}, payload, pickle_module=pickle)
    raw = payload.getvalue()
    path = tmp_path / "evil.ckpt"
    path.write_bytes(MAGIC + hashlib.sha256(raw).hexdigest().encode() + b"\n" + raw)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_best_checkpoint_written_with_checksum(digits, tmp_path):
    X, y = digits
    est = small(checkpoint_dir=tmp_path).fit(X / 16, y)
    path = os.path.join(est.checkpoint_path_, "best_params.ckpt")
    assert open(path, "rb").read(12) == b"CNNE-CKPT-1\n"
    assert set(load_checkpoint(path)) == set(est.module_.state_dict())


# ---------------------------------------------------------------- divergence
def test_nan_loss_stops_with_a_clear_error(digits):
    X, y = digits
    est = small(lr=1e10, optimizer="sgd", max_epochs=5)
    with pytest.raises(
        TrainingDivergedError,
        match=r"became (nan|inf) at epoch 1, batch \d+ "
        r"\(last finite loss: [\d.e+]+\)\. The learning rate \(1e\+10\)",
    ):
        est.fit(X, y)
    assert est.loss_curve_ == []  # the diverged epoch has no epoch-level loss


def test_divergence_restores_the_best_epoch(digits, tmp_path):
    X, y = digits

    class Explode:  # a transform that poisons training from the third epoch on
        def __init__(self):
            self.calls = 0

        def __call__(self, x):
            self.calls += 1
            return x * float("nan") if self.calls > 2 * 12 else x

    est = small(keep_best=True, max_epochs=6, batch_size=128, train_transform=Explode())
    with pytest.raises(TrainingDivergedError, match="best epoch so far were restored"):
        est.fit(X / 16, y)
    weights = torch.cat([p.flatten() for p in est.module_.parameters()])
    assert torch.isfinite(weights).all()
    assert est.score(X / 16, y) > 0.5


# ---------------------------------------------------------------- interruption
class InterruptAt:
    """A callback-like transform raising KeyboardInterrupt at the n-th training batch."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return x


def test_ctrl_c_leaves_a_usable_estimator_and_says_so(digits):
    X, y = digits
    est = small(max_epochs=10, batch_size=128, train_transform=InterruptAt(30))
    with pytest.warns(TrainingInterrupted, match=r"after 2 complete epoch\(s\)"):
        est.fit(X / 16, y)
    assert est.predict(X[:5] / 16).shape == (5,)
    assert est.n_iter_ == 3  # two complete epochs and the interrupted one


def test_early_stopping_is_not_reported_as_an_interruption(digits, recwarn):
    X, y = digits
    small(max_epochs=20, early_stopping=True, n_iter_no_change=1, tol=1.0).fit(X / 16, y)
    assert not [w for w in recwarn if issubclass(w.category, TrainingInterrupted)]


# ---------------------------------------------------------------- out of memory
def test_out_of_memory_names_the_batch_size(images, monkeypatch):
    X, y = images
    est = small(batch_size=16)

    def boom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    est.fit(X, y)
    monkeypatch.setattr(est.module_, "forward", boom)
    with pytest.raises(
        torch.OutOfMemoryError,
        match=r"batch of 16 images.*batch_size=16\)\. "
        r"Lower batch_size, e\.g\. batch_size=8",
    ):
        est.predict_proba(np.concatenate([X, X]))


# ---------------------------------------------------------------- test-time augmentation
def test_tta_averages_probabilities_over_views(images):
    X, y = images
    est = small(tta="flip").fit(X, y)
    plain = est.set_params(tta=None).predict_proba(X)
    flipped = est.predict_proba(X[..., ::-1].copy())
    with_tta = est.set_params(tta="flip").predict_proba(X)
    np.testing.assert_allclose(with_tta, (plain + flipped) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(with_tta.sum(axis=1), 1, rtol=1e-5)


def test_tta_shift_views_and_custom_callables(images):
    X, y = images
    est = small(tta="flip_shift").fit(X, y)
    assert est.predict_proba(X).shape == (len(X), 2)
    est.set_params(tta=[lambda x: x * 0.5])
    assert est.predict(X).shape == (len(X),)


def test_tta_not_used_for_validation_during_fit(images):
    X, y = images
    a = small(validation_fraction=0.25).fit(X, y)
    b = small(validation_fraction=0.25, tta="flip_shift").fit(X, y)
    assert a.validation_scores_ == b.validation_scores_


class SendCtrlC:
    """Sends SIGINT to this process while the n-th training batch is being processed."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.n:
            os.kill(os.getpid(), signal.SIGINT)
        return x


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="POSIX signals")
def test_ctrl_c_stops_after_the_current_batch(digits):
    X, y = digits
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("the test runner handles SIGINT itself")
    est = small(max_epochs=10, batch_size=128, validation_fraction=0, train_transform=SendCtrlC(20))
    with pytest.warns(TrainingInterrupted, match=r"after 1 complete epoch\(s\)"):
        est.fit(X / 16, y)
    last = est.history_[-1]["batches"]
    assert len(last) == 20 - 15  # 15 batches per epoch: batch 20 is the 5th of epoch 2
    assert all(isinstance(b["train_loss"], float) for b in last)  # that batch completed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
