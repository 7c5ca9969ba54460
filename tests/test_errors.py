"""Error messages: every invalid input or parameter fails with a message naming the problem.

scikeras-style: each test checks the error type and, with ``match``, the key phrase of the
message (what was expected, what was given, how to fix it), never a torch-internal error.
Parameters are validated by ``fit``, never by ``__init__`` or ``set_params`` (scikit-learn's
convention).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import make_images
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from torch import nn

from cnn_estimators import CNNClassifier, get_model, make_classifier, make_fashion_mnist_cnn
from cnn_estimators.datasets import DATA_HOME_ENV, load_mnist, read_idx


def small(module="mlp", **params):
    """A tiny, fast estimator: one epoch of a one-hidden-layer MLP on the CPU."""
    defaults = dict(max_epochs=1, random_state=0, device="cpu")
    if module == "mlp":
        defaults["module__hidden_sizes"] = (8,)
    defaults.update(params)
    return CNNClassifier(module, **defaults)


X8, Y8 = make_images(n=20)  # (20, 1, 8, 8) float32, labels 0/1
X10, Y10 = make_images(n=20, shape=(1, 10, 10))  # the smallest size fashion_cnn accepts
VALID_MODELS = r"Valid models: 'bn_cnn', .*'fashion_cnn', .*'mlp'"


@pytest.fixture(scope="module")
def fitted_mlp():
    """An MLP fitted on 1x8x8 images with labels {0, 1} (not modified by the tests)."""
    return small().fit(X8, Y8)


def _with(X, index, value):
    X = X.copy()
    X[index] = value
    return X


# ============================================================================ fit: X
@pytest.mark.parametrize(
    ("X", "match"),
    [
        (_with(X8, (0, 0, 0, 0), np.nan), r"Input X contains NaN"),
        (_with(X8, (3, 0, 2, 5), np.inf), r"Input X contains infinity"),
        (_with(X8, (3, 0, 2, 5), -np.inf), r"Input X contains infinity"),
    ],
    ids=["nan", "inf", "-inf"],
)
def test_fit_non_finite_pixels(X, match):
    with pytest.raises(ValueError, match=match):
        small().fit(X, Y8)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (
            np.zeros(20, dtype=np.float32),
            r"expected images as a 2-D .* got a 1-D array of shape \(20,\) instead\. "
            r"Reshape your data: X\.reshape\(1, -1\)",
        ),
        (
            np.zeros((20, 1, 1, 8, 8), dtype=np.float32),
            r"got a 5-D array of shape \(20, 1, 1, 8, 8\) instead",
        ),
    ],
    ids=["1-D", "5-D"],
)
def test_fit_wrong_ndim(X, match):
    with pytest.raises(ValueError, match=match):
        small().fit(X, np.arange(20) % 2)


def test_fit_empty_X():
    with pytest.raises(
        ValueError,
        match=r"Found array with 0 sample\(s\) \(shape=\(0, 1, 8, 8\)\) while a minimum of 1 "
        r"is required by CNNClassifier",
    ):
        small().fit(np.zeros((0, 1, 8, 8), dtype=np.float32), np.zeros(0, dtype=int))


def test_fit_zero_size_images():
    with pytest.raises(
        ValueError,
        match=r"zero-size images of shape \(1, 0, 5\); every image needs at least one channel "
        r"and one pixel",
    ):
        small().fit(np.zeros((20, 1, 0, 5), dtype=np.float32), Y8)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.full((20, 64), "a"), r"CNNClassifier expected numeric pixel values.*strings"),
    ],
    ids=["str-dtype"],
)
def test_fit_string_dtype_X(X, match):
    with pytest.raises(TypeError, match=match):
        small().fit(X, Y8)


def test_fit_non_numeric_strings_in_object_array():
    X = np.full((20, 64), "a", dtype=object)
    with pytest.raises(
        ValueError,
        match=r"CNNClassifier expected numeric pixel values, but X holds non-numeric values "
        r"\(could not convert string to float: 'a'\)",
    ):
        small().fit(X, Y8)


def test_fit_numeric_strings_in_object_array_are_converted():
    X = np.full((20, 64), "0.5", dtype=object)
    assert small().fit(X, Y8).image_shape_ == (1, 8, 8)


def test_fit_object_array_of_dicts():
    X = np.array([[{"a": 1}] * 64] * 20, dtype=object)
    with pytest.raises((TypeError, ValueError), match=r"expected numeric pixel values.*dict"):
        small().fit(X, Y8)


def test_fit_list_of_dicts():
    with pytest.raises((TypeError, ValueError), match=r"expected numeric pixel values.*dict"):
        small().fit([{"a": 1}] * 20, Y8)


def test_fit_images_of_different_sizes_on_a_fixed_size_model():
    X = [[[0.0] * 8] * 8, [[0.0] * 7] * 8] * 10  # 8x8 and 8x7 images
    with pytest.raises(
        ValueError,
        match=r"X holds images of 2 different sizes, but model 'mlp' needs one size\. "
        r"Resize them first.*ResizeImages.*'global_pool_cnn'",
    ):
        small().fit(X, Y8)


def test_fit_ragged_rows_inside_an_image():
    X = [np.zeros((8, 8)), [[0.0] * 8, [0.0] * 7]] * 10  # the second image has ragged rows
    with pytest.raises(
        ValueError,
        match=r"expected images of one shape, but X is a ragged nested list.*Resize the images",
    ):
        small("global_pool_cnn").fit(X, Y8)


def test_fit_plain_string_as_X():
    with pytest.raises(
        TypeError,
        match=r"expected images as an array, a torch tensor or a nested list of numbers; "
        r"got a str instead",
    ):
        small().fit("images/", Y8)


def test_fit_dataset_with_mismatched_y():
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X8), torch.from_numpy(Y8))
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[20, 5\]"):
        small().fit(dataset, Y8[:5])


def test_fit_image_smaller_than_the_model_accepts():
    with pytest.raises(
        ValueError,
        match=r"Model 'fashion_cnn' needs images of at least 10x10 pixels; got 8x8\. Resize "
        r"the images \(e\.g\. eval_transform=torchvision\.transforms\.v2\.Resize\(\(10, 10\)\)\)",
    ):
        small("fashion_cnn").fit(X8, Y8)


def test_fit_image_shape_does_not_match_the_features():
    with pytest.raises(
        ValueError,
        match=r"The 'image_shape' parameter of CNNClassifier is \(1, 4, 4\), which holds 16 "
        r"values, but X has 64 features per row",
    ):
        small(image_shape=(1, 4, 4)).fit(X8.reshape(20, -1), Y8)


@pytest.mark.parametrize("image_shape", [(0, 8, 8), (8, 8), (1, 8, 8.0), "1x8x8"])
def test_fit_invalid_image_shape(image_shape):
    with pytest.raises(
        ValueError,
        match=r"The 'image_shape' parameter of CNNClassifier must be None or a tuple "
        r"\(channels, height, width\) of positive ints\. Got " + re.escape(repr(image_shape)),
    ):
        small(image_shape=image_shape).fit(X8.reshape(20, -1), Y8)


def test_fit_module_class_that_does_not_fit_the_images_is_translated():
    """A shape error inside the user's network is re-raised with the image shape."""
    est = small(nn.Linear, module__in_features=10, module__out_features=2)
    with pytest.raises(
        ValueError,
        match=r"The network Linear cannot process images of shape \(1, 8, 8\): .*Check that "
        r"the images have the channels and size the network was built for",
    ):
        est.fit(X8, Y8)


