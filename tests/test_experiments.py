"""Experiment helpers: optimizer comparison, cross-validation tables, LR range test, evaluation."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from cnn_estimators import CNNClassifier, make_mlp
from cnn_estimators.experiments import (
    LRFindResult,
    classification_report_df,
    compare_optimizers,
    compare_recipes,
    confusion_pairs,
    cross_validate_estimator,
    lr_find,
    misclassified,
    top_losses,
)

SCORES = ["mean_test_score", "std_test_score", "mean_fit_time", "rank_test_score"]


def small(**params):
    """A fast digits MLP for tests."""
    defaults = dict(
        module__hidden_sizes=(16,),
        max_epochs=2,
        batch_size=32,
        validation_fraction=0,
        random_state=0,
        device="cpu",
    )
    defaults.update(params)
    return make_mlp(**defaults)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These networks are tiny: one thread is faster, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits01():
    """600 digits scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16).astype(np.float32), y[:600]


@pytest.fixture(scope="module")
def fitted(digits01):
    X, y = digits01
    return small(max_epochs=8, lr=1e-2).fit(X, y)


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
