"""cnn_estimators.experiments.reports: class-aware evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from experiments_fixtures import *  # noqa: F403 (the fixtures, one_torch_thread autouse)
from experiments_helpers import small

from cnn_estimators import CNNClassifier
from cnn_estimators.experiments import (
    classification_report_df,
    confusion_pairs,
    misclassified,
    top_losses,
)


# ---------------------------------------------------------------- evaluation
def test_classification_report_df(digits01, fitted):
    X, y = digits01
    df = classification_report_df(fitted, X, y)
    assert df.shape == (13, 4)
    assert df.columns.tolist() == ["precision", "recall", "f1-score", "support"]
    assert df.index.tolist()[:10] == [str(c) for c in fitted.classes_]
    assert df.index.tolist()[10:] == ["accuracy", "macro avg", "weighted avg"]
    np.testing.assert_allclose(df.loc["accuracy", "f1-score"], fitted.score(X, y))
    # No NaN: precision and recall of the accuracy row are the micro averages (= accuracy).
    assert not df.isna().any().any()
    np.testing.assert_allclose(df.loc["accuracy", ["precision", "recall"]], fitted.score(X, y))
    assert df.loc["accuracy", "support"] == len(y)
    assert df["support"].iloc[:10].sum() == len(y)

    names = [f"digit {c}" for c in fitted.classes_]
    named = classification_report_df(fitted, X, y, class_names=names)
    assert named.index.tolist()[:10] == names
    np.testing.assert_allclose(named.to_numpy(dtype=float), df.to_numpy(dtype=float))
    by_dict = classification_report_df(fitted, X, y, class_names={0: "zero"})
    assert by_dict.index[0] == "zero" and by_dict.index[1] == "1"
    with pytest.raises(ValueError, match="one name per class"):
        classification_report_df(fitted, X, y, class_names=["a", "b"])


def test_confusion_pairs(digits01, fitted):
    X, y = digits01
    pred = fitted.predict(X)
    every = confusion_pairs(fitted, X, y, top=None)
    assert every.columns.tolist() == ["true", "predicted", "count", "rate"]
    assert (every["true"] != every["predicted"]).all()
    assert every["count"].sum() == (pred != y).sum()
    assert every["count"].is_monotonic_decreasing
    t, p = every.loc[0, "true"], every.loc[0, "predicted"]
    assert every.loc[0, "count"] == ((y == t) & (pred == p)).sum()
    np.testing.assert_allclose(every.loc[0, "rate"], every.loc[0, "count"] / (y == t).sum())

    top3 = confusion_pairs(fitted, X, y, top=3)
    pd.testing.assert_frame_equal(top3, every.head(3))
    by_rate = confusion_pairs(fitted, X, y, top=None, normalize=True)
    assert by_rate["rate"].is_monotonic_decreasing
    named = confusion_pairs(fitted, X, y, class_names=[f"d{c}" for c in fitted.classes_])
    assert named.loc[0, "true"] == f"d{t}" and named.loc[0, "predicted"] == f"d{p}"


def test_top_losses(digits01, fitted):
    X, y = digits01
    df = top_losses(fitted, X, y, k=16)
    assert len(df) == 16
    assert df.columns.tolist() == ["index", "true", "predicted", "loss", "p_true", "p_predicted"]
    assert df["loss"].is_monotonic_decreasing
    np.testing.assert_allclose(df.loc[0, "loss"], -np.log(df.loc[0, "p_true"]), rtol=1e-5)
    proba = fitted.predict_proba(X)
    i = int(df.loc[0, "index"])
    assert df.loc[0, "true"] == y[i]
    np.testing.assert_allclose(df.loc[0, "p_true"], proba[i, y[i]])
    np.testing.assert_allclose(df.loc[0, "p_predicted"], proba[i].max())
    per_image = -np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1))
    np.testing.assert_allclose(df.loc[0, "loss"], per_image.max(), rtol=1e-5)
    assert len(top_losses(fitted, X, y, k=None)) == len(y)
    named = top_losses(fitted, X, y, k=2, class_names={c: f"d{c}" for c in fitted.classes_})
    assert named.loc[0, "true"] == f"d{y[i]}"


def test_misclassified(digits01, fitted):
    X, y = digits01
    pred = fitted.predict(X)
    df = misclassified(fitted, X, y)
    assert df.columns.tolist() == ["index", "true", "predicted", "p_predicted"]
    assert len(df) == (pred != y).sum() > 0
    np.testing.assert_array_equal(df["index"], np.flatnonzero(pred != y))
    assert (df["true"] != df["predicted"]).all()
    assert df["p_predicted"].between(0, 1).all()
    assert len(misclassified(fitted, X, y, limit=3)) == 3


def test_evaluation_helpers_need_a_fitted_estimator(digits01):
    from sklearn.exceptions import NotFittedError

    X, y = digits01
    with pytest.raises(NotFittedError):
        misclassified(CNNClassifier("mlp"), X, y)


def test_evaluation_helpers_with_string_labels(digits01):
    X, y = digits01
    labels = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    ys = labels[y]
    est = small(max_epochs=4, lr=1e-2).fit(X, ys)
    worst = top_losses(est, X, ys, k=5)
    assert set(worst["true"]) <= set(labels)
    assert len(misclassified(est, X, ys)) == (est.predict(X) != ys).sum()
    report = classification_report_df(est, X, ys)
    assert report.index.tolist()[:10] == est.classes_.tolist()
