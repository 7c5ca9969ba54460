"""The fit plan: how many epochs a fit trains, and why.

A recipe tuned in epochs of 60,000 images gives a 5,000-image subset a twelfth of the
optimizer steps, and a fit asked to end within a time has to know how long a step takes.
:func:`plan_epochs` turns the training-set size, the batch size, ``max_epochs``, a floor
of optimizer steps (``min_steps``) and a time budget into the number of epochs to train,
with the reason. :meth:`PlanMixin._plan_fit` makes the plan of each fit just before
training -- under a ``time_budget`` after measuring the training and validation steps
on copies of the network (:func:`measure_throughput`) -- and keeps it on the per-fit
state (``FitRun.plan``), where the LR schedule, the progress bar and skorch's loop read
it. Every epoch row of the history records ``planned_epochs`` and ``planned_by``; a
resumed run keeps the plan its history records.

The clock is :data:`_clock` (``time.perf_counter``), looked up at every use, so tests
replace it with a fake one.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`PlanMixin`.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._runtime import seeded
from ._validation import is_int

__all__ = [
    "BUDGET_SHARE",
    "PROBE_TRAIN_BATCHES",
    "PROBE_VALID_BATCHES",
    "FitPlan",
    "PlanMixin",
    "Throughput",
    "measure_throughput",
    "plan_epochs",
    "recorded_plan",
    "steps_per_epoch",
]

#: The clock of the plan and of the ``time_budget`` callback (seconds).
_clock: Callable[[], float] = time.perf_counter

#: Training batches the probe times (the first one warms up and is not counted; the
#: median of the others is the step time, so one step slowed by another process does not
#: shrink the plan: with 2 timed steps, one probe on a busy machine measured 0.23 s a step
#: for 0.16 s in the fit, and planned 25% fewer epochs than fit).
PROBE_TRAIN_BATCHES = 8
#: Validation batches the probe times (likewise).
PROBE_VALID_BATCHES = 2
#: The share of the time left after the probe that the planned epochs may fill; the
#: rest is for the per-epoch work the probe does not see (callbacks, checkpoints).
BUDGET_SHARE = 0.95


def steps_per_epoch(n_train: int, batch_size: Any) -> int:
    """Optimizer steps in one epoch of ``n_train`` images (``batch_size=-1``: one).

    Examples
    --------
    >>> steps_per_epoch(60_000, 256), steps_per_epoch(4_000, 256), steps_per_epoch(10, -1)
    (235, 16, 1)
    """
    batch = batch_size if is_int(batch_size) and batch_size > 0 else n_train
    return max(1, -(-n_train // max(1, batch)))


@dataclass(frozen=True)
class FitPlan:
    """The epochs a fit trains (``epochs``), what decided them and how.

    ``planned_by`` is "max_epochs", "min_steps" or "time_budget"; ``detail`` says why in
    words.
    """

    epochs: int
    steps_per_epoch: int
    planned_by: str
    detail: str


@dataclass(frozen=True)
class Throughput:
    """What the probe measured: seconds per training step, per validation pass and
    the probe's own duration."""

    seconds_per_step: float
    validation_seconds: float
    probe_seconds: float


