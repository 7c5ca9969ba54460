"""Saving and loading fitted estimators as data (no pickle), and pickling across devices."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from skorch.exceptions import DeviceWarning

from cnn_estimators import CNNClassifier, make_fashion_mnist_cnn, persistence
from cnn_estimators._io import CheckpointError, load_checkpoint, save_checkpoint
from cnn_estimators.transforms import augmentation

X, Y = load_digits(return_X_y=True)
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[
    Y
]


@pytest.fixture(scope="module")
def fitted():
    return make_fashion_mnist_cnn(
        model="global_pool_cnn",
        max_epochs=2,
        random_state=0,
        device="cpu",
        train_transform=augmentation("fashion_mnist"),
        lr_schedule="cosine",
        optimizer__weight_decay=1e-4,
    ).fit(X, NAMES)


def test_round_trip_predicts_identically(fitted, tmp_path):
    path = fitted.save(tmp_path / "model.ckpt")
    loaded = CNNClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X[:20]), fitted.predict(X[:20]))
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.image_shape_ == fitted.image_shape_
    assert loaded.n_iter_ == fitted.n_iter_ and len(loaded.history_) == 2
    before, after = fitted.get_params(deep=False), loaded.get_params(deep=False)
    assert before.keys() == after.keys()
    for key in before:
        assert repr(after[key]) == repr(before[key]), key
    # the loaded estimator can also keep training
    assert loaded.partial_fit(X, NAMES).n_iter_ == 4


def test_path_parameters_round_trip(tmp_path):
    est = CNNClassifier(
        "mlp", max_epochs=1, random_state=0, device="cpu", checkpoint_dir=tmp_path / "runs"
    ).fit(X / 16, Y)
    loaded = CNNClassifier.load(est.save(tmp_path / "model.ckpt"))
    assert loaded.checkpoint_dir == tmp_path / "runs"
    assert type(loaded.checkpoint_dir) is type(tmp_path / "runs")


def test_a_file_cannot_name_code_outside_the_allowed_packages(fitted, tmp_path):
    path = fitted.save(tmp_path / "model.ckpt")
    state = load_checkpoint(path)
    state["params"]["criterion"] = {"__ref__": "os:system"}
    save_checkpoint(state, path)
    with pytest.raises(CheckpointError, match=r"model\.ckpt.*'os:system'.*refusing to import"):
        CNNClassifier.load(path)


def test_unsupported_objects_are_refused_at_save(tmp_path):
    est = CNNClassifier(
        "mlp", max_epochs=1, random_state=0, device="cpu", eval_transform=lambda x: x * 2
    ).fit(X / 16, Y)
    with pytest.raises(TypeError, match=r"cannot be saved as data.*pickle"):
        est.save(tmp_path / "model.ckpt")


def test_damaged_or_foreign_files(fitted, tmp_path):
    path = fitted.save(tmp_path / "model.ckpt")
    data = path if isinstance(path, str) else str(path)
    raw = open(data, "rb").read()
    open(data, "wb").write(raw[:-10])
    with pytest.raises(CheckpointError, match=r"model\.ckpt"):
        CNNClassifier.load(data)
    save_checkpoint({"w": torch.ones(1)}, tmp_path / "weights.ckpt")
    with pytest.raises(ValueError, match="not a saved estimator"):
        CNNClassifier.load(tmp_path / "weights.ckpt")


def test_version_mismatch_warns(fitted, tmp_path):
    path = fitted.save(tmp_path / "model.ckpt")
    state = load_checkpoint(path)
    state["versions"] = {"torch": "1.0", "skorch": "0.9", "cnn_estimators": "0.0"}
    save_checkpoint(state, path)
    with pytest.warns(UserWarning, match="was saved with"):
        CNNClassifier.load(path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only fallback")
def test_cuda_saved_estimator_loads_on_a_cpu_only_machine(fitted, tmp_path):
    est = pickle.loads(pickle.dumps(fitted))
    est.set_params(device="cuda")  # as saved on a GPU machine
    path = est.save(tmp_path / "gpu.ckpt")
    with pytest.warns(UserWarning, match="not available here; loading on the CPU"):
        loaded = CNNClassifier.load(path)
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only fallback")
def test_cuda_pickle_unpickles_on_a_cpu_only_machine(fitted):
    est = pickle.loads(pickle.dumps(fitted))
    est.set_params(device="cuda")
    with pytest.warns(DeviceWarning):
        restored = pickle.loads(pickle.dumps(est))
    assert restored.device == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_trim_for_prediction_then_save(fitted, tmp_path):
    est = pickle.loads(pickle.dumps(fitted))
    est.trim_for_prediction()
    assert est.optimizer_ is None
    np.testing.assert_array_equal(est.predict_proba(X), fitted.predict_proba(X))
    loaded = CNNClassifier.load(est.save(tmp_path / "small.ckpt"))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    with pytest.raises(Exception, match="trimmed for prediction"):
        est.partial_fit(X, NAMES)


def test_module_function_api(fitted, tmp_path):
    path = persistence.save(fitted, tmp_path / "m.ckpt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(persistence.load(path, device="cpu"), CNNClassifier)


class LocalTransform(torch.nn.Module):
    """A transform defined outside the packages a saved file may name."""

    def forward(self, x):
        return x


def test_objects_from_other_modules_are_refused_at_save(tmp_path):
    est = CNNClassifier(
        "mlp", max_epochs=1, random_state=0, device="cpu", eval_transform=LocalTransform()
    ).fit(X / 16, Y)
    with pytest.raises(TypeError, match=r"LocalTransform \(from test_persistence\) cannot be "):
        est.save(tmp_path / "model.ckpt")