def test_fit_eval_transform_that_does_not_return_images():
    with pytest.raises(
        ValueError,
        match=r"eval_transform must return image batches \(B, C, H, W\); it returned a tensor "
        r"of shape \(1, 64\)",
    ):
        small(eval_transform=lambda x: x.flatten(1)).fit(X8, Y8)


@pytest.mark.parametrize("transform", ["eval_transform", "train_transform"])
def test_fit_transform_that_returns_none(transform):
    with pytest.raises(
        TypeError,
        match=rf"{transform} must return the transformed batch as a torch\.Tensor "
        r"\(B, C, H, W\); it returned NoneType instead\. Check that the function ends with "
        r"'return x'",
    ):
        small(**{transform: lambda x: None}).fit(X8, Y8)


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (
            None,
            TypeError,
            r"CNNClassifier expected images \(an array, a torch tensor, a list "
            r"of images or a dataset\); got None instead",
        ),
        (
            (x for x in X8),
            TypeError,
            r"expected images it can index and count; got a "
            r"generator \(an iterator, readable only once\)\. Collect it first, e\.g\. "
            r"np\.stack\(list\(images\)\)",
        ),
        (iter(list(X8)), TypeError, r"got a list_iterator \(an iterator"),
        (
            torch.empty(20, 1, 8, 8, device="meta"),
            ValueError,
            r"got a tensor on the 'meta' "
            r"device, which has a shape but no values",
        ),
    ],
    ids=["None", "generator", "iterator", "meta-tensor"],
)
def test_fit_and_predict_on_things_that_are_not_images(fitted_mlp, X, error, match):
    with pytest.raises(error, match=match):
        small().fit(X, Y8)
    if not isinstance(X, (torch.Tensor, type(None))):
        return  # an iterator is used up by the first call
    with pytest.raises(error, match=match):
        fitted_mlp.predict(X)


