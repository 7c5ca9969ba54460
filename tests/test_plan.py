"""The fit plan: ``min_steps`` and ``time_budget`` (cnn_estimators._plan).

Every timed test runs on a fake clock that training and validation steps advance by a
fixed amount, so the planned epochs, the schedule and the history are exact numbers.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_validate

from cnn_estimators import CNNClassifier, _plan
from cnn_estimators._plan import FitPlan, Throughput, plan_epochs, recorded_plan
from cnn_estimators.callbacks import TimeBudget

X, Y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
# validation_fraction=0.1 of 1797 digits: 1617 training images, 13 steps of 128 per
# epoch; 180 validation images, 2 batches.
STEPS, VALID_BATCHES = 13, 2


def est(**params):
    defaults = dict(
        module="mlp",
        module__hidden_sizes=(16,),
        batch_size=128,
        lr=0.05,
        lr_schedule="onecycle",
        random_state=0,
        device="cpu",
        progress_bar=False,
    )
    return CNNClassifier(**{**defaults, **params})


class FakeClock:
    """A clock that only the steps move: ``costs`` seconds per training/validation step."""

    def __init__(self) -> None:
        self.now = 0.0
        self.costs = {"train": 0.5, "valid": 0.1}

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(_plan, "_clock", fake)
    train_step, validation_step = CNNClassifier.train_step, CNNClassifier.validation_step

    def charged_train_step(self, batch, **fit_params):
        fake.now += fake.costs["train"]
        return train_step(self, batch, **fit_params)

    def charged_validation_step(self, batch, **fit_params):
        fake.now += fake.costs["valid"]
        return validation_step(self, batch, **fit_params)

    monkeypatch.setattr(CNNClassifier, "train_step", charged_train_step)
    monkeypatch.setattr(CNNClassifier, "validation_step", charged_validation_step)
    return fake


def scheduler(clf):
    return dict(clf.callbacks_)["lr_scheduler"]


# ---------------------------------------------------------------- the plan alone
def test_recipe_on_the_full_data_keeps_its_epochs():
    # make_fashion_mnist_cnn's recipe on 60,000 images: 4 epochs of 235 steps
    plan = plan_epochs(n_train=60_000, batch_size=256, max_epochs=4, min_steps=940)
    assert (plan.epochs, plan.steps_per_epoch, plan.planned_by) == (4, 235, "max_epochs")
    plan = plan_epochs(n_train=60_000, batch_size=256, max_epochs=4, min_steps=941)
    assert (plan.epochs, plan.planned_by) == (5, "min_steps")


@pytest.mark.parametrize(
    ("n_train", "batch_size", "min_steps", "epochs", "by"),
    [
        (4_000, 256, None, 4, "max_epochs"),
        (4_000, 256, 64, 4, "max_epochs"),  # 4 x 16 steps = 64: enough
        (4_000, 256, 65, 5, "min_steps"),
        (4_000, 256, 600, 38, "min_steps"),  # ceil(600 / 16)
        (100, -1, 10, 10, "min_steps"),  # one step per epoch
    ],
)
def test_min_steps_raises_the_epochs_to_the_floor(n_train, batch_size, min_steps, epochs, by):
    plan = plan_epochs(n_train=n_train, batch_size=batch_size, max_epochs=4, min_steps=min_steps)
    assert (plan.epochs, plan.planned_by) == (epochs, by)
    assert plan.epochs * plan.steps_per_epoch >= (min_steps or 0)


def test_budget_plan_counts_steps_validation_and_time_spent():
    measured = Throughput(seconds_per_step=0.5, validation_seconds=2.0, probe_seconds=1.0)
    plan = plan_epochs(
        n_train=1300,
        batch_size=100,
        max_epochs=50,
        min_steps=10_000,
        time_budget=100,
        throughput=measured,
        elapsed=5.0,
    )
    # 0.95 * (100 - 5) / (13 * 0.5 + 2.0) = 10.6: max_epochs and min_steps do not count
    assert (plan.epochs, plan.planned_by) == (10, "time_budget")
    assert "8.5 s" in plan.detail and "95%" in plan.detail
    with pytest.warns(
        UserWarning,
        match=r"time_budget=5 s leaves 1 s for training, less than "
        r"one epoch takes \(about 8\.5 s\); training one epoch",
    ):
        plan = plan_epochs(
            n_train=1300,
            batch_size=100,
            max_epochs=4,
            time_budget=5,
            throughput=measured,
            elapsed=4.0,
        )
    assert plan.epochs == 1


def test_recorded_plan_ignores_what_is_not_a_positive_int():
    assert recorded_plan([{"planned_epochs": 7, "planned_by": "time_budget"}], 4) == (
        7,
        "time_budget",
    )
    for bad in (0, -3, 2.5, "9", True, None):
        assert recorded_plan([{"planned_epochs": bad, "planned_by": 1}], 4) == (4, "max_epochs")
    assert recorded_plan([{"planned_epochs": 6, "planned_by": 3}], 4) == (6, "max_epochs")


# ---------------------------------------------------------------- min_steps in fit
def test_default_plan_is_max_epochs_and_recorded():
    clf = est(max_epochs=2).fit(X, Y)
    assert [(r["planned_epochs"], r["planned_by"]) for r in clf.history_] == [(2, "max_epochs")] * 2
    assert scheduler(clf).total_steps == 2 * STEPS


def test_min_steps_trains_more_epochs_and_the_schedule_ends_with_them():
    clf = est(max_epochs=2, min_steps=60).fit(X, Y)  # ceil(60 / 13) = 5 epochs
    assert len(clf.history_) == clf.n_iter_ == 5
    assert {(r["planned_epochs"], r["planned_by"]) for r in clf.history_} == {(5, "min_steps")}
    sched = scheduler(clf)
    assert sched.total_steps == 5 * STEPS
    assert sched.lr_scheduler_.last_epoch == 5 * STEPS  # stepped to the end of its cycle
    # the last step ran at OneCycleLR's final rate, max_lr / (25 * 1e4): not cut off
    rates = [b["event_lr"] for b in clf.history_[-1]["batches"] if "event_lr" in b]
    assert len(rates) == STEPS and rates[-1] == pytest.approx(0.05 / 25e4)


@pytest.mark.parametrize(
    ("schedule", "attr", "value"), [("cosine", "T_max", 10), ("step", "step_size", 3)]
)
def test_epoch_schedules_use_the_planned_epochs(schedule, attr, value):
    clf = est(max_epochs=2, min_steps=120, lr_schedule=schedule).fit(X, Y)
    assert getattr(scheduler(clf), attr) == value  # 10 epochs (step: a third of them)


def test_progress_bar_counts_the_planned_epochs():
    clf = est(
        max_epochs=1, min_steps=30, progress_bar=True, callbacks__progress_bar__file=io.StringIO()
    ).fit(X, Y)
    assert dict(clf.callbacks_)["progress_bar"].epoch_bar_.total == 3 == len(clf.history_)


def test_min_steps_is_a_parameter_clone_keeps():
    clf = est(min_steps=100, time_budget=12.5)
    assert clf.get_params()["min_steps"] == 100 and clf.get_params()["time_budget"] == 12.5
    assert clone(clf).min_steps == 100 and clone(clf).time_budget == 12.5


# ---------------------------------------------------------------- time_budget in fit
def test_time_budget_plans_the_epochs_that_fit(clock):
    clf = est(time_budget=40.0, max_epochs=1, min_steps=1000).fit(X, Y)
    # probe: 8 training steps (4.0 s) and 2 validation batches (0.2 s) -> 0.5 s a step,
    # 0.2 s of validation; an epoch 13 * 0.5 + 0.2 = 6.7 s; 0.95 * (40 - 4.2) / 6.7 = 5.1
    assert len(clf.history_) == 5
    assert {(r["planned_epochs"], r["planned_by"]) for r in clf.history_} == {(5, "time_budget")}
    assert not any("time_budget_stop" in row for row in clf.history_)
    assert scheduler(clf).total_steps == 5 * STEPS
    assert clock.now == pytest.approx(4.2 + 5 * 6.7)  # within the budget
    assert dict(clf.callbacks_)["time_budget"].seconds == 40.0


def test_time_budget_plan_counts_the_validation_pass(clock):
    clock.costs["valid"] = 2.0  # 4 s of validation per epoch
    clf = est(time_budget=40.0).fit(X, Y)
    # probe: 4.0 + 4.0 s; an epoch 6.5 + 4 = 10.5 s; 0.95 * (40 - 8.0) / 10.5 = 2.9
    assert [(r["planned_epochs"], "time_budget_stop" in r) for r in clf.history_] == [
        (2, False)
    ] * 2
    assert clock.now == pytest.approx(8.0 + 2 * 10.5)
    clock.now = 0.0
    # without validation: 1797 images, 15 steps; 0.95 * (40 - 4.0) / 7.5 = 4.6
    assert len(est(time_budget=40.0, validation_fraction=0).fit(X, Y).history_) == 4


def test_probe_leaves_the_result_of_a_seeded_fit_unchanged(clock):
    # dropout draws from torch's generator, the batches from the data-order generator
    params = dict(module__dropout=0.5, validation_fraction=0.2)
    budget = est(time_budget=40.0, **params).fit(X, Y)
    epochs = len(budget.history_)
    assert epochs > 1
    plain = est(max_epochs=epochs, **params).fit(X, Y)
    assert budget.loss_curve_ == plain.loss_curve_
    for a, b in zip(
        budget.module_.state_dict().values(), plain.module_.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_time_budget_callback_stops_when_the_machine_slows_down(clock, monkeypatch):
    measure = _plan.measure_throughput

    def then_slower(*args):
        measured = measure(*args)
        clock.costs["train"] = 1.0  # twice the probe's pace from now on
        return measured

    monkeypatch.setattr(_plan, "measure_throughput", then_slower)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TrainingInterrupted warning
        clf = est(time_budget=40.0, keep_best=True).fit(X, Y)
    # planned 5 epochs of 6.7 s; they take 13.2 s: after the third (4.2 + 3 * 13.2 =
    # 43.8 s) the next one cannot fit; after the second (30.6 s) more than half of it did
    assert [row.get("time_budget_stop", False) for row in clf.history_] == [False, False, True]
    assert clf.history_[-1]["planned_epochs"] == 5 and clf.n_iter_ == 3
    assert clock.now == pytest.approx(4.2 + 3 * 13.2)
    assert clf.best_validation_score_ is not None  # the fit ended normally


def test_time_budget_callback_does_nothing_outside_a_fit():
    callback = TimeBudget(0.001)
    net = object()  # no current_fit: no start time, no stop
    callback.on_train_begin(net)
    callback.on_epoch_begin(net)
    callback.on_epoch_end(net)


def test_each_partial_fit_call_gets_the_budget(clock):
    clf = est(time_budget=40.0, lr_schedule=None)
    clf.partial_fit(X, Y)
    first = clock.now
    clf.partial_fit(X, Y)
    assert len(clf.history_) == 10
    assert [r["planned_epochs"] for r in clf.history_] == [5] * 10
    assert clock.now == pytest.approx(2 * first)


def test_time_budget_in_cross_validation_and_grid_search(clock):
    result = cross_validate(est(time_budget=40.0), X, Y, cv=3, return_estimator=True)
    for fitted in result["estimator"]:
        assert fitted.time_budget == 40.0
        rows = fitted.history_
        assert {r["planned_by"] for r in rows} == {"time_budget"}
        assert len(rows) == rows[0]["planned_epochs"]
    # 1198 images of a fold: 1078 training (9 steps), 120 validation (1 batch): probe
    # 4.0 + 0.1 s; 0.95 * 35.9 / 4.6 = 7.4 epochs
    assert [len(f.history_) for f in result["estimator"]] == [7, 7, 7]
    search = GridSearchCV(est(), {"time_budget": [20.0, 40.0]}, cv=3).fit(X, Y)
    assert search.best_estimator_.history_[0]["planned_by"] == "time_budget"
    assert len(search.best_estimator_.history_) in (2, 5)  # all 1797 images, 13 steps


def test_resumed_run_keeps_its_plan(clock, tmp_path, monkeypatch):
    params = dict(time_budget=40.0, checkpoint_dir=str(tmp_path), resume=True)
    reference = est(time_budget=40.0, keep_best=True).fit(X, Y)
    clock.now = 0.0
    prepare = CNNClassifier._prepare_batch
    calls = {"n": 0}

    def crash_in_third_epoch(self, x, training, view=None):
        calls["n"] += training
        if calls["n"] == _plan.PROBE_TRAIN_BATCHES + 2 * STEPS + 4:  # probe, 2 epochs
            raise KeyboardInterrupt
        return prepare(self, x, training, view)

    monkeypatch.setattr(CNNClassifier, "_prepare_batch", crash_in_third_epoch)
    with pytest.warns(UserWarning, match="interrupted"):
        est(**params).fit(X, Y)
    monkeypatch.setattr(CNNClassifier, "_prepare_batch", prepare)
    probes = []
    monkeypatch.setattr(_plan, "measure_throughput", lambda *a: probes.append(a))
    clock.now = 0.0
    resumed = est(**params).fit(X, Y)
    assert probes == []  # the plan came from the training state
    assert [r["planned_epochs"] for r in resumed.history_] == [5] * 5
    assert resumed.loss_curve_ == reference.loss_curve_
    np.testing.assert_array_equal(resumed.predict_proba(X), reference.predict_proba(X))


def test_plan_is_kept_on_the_fit_run_only_during_the_fit(clock):
    seen = []

    class Spy(TimeBudget):
        def on_epoch_end(self, net, **kwargs):
            seen.append(net.current_fit().plan)

    clf = est(time_budget=40.0, callbacks=[("spy", Spy(1e9))]).fit(X, Y)
    assert {type(p) for p in seen} == {FitPlan} and seen[0].epochs == 5
    assert clf.current_fit() is None


def test_probe_takes_the_median_step_so_one_slow_step_does_not_shrink_the_plan(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(_plan, "_clock", lambda: now[0])

    def step(seconds):
        now[0] += seconds
        return {"loss": torch.tensor(0.0)}

    # a warm-up of 9 s (left out), then steps of 1 s but one of 6 s (another process ran)
    batches = [9.0, 1.0, 1.0, 6.0, 1.0, 1.0, 1.0, 1.0, 50.0]
    assert _plan._timed(batches, step, _plan.PROBE_TRAIN_BATCHES) == 1.0  # the mean: 1.71
    assert now[0] == 21.0  # the 9th batch was not run: 8 batches timed
    assert _plan._timed([2.0], step, 8) == 2.0 and _plan._timed([], step, 8) is None
