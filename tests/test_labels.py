"""The one label encoder (cnn_estimators._labels) and every path that uses it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_images
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_estimators import CNNClassifier, predefined_split
from cnn_estimators._labels import check_weighted_classes, encode, fit_classes, sample_weights

LABEL_SETS = {
    "unsorted-strings": np.array(["b", "a", "c"]),
    "int-gaps": np.array([11, 3, 7]),
    "bools": np.array([True, False]),
    "sorted-strings": np.array(["cat", "dog", "eel"]),
}


def small(**params):
    defaults = dict(
        max_epochs=12,
        random_state=0,
        device="cpu",
        lr=1e-2,
        module__hidden_sizes=(16,),
        validation_fraction=0,
    )
    defaults.update(params)
    return CNNClassifier("mlp", **defaults)


# ---------------------------------------------------------------- the encoder alone
@given(
    classes=st.lists(st.integers(-50, 50), min_size=2, max_size=8, unique=True),
    picks=st.lists(st.integers(0, 7), min_size=1, max_size=30),
)
@settings(max_examples=60, deadline=None)
def test_encode_is_the_position_in_classes_in_any_order(classes, picks):
    classes = np.array(classes)
    y = classes[[p % len(classes) for p in picks]]
    y_enc = encode(y, classes, unseen="{labels}")
    np.testing.assert_array_equal(classes[y_enc], y)


@pytest.mark.parametrize("classes", LABEL_SETS.values(), ids=LABEL_SETS.keys())
def test_fit_classes_keeps_the_given_order(classes):
    y = classes[[1, 0, 0, len(classes) - 1]]
    got, y_enc = fit_classes(y, classes, owner="E")
    np.testing.assert_array_equal(got, classes)
    np.testing.assert_array_equal(got[y_enc], y)
    assert y_enc.dtype == np.int64


def test_fit_classes_without_classes_sorts():
    got, y_enc = fit_classes(np.array(["b", "a", "b"]), None, owner="E")
    assert got.tolist() == ["a", "b"] and y_enc.tolist() == [1, 0, 1]
    assert y_enc.dtype == np.int64 and y_enc.shape == (3,)


def test_unseen_labels_are_named():
    with pytest.raises(ValueError, match=r"labels \['z'\] not in \['b', 'a'\]"):
        encode(
            np.array(["a", "z"]), np.array(["b", "a"]), unseen="labels {labels} not in {classes}"
        )


def test_class_weight_follows_the_given_class_order():
    classes = np.array(["b", "a"])
    _, y_enc = fit_classes(np.array(["a", "b", "a"]), classes, owner="E")
    w = sample_weights(None, {"a": 5.0}, y_enc, classes, owner="E")
    assert w.tolist() == [5.0, 1.0, 5.0]


def test_fit_classes_errors_name_the_problem():
    with pytest.raises(
        ValueError,
        match=r"E needs samples of at least 2 classes in the data, "
        r"but the data contain only one class: 'a'\.",
    ):
        fit_classes(np.array(["a", "a"]), None, owner="E")
    with pytest.raises(
        ValueError,
        match=r"The 'classes' parameter of E must list at least 2 "
        r"labels in a 1-d array-like; got \['a'\] instead\.",
    ):
        fit_classes(np.array(["a"]), ["a"], owner="E")
    with pytest.raises(
        ValueError,
        match=r"The 'classes' parameter of E must list at least 2 "
        r"labels in a 1-d array-like; got \[\['a', 'b'\]\] instead\.",
    ):
        fit_classes(np.array(["a"]), [["a", "b"]], owner="E")
    with pytest.raises(
        ValueError,
        match=r"The 'classes' parameter has duplicates: "
        r"\['a', 'b', 'a'\]\.",
    ):
        fit_classes(np.array(["a"]), ["a", "b", "a"], owner="E")
    with pytest.raises(
        ValueError,
        match=r"^y contains labels \['c'\] that are not in the "
        r"'classes' parameter \['b', 'a'\]\.$",
    ):
        fit_classes(np.array(["a", "c"]), ["b", "a"], owner="E")


def test_sample_weights_without_weights_is_none():
    assert sample_weights(None, None, np.array([0, 1]), np.array([0, 1]), owner="E") is None


def test_sample_weight_alone_is_checked_and_returned():
    w = sample_weights([1, 2, 3], None, np.array([0, 1, 1]), np.array([0, 1]), owner="E")
    np.testing.assert_array_equal(w, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sample_weight"):
        sample_weights([1, 2], None, np.array([0, 1, 1]), np.array([0, 1]), owner="E")


def test_balanced_class_weight_is_scikit_learns_for_the_present_classes():
    y_enc = np.array([0, 0, 0, 1])  # class 2 ("c") absent: weight 1, never used
    w = sample_weights(None, "balanced", y_enc, np.array(["a", "b", "c"]), owner="E")
    np.testing.assert_allclose(w, [4 / 6, 4 / 6, 4 / 6, 2.0])
    assert w.dtype == np.float32


def test_class_weight_times_sample_weight():
    w = sample_weights([1.0, 0.5], {"b": 4.0}, np.array([0, 1]), np.array(["a", "b"]), owner="E")
    np.testing.assert_allclose(w, [1.0, 2.0])
    assert w.dtype == np.float32


@pytest.mark.parametrize(
    ("class_weight", "match"),
    [
        (
            {"z": 1.0},
            r"The 'class_weight' dict has labels \['z'\] that are not among the "
            r"classes \['a', 'b'\]\.",
        ),
        ({"a": -1.0}, r"^The 'class_weight' values must be finite and non-negative\.$"),
        ({"a": np.inf}, r"The 'class_weight' values must be finite and non-negative\."),
        ({"a": np.nan}, r"The 'class_weight' values must be finite and non-negative\."),
    ],
    ids=["unknown", "negative", "inf", "nan"],
)
def test_invalid_class_weight(class_weight, match):
    with pytest.raises(ValueError, match=match):
        sample_weights(None, class_weight, np.array([0, 1]), np.array(["a", "b"]), owner="E")


def test_zero_class_weights_are_allowed():
    w = sample_weights(None, {"a": 0.0}, np.array([0, 1]), np.array(["a", "b"]), owner="E")
    np.testing.assert_array_equal(w, [0.0, 1.0])


def test_weights_must_leave_two_classes():
    check_weighted_classes(None, np.array([0, 1]))
    check_weighted_classes(np.array([1.0, 0.5]), np.array([0, 1]))
    with pytest.raises(
        ValueError,
        match=r"^Only one class has images with a non-zero weight \(sample_weight x "
        r"class_weight\); the classifier needs at least 2 classes to learn from\.$",
    ):
        check_weighted_classes(np.array([1.0, 1.0, 0.0]), np.array([0, 0, 1]))


# ---------------------------------------------------------------- every path of the estimator
@pytest.mark.parametrize("labels", LABEL_SETS.values(), ids=LABEL_SETS.keys())
def test_estimator_fit_with_classes_in_any_order_learns_the_labels(labels):
    X, idx = make_images(n=60, n_classes=len(labels))
    y = labels[idx]
    est = small(classes=list(labels)).fit(X, y)
    np.testing.assert_array_equal(est.classes_, labels)
    assert est.score(X, y) == 1.0
    proba = est.predict_proba(X)
    # column k is the probability of classes_[k]
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], y)


@pytest.mark.parametrize("labels", LABEL_SETS.values(), ids=LABEL_SETS.keys())
def test_estimator_partial_fit_with_unsorted_classes_keeps_learning_the_right_labels(labels):
    X, idx = make_images(n=60, n_classes=len(labels))
    y = labels[idx]
    est = small(max_epochs=3)
    est.partial_fit(X, y, classes=list(labels))
    for _ in range(4):  # later calls encode against classes_ (not sorted)
        est.partial_fit(X, y)
    assert est.score(X, y) == 1.0


def test_estimator_partial_fit_on_one_class_batches_trains_that_class():
    # The first call sees every label; later calls bring one class at a time. Each such
    # call must push the network towards the label it was given, never another one.
    X, idx = make_images(n=60, n_classes=2)
    labels = np.array(["b", "a"])
    y = labels[idx]
    est = small(max_epochs=1).partial_fit(X, y, classes=["b", "a"])
    only_a = y == "a"
    for _ in range(15):
        est.partial_fit(X[only_a], y[only_a])
    assert (est.predict(X) == "a").mean() > 0.9


def test_estimator_predefined_validation_set_uses_the_same_encoding():
    X, idx = make_images(n=60, n_classes=3)
    labels = LABEL_SETS["unsorted-strings"]
    y = labels[idx]
    est = small(classes=list(labels), train_split=predefined_split(X, y), max_epochs=12)
    est.fit(X, y)
    assert est.history_[-1, "valid_acc"] == 1.0


def test_estimator_score_with_unseen_labels_names_them():
    X, idx = make_images(n=40, n_classes=2)
    est = small(max_epochs=1, classes=["b", "a"]).fit(X, np.array(["b", "a"])[idx])
    with pytest.raises(ValueError, match=r"\['z'\] that were not seen at fit"):
        est.score(X[:2], np.array(["a", "z"]))