@pytest.mark.parametrize("module", ["mlp", "fashion_cnn"])
def test_fit_images_too_large_for_a_dense_layer(module, monkeypatch):
    # The same answer on any machine: as if the CPU had 16 GiB.
    monkeypatch.setattr("cnn_estimators._components.device_memory_bytes", lambda device: 16 << 30)
    big = np.zeros((2, 1, 4096, 4096), dtype=np.uint8)
    with pytest.raises(
        ValueError,
        match=rf"Model '{module}' sized for images of shape \(1, 4096, 4096\) needs about "
        r"[\d.]+ GiB to train .*its layer '[\w.]+' alone has [\d,]+ weights\), more than the "
        r"16\.0 GiB of 'cpu'\. Images of about \d+x\d+ pixels would fit\. Downscale the "
        r"images",
    ):
        CNNClassifier(module, device="cpu", max_epochs=1).fit(big, [0, 1])


def test_fit_checkpoint_dir_that_is_a_file(tmp_path):
    path = tmp_path / "weights.ckpt"
    path.write_text("")
    with pytest.raises(
        ValueError,
        match=r"The 'checkpoint_dir' parameter of CNNClassifier must be None or a folder "
        r"\(str or path; created if missing\)\. Got '.*weights\.ckpt' instead\. Give the folder",
    ):
        small(checkpoint_dir=str(path)).fit(X8, Y8)


# ============================================================================ fit: y
def test_fit_y_none():
    with pytest.raises(
        ValueError, match=r"CNNClassifier requires y to be passed, but the target y is None"
    ):
        small().fit(X8, None)


def test_fit_length_mismatch():
    with pytest.raises(
        ValueError,
        match=r"inconsistent numbers of samples: \[20, 19\]\. X has 20 images but y has 19 "
        r"labels",
    ):
        small().fit(X8, Y8[:-1])


@pytest.mark.parametrize(("label", "shown"), [(0, r"0"), ("cat", r"'cat'")], ids=["int", "str"])
def test_fit_single_class(label, shown):
    """The label is shown as the user wrote it ("0", "'cat'"), never as "np.int64(0)"."""
    with pytest.raises(
        ValueError,
        match=r"needs samples of at least 2 classes in the data, but the data contain only "
        r"one class: " + shown + r"\.$",
    ):
        small().fit(X8, np.array([label] * 20))


def test_fit_mixed_type_labels():
    y = np.array([1, "a"] * 10, dtype=object)
    with pytest.raises(
        ValueError,
        match=r"CNNClassifier got labels of mixed types in y \(str and int\); labels must all "
        r"be strings or all numbers\. Convert them, e\.g\. y\.astype\(str\)",
    ):
        small().fit(X8, y)


def test_fit_one_hot_y():
    y = np.eye(2, dtype=int)[Y8]
    with pytest.raises(
        ValueError,
        match=r"CNNClassifier expected y as a 1-D array of labels of shape \(n_samples,\); got "
        r"an array of shape \(20, 2\) instead\. For one-hot labels use y\.argmax\(axis=1\)",
    ):
        small().fit(X8, y)


def test_fit_column_vector_y_warns_and_fits():
    with pytest.warns(DataConversionWarning, match=r"A column-vector y was passed"):
        est = small().fit(X8, Y8.reshape(-1, 1))
    np.testing.assert_array_equal(est.classes_, [0, 1])
    assert est.predict(X8).shape == (20,)


