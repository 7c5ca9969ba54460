"""Class-aware evaluation of a fitted classifier: per-class metrics, confusions, errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix
from sklearn.utils.validation import check_is_fitted

from .._validation import check_labels
from ..estimator import CNNClassifier
from ._common import _positions


def _names(classes: np.ndarray, class_names: Any) -> list[str]:
    """Display names of ``classes``: from a list aligned with classes_, or a dict."""
    if class_names is None:
        return [str(c) for c in classes]
    if isinstance(class_names, Mapping):
        return [str(class_names.get(c, c)) for c in classes.tolist()]
    names = list(class_names)
    if len(names) != len(classes):
        raise ValueError(
            f"class_names has {len(names)} names but the estimator has {len(classes)} classes "
            f"({classes.tolist()!r}); give one name per class, in the order of classes_, or a "
            "dict {label: name}."
        )
    return [str(v) for v in names]


def _label_map(classes: np.ndarray, class_names: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Map an array of labels to display names (labels unchanged when no names)."""
    if class_names is None:
        return lambda labels: labels
    lookup = dict(zip(classes.tolist(), _names(classes, class_names), strict=True))
    return lambda labels: np.asarray([lookup.get(v, str(v)) for v in labels.tolist()], dtype=object)


def _labels(estimator: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    check_is_fitted(estimator)
    classes = np.asarray(estimator.classes_)
    y = check_labels(y, len(X), owner="The evaluation helper")
    return classes, y


def _predict(estimator: Any, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted labels and probabilities (None without ``predict_proba``)."""
    if hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(X))
        if isinstance(estimator, CNNClassifier):
            return np.asarray(estimator.classes_)[proba.argmax(axis=1)], proba
        return np.asarray(estimator.predict(X)), proba
    return np.asarray(estimator.predict(X)), None


def classification_report_df(
    estimator: Any, X: Any, y: Any, class_names: Any = None
) -> pd.DataFrame:
    """``sklearn.metrics.classification_report`` as a DataFrame.

    Parameters
    ----------
    estimator : fitted classifier
    X, y : array-like
        Test images and labels.
    class_names : list or dict, default=None
        Row names of the classes: a list aligned with ``estimator.classes_`` or a dict
        ``{label: name}`` (labels missing from it keep their own name).

    Returns
    -------
    DataFrame
        One row per class of ``classes_`` (in that order), then "accuracy" (or "micro avg"
        when ``y`` misses some classes), "macro avg" and "weighted avg"; columns
        ``precision``, ``recall``, ``f1-score``, ``support``. The accuracy row holds the
        accuracy in ``precision``, ``recall`` and ``f1-score`` (for single-label
        classification all three micro averages equal the accuracy) and the number of
        images in ``support``; no cell is NaN. Undefined precisions (a class never
        predicted) are 0.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import classification_report_df
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> est = est.fit(X / 16, y)
    >>> report = classification_report_df(est, X / 16, y)
    >>> report.shape
    (13, 4)
    >>> report.index[-3:].tolist()
    ['accuracy', 'macro avg', 'weighted avg']
    """
    classes, y = _labels(estimator, X, y)
    y_pred, _ = _predict(estimator, X)
    names = _names(classes, class_names)
    report = classification_report(
        y, y_pred, labels=classes, target_names=names, output_dict=True, zero_division=0
    )
    rows = {}
    for key, value in report.items():
        if isinstance(value, Mapping):
            rows[key] = dict(value)
        else:  # "accuracy" is a bare float, equal to the micro-averaged P, R and F1
            rows[key] = {
                "precision": value,
                "recall": value,
                "f1-score": value,
                "support": len(y),
            }
    df = pd.DataFrame.from_dict(rows, orient="index")[
        ["precision", "recall", "f1-score", "support"]
    ]
    df["support"] = df["support"].astype(int)
    return df


def confusion_pairs(
    estimator: Any,
    X: Any,
    y: Any,
    class_names: Any = None,
    top: int | None = 10,
    normalize: bool = False,
) -> pd.DataFrame:
    """The most frequent confusions: (true, predicted) pairs off the diagonal.

    Parameters
    ----------
    estimator : fitted classifier
    X, y : array-like
        Test images and labels.
    class_names : list or dict, default=None
        Names shown instead of the labels (see :func:`classification_report_df`).
    top : int or None, default=10
        Number of pairs returned; None returns every pair that occurs.
    normalize : bool, default=False
        Sort by ``rate`` (the share of the true class that goes to the predicted class)
        instead of ``count``; this favours mistakes on small classes.

    Returns
    -------
    DataFrame
        Columns ``true``, ``predicted``, ``count``, ``rate`` (``count`` / number of images of
        the true class), only pairs that occur, sorted by ``count`` (or ``rate``)
        descending, ties in the order of ``classes_``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import confusion_pairs
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> pairs = confusion_pairs(est.fit(X / 16, y), X / 16, y, top=3)
    >>> pairs.columns.tolist()
    ['true', 'predicted', 'count', 'rate']
    >>> len(pairs) <= 3
    True
    """
    classes, y = _labels(estimator, X, y)
    y_pred, _ = _predict(estimator, X)
    cm = confusion_matrix(y, y_pred, labels=classes)
    support = cm.sum(axis=1)
    true_idx, pred_idx = np.nonzero(cm * (1 - np.eye(len(classes), dtype=cm.dtype)))
    counts = cm[true_idx, pred_idx]
    rates = counts / np.maximum(support[true_idx], 1)
    names = (
        np.asarray(_names(classes, class_names), dtype=object)
        if class_names is not None
        else classes
    )
    df = pd.DataFrame(
        {
            "true": names[true_idx],
            "predicted": names[pred_idx],
            "count": counts.astype(int),
            "rate": rates.astype(float),
        }
    )
    keys = ["rate", "count"] if normalize else ["count", "rate"]
    df = df.sort_values(keys, ascending=False, kind="stable").reset_index(drop=True)
    return df if top is None else df.head(int(top))


def top_losses(
    estimator: Any, X: Any, y: Any, k: int | None = 16, class_names: Any = None
) -> pd.DataFrame:
    """The ``k`` images with the largest cross-entropy loss.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba``
    X, y : array-like
        Images and labels.
    k : int or None, default=16
        Number of rows; None returns every image.
    class_names : list or dict, default=None
        Names shown in ``true`` / ``predicted`` instead of the labels.

    Returns
    -------
    DataFrame
        Columns ``index`` (position in ``X``), ``true``, ``predicted``, ``loss``
        (``-log p_true``, probabilities clipped at 1e-12), ``p_true``, ``p_predicted``,
        sorted by ``loss`` descending.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import top_losses
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> worst = top_losses(est.fit(X / 16, y), X / 16, y, k=4)
    >>> worst.columns.tolist()
    ['index', 'true', 'predicted', 'loss', 'p_true', 'p_predicted']
    >>> bool(worst["loss"].is_monotonic_decreasing)
    True
    """
    classes, y = _labels(estimator, X, y)
    y_pred, proba = _predict(estimator, X)
    if proba is None:
        raise TypeError(f"top_losses needs predict_proba; {type(estimator).__name__} has none.")
    rows = np.arange(len(y))
    p_true = proba[rows, _positions(classes, y)]
    p_pred = proba[rows, _positions(classes, y_pred)]
    loss = -np.log(np.clip(p_true, 1e-12, 1.0))
    order = np.argsort(-loss, kind="stable")
    if k is not None:
        order = order[: int(k)]
    show = _label_map(classes, class_names)
    return pd.DataFrame(
        {
            "index": order,
            "true": show(y[order]),
            "predicted": show(y_pred[order]),
            "loss": loss[order].astype(float),
            "p_true": p_true[order].astype(float),
            "p_predicted": p_pred[order].astype(float),
        }
    )


def misclassified(
    estimator: Any, X: Any, y: Any, limit: int | None = None, class_names: Any = None
) -> pd.DataFrame:
    """The wrongly classified images, in the order of ``X``.

    Parameters
    ----------
    estimator : fitted classifier
    X, y : array-like
        Images and labels.
    limit : int or None, default=None
        Return at most this many rows (the first ones).
    class_names : list or dict, default=None
        Names shown in ``true`` / ``predicted`` instead of the labels.

    Returns
    -------
    DataFrame
        Columns ``index`` (position in ``X``), ``true``, ``predicted``, ``p_predicted`` (the
        probability of the predicted class; NaN without ``predict_proba``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import misclassified
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> est = est.fit(X / 16, y)
    >>> wrong = misclassified(est, X / 16, y)
    >>> len(wrong) == int((est.predict(X / 16) != y).sum())
    True
    """
    classes, y = _labels(estimator, X, y)
    y_pred, proba = _predict(estimator, X)
    wrong = np.flatnonzero(y_pred != y)
    if limit is not None:
        wrong = wrong[: int(limit)]
    if proba is None:
        p_pred = np.full(len(wrong), np.nan)
    else:
        p_pred = proba[wrong, _positions(classes, y_pred[wrong])].astype(float)
    show = _label_map(classes, class_names)
    return pd.DataFrame(
        {
            "index": wrong,
            "true": show(y[wrong]),
            "predicted": show(y_pred[wrong]),
            "p_predicted": p_pred,
        }
    )
