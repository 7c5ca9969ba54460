"""Error messages: every invalid input or parameter fails with a message naming the problem.

scikeras-style: each test checks the error type and, with ``match``, the key phrase of the
message (what was expected, what was given, how to fix it), never a torch-internal error.
Parameters are validated by ``fit``, never by ``__init__`` or ``set_params`` (scikit-learn's
convention). Cases where the current behaviour falls short are ``xfail(strict=True)`` and
describe the message the user should get.
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

from cnn_estimators import CNNClassifier, get_model, make_classifier
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
        (
            np.full((20, 64), "a", dtype=object),
            r"CNNClassifier expected numeric pixel values, but X holds str objects",
        ),
    ],
    ids=["str-dtype", "object-strings"],
)
def test_fit_non_numeric_X(X, match):
    with pytest.raises(TypeError, match=match):
        small().fit(X, Y8)


def test_fit_object_array_of_dicts():
    X = np.array([[{"a": 1}] * 64] * 20, dtype=object)
    with pytest.raises((TypeError, ValueError), match=r"expected numeric pixel values.*dict"):
        small().fit(X, Y8)


def test_fit_list_of_dicts():
    with pytest.raises((TypeError, ValueError), match=r"expected numeric pixel values.*dict"):
        small().fit([{"a": 1}] * 20, Y8)


def test_fit_ragged_nested_list():
    X = [[[0.0] * 8] * 8, [[0.0] * 7] * 8] * 10
    with pytest.raises(
        ValueError,
        match=r"expected images of one shape, but X is a ragged nested list.*Resize the images",
    ):
        small().fit(X, Y8)


def test_fit_plain_string_as_X():
    with pytest.raises(
        TypeError,
        match=r"expected images as an array, a torch tensor or a nested list of numbers; "
        r"got a str instead",
    ):
        small().fit("images/", Y8)


def test_fit_torch_dataset_as_X():
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X8), torch.from_numpy(Y8))
    with pytest.raises(
        TypeError,
        match=r"CNNClassifier\.fit expected images as an array or tensor; got a TensorDataset"
        r"\. Convert the dataset to arrays .*X = dataset\.data, y = dataset\.targets",
    ):
        small().fit(dataset, Y8)


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


@pytest.mark.parametrize("label", [0, "cat"])
def test_fit_single_class(label):
    with pytest.raises(
        ValueError, match=r"needs samples of at least 2 classes .* contain only one class"
    ):
        small().fit(X8, np.array([label] * 20))


def test_set_params_valid_optimizer_on_a_fitted_estimator():
    est = small().fit(X8, Y8)
    est.set_params(optimizer="sgd").fit(X8, Y8)
    assert isinstance(est.optimizer_, torch.optim.SGD)


def test_set_params_optimizer_argument_on_a_fitted_estimator_is_kept():
    est = small(optimizer="sgd").fit(X8, Y8)
    est.set_params(optimizer__momentum=0.9)
    assert est.get_params()["optimizer__momentum"] == 0.9
    est.fit(X8, Y8)
    assert est.optimizer_.param_groups[0]["momentum"] == 0.9


def test_criterion_instance_reported_at_fit():
    est = small(criterion=nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match=r"'criterion' parameter .* class.*criterion__"):
        est.fit(X8, Y8)


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
VALID_MODELS = r"Valid models: 'bn_cnn', .*'fashion_cnn', .*'mlp'"


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
