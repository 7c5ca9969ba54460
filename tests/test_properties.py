"""Property-based tests (hypothesis) of image validation, and reproducibility across jobs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_validate

from cnn_estimators import CNNClassifier
from cnn_estimators._validation import check_images

DTYPES = st.sampled_from([np.uint8, np.float32, np.float64, np.int64, np.int32, np.bool_])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def images_and_layout(draw):
    n = draw(st.integers(1, 4))
    c = draw(st.sampled_from([1, 3]))
    h = draw(st.integers(4, 9))
    w = draw(st.integers(4, 9))
    layout = draw(st.sampled_from(["nchw", "nhw", "nhwc", "flat"]))
    if layout == "nhw":
        c = 1
    dtype = draw(DTYPES)
    shape = {"nchw": (n, c, h, w), "nhw": (n, h, w), "nhwc": (n, h, w, c), "flat": (n, c * h * w)}[
        layout
    ]
    kind = np.dtype(dtype).kind
    if kind == "f":
        elements = st.floats(0, 1, width=32 if dtype == np.float32 else 64)
    elif kind == "b":
        elements = st.booleans()
    else:
        elements = st.integers(0, 255)
    return draw(arrays(dtype, shape, elements=elements)), layout, (c, h, w)


@SETTINGS
@given(images_and_layout())
def test_valid_images_become_nchw(case):
    X, layout, (c, h, w) = case
    image_shape = (c, h, w) if layout == "flat" else None
    tensor, was_flat = check_images(X, owner="T", image_shape=image_shape)
    n = X.shape[0]
    assert was_flat == (layout == "flat")
    assert tuple(tensor.shape) == (n, c, h, w)  # channels-last detected: h, w >= 4
    # integer images are 8-bit pixels (kept as uint8, scaled per batch)
    assert tensor.dtype == (torch.uint8 if X.dtype.kind in "iu" else torch.float32)
    expected = X.transpose(0, 3, 1, 2) if layout == "nhwc" else X.reshape(n, c, h, w)
    np.testing.assert_array_equal(
        tensor.numpy().astype(np.float64), expected.astype(np.float32).astype(np.float64)
    )


@SETTINGS
@given(
    st.integers(1, 3),
    st.integers(4, 8),
    st.integers(4, 8),
    st.sampled_from([np.nan, np.inf, -np.inf]),
    st.data(),
)
def test_non_finite_pixels_are_rejected(n, h, w, bad, data):
    X = np.zeros((n, 1, h, w), dtype=np.float32)
    i = data.draw(st.integers(0, X.size - 1))
    X.flat[i] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        check_images(X, owner="T")


@SETTINGS
@given(st.sampled_from([(5,), (2, 1, 1, 4, 4), (0, 1, 4, 4), (2, 1, 0, 4), (2, 0, 4, 4)]), DTYPES)
def test_malformed_shapes_are_rejected(shape, dtype):
    with pytest.raises(ValueError):
        check_images(np.zeros(shape, dtype=dtype), owner="T")


@SETTINGS
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(2, 6), st.just(1), st.just(8), st.just(8)),
        elements=st.floats(0, 1, width=32),
    )
)
def test_predictions_are_valid_distributions(X):
    est = _fitted()
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert set(est.predict(X)) <= set(est.classes_)


_CACHE = {}


def _fitted():
    if "est" not in _CACHE:
        rng = np.random.default_rng(0)
        X = rng.random((20, 1, 8, 8), dtype=np.float32)
        _CACHE["est"] = CNNClassifier(
            "global_pool_cnn", max_epochs=1, random_state=0, device="cpu"
        ).fit(X, np.arange(20) % 2)
    return _CACHE["est"]


@pytest.fixture
def one_torch_thread():
    """joblib's workers run torch with one thread; the parent must too for bitwise equality."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _history(est):
    return [(r.get("train_loss"), r.get("valid_loss"), r.get("valid_acc")) for r in est.history_]


def test_identical_history_with_one_and_two_jobs(one_torch_thread):
    X, y = load_digits(return_X_y=True)
    est = CNNClassifier("global_pool_cnn", max_epochs=2, random_state=0, device="cpu", lr=3e-3)
    serial = cross_validate(est, X[:600], y[:600], cv=3, n_jobs=1, return_estimator=True)
    parallel = cross_validate(est, X[:600], y[:600], cv=3, n_jobs=2, return_estimator=True)
    for a, b in zip(serial["estimator"], parallel["estimator"], strict=True):
        assert _history(a) == _history(b)
        np.testing.assert_array_equal(a.predict_proba(X[:50]), b.predict_proba(X[:50]))
    grid = {"lr": [1e-3, 3e-3]}
    g1 = GridSearchCV(est, grid, cv=2, n_jobs=1).fit(X[:600], y[:600])
    g2 = GridSearchCV(est, grid, cv=2, n_jobs=2).fit(X[:600], y[:600])
    np.testing.assert_array_equal(
        g1.cv_results_["mean_test_score"], g2.cv_results_["mean_test_score"]
    )
    assert _history(g1.best_estimator_) == _history(g2.best_estimator_)


def test_torch_threads_parameter_gives_identical_results_across_jobs():
    threads = torch.get_num_threads()
    X, y = load_digits(return_X_y=True)
    est = CNNClassifier(
        "global_pool_cnn", max_epochs=2, random_state=0, device="cpu", lr=3e-3, torch_threads=1
    )
    serial = cross_validate(est, X[:600], y[:600], cv=3, n_jobs=1, return_estimator=True)
    parallel = cross_validate(est, X[:600], y[:600], cv=3, n_jobs=2, return_estimator=True)
    for a, b in zip(serial["estimator"], parallel["estimator"], strict=True):
        assert _history(a) == _history(b)
        np.testing.assert_array_equal(a.predict_proba(X[:50]), b.predict_proba(X[:50]))
    assert torch.get_num_threads() == threads  # restored after fit and predict