def test_fit_continuous_y():
    y = np.linspace(0.0, 1.0, 20)
    with pytest.raises(ValueError, match=r"Unknown label type: .*continuous"):
        small().fit(X8, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_fit_non_finite_y(bad):
    y = _with(Y8.astype(float), 3, bad)
    with pytest.raises(
        ValueError, match=r"CNNClassifier got NaN or infinite values in y; labels must be finite"
    ):
        small().fit(X8, y)


# ============================================================================ predict
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_not_fitted(method):
    args = (X8, Y8) if method == "score" else (X8,)
    with pytest.raises(
        NotFittedError,
        match=r"This CNNClassifier instance is not fitted yet\. Call 'fit' with appropriate "
        r"arguments before using this estimator",
    ):
        getattr(small(), method)(*args)


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_predict_wrong_channel_count(fitted_mlp, method):
    X = np.zeros((4, 3, 8, 8), dtype=np.float32)
    with pytest.raises(
        ValueError,
        match=r"X has images with 3 channel\(s\) \(shape \(3, 8, 8\)\), but CNNClassifier was "
        r"fitted on images with 1 channel\(s\) \(shape \(1, 8, 8\)\)\. Convert the images to "
        r"the same number of channels",
    ):
        getattr(fitted_mlp, method)(X)


def test_predict_wrong_number_of_flat_features(fitted_mlp):
    with pytest.raises(
        ValueError,
        match=r"X has 10 features, but CNNClassifier is expecting 64 features as input "
        r"\(images of shape \(1, 8, 8\)\)",
    ):
        fitted_mlp.predict(np.zeros((4, 10), dtype=np.float32))


def test_predict_other_image_size_on_a_fixed_size_model():
    X12, y12 = make_images(n=20, shape=(1, 12, 12))
    X16, _ = make_images(n=4, shape=(1, 16, 16))
    fixed = small("fashion_cnn").fit(X12, y12)
    with pytest.raises(
        ValueError,
        match=r"X has images of size 16x16, but CNNClassifier was fitted on 12x12 images and "
        r"its network only accepts that size\. Resize the images to 12x12, or use a network "
        r"with global pooling such as 'global_pool_cnn'",
    ):
        fixed.predict(X16)
    pooled = small("global_pool_cnn").fit(X12, y12)
    assert pooled.predict_proba(X16).shape == (4, 2)


def test_score_with_labels_unseen_at_fit(fitted_mlp):
    y = _with(Y8, slice(0, 2), 7)
    with pytest.raises(
        ValueError,
        match=r"y contains labels \[7\] that were not seen at fit \(classes_ = \[0, 1\]\); the "
        r"classifier can never predict them\. Pass all labels at fit with the 'classes' "
        r"parameter",
    ):
        fitted_mlp.score(X8, y)


def test_partial_fit_with_a_label_unseen_at_the_first_fit():
    est = small().partial_fit(X8, Y8)
    with pytest.raises(
        ValueError,
        match=r"y contains labels \[2\] that were not seen at the first fit \(classes_ = "
        r"\[0, 1\]\)\. Give all labels with the 'classes' parameter or "
        r"partial_fit\(\.\.\., classes=\.\.\.\)",
    ):
        est.partial_fit(X8, _with(Y8, 0, 2))


# ============================================================================ parameters
def _must_be(name, kind, value):
    return (
        rf"The '{name}' parameter of CNNClassifier must be {re.escape(kind)}\. "
        rf"Got {re.escape(repr(value))} instead"
    )


# (parameters, error type, key phrase of the message raised by fit)
INVALID_PARAMS = [
    pytest.param(
        {"lr": 0}, ValueError, _must_be("lr", "a float in the range (0, inf)", 0), id="lr=0"
    ),
    pytest.param(
        {"lr": -1}, ValueError, _must_be("lr", "a float in the range (0, inf)", -1), id="lr=-1"
    ),
    pytest.param(
        {"max_epochs": 0},
        ValueError,
        _must_be("max_epochs", "an int in the range [1, inf)", 0),
        id="max_epochs=0",
    ),
    pytest.param(
        {"min_steps": 0},
        ValueError,
        _must_be("min_steps", "None or an int in the range [1, inf)", 0)
        + r"\. None trains max_epochs epochs\.",
        id="min_steps=0",
    ),
    pytest.param(
        {"min_steps": 2.5},
        ValueError,
        _must_be("min_steps", "None or an int in the range [1, inf)", 2.5),
        id="min_steps=2.5",
    ),
    pytest.param(
        {"time_budget": -1},
        ValueError,
        _must_be("time_budget", "None or a float in the range (0, inf)", -1)
        + r"\. Give the seconds the fit may take, e\.g\. time_budget=60\.0, or None\.",
        id="time_budget=-1",
    ),
    pytest.param(
        {"time_budget": "10"},
        ValueError,
        _must_be("time_budget", "None or a float in the range (0, inf)", "10"),
        id="time_budget='10'",
    ),
    pytest.param(
        {"time_budget": float("inf")},
        ValueError,
        _must_be("time_budget", "None or a float in the range (0, inf)", float("inf")),
        id="time_budget=inf",
    ),
    pytest.param(
        {"batch_size": 0},
        ValueError,
        _must_be("batch_size", "an int in the range [1, inf) or -1 (the whole data set)", 0),
        id="batch_size=0",
    ),
    pytest.param(
        {"validation_fraction": 1.0},
        ValueError,
        _must_be("validation_fraction", "a float in the range [0, 1)", 1.0),
        id="validation_fraction=1",
    ),
    pytest.param(
        {"validation_fraction": -0.1},
        ValueError,
        _must_be("validation_fraction", "a float in the range [0, 1)", -0.1),
        id="validation_fraction=-0.1",
    ),
    pytest.param(
        {"n_iter_no_change": 0},
        ValueError,
        _must_be("n_iter_no_change", "an int in the range [1, inf)", 0),
        id="n_iter_no_change=0",
    ),
    pytest.param(
        {"tol": -1}, ValueError, _must_be("tol", "a float in the range [0, inf)", -1), id="tol=-1"
    ),
    pytest.param(
        {"precision": "fp8"},
        ValueError,
        _must_be("precision", "one of 'float32', 'float64', 'bf16', 'fp16', 'auto'", "fp8"),
        id="precision",
    ),
    pytest.param(
        {"progress_bar": "sometimes"},
        ValueError,
        _must_be("progress_bar", "'auto' or a bool", "sometimes"),
        id="progress_bar",
    ),
    pytest.param(
        {"class_weight": "weird"},
        ValueError,
        _must_be("class_weight", "None, 'balanced' or a dict {label: weight}", "weird"),
        id="class_weight-str",
    ),
    pytest.param(
        {"class_weight": {0: 1.0, 5: 2.0}},
        ValueError,
        r"The 'class_weight' dict has labels \[5\] that are not among the classes \[0, 1\]",
        id="class_weight-unknown-label",
    ),
    pytest.param(
        {"class_weight": {0: -1.0}},
        ValueError,
        r"The 'class_weight' values must be finite and non-negative",
        id="class_weight-negative",
    ),
    pytest.param(
        {"image_shape": (8, 8)},
        ValueError,
        _must_be(
            "image_shape", "None or a tuple (channels, height, width) of positive ints", (8, 8)
        ),
        id="image_shape-2",
    ),
    pytest.param(
        {"image_shape": (0, 8, 8)},
        ValueError,
        _must_be(
            "image_shape", "None or a tuple (channels, height, width) of positive ints", (0, 8, 8)
        ),
        id="image_shape-0",
    ),
    pytest.param(
        {"device": "gpu0"},
        ValueError,
        r"The 'device' parameter of CNNClassifier must be 'auto', None, or a torch device "
        r"such as 'cpu', 'cuda' or 'cuda:1'\. Got 'gpu0' instead",
        id="device",
    ),
    pytest.param(
        {"callbacks": 3},
        ValueError,
        _must_be("callbacks", "None or a list of skorch callbacks or (name, callback) pairs", 3),
        id="callbacks",
    ),
    pytest.param(
        {"module": "fashoin_cnn"},
        ValueError,
        r"Unknown model 'fashoin_cnn'\. Did you mean 'fashion_cnn'\? " + VALID_MODELS,
        id="module-name",
    ),
    pytest.param(
        {"optimizer": "adamm"},
        ValueError,
        r"The 'optimizer' parameter of CNNClassifier must be one of 'sgd', 'adam', 'adamw', "
        r"'rmsprop' or a torch\.optim\.Optimizer class\. Got 'adamm' instead\. Did you mean "
        r"'adam'\?",
        id="optimizer-name",
    ),
    pytest.param(
        {"optimizer": "adam", "optimizer__momentum": 0.9},
        TypeError,
        r"momentum.*Check the optimizer__\* parameters of CNNClassifier against the arguments "
        r"of Adam; to compare optimizers with different arguments in a grid search, give "
        r"GridSearchCV a list of sub-grids, one per optimizer",
        id="optimizer-argument",
    ),
    pytest.param(
        {"lr_schedule": "cosin"},
        ValueError,
        r"The 'lr_schedule' parameter of CNNClassifier must be None, one of .*'cosine'.*\. "
        r"Got 'cosin' instead\. Did you mean 'cosine'\?",
        id="lr_schedule",
    ),
    pytest.param(
        {"early_stopping": True, "validation_fraction": 0},
        ValueError,
        r"early_stopping=True needs validation data, but CNNClassifier has "
        r"validation_fraction=0 and no train_split\. Set validation_fraction to a value in "
        r"\(0, 1\)",
        id="early_stopping-without-validation",
    ),
    pytest.param(
        {"module": nn.Linear(64, 2)},
        TypeError,
        r"The 'module' parameter of CNNClassifier must be a registered model name or an "
        r"nn\.Module class; got an instance of Linear instead\. Pass the class and its "
        r"arguments .*an instance is never re-initialised",
        id="module-instance",
    ),
    pytest.param(
        {"criterion": nn.CrossEntropyLoss()},
        TypeError,
        r"The 'criterion' parameter of CNNClassifier must be a loss class; got an instance of "
        r"CrossEntropyLoss instead\. Pass the class and its arguments as criterion__<name>",
        id="criterion-instance",
    ),
    pytest.param(
        {"module__num_classes": 5},
        ValueError,
        r"module__num_classes=5 does not match the 2 classes found in y; remove "
        r"module__num_classes to infer it",
        id="module__num_classes",
    ),
    pytest.param(
        {"criterion": "mse"},
        TypeError,
        r"The 'criterion' parameter of CNNClassifier must be a loss class such as "
        r"torch\.nn\.CrossEntropyLoss \(the default\), with its arguments as "
        r"criterion__<name>\. Got 'mse' instead",
        id="criterion-string",
    ),
    pytest.param(
        {"train_transform": 5},
        ValueError,
        _must_be(
            "train_transform", "None or a callable mapping an image batch to an image batch", 5
        ),
        id="train_transform-int",
    ),
    pytest.param(
        {"eval_transform": "normalize"},
        ValueError,
        _must_be(
            "eval_transform",
            "None or a callable mapping an image batch to an image batch",
            "normalize",
        ),
        id="eval_transform-str",
    ),
    pytest.param(
        {"device": "cuda"},
        ValueError,
        r"The 'device' parameter of CNNClassifier is 'cuda', but this machine has no CUDA "
        r"device \(torch\.cuda\.is_available\(\) is False\)\. Use device='auto'",
        id="device-cuda-absent",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="checks a CPU-only machine"),
    ),
    pytest.param(
        {"device": "cuda:7"},
        ValueError,
        r"The 'device' parameter of CNNClassifier is 'cuda:7', but this machine has (no CUDA "
        r"device|\d CUDA device\(s\))",
        id="device-cuda-7",
        marks=pytest.mark.skipif(torch.cuda.device_count() > 7, reason="has 8 GPUs"),
    ),
    pytest.param(
        {"iterator_train_shuffle": True},
        ValueError,
        r"Got an unexpected argument iterator_train_shuffle, did you mean "
        r"iterator_train__shuffle\?",
        id="missing-dunder",
    ),
]


