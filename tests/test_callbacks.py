"""Named callbacks: best checkpoint, LR schedules, early stopping, progress bar."""

from __future__ import annotations

import glob
import os
import tempfile

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_score
from torch.optim import lr_scheduler

from cnn_estimators import CNNClassifier
from cnn_estimators._io import load_checkpoint
from cnn_estimators.callbacks import LRSchedule, make_lr_scheduler


def small(**params):
    defaults = dict(
        module="mlp",
        module__hidden_sizes=(16,),
        max_epochs=4,
        random_state=0,
        device="cpu",
        lr=1e-2,
        progress_bar=False,
    )
    defaults.update(params)
    return CNNClassifier(**defaults)


# ---------------------------------------------------------------- checkpoint
def test_keep_best_restores_the_best_epoch_from_its_own_directory(digits, tmp_path):
    X, y = digits
    est = small(checkpoint_dir=tmp_path, max_epochs=6, lr=0.3).fit(X / 16, y)
    run_dir = est.checkpoint_path_
    assert os.path.dirname(run_dir) == str(tmp_path)
    # written only at the epochs where the validation accuracy improved
    improved = [row["valid_acc_best"] for row in est.history_]
    written = [row.get("event_cp", False) for row in est.history_]
    assert written == improved
    saved = load_checkpoint(os.path.join(run_dir, "best_params.ckpt"))
    for name, value in est.module_.state_dict().items():
        assert torch.equal(value, saved[name]), name
    # the model now is the best epoch's: its validation accuracy is the best seen
    assert est.best_validation_score_ == max(est.validation_scores_)


def test_each_fit_gets_its_own_checkpoint_directory(digits, tmp_path):
    X, y = digits
    est = small(checkpoint_dir=tmp_path, max_epochs=2)
    cross_val_score(est, X[:300] / 16, y[:300], cv=3, n_jobs=2)
    runs = glob.glob(str(tmp_path / "run-*"))
    assert len(runs) == 3  # one per fold, none shared between the parallel jobs
    assert all(os.path.exists(os.path.join(r, "best_params.ckpt")) for r in runs)


def test_temporary_checkpoint_directory_is_removed(digits):
    X, y = digits
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "cnn_estimators-ckpt-*")))
    est = small(keep_best=True, max_epochs=2).fit(X / 16, y)
    after = set(glob.glob(os.path.join(tempfile.gettempdir(), "cnn_estimators-ckpt-*")))
    assert after == before
    assert not hasattr(est, "checkpoint_path_")
    assert est.get_params()["callbacks__checkpoint__dirname"] == ""


def test_checkpoint_routed_parameter_monitor_valid_loss(digits, tmp_path):
    X, y = digits
    est = small(checkpoint_dir=tmp_path, callbacks__checkpoint__monitor="valid_loss_best")
    est.fit(X / 16, y)
    improved = [row["valid_loss_best"] for row in est.history_]
    assert [row.get("event_cp", False) for row in est.history_] == improved


# ---------------------------------------------------------------- LR schedules
def _lrs(est):
    return [row["event_lr"] for row in est.history_] if "event_lr" in est.history_[-1] else None


def _group_lr(est):
    return est.optimizer_.param_groups[0]["lr"]


def test_step_schedule_divides_the_lr(digits):
    X, y = digits
    est = small(lr_schedule="step", max_epochs=6, lr=0.1, optimizer="sgd").fit(X / 16, y)
    assert _group_lr(est) == pytest.approx(0.1 * 0.1**3)  # step_size = 6 // 3 = 2 epochs


def test_cosine_schedule_with_routed_argument(digits):
    X, y = digits
    est = small(
        lr_schedule="cosine", max_epochs=4, lr=0.1, callbacks__lr_scheduler__eta_min=0.01
    ).fit(X / 16, y)
    assert _group_lr(est) == pytest.approx(0.01)


def test_onecycle_steps_every_batch(digits):
    X, y = digits
    est = small(
        lr_schedule="onecycle", max_epochs=2, lr=0.05, batch_size=64, validation_fraction=0
    ).fit(X / 16, y)
    sched = dict(est.callbacks_)["lr_scheduler"]
    n_batches = -(-len(X) // 64)
    assert isinstance(sched.lr_scheduler_, lr_scheduler.OneCycleLR)
    assert sched.lr_scheduler_.total_steps == 2 * n_batches
    assert sched.lr_scheduler_.last_epoch == 2 * n_batches  # stepped once per batch
    assert _group_lr(est) < 0.05 / 100  # annealed to near zero at the end


def test_plateau_schedule_monitors_validation_loss(digits):
    X, y = digits
    est = small(lr_schedule="plateau", max_epochs=2).fit(X / 16, y)
    assert dict(est.callbacks_)["lr_scheduler"].monitor == "valid_loss"
    no_val = small(lr_schedule="plateau", max_epochs=2, validation_fraction=0).fit(X / 16, y)
    assert dict(no_val.callbacks_)["lr_scheduler"].monitor == "train_loss"


def test_scheduler_class_with_routed_arguments(digits):
    X, y = digits
    est = small(
        lr_schedule=lr_scheduler.ExponentialLR,
        lr=0.1,
        max_epochs=3,
        callbacks__lr_scheduler__gamma=0.5,
    ).fit(X / 16, y)
    assert _group_lr(est) == pytest.approx(0.1 * 0.5**3)


def test_make_lr_scheduler_defaults():
    sched = make_lr_scheduler("step", lr=0.1, max_epochs=9, steps_per_epoch=5, has_validation=True)
    assert isinstance(sched, LRSchedule) and sched.step_size == 3 and sched.gamma == 0.1
    cyc = make_lr_scheduler(
        "onecycle", lr=0.2, max_epochs=3, steps_per_epoch=7, has_validation=False
    )
    assert cyc.total_steps == 21 and cyc.max_lr == 0.2 and cyc.step_every == "batch"


# ---------------------------------------------------------------- progress and logs
def test_progress_bar_draws_epochs_and_batches(digits, capsys):
    X, y = digits
    small(progress_bar=True, max_epochs=2).fit(X / 16, y)
    err = capsys.readouterr().err
    assert "epochs" in err and "batches" in err


def test_progress_bar_auto_is_off_without_a_terminal(digits, capsys):
    X, y = digits
    est = small(progress_bar="auto", max_epochs=1).fit(X / 16, y)
    assert "progress_bar" not in dict(est.callbacks_)  # a None callback is left out
    assert capsys.readouterr().err == ""


def test_verbose_prints_the_epoch_table(digits, capsys):
    X, y = digits
    small(verbose=1, max_epochs=2).fit(X / 16, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "valid_acc" in out


def test_silent_by_default(digits, capsys):
    X, y = digits
    small(max_epochs=2).fit(X / 16, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_fitted_estimator_with_progress_bar_pickles(digits):
    import pickle

    X, y = digits
    est = small(progress_bar=True, max_epochs=1).fit(X / 16, y)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X[:5] / 16), est.predict(X[:5] / 16))