def plan_epochs(
    *,
    n_train: int,
    batch_size: Any,
    max_epochs: int,
    min_steps: int | None = None,
    time_budget: float | None = None,
    throughput: Throughput | None = None,
    elapsed: float = 0.0,
) -> FitPlan:
    """The number of epochs a fit trains, and why.

    Without a ``time_budget``: ``max_epochs``, raised to ``ceil(min_steps /
    steps_per_epoch)`` when ``max_epochs`` epochs would make fewer than ``min_steps``
    optimizer steps. With one: as many epochs (at least one) as fit in
    :data:`BUDGET_SHARE` of the time left (``time_budget - elapsed``), an epoch taking
    ``steps_per_epoch * seconds_per_step + validation_seconds`` as measured by the probe;
    ``max_epochs`` and ``min_steps`` are not used then (the budget is the limit).

    Parameters
    ----------
    n_train : int
        Training images (the validation part excluded).
    batch_size : int
        Images per step; -1 is the whole training set.
    max_epochs : int
        The epochs of the recipe.
    min_steps : int or None, default=None
        The fewest optimizer steps to train.
    time_budget : float or None, default=None
        Seconds the whole fit may take.
    throughput : Throughput, default=None
        The probe's measurement; required with ``time_budget``.
    elapsed : float, default=0.0
        Seconds the fit has taken so far (the probe included).

    Returns
    -------
    FitPlan

    Examples
    --------
    >>> plan_epochs(n_train=60_000, batch_size=256, max_epochs=4, min_steps=600).epochs
    4
    >>> plan = plan_epochs(n_train=4_000, batch_size=256, max_epochs=4, min_steps=600)
    >>> plan.epochs, plan.planned_by
    (38, 'min_steps')
    >>> plan = plan_epochs(n_train=4_000, batch_size=256, max_epochs=4, time_budget=30,
    ...                    throughput=Throughput(0.05, 0.2, 0.5), elapsed=1.0)
    >>> plan.epochs, plan.planned_by  # 0.95 * 29 s / (16 * 0.05 s + 0.2 s) = 27.55
    (27, 'time_budget')
    """
    steps = steps_per_epoch(n_train, batch_size)
    if time_budget is not None:
        if throughput is None:
            raise ValueError("plan_epochs needs the probe's throughput with a time_budget.")
        epoch_seconds = steps * throughput.seconds_per_step + throughput.validation_seconds
        left = time_budget - elapsed
        fitting = math.floor(BUDGET_SHARE * left / epoch_seconds) if epoch_seconds > 0 else 1
        detail = (
            f"time_budget={time_budget:g} s: {left:.3g} s left after {elapsed:.3g} s of "
            f"preparation and probe; an epoch takes about {epoch_seconds:.3g} s ({steps} "
            f"steps of {throughput.seconds_per_step:.3g} s and "
            f"{throughput.validation_seconds:.3g} s of validation), {fitting} fit in "
            f"{BUDGET_SHARE:.0%} of it"
        )
        if fitting < 1:
            warnings.warn(
                f"time_budget={time_budget:g} s leaves {left:.3g} s for training, less than "
                f"one epoch takes (about {epoch_seconds:.3g} s); training one epoch. Raise "
                "time_budget, or train on fewer images.",
                UserWarning,
                stacklevel=5,  # the caller of fit: fit -> _fit -> _plan_fit -> here
            )
        return FitPlan(max(1, fitting), steps, "time_budget", detail)
    if min_steps is not None and max_epochs * steps < min_steps:
        epochs = -(-min_steps // steps)
        detail = (
            f"min_steps={min_steps}: max_epochs={max_epochs} epochs of {steps} steps make "
            f"{max_epochs * steps}, so {epochs} epochs ({epochs * steps} steps)"
        )
        return FitPlan(epochs, steps, "min_steps", detail)
    return FitPlan(max_epochs, steps, "max_epochs", f"max_epochs={max_epochs}")


def recorded_plan(history: Iterable[dict], max_epochs: int) -> tuple[int, str]:
    """The plan a history records (its last epoch's), or ``max_epochs`` if none.

    A resumed fit keeps the plan of the fit it continues (a new probe would measure
    another speed). The history comes from a file: a value that is not a positive int
    is ignored.

    Examples
    --------
    >>> recorded_plan([{"planned_epochs": 9, "planned_by": "min_steps"}], 4)
    (9, 'min_steps')
    >>> recorded_plan([{"epoch": 1}], 4)
    (4, 'max_epochs')
    """
    for row in reversed(list(history)):
        epochs = row.get("planned_epochs")
        if is_int(epochs) and epochs >= 1:
            by = row.get("planned_by")
            return int(epochs), by if isinstance(by, str) else "max_epochs"
    return max_epochs, "max_epochs"


def _timed(batches: Any, step: Callable[[Any], dict], count: int) -> float | None:
    """Median seconds of ``step`` over the first ``count`` of ``batches``, the first one
    (warm-up) left out when there are more; None when there are no batches."""
    durations = []
    iterator = iter(batches)
    start = _clock()
    for _ in range(count):
        try:
            batch = next(iterator)
        except StopIteration:
            break
        float(step(batch)["loss"].detach())  # waits for the device
        now = _clock()
        durations.append(now - start)
        start = now
    if not durations:
        return None
    return statistics.median(durations[1:] or durations)


def _batches(iterator: Any, n_images: int, batch_size: Any) -> int:
    try:
        return len(iterator)
    except TypeError:
        return steps_per_epoch(n_images, batch_size)


def measure_throughput(net: Any, dataset_train: Any, dataset_valid: Any) -> Throughput:
    """Time a few training and validation steps of ``net`` on copies of its network.

    The network, optimizer and gradient scaler are deep-copied and the steps run on the
    copies, with the random generators forked (torch, numpy, ``random``) and the fit's
    data-order generator replaced by a private one: the real training, and so the
    result for a given seed, are the same as without the probe.

    Parameters
    ----------
    net : CNNClassifier
        Initialised, inside ``fit``.
    dataset_train, dataset_valid : Dataset or None
        The training and validation parts, as skorch's loop will iterate them.

    Returns
    -------
    Throughput
    """
    start = _clock()
    run = net.current_fit()
    names = [name + "_" for name in (*net._modules, *net._optimizers)]
    if net.__dict__.get("grad_scaler_") is not None:
        names.append("grad_scaler_")
    real = {name: net.__dict__[name] for name in names}
    generator = run.generator
    try:
        net.__dict__.update(copy.deepcopy(real))
        run.generator = copy.deepcopy(generator)
        with seeded(0, net.device):
            train = _timed(
                net.get_iterator(dataset_train, training=True),
                net.train_step,
                PROBE_TRAIN_BATCHES,
            )
            per_step = train or 0.0
            validation = 0.0
            if dataset_valid is not None:
                iterator = net.get_iterator(dataset_valid, training=False)
                per_batch = _timed(iterator, net.validation_step, PROBE_VALID_BATCHES) or 0.0
                validation = per_batch * _batches(iterator, len(dataset_valid), net.batch_size)
    finally:
        net.__dict__.update(real)
        run.generator = generator
    return Throughput(per_step, validation, _clock() - start)


class PlanMixin:
    """Plans each fit's epochs (``min_steps``, ``time_budget``) and records the plan."""

    def _plan_fit(self, dataset: Any, y: Any, fit_params: dict) -> dict:
        """Plan this fit's epochs just before training; ``fit_params`` for skorch's loop.

        Sets ``FitRun.plan`` and the number of epochs the loop runs; rebuilds the
        callbacks for the plan when ``min_steps`` or ``time_budget`` is set (the LR
        schedule ends with the planned epochs). A fit resumed from its training state
        keeps the plan of its history.
        """
        run = self._fit_run
        steps = steps_per_epoch(run.n_train, self.batch_size)
        if run.resume_state is not None:
            epochs, by = recorded_plan(self.history_, self.max_epochs)
            run.plan = FitPlan(epochs, steps, by, "the plan of the resumed run")
        else:
            throughput = None
            if self.time_budget is not None:
                distributed = getattr(self, "_distributed", None)  # Accelerate's variant
                if callable(distributed) and distributed():
                    raise ValueError(
                        f"{type(self).__name__} cannot plan a time_budget over several "
                        "processes (each would time its own steps and plan other epochs). "
                        "Set time_budget=None and give max_epochs (or min_steps)."
                    )
                throughput = measure_throughput(self, *self.get_split_datasets(dataset, y))
            run.plan = plan_epochs(
                n_train=run.n_train,
                batch_size=self.batch_size,
                max_epochs=self.max_epochs,
                min_steps=self.min_steps,
                time_budget=self.time_budget,
                throughput=throughput,
                elapsed=_clock() - run.started,
            )
            fit_params = {**fit_params, "epochs": run.plan.epochs}
        run.loop_epochs = int(fit_params.get("epochs", run.plan.epochs))
        if self.min_steps is not None or self.time_budget is not None:
            self._initialize_callbacks()
        return fit_params

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """skorch's (a new history row), then the plan recorded in it."""
        super().on_epoch_begin(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )
        run = self._fit_run
        if run is not None and run.plan is not None:
            self.history.record("planned_epochs", run.plan.epochs)
            self.history.record("planned_by", run.plan.planned_by)
