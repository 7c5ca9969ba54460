"""Named skorch callbacks used by :class:`~cnn_estimators.CNNClassifier`.

Each is registered on the estimator under a fixed name, so its settings are routed
parameters that ``GridSearchCV`` and ``clone`` understand:

=================  =============================================  ===========================
name               what                                           switched on by
=================  =============================================  ===========================
``checkpoint``     :class:`BestCheckpoint` (skorch ``Checkpoint``)  ``keep_best=True`` or
                                                                  ``checkpoint_dir=...``
``lr_scheduler``   skorch ``LRScheduler``                          ``lr_schedule=...``
``early_stopping`` skorch ``EarlyStopping``                        ``early_stopping=True``
``time_budget``    :class:`TimeBudget`                            ``time_budget=...``
``progress_bar``   :class:`TqdmProgressBar`                       a terminal on stderr
=================  =============================================  ===========================

For example ``callbacks__early_stopping__monitor="valid_loss"`` or
``callbacks__lr_scheduler__gamma=0.5``.
"""

from __future__ import annotations

import difflib
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, LRScheduler
from torch.optim import lr_scheduler as torch_schedulers

from . import _plan
from ._io import load_checkpoint, remove_stale_temporaries, save_checkpoint
from ._run import checkpoint_dir_error

__all__ = [
    "LR_SCHEDULES",
    "BestCheckpoint",
    "LRSchedule",
    "ResumableEarlyStopping",
    "TimeBudget",
    "TqdmProgressBar",
    "make_early_stopping",
    "make_lr_scheduler",
]

#: The training state written after every epoch when ``resume=True``.
STATE_FILE = "training_state.ckpt"

#: Names accepted by the ``lr_schedule`` parameter.
LR_SCHEDULES = ("step", "cosine", "onecycle", "plateau")