@pytest.mark.parametrize(("params", "error", "match"), INVALID_PARAMS)
def test_invalid_parameter_reported_at_fit(params, error, match):
    with pytest.raises(error, match=match):
        small(**params).fit(X8, Y8)


def _same(a, b):
    """Whether ``b`` is ``a`` or the deep copy of it that ``clone`` makes."""
    if isinstance(a, nn.Module):
        return type(a) is type(b) and str(a) == str(b)
    return a is b or (type(a) is type(b) and a == b)


@pytest.mark.parametrize(("params", "error", "match"), INVALID_PARAMS)
def test_invalid_parameter_not_reported_by_init_set_params_get_params_or_clone(
    params, error, match
):
    """scikit-learn's convention: only ``fit`` validates, so that grid searches can clone."""
    est = small(**params)
    for key, value in params.items():
        assert est.get_params()[key] is value
    est = small().set_params(**params)
    for key, value in params.items():
        assert est.get_params()[key] is value
    cloned = clone(est)
    for key, value in params.items():
        assert _same(cloned.get_params()[key], value), key


def test_criterion_instance_reported_at_fit():
    est = small(criterion=nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match=r"'criterion' parameter .* class.*criterion__"):
        est.fit(X8, Y8)


# ============================================================================ set_params
@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        pytest.param({"lr": 0}, ValueError, r"The 'lr' parameter", id="lr"),
        pytest.param(
            {"precision": "fp8"}, ValueError, r"The 'precision' parameter", id="precision"
        ),
        pytest.param(
            {"lr_schedule": "cosin"}, ValueError, r"Did you mean 'cosine'\?", id="lr_schedule"
        ),
        pytest.param(
            {"optimizer__momentum": 0.9}, TypeError, r"sub-grids", id="optimizer-argument"
        ),
        pytest.param({"optimizer": "adamm"}, ValueError, r"Did you mean 'adam'\?", id="optimizer"),
        pytest.param(
            {"module": "fashoin_cnn"}, ValueError, r"Did you mean 'fashion_cnn'\?", id="module"
        ),
        pytest.param(
            {"iterator_train_shuffle": True},
            ValueError,
            r"did you mean iterator_train__shuffle\?",
            id="missing-dunder",
        ),
    ],
)
def test_set_params_on_a_fitted_estimator_defers_validation_to_fit(params, error, match):
    est = small().fit(X8, Y8)  # Adam
    est.set_params(**params)
    for key, value in params.items():
        assert est.get_params()[key] == value
    with pytest.raises(error, match=match):
        est.fit(X8, Y8)


