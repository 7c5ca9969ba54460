"""cnn_estimators.experiments.searches: optimizer and recipe comparisons."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from experiments_fixtures import *  # noqa: F403 (the fixtures, one_torch_thread autouse)
from experiments_helpers import SCORES, small
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from cnn_estimators.experiments import (
    compare_optimizers,
    compare_recipes,
    cross_validate_estimator,
)


# ---------------------------------------------------------------- compare_optimizers
def test_compare_optimizers_uses_one_sub_grid_per_optimizer(digits01):
    X, y = digits01
    est = small()
    before = est.get_params()
    df, search = compare_optimizers(est, X, y, random_state=0, return_search=True)

    assert isinstance(search.param_grid, list) and len(search.param_grid) == 3
    for cand in search.cv_results_["params"]:
        if cand["optimizer"] == "sgd":
            assert cand["optimizer__momentum"] == 0.9
        else:
            assert "optimizer__momentum" not in cand
    # sgd: 0.01 and 0.1, adam: 1e-3, rmsprop: 1e-3
    assert len(df) == len(search.cv_results_["params"]) == 4
    assert df.columns.tolist() == ["optimizer", "lr", "params", *SCORES]
    assert sorted(df["rank_test_score"]) == [1, 2, 3, 4]
    assert df["rank_test_score"].is_monotonic_increasing
    assert df["mean_test_score"].is_monotonic_decreasing
    assert sorted(df.loc[df.optimizer == "sgd", "lr"]) == [0.01, 0.1]
    assert set(df.loc[df.optimizer == "sgd", "params"]) == {"momentum=0.9"}
    assert set(df.loc[df.optimizer != "sgd", "params"]) == {""}
    assert df["mean_test_score"].iloc[0] > 0.2  # chance is 0.1
    assert search.best_estimator_.__sklearn_is_fitted__()
    assert est.get_params().keys() == before.keys()  # the estimator given is untouched
    assert not est.__sklearn_is_fitted__()


def test_flat_grid_mixing_momentum_and_adam_raises(digits01):
    """Why compare_optimizers builds sub-grids: Adam has no momentum argument."""
    X, y = digits01
    grid = {"optimizer": ["sgd", "adam"], "optimizer__momentum": [0.9]}
    search = GridSearchCV(small(max_epochs=1), grid, cv=2, error_score="raise")
    with pytest.raises(TypeError, match="momentum"):
        search.fit(X, y)


def test_compare_optimizers_lr_forms_param_grid_and_classes(digits01):
    X, y = digits01
    X, y = X[:300], y[:300]
    est = small(max_epochs=1)
    df, search = compare_optimizers(
        est,
        X,
        y,
        optimizers=["SGD", torch.optim.NAdam],
        lr={"sgd": [0.05]},
        cv=2,
        param_grid={"sgd": {"optimizer__momentum": [0.0, 0.9]}},
        return_search=True,
    )
    assert sorted(df["optimizer"]) == ["NAdam", "sgd", "sgd"]
    assert df.loc[df.optimizer == "sgd", "lr"].tolist() == [0.05, 0.05]
    assert sorted(df.loc[df.optimizer == "sgd", "params"]) == ["momentum=0", "momentum=0.9"]
    assert df.loc[df.optimizer == "NAdam", "lr"].tolist() == [est.lr]  # a class: est.lr
    assert search.best_estimator_.optimizer in ("sgd", torch.optim.NAdam)

    df = compare_optimizers(est, X, y, optimizers=["adam", "adamw"], lr=[1e-3, 1e-2], cv=2)
    assert len(df) == 4 and sorted(set(df["lr"])) == [1e-3, 1e-2]
    df = compare_optimizers(est, X, y, optimizers=["adam"], lr=0.01, cv=2)
    assert df["lr"].tolist() == [0.01]


def test_compare_optimizers_moves_estimator_momentum_to_accepting_optimizers(digits01):
    X, y = digits01
    X, y = X[:300], y[:300]
    est = small(max_epochs=1, optimizer="sgd", optimizer__momentum=0.5, optimizer__eps=1e-6)
    df, search = compare_optimizers(
        est,
        X,
        y,
        optimizers=["adam", "rmsprop"],
        cv=2,
        return_search=True,
        keep_optimizer_args=True,
    )
    grids = {g["optimizer"][0]: g for g in search.param_grid}
    assert grids["rmsprop"]["optimizer__momentum"] == [0.5]  # RMSprop accepts momentum
    assert "optimizer__momentum" not in grids["adam"]
    assert "optimizer__momentum" not in search.estimator.get_params()
    assert est.optimizer__momentum == 0.5  # the estimator given still has it
    # eps, which both take, stays on the estimator (not in the grid): the rows, read back
    # from the candidates, show it all the same.
    assert "optimizer__eps" not in grids["adam"]
    assert set(df.loc[df.optimizer == "adam", "params"]) == {"eps=1e-06"}
    assert set(df.loc[df.optimizer == "rmsprop", "params"]) == {"eps=1e-06, momentum=0.5"}
    df = compare_optimizers(est, X, y, optimizers=["sgd"], cv=2, keep_optimizer_args=True)
    assert set(df["params"]) == {"momentum=0.5"}  # the estimator's, not the default 0.9


def test_compare_optimizers_gives_each_optimizer_its_own_defaults(digits01):
    """A recipe's optimizer arguments (here make_fashion_mnist_cnn's: SGD with Nesterov
    momentum 0.9 and weight decay) are not carried into the candidates, and each row shows
    exactly what its candidate trained with."""
    X, y = digits01
    X, y = X[:200], y[:200]
    recipe = dict(optimizer__momentum=0.9, optimizer__nesterov=True, optimizer__weight_decay=5e-4)
    est = small(max_epochs=1, optimizer="sgd", lr=0.6, **recipe)
    df, search = compare_optimizers(
        est, X, y, optimizers=["rmsprop", "sgd"], lr={"sgd": [0.05]}, cv=2, return_search=True
    )
    assert sorted(zip(df["optimizer"], df["lr"], df["params"], strict=True)) == [
        ("rmsprop", 0.001, ""),
        ("sgd", 0.05, "momentum=0.9"),
    ]
    # What the refitted best candidate's torch optimizer really holds.
    best = search.best_estimator_
    group = best.optimizer_.param_groups[0]
    assert group["lr"] == df["lr"][0]
    expected = {"rmsprop": {"momentum": 0, "weight_decay": 0}, "sgd": {"momentum": 0.9}}
    for key, value in expected[df["optimizer"][0]].items():
        assert group[key] == value, key
    assert group["weight_decay"] == 0 and not group.get("nesterov", False)
    assert est.optimizer__nesterov is True  # the estimator given is untouched


def test_compare_recipes(digits01):
    X, y = digits01
    X, y = X[:300], y[:300]
    recipes = {
        "adam": small(max_epochs=1),
        "sgd": small(max_epochs=1, optimizer="sgd", lr=0.1, optimizer__momentum=0.9),
    }
    df, search = compare_recipes(recipes, X, y, cv=2, random_state=0, return_search=True)
    assert df.columns.tolist() == ["recipe", "optimizer", "lr", "params", *SCORES]
    rows = df.set_index("recipe")
    assert (rows.loc["adam", "optimizer"], rows.loc["adam", "lr"]) == ("adam", 0.001)
    assert (rows.loc["sgd", "optimizer"], rows.loc["sgd", "lr"]) == ("sgd", 0.1)
    assert rows.loc["sgd", "params"] == (
        "module=mlp, max_epochs=1, batch_size=32, device=cpu, module__hidden_sizes=(16,), "
        "optimizer__momentum=0.9, validation_fraction=0, random_state=0"
    )
    assert sorted(df["rank_test_score"]) == [1, 2]
    # The same folds as a plain cross-validation of each recipe.
    for name, est in recipes.items():
        folds = cross_validate_estimator(est, X, y, cv=2, random_state=0)
        mean = folds.set_index("fold").loc["mean", "accuracy"]
        assert rows.loc[name, "mean_test_score"] == pytest.approx(mean)
    best = search.best_estimator_.estimator_
    assert best.__sklearn_is_fitted__() and best.optimizer == df["recipe"][0]
    assert not recipes["adam"].__sklearn_is_fitted__()  # the given estimators are untouched

    any_classifier = compare_recipes({"lr": LogisticRegression(C=0.5)}, X, y, cv=2)
    assert any_classifier["optimizer"].tolist() == [""] and np.isnan(any_classifier["lr"][0])
    assert any_classifier["params"].tolist() == ["C=0.5"]


def test_compare_recipes_validates(digits01):
    X, y = digits01
    with pytest.raises(ValueError, match="non-empty dict"):
        compare_recipes({}, X, y)
    with pytest.raises(ValueError, match="non-empty dict"):
        compare_recipes([small()], X, y)
    with pytest.raises(ValueError, match="single metric"):
        compare_recipes({"a": small()}, X, y, scoring=["accuracy"])


def test_compare_optimizers_in_a_pipeline(digits01):
    X, y = digits01
    pipe = make_pipeline(FunctionTransformer(), small(max_epochs=1))
    df, search = compare_optimizers(
        pipe, X[:300], y[:300], optimizers=["sgd", "adam"], cv=2, return_search=True
    )
    assert search.param_grid[0]["cnnclassifier__optimizer__momentum"] == [0.9]
    assert set(df.loc[df.optimizer == "sgd", "params"]) == {"momentum=0.9"}


def test_compare_optimizers_validates_early(digits01):
    X, y = digits01
    with pytest.raises(ValueError, match="Did you mean 'adam'"):
        compare_optimizers(small(), X, y, optimizers=["sgd", "adamm"])
    with pytest.raises(ValueError, match="twice"):
        compare_optimizers(small(), X, y, optimizers=["sgd", torch.optim.SGD])
    with pytest.raises(ValueError, match="not among the compared"):
        compare_optimizers(small(), X, y, optimizers=["adam"], lr={"sgd": [0.1]})
    with pytest.raises(ValueError, match="positive"):
        compare_optimizers(small(), X, y, optimizers=["adam"], lr=-1.0)
    with pytest.raises(ValueError, match="param_grid must map optimizers"):
        compare_optimizers(small(), X, y, param_grid={"optimizer__momentum": [0.9]})
    with pytest.raises(TypeError, match="'optimizer' and 'lr'"):
        compare_optimizers(LogisticRegression(), X, y)