class BestCheckpoint(Checkpoint):
    """skorch's ``Checkpoint`` that keeps the best epoch and never shares files.

    Parameters are those of :class:`skorch.callbacks.Checkpoint`. The module's weights
    are written only when the monitored score improves, and loaded back at the end of
    training (``load_best=True``). Every fit writes into a directory of its own:

    * ``dirname=""`` (the default): a fresh temporary directory, deleted after the best
      weights were restored;
    * any other ``dirname``: a new subdirectory ``run-<id>`` in it, kept, whose path is
      the estimator's ``checkpoint_path_``.

    So parallel cross-validation or grid-search jobs never read each other's files
    (skorch issue #848).
    """

    def __init__(
        self,
        monitor: str = "valid_acc_best",
        f_params: str = "best_params.ckpt",
        f_optimizer: str | None = None,
        f_criterion: str | None = None,
        f_history: str | None = None,
        dirname: str = "",
        load_best: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            monitor=monitor,
            f_params=f_params,
            f_optimizer=f_optimizer,
            f_criterion=f_criterion,
            f_history=f_history,
            dirname=dirname,
            load_best=load_best,
            **kwargs,
        )

    def initialize(self):
        """skorch's: check the file names and create ``dirname``, naming it on failure."""
        try:
            return super().initialize()
        except OSError as exc:
            raise checkpoint_dir_error(exc, self.dirname, self.dirname) from exc

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.base_dirname_ = self.dirname
        self.temporary_ = not self.dirname
        run_name = getattr(net, "run_name_", None)  # set by CNNClassifier(resume=True)
        try:
            if self.temporary_:
                run_dir = Path(tempfile.mkdtemp(prefix="cnn_estimators-ckpt-"))
            elif run_name:  # created and locked by the estimator's fit
                run_dir = Path(self.dirname) / run_name
                run_dir.mkdir(parents=True, exist_ok=True)
                remove_stale_temporaries(run_dir)  # left by a writer killed mid-save
            else:
                run_dir = Path(self.dirname) / f"run-{uuid.uuid4().hex[:12]}"
                run_dir.mkdir(parents=True, exist_ok=False)
        except OSError as exc:  # before the first epoch, not after it
            where = self.dirname or tempfile.gettempdir()
            raise checkpoint_dir_error(exc, where, self.dirname or None) from exc
        self.dirname = str(run_dir)
        self.run_dir_ = str(run_dir)
        if self.temporary_:
            self.run_dir_tmp_ = str(run_dir)
        run = _current_fit(net)
        resumed = run.resume_state if run is not None else None
        if resumed is not None:
            # The LR scheduler callback (earlier in the list) has just built a fresh
            # scheduler, which resets the learning rates: restore both.
            scheduler = dict(net.callbacks_).get("lr_scheduler")
            if scheduler is not None and resumed.get("scheduler") is not None:
                scheduler.lr_scheduler_.load_state_dict(resumed["scheduler"])
            net.optimizer_.load_state_dict(resumed["optimizer"])
        return super().on_train_begin(net, X=X, y=y, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        if getattr(net, "run_name_", None):
            self._write(net.training_state(), Path(self.dirname, STATE_FILE))

    def _write(self, obj: Any, path: Path) -> None:
        """``save_checkpoint``, with disk-full and permission errors naming the file."""
        try:
            save_checkpoint(obj, path)
        except OSError as exc:
            raise checkpoint_dir_error(exc, path, self.base_dirname_ or "None") from exc

    def save_model(self, net):
        """Write the module's weights atomically (see :mod:`cnn_estimators._io`)."""
        if self.f_params:
            path = Path(self.dirname, self.f_params)
            self._write(net.module_.state_dict(), path)
            self._sink(f"A checkpoint was saved to {path}.", net.verbose)

    def load_best_weights(self, net) -> bool:
        """Load the saved best weights into ``net.module_``; False if there are none."""
        if not self._has_checkpoint():
            return False
        device = next(iter(net.module_.parameters()), torch.empty(0)).device
        state = load_checkpoint(Path(self.dirname, self.f_params), map_location=device)
        net.module_.load_state_dict(state)
        self._sink(f"Loaded the best weights from {self.dirname}.", net.verbose)
        return True

    def on_train_end(self, net, **kwargs):
        try:
            # Without any checkpoint (no epoch ran), the final weights are kept.
            if self.load_best:
                self.load_best_weights(net)
            run = _current_fit(net)
            interrupted = run is not None and run.interrupted
            if getattr(net, "run_name_", None) and not interrupted:
                self._write(net.training_state(complete=True), Path(self.dirname, STATE_FILE))
        finally:
            self.end_fit()

    def end_fit(self) -> None:
        """Delete this fit's temporary folder and restore ``dirname`` (idempotent).

        Called at the end of training and, whatever exception ended the fit, by the
        estimator's ``fit``: no temporary folder outlives a fit, and the next fit starts
        from the ``dirname`` it was given.
        """
        run_dir = self.__dict__.pop("run_dir_tmp_", None)
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
        if "base_dirname_" in self.__dict__:
            self.dirname = self.base_dirname_

    def _has_checkpoint(self) -> bool:
        return Path(self.dirname, self.f_params).exists() if self.f_params else False


class TqdmProgressBar(Callback):
    """Two tqdm bars: epochs (kept) and the batches of the current epoch (cleared).

    Parameters
    ----------
    leave : bool, default=False
        Whether the epoch bar stays on screen after training.
    file : file-like, optional
        Where to draw; ``sys.stderr`` by default.
    """

    def __init__(self, leave: bool = False, file: Any = None) -> None:
        self.leave = leave
        self.file = file

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        run = _current_fit(net)
        self.epoch_bar_ = tqdm(
            total=run.loop_epochs if run is not None and run.loop_epochs else net.max_epochs,
            desc="epochs",
            unit="epoch",
            leave=self.leave,
            file=self.file or sys.stderr,
            position=0,
        )
        self.batch_bar_ = None

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        n_batches = None
        if dataset_train is not None:
            n_batches = -(
                -len(dataset_train)
                // max(1, net.batch_size if net.batch_size > 0 else len(dataset_train))
            )
        self.batch_bar_ = self._tqdm(
            total=n_batches,
            desc="batches",
            unit="batch",
            leave=False,
            file=self.file or sys.stderr,
            position=1,
        )

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.batch_bar_ is not None:
            self.batch_bar_.update(1)

    def on_epoch_end(self, net, **kwargs):
        if self.batch_bar_ is not None:
            self.batch_bar_.close()
            self.batch_bar_ = None
        row = net.history[-1]
        shown = {k: f"{row[k]:.4f}" for k in ("train_loss", "valid_loss", "valid_acc") if k in row}
        self.epoch_bar_.set_postfix(shown, refresh=False)
        self.epoch_bar_.update(1)

    def on_train_end(self, net, **kwargs):
        if self.batch_bar_ is not None:
            self.batch_bar_.close()
        self.epoch_bar_.close()

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_tqdm", "epoch_bar_", "batch_bar_"):
            state.pop(key, None)
        return state


class TimeBudget(Callback):
    """Ends training at an epoch end when the next epoch would clearly overrun the budget.

    The safety net of ``CNNClassifier(time_budget=...)``, whose plan already fits the
    epochs into the budget: if the machine slows down, training stops after the epoch
    when, at the pace of that epoch, less than half of the next one would end within
    ``seconds`` of the start of the fit. The epoch row then records
    ``time_budget_stop=True``; the fit ends as after early stopping (no warning, the best
    weights restored with ``keep_best``). Only an estimator's fit has a start time:
    elsewhere this callback does nothing.

    Parameters
    ----------
    seconds : float
        The time budget of the whole fit.

    Examples
    --------
    >>> from cnn_estimators.callbacks import TimeBudget
    >>> TimeBudget(60).seconds
    60
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_epoch_begin(self, net: Any, **kwargs: Any) -> None:
        self.epoch_started_ = _plan._clock()
        self.epochs_ = getattr(self, "epochs_", 0) + 1

    def on_train_begin(self, net: Any, **kwargs: Any) -> None:
        self.epochs_ = 0

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        run = _current_fit(net)
        if run is None or (run.loop_epochs is not None and self.epochs_ >= run.loop_epochs):
            return  # outside a fit, or its last epoch
        now = _plan._clock()
        epoch = now - self.epoch_started_
        if now - run.started + epoch / 2 > self.seconds:
            net.history.record("time_budget_stop", True)
            run.budget_stopped = True
            raise KeyboardInterrupt  # how skorch's callbacks end training


class LRSchedule(LRScheduler):
    """skorch's ``LRScheduler`` that also accepts new scheduler arguments in ``set_params``.

    skorch's version only lets ``set_params`` change arguments given at construction, so
    ``callbacks__lr_scheduler__eta_min=1e-4`` would fail for a cosine schedule; here any
    keyword becomes an argument of the torch scheduler.
    """

    def set_params(self, **params: Any) -> LRSchedule:
        known = self.get_params()
        for key in [k for k in params if k not in known and "__" not in k]:
            setattr(self, key, params.pop(key))
        return super().set_params(**params)


def _scheduler_class(policy: Any) -> Any:
    if isinstance(policy, type) or (callable(policy) and not isinstance(policy, str)):
        return policy
    names = {
        "step": "StepLR",
        "cosine": "CosineAnnealingLR",
        "onecycle": "OneCycleLR",
        "plateau": "ReduceLROnPlateau",
    }
    if policy not in names:
        close = difflib.get_close_matches(str(policy), LR_SCHEDULES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            "The 'lr_schedule' parameter of CNNClassifier must be None, one of "
            f"{', '.join(map(repr, LR_SCHEDULES))}, or a torch.optim.lr_scheduler class. "
            f"Got {policy!r} instead.{hint}"
        )
    return getattr(torch_schedulers, names[policy])


def make_lr_scheduler(
    policy: Any,
    *,
    lr: float,
    max_epochs: int,
    steps_per_epoch: int,
    has_validation: bool,
) -> LRSchedule:
    """Build skorch's ``LRScheduler`` for a named policy with sensible defaults.

    Parameters
    ----------
    policy : {"step", "cosine", "onecycle", "plateau"} or scheduler class
        ``"step"``: ``StepLR`` dividing the LR by 10 every third of the epochs;
        ``"cosine"``: ``CosineAnnealingLR`` over all epochs; ``"onecycle"``: ``OneCycleLR``
        with ``max_lr=lr``, stepped every batch; ``"plateau"``: ``ReduceLROnPlateau`` on
        the validation loss (training loss without validation). A class is used as is,
        stepped every epoch; give its arguments as ``callbacks__lr_scheduler__<name>``.
    lr, max_epochs, steps_per_epoch : number
        Used to size the defaults.
    has_validation : bool
        Whether a validation loss is recorded.

    Returns
    -------
    skorch.callbacks.LRScheduler

    Examples
    --------
    >>> sched = make_lr_scheduler("cosine", lr=0.1, max_epochs=20, steps_per_epoch=10,
    ...                           has_validation=False)
    >>> sched.policy.__name__, sched.T_max
    ('CosineAnnealingLR', 20)
    """
    cls = _scheduler_class(policy)
    if cls is torch_schedulers.StepLR:
        return LRSchedule(cls, step_size=max(1, max_epochs // 3), gamma=0.1)
    if cls is torch_schedulers.CosineAnnealingLR:
        return LRSchedule(cls, T_max=max_epochs)
    if cls is torch_schedulers.OneCycleLR:
        return LRSchedule(
            cls,
            max_lr=lr,
            total_steps=max(1, max_epochs * steps_per_epoch),
            step_every="batch",
        )
    if cls is torch_schedulers.ReduceLROnPlateau:
        monitor = "valid_loss" if has_validation else "train_loss"
        return LRSchedule(cls, monitor=monitor, patience=2, factor=0.1)
    return LRSchedule(cls)


class ResumableEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` that picks up a resumed run where it stood.

    skorch's callback starts counting epochs without improvement afresh at every
    ``on_train_begin``. In a fit that continues from its training state (``resume=True``)
    this one then replays the monitored scores of the history's epochs
    (:meth:`replay`), so the resumed fit stops at the epoch where the uninterrupted fit
    would have stopped. Warm starts and ``partial_fit`` count afresh, as in skorch.
    Parameters are those of ``skorch.callbacks.EarlyStopping``; with ``load_best=True``
    the best weights of epochs before the interruption are not restored at the end
    (they were not saved): use the estimator's ``keep_best`` instead.

    Examples
    --------
    >>> from cnn_estimators.callbacks import ResumableEarlyStopping
    >>> early = ResumableEarlyStopping(monitor="valid_acc", lower_is_better=False, patience=3)
    >>> early.replay([{"epoch": 1, "valid_acc": 0.8}, {"epoch": 2, "valid_acc": 0.7}])
    >>> early.misses_, early.best_epoch_
    (1, 1)
    """

    def replay(self, history: Any) -> None:
        """Set the counters as if the epochs of ``history`` had run with this callback."""
        self.misses_ = 0
        self.dynamic_threshold_ = np.inf if self.lower_is_better else -np.inf
        self.best_epoch_ = 0
        for row in history:
            if self.monitor not in row:  # an epoch cut short has no score
                continue
            score = row[self.monitor]
            if self._is_score_improved(score):
                self.misses_ = 0
                self.dynamic_threshold_ = self._calc_new_threshold(score)
                self.best_epoch_ = row["epoch"]
            else:
                self.misses_ += 1

    def has_stopped(self) -> bool:
        """Whether the counted epochs without improvement reached the patience."""
        return getattr(self, "misses_", 0) >= self.patience

    def on_train_begin(self, net: Any, **kwargs: Any) -> None:
        """Reset the counters; in a resumed fit, replay its history."""
        super().on_train_begin(net, **kwargs)
        run = _current_fit(net)
        if run is not None and run.resume_state is not None:  # a fit that resumes
            self.replay(net.history)


def make_early_stopping(*, patience: int, tol: float, verbose: int) -> ResumableEarlyStopping:
    """skorch's ``EarlyStopping`` with ``MLPClassifier``'s semantics.

    Training stops when the validation accuracy has not improved by at least ``tol`` for
    ``patience`` consecutive epochs. Switch to the validation loss with
    ``callbacks__early_stopping__monitor="valid_loss"`` and
    ``callbacks__early_stopping__lower_is_better=True``. A run resumed from its training
    state (``resume=True``) keeps counting from where it stood
    (:class:`ResumableEarlyStopping`).

    Examples
    --------
    >>> from cnn_estimators.callbacks import make_early_stopping
    >>> make_early_stopping(patience=5, tol=1e-4, verbose=0).patience
    5
    """
    return ResumableEarlyStopping(
        monitor="valid_acc",
        lower_is_better=False,
        patience=patience,
        threshold=tol,
        threshold_mode="abs",
        sink=print if verbose else _noop,
    )


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _current_fit(net: Any) -> Any:
    """The net's per-fit state (``CNNClassifier.current_fit``), None for other nets."""
    current = getattr(net, "current_fit", None)
    return current() if callable(current) else None
