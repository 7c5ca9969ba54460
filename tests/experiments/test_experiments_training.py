"""cnn_estimators.experiments.training: cross-validation table, LR range test."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from experiments_fixtures import *  # noqa: F403 (the fixtures, one_torch_thread autouse)
from experiments_helpers import small
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from cnn_estimators.experiments import (
    LRFindResult,
    cross_validate_estimator,
    lr_find,
)


# ---------------------------------------------------------------- cross_validate_estimator
def test_cross_validate_estimator_table(digits01):
    X, y = digits01
    est = small(max_epochs=3, lr=1e-2)
    df = cross_validate_estimator(est, X, y, cv=5, random_state=0)
    assert df["fold"].tolist() == [0, 1, 2, 3, 4, "mean", "std"]
    assert df.columns.tolist() == ["fold", "accuracy", "loss", "fit_time", "score_time", "epochs"]
    folds = df.iloc[:5]
    assert folds["accuracy"].between(0, 1).all()
    assert (folds["epochs"] == est.max_epochs).all()
    assert np.isfinite(df["loss"]).all() and (folds["loss"] > 0).all()
    np.testing.assert_allclose(df.loc[5, "accuracy"], folds["accuracy"].mean())
    np.testing.assert_allclose(df.loc[6, "accuracy"], folds["accuracy"].std(ddof=0))
    assert "estimators" not in df.attrs
    assert not est.__sklearn_is_fitted__()

    again = cross_validate_estimator(est, X, y, cv=5, random_state=0, return_estimators=True)
    cols = ["fold", "accuracy", "loss", "epochs"]
    pd.testing.assert_frame_equal(df[cols], again[cols])
    fold_estimators = again.attrs["estimators"]
    assert len(fold_estimators) == 5
    assert all(e.__sklearn_is_fitted__() for e in fold_estimators)
    assert again.head(2).attrs["estimators"] is fold_estimators  # shared, never deep-copied


def test_cross_validate_estimator_any_classifier(digits01):
    X, y = digits01
    df = cross_validate_estimator(LogisticRegression(max_iter=300), X, y, cv=3, random_state=0)
    assert df["accuracy"].iloc[:3].min() > 0.8
    assert df["epochs"].isna().all()  # LogisticRegression's n_iter_ is an array per class
    pipe = make_pipeline(FunctionTransformer(), small(max_epochs=1))
    df = cross_validate_estimator(pipe, X, y, cv=2, random_state=0)
    assert df["epochs"].tolist() == [1.0, 1.0, 1.0, 0.0]


# ---------------------------------------------------------------- lr_find
def test_lr_find_curve_and_suggestion(digits01):
    X, y = digits01
    est = small()
    rng_state = torch.get_rng_state()
    result = lr_find(est, X, y, start_lr=1e-5, end_lr=1.0, num_iter=40)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert isinstance(result, LRFindResult)
    h = result.history
    assert h.columns.tolist() == ["lr", "loss", "smoothed_loss"]
    assert len(h) == 40 and not result.diverged  # 40 batches of 32 cycle over 600 images
    assert (np.diff(h["lr"]) > 0).all()
    np.testing.assert_allclose(h["lr"].iloc[[0, -1]], [1e-5, 1.0])
    assert np.isfinite(h[["loss", "smoothed_loss"]].to_numpy()).all()
    assert 1e-5 <= result.suggested_lr <= 1.0
    assert h["smoothed_loss"].iloc[0] == h["loss"].iloc[0]
    assert "suggested_lr" in repr(result)
    # seeded: the same curve again
    again = lr_find(est, X, y, start_lr=1e-5, end_lr=1.0, num_iter=40)
    pd.testing.assert_frame_equal(h, again.history)
    # the estimator given stays unfitted
    assert not est.__sklearn_is_fitted__()
    assert "module_" not in est.__dict__


def test_lr_find_stops_when_the_loss_diverges(digits01):
    X, y = digits01
    result = lr_find(small(), X, y, start_lr=1e-4, end_lr=1e6, num_iter=100, batch_size=64)
    assert result.diverged
    assert len(result.history) < 100
    assert 1e-4 <= result.suggested_lr <= 1e6
    last = result.history["smoothed_loss"].iloc[-1]
    best = result.history["smoothed_loss"].iloc[:-1].min()
    assert not np.isfinite(last) or last > 4.0 * best


def test_lr_find_leaves_a_fitted_estimator_untouched(digits01, fitted):
    X, y = digits01
    state = copy.deepcopy(fitted.module_.state_dict())
    opt_state = copy.deepcopy(fitted.optimizer_.state_dict())
    n_history = len(fitted.history_)
    lr = fitted.optimizer_.param_groups[0]["lr"]
    rng_state = torch.get_rng_state()
    lr_find(fitted, X, y, num_iter=20, random_state=1)
    assert torch.equal(torch.get_rng_state(), rng_state)
    after = fitted.module_.state_dict()
    assert state.keys() == after.keys()
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert fitted.optimizer_.param_groups[0]["lr"] == lr
    assert len(fitted.optimizer_.state_dict()["state"]) == len(opt_state["state"])
    assert len(fitted.history_) == n_history


def test_lr_find_validates(digits01):
    X, y = digits01
    with pytest.raises(ValueError, match="end_lr"):
        lr_find(small(), X, y, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="num_iter"):
        lr_find(small(), X, y, num_iter=1)
    with pytest.raises(TypeError, match="CNNClassifier"):
        lr_find(LogisticRegression(), X, y)