def test_set_params_valid_optimizer_on_a_fitted_estimator():
    est = small().fit(X8, Y8)
    est.set_params(optimizer="sgd").fit(X8, Y8)
    assert isinstance(est.optimizer_, torch.optim.SGD)


def test_set_params_optimizer_and_its_argument_on_a_fitted_adam_estimator():
    est = small().fit(X8, Y8)
    assert isinstance(est.optimizer_, torch.optim.Adam)
    est.set_params(optimizer="sgd", optimizer__momentum=0.9).fit(X8, Y8)
    assert isinstance(est.optimizer_, torch.optim.SGD)
    assert est.optimizer_.param_groups[0]["momentum"] == 0.9


def test_set_params_optimizer_argument_on_a_fitted_estimator_is_kept():
    est = small(optimizer="sgd").fit(X8, Y8)
    est.set_params(optimizer__momentum=0.9)
    assert est.get_params()["optimizer__momentum"] == 0.9
    est.fit(X8, Y8)
    assert est.optimizer_.param_groups[0]["momentum"] == 0.9


# ============================================================================ sample_weight
@pytest.mark.parametrize(
    ("sample_weight", "match"),
    [
        (np.ones(19), r"sample_weight\.shape == \(19,\), expected \(20,\): one weight per image"),
        (np.ones((20, 1)), r"sample_weight\.shape == \(20, 1\), expected \(20,\)"),
        (
            np.r_[np.nan, np.ones(19)],
            r"The 'sample_weight' of CNNClassifier\.fit contains NaN or infinite values",
        ),
        (-np.ones(20), r"The 'sample_weight' of CNNClassifier\.fit has negative values"),
        (
            np.zeros(20),
            r"The 'sample_weight' of CNNClassifier\.fit are all zero; at least one must be "
            r"positive",
        ),
        (
            np.array(["a"] * 20),
            r"The 'sample_weight' of CNNClassifier\.fit must be numeric; got dtype <U1",
        ),
        (
            (Y8 == 0).astype(float),
            r"Only one class has images with a non-zero weight \(sample_weight x "
            r"class_weight\); the classifier needs at least 2 classes",
        ),
    ],
    ids=["length", "2-D", "nan", "negative", "all-zero", "non-numeric", "one-class-left"],
)
def test_invalid_sample_weight(sample_weight, match):
    with pytest.raises(ValueError, match=match):
        small().fit(X8, Y8, sample_weight=sample_weight)


