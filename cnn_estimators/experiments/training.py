"""Training copies of an estimator: the cross-validation table and the LR range test."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.metrics import log_loss
from sklearn.model_selection import cross_validate
from sklearn.utils import check_random_state

from .._labels import sample_weights
from .._validation import check_labels
from ..adapters import ImageDatasetView
from ..estimator import CNNClassifier
from ._common import (
    _positions,
    _stratified_cv,
    _take,
)


def _fold_scores(est: Any, X: Any, y: Any) -> dict[str, float]:
    """Accuracy and log loss of one fold from a single ``predict_proba`` where possible."""
    y = np.asarray(y)
    classes = getattr(est, "classes_", None)
    proba = None
    if hasattr(est, "predict_proba") and classes is not None:
        proba = np.asarray(est.predict_proba(X))
    if proba is not None and isinstance(est, CNNClassifier):
        pred = classes[proba.argmax(axis=1)]  # exactly CNNClassifier.predict
    else:
        pred = np.asarray(est.predict(X))
    loss = np.nan
    if proba is not None:
        loss = float(log_loss(y, proba, labels=classes))
    return {"accuracy": float(np.mean(pred == y)), "loss": loss}


class _SharedList(list):
    """A list that ``copy.deepcopy`` returns as is.

    pandas deep-copies ``DataFrame.attrs`` into every derived frame (``df.head()``,
    ``df[cols]``); the fitted fold estimators are shared instead of copied each time.
    """

    def __deepcopy__(self, memo: dict) -> _SharedList:
        return self


def _epochs(est: Any) -> float:
    """``n_iter_`` of the estimator, or of the last step of a Pipeline; NaN otherwise."""
    n_iter = getattr(est, "n_iter_", None)
    if n_iter is None and hasattr(est, "steps"):
        n_iter = getattr(est.steps[-1][1], "n_iter_", None)
    if np.ndim(n_iter) != 0:  # an array per class or fold (numpy < 2 made size 1 a float)
        return float("nan")
    try:
        return float(n_iter)
    except (TypeError, ValueError):
        return float("nan")


def cross_validate_estimator(
    estimator: Any,
    X: Any,
    y: Any,
    cv: Any = 5,
    n_jobs: int | None = None,
    random_state: Any = None,
    return_estimators: bool = False,
    verbose: int = 0,
) -> pd.DataFrame:
    """Stratified K-fold cross-validation as a table: one row per fold, then mean and std.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier; it is cloned for every fold.
    X, y : array-like
        Images and labels.
    cv : int or cross-validation splitter, default=5
        An int means ``StratifiedKFold(cv, shuffle=True, random_state=random_state)``.
    n_jobs : int, default=None
        Folds fitted in parallel.
    random_state : int, RandomState instance or None, default=None
        Shuffles the folds. The weights are seeded by the estimator's own ``random_state``:
        with both set, the table is reproducible (apart from the times).
    return_estimators : bool, default=False
        Keep the fitted fold estimators in ``df.attrs["estimators"]`` (a list, in fold
        order, shared by the frames derived from ``df`` rather than copied). They are dropped
        by default to save memory (each holds a network and its optimizer state).
    verbose : int, default=0
        scikit-learn's ``cross_validate`` verbosity: 2 prints one line per fold as it ends,
        with its time; 3 adds its accuracy and loss.

    Returns
    -------
    DataFrame
        Columns ``fold`` (0, 1, ..., then "mean" and "std"), ``accuracy`` (on the test
        fold), ``loss`` (log loss of ``predict_proba`` on the test fold, computed with
        ``labels=est.classes_``; NaN without ``predict_proba``), ``fit_time``,
        ``score_time`` (seconds), ``epochs`` (the fitted ``n_iter_``, NaN when the
        estimator has none). The std row is the population standard deviation (``ddof=0``,
        as ``GridSearchCV``'s ``std_test_score``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import cross_validate_estimator
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> df = cross_validate_estimator(est, X / 16, y, cv=3, random_state=0)
    >>> df["fold"].tolist()
    [0, 1, 2, 'mean', 'std']
    >>> float(df.loc[0, "epochs"])
    2.0
    """
    result = cross_validate(
        estimator,
        X,
        y,
        cv=_stratified_cv(cv, random_state),
        n_jobs=n_jobs,
        scoring=_fold_scores,
        return_train_score=False,
        return_estimator=True,
        error_score="raise",
        verbose=verbose,
    )
    estimators = list(result["estimator"])
    folds = pd.DataFrame(
        {
            "fold": list(range(len(estimators))),
            "accuracy": np.asarray(result["test_accuracy"], dtype=float),
            "loss": np.asarray(result["test_loss"], dtype=float),
            "fit_time": np.asarray(result["fit_time"], dtype=float),
            "score_time": np.asarray(result["score_time"], dtype=float),
            "epochs": [_epochs(est) for est in estimators],
        }
    )
    numeric = folds.drop(columns="fold")
    summary = pd.DataFrame(
        [
            {"fold": "mean", **numeric.mean().to_dict()},
            {"fold": "std", **numeric.std(ddof=0).to_dict()},
        ]
    )
    df = pd.concat([folds.astype({"fold": object}), summary], ignore_index=True)
    if return_estimators:
        df.attrs["estimators"] = _SharedList(estimators)
    return df


# ---------------------------------------------------------------------- LR range test
@dataclass(repr=False)
class LRFindResult:
    """The outcome of :func:`lr_find`.

    Attributes
    ----------
    history : DataFrame
        One row per training step: ``lr``, ``loss`` (of that batch) and ``smoothed_loss``.
    suggested_lr : float
        The learning rate where the smoothed loss falls fastest (see :func:`lr_find`).
    diverged : bool
        Whether the test stopped early because the loss exploded.
    """

    history: pd.DataFrame
    suggested_lr: float
    diverged: bool

    def __repr__(self) -> str:
        return (
            f"LRFindResult(suggested_lr={self.suggested_lr:.3g}, diverged={self.diverged}, "
            f"steps={len(self.history)})"
        )


def _suggest_lr(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    """The lr of the steepest descent of the smoothed loss against log10(lr)."""
    finite = np.isfinite(smoothed)
    lrs, smoothed = lrs[finite], smoothed[finite]
    if len(lrs) == 0:
        return float("nan")
    lowest = int(np.argmin(smoothed))
    if len(lrs) < 3 or lowest == 0:
        return float(lrs[lowest])
    slope = np.gradient(smoothed, np.log10(lrs))
    return float(lrs[int(np.argmin(slope[: lowest + 1]))])


def _check_positive(name: str, value: Any, *, integer: bool = False, low: float = 0.0) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if integer:
        ok = ok and isinstance(value, numbers.Integral)
    if not ok or value <= low:
        kind = "an int" if integer else "a finite number"
        raise ValueError(f"lr_find: {name} must be {kind} greater than {low:g}; got {value!r}.")


def lr_find(
    estimator: CNNClassifier,
    X: Any,
    y: Any = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    smooth: float = 0.05,
    diverge_factor: float = 4.0,
    batch_size: int | None = None,
    random_state: Any = None,
) -> LRFindResult:
    """The learning-rate range test (Leslie Smith, 2015; popularised by fastai).

    A fresh copy of the network trains for ``num_iter`` mini-batches while the learning
    rate grows exponentially from ``start_lr`` to ``end_lr``; the loss of every step is
    recorded. Good learning rates lie where the loss falls fastest, well before it explodes.

    How it works: a clone of ``estimator`` is fitted for one epoch on one batch of ``X``,
    only to build the network, optimizer and callbacks with the shapes and classes of the
    data (they are inferred at ``fit``). Then ``initialize()`` is called again under the
    same seeding as ``fit`` uses, which re-creates the module with fresh weights (exactly
    those ``fit`` would start from) and a fresh optimizer. The test then runs the
    estimator's own training step (``get_iterator(..., training=True)`` and ``train_step``,
    so transforms, precision, ``class_weight`` and gradient callbacks apply) on shuffled
    batches of all of ``X``, cycling over it as often as needed, after setting the learning
    rate of every optimizer param group.

    Parameters
    ----------
    estimator : CNNClassifier
        Left untouched (fitted or not): the test runs on a clone.
    X, y : array-like
        Training images and labels (``y`` may be omitted for a torch dataset with labels).
    start_lr, end_lr : float, default=1e-7, 10.0
        The learning rates of the first and the last step.
    num_iter : int, default=100
        Steps (mini-batches) of the test.
    smooth : float in (0, 1], default=0.05
        Weight of the newest loss in the exponentially smoothed loss
        (``s_t = smooth * loss_t + (1 - smooth) * s_{t-1}``, ``s_0 = loss_0``); 1 means no
        smoothing.
    diverge_factor : float, default=4.0
        Stop once the smoothed loss exceeds ``diverge_factor`` times the lowest smoothed
        loss so far (or is not finite).
    batch_size : int, default=None
        Images per step; None uses the estimator's ``batch_size``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights and the batch order; None uses the estimator's ``random_state``.
        The global torch, numpy and ``random`` generators are left as they were.

    Returns
    -------
    LRFindResult
        ``history`` (``lr``, ``loss``, ``smoothed_loss``), ``suggested_lr`` and
        ``diverged``.

    Notes
    -----
    ``suggested_lr`` is the learning rate at the most negative slope of the smoothed loss
    against ``log10(lr)``, searched up to the lowest smoothed loss (the "steepest"
    heuristic of fastai and torch-lr-finder). It is a starting point, not a tuned value:
    look at the curve, and prefer a rate somewhat below the point of divergence. When the
    loss never decreases, it is the rate of the lowest loss.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import lr_find
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), random_state=0, device="cpu")
    >>> result = lr_find(est, X / 16, y, num_iter=30)
    >>> result.history.columns.tolist()
    ['lr', 'loss', 'smoothed_loss']
    >>> 1e-7 <= result.suggested_lr <= 10.0
    True
    """
    if not isinstance(estimator, CNNClassifier):
        raise TypeError(
            f"lr_find needs a CNNClassifier; got {type(estimator).__name__}. For a Pipeline, "
            "transform X first and pass the network step."
        )
    _check_positive("start_lr", start_lr)
    _check_positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(
            f"lr_find: end_lr ({end_lr!r}) must be greater than start_lr ({start_lr!r})."
        )
    _check_positive("num_iter", num_iter, integer=True, low=1)
    _check_positive("smooth", smooth)
    if smooth > 1:
        raise ValueError(f"lr_find: smooth must be in (0, 1]; got {smooth!r}.")
    _check_positive("diverge_factor", diverge_factor, low=1.0)
    if batch_size is not None and batch_size != -1:
        _check_positive("batch_size", batch_size, integer=True)

    if isinstance(X, torch.utils.data.Dataset) and not isinstance(X, ImageDatasetView):
        X = ImageDatasetView(X)
    if isinstance(X, ImageDatasetView) and y is None:
        y = X.targets
    n = len(X)
    y = check_labels(y, n, owner="lr_find")
    classes = np.unique(y) if estimator.classes is None else np.asarray(estimator.classes)
    if len(classes) < 2:
        raise ValueError("lr_find needs labels of at least 2 classes.")

    est = clone(estimator)  # also copies a RandomState parameter: the caller's is not drawn from
    rs = est.random_state if random_state is None else random_state
    if not (isinstance(rs, numbers.Integral) and not isinstance(rs, bool)):
        rs = int(check_random_state(rs).randint(0, 2**31 - 1))
    est.set_params(
        max_epochs=1,
        validation_fraction=0.0,
        train_split=None,
        early_stopping=False,
        keep_best=False,
        checkpoint_dir=None,
        lr_schedule=None,
        warm_start=False,
        progress_bar=False,
        verbose=0,
        classes=classes,
        random_state=int(rs),
    )
    if batch_size is not None:
        est.set_params(batch_size=batch_size)
    batch = est.batch_size if est.batch_size != -1 else n
    seed = est._fit_seed()  # what fit() seeds with, for this random_state

    device = torch.device(est.device or "cpu")
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        # 1. Build module, criterion, optimizer and callbacks sized from one batch.
        small = np.sort(np.random.default_rng(seed).permutation(n)[: min(n, batch)])
        est.fit(_take(X, small), y[small])
        # 2. Fresh weights and optimizer state, seeded as fit() seeds them.
        with est._seeded(seed):
            est.initialize()
        # 3. The whole data set, through the estimator's own data path.
        kind, images = est._input(X, fitting=False)
        y_enc = _positions(est.classes_, y).astype(np.int64)
        weights = sample_weights(None, est.class_weight, y_enc, est.classes_, owner="lr_find")
        dataset = est._dataset(kind, images, y_enc, weights)

        lrs = np.geomspace(start_lr, end_lr, int(num_iter))
        records: list[tuple[float, float, float]] = []
        diverged = False
        best = np.inf
        smoothed = np.nan
        with est._seeded(seed + 1):
            batches = iter(est.get_iterator(dataset, training=True))
            for step, rate in enumerate(lrs):
                try:
                    data = next(batches)
                except StopIteration:
                    batches = iter(est.get_iterator(dataset, training=True))
                    data = next(batches)
                for group in est.optimizer_.param_groups:
                    group["lr"] = float(rate)
                loss = float(est.train_step(data)["loss"].detach().float().cpu())
                smoothed = loss if step == 0 else smooth * loss + (1 - smooth) * smoothed
                records.append((float(rate), loss, float(smoothed)))
                if not np.isfinite(smoothed) or smoothed > diverge_factor * best:
                    diverged = True
                    break
                best = min(best, smoothed)

    history = pd.DataFrame(records, columns=["lr", "loss", "smoothed_loss"])
    used = history.iloc[:-1] if diverged else history
    suggested = _suggest_lr(used["lr"].to_numpy(), used["smoothed_loss"].to_numpy())
    return LRFindResult(history=history, suggested_lr=suggested, diverged=diverged)