def test_class_weight_leaving_one_class():
    with pytest.raises(ValueError, match=r"Only one class has images with a non-zero weight"):
        small(class_weight={1: 0.0}).fit(X8, Y8)


# ============================================================================ registry
def test_get_model_unknown_name():
    with pytest.raises(ValueError, match=r"Unknown model 'nope'\. " + VALID_MODELS):
        get_model("nope", in_channels=1, num_classes=2, input_size=(8, 8))


def test_get_model_unknown_name_suggests():
    with pytest.raises(ValueError, match=r"Did you mean 'global_pool_cnn'\?"):
        get_model("global-pool-cnn", in_channels=1, num_classes=2, input_size=(8, 8))


def test_get_model_unknown_keyword():
    with pytest.raises(
        TypeError,
        match=r"Model 'mlp' got unexpected keyword argument\(s\) 'foo'\. Accepted keywords: "
        r"'hidden_sizes', 'dropout'",
    ):
        get_model("mlp", in_channels=1, num_classes=2, input_size=(8, 8), foo=1)


def test_get_model_too_small():
    with pytest.raises(
        ValueError,
        match=r"Model 'fashion_cnn' needs images of at least 10x10 pixels .* got 8x8\. Resize",
    ):
        get_model("fashion_cnn", in_channels=1, num_classes=2, input_size=(8, 8))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_channels": 0}, r"The 'in_channels' parameter of get_model must be an int >= 1"),
        ({"num_classes": 1}, r"The 'num_classes' parameter of get_model must be an int >= 2"),
        (
            {"input_size": 8},
            r"The 'input_size' parameter of get_model must be a \(height, width\) tuple",
        ),
    ],
    ids=["in_channels", "num_classes", "input_size"],
)
def test_get_model_invalid_common_argument(kwargs, match):
    args = {"in_channels": 1, "num_classes": 2, "input_size": (8, 8), **kwargs}
    with pytest.raises(ValueError, match=match):
        get_model("mlp", **args)


def test_make_classifier_unknown_name():
    with pytest.raises(ValueError, match=r"Unknown model 'nope'\. " + VALID_MODELS):
        make_classifier("nope")


def test_make_fashion_mnist_cnn_unknown_recipe():
    with pytest.raises(
        ValueError,
        match=r"The 'recipe' parameter of make_fashion_mnist_cnn must be one of 'fast', "
        r"'accurate', 'course'; got 'slow' instead\.",
    ):
        make_fashion_mnist_cnn(recipe="slow")


# ============================================================================ datasets
def _idx_labels(n_declared, n_bytes, magic=b"\x00\x00"):
    return magic + bytes([0x08, 1]) + n_declared.to_bytes(4, "big") + bytes(n_bytes)


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(_idx_labels(10, 5))
    with pytest.raises(
        ValueError,
        match=re.escape(str(path)) + r": IDX data size mismatch \(truncated\): header shape "
        r"\(10,\) of uint8 needs 10 data bytes, found 5",
    ):
        read_idx(path)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(_idx_labels(10, 10, magic=b"\x01\x02"))
    with pytest.raises(
        ValueError,
        match=re.escape(str(path)) + r": not an IDX file: bad magic number, expected the first "
        r"two bytes to be 00 00, found 01 02",
    ):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(
        ValueError, match=re.escape(str(path)) + r": corrupt gzip file .*download it again"
    ):
        read_idx(path)


def test_load_mnist_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    data_home = tmp_path / "data"
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(data_home=data_home, download=False)
    message = str(info.value)
    assert message.startswith("MNIST was not found. Places searched, in order:")
    assert f"{data_home / 'MNIST' / 'raw'}  (data_home argument): not found" in message
    assert "(default data home): not found" in message
    assert "pass download=True to download it" in message
    assert "train-images-idx3-ubyte[.gz]" in message


def test_load_mnist_invalid_n_train_checked_before_searching(tmp_path):
    with pytest.raises(ValueError, match=r"n_train must be a positive int or None, got 0"):
        load_mnist(data_home=tmp_path, n_train=0)


@pytest.mark.parametrize("params", [{"keep_best": True}, {"checkpoint_dir": "runs"}])
def test_keep_best_needs_validation(params):
    with pytest.raises(ValueError, match=r"best validation accuracy.*validation_fraction=0"):
        small(validation_fraction=0, **params).fit(X8, Y8)


def test_invalid_cache_features():
    with pytest.raises(ValueError, match=_must_be("cache_features", '"auto" or a bool', "yes")):
        small(cache_features="yes").fit(X8, Y8)


def test_cache_features_true_says_why_it_cannot_cache():
    with pytest.raises(
        ValueError,
        match=r"cache_features=True, but CNNClassifier cannot cache features: the network "
        r".* has no frozen leading layers .*Set cache_features='auto'",
    ):
        small(cache_features=True).fit(X8, Y8)
    resnet = dict(module="resnet18", module__image_size=16, module__freeze="all_but_fc")
    with pytest.raises(ValueError, match=r"train_transform changes the training images"):
        small(cache_features=True, train_transform=lambda x: x, **resnet).fit(X8, Y8)


def test_invalid_tta():
    with pytest.raises(ValueError, match=r"The 'tta' parameter of CNNClassifier must be"):
        small(tta="mirror").fit(X8, Y8)


@pytest.mark.parametrize(
    ("low", "high"), [(-3, 200), (0, 300), (-1, 1000)], ids=["negative", "above-255", "both"]
)
def test_integer_images_outside_8_bit_range(low, high):
    X = np.zeros((20, 1, 8, 8), dtype=np.int64)
    X[0, 0, 0, 0], X[1, 0, 0, 0] = low, high
    with pytest.raises(ValueError, match=rf"8-bit pixels in \[0, 255\].*from {low} to {high}"):
        small().fit(X, Y8)


def test_checkpoint_of_another_architecture(tmp_path):
    from cnn_estimators import CNNClassifier, persistence
    from cnn_estimators._io import load_checkpoint, save_checkpoint

    est = small().fit(X8, Y8)
    path = persistence.save(est, tmp_path / "m.ckpt")
    state = load_checkpoint(path)
    state["params"]["module__hidden_sizes"] = {"__tuple__": [32]}  # weights are for (8,)
    save_checkpoint(state, path)
    with pytest.raises(ValueError, match=r"holds weights for another architecture"):
        CNNClassifier.load(path)
