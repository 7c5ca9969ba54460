"""Saving and loading fitted estimators as data (no pickle), and pickling across devices."""

from __future__ import annotations

import contextlib
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from skorch.exceptions import DeviceWarning

from cnn_estimators import (
    CNNClassifier,
    make_cifar_cnn,
    make_classifier,
    make_fashion_mnist_cnn,
    make_fast_cnn,
    make_mlp,
    make_mnist_cnn,
    make_resnet18_classifier,
    persistence,
)
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


# --------------------------------------------------------------------------- compatibility
DATA = Path(__file__).parent / "data"


def test_a_file_written_by_version_0_1_still_loads():
    """``tests/data/estimator_v0_1.ckpt`` was written by cnn_estimators 0.1 (c2acf5c)."""
    with pytest.warns(UserWarning, match="was saved with") if _versions_differ() else _nothing():
        loaded = CNNClassifier.load(DATA / "estimator_v0_1.ckpt")
    expected = np.load(DATA / "estimator_v0_1_proba.npy")
    np.testing.assert_array_equal(loaded.predict_proba(X[:20] / 16), expected)
    assert list(loaded.classes_) == list("abcdefghij")
    assert loaded.lr_schedule is torch.optim.lr_scheduler.ExponentialLR
    assert repr(loaded.train_transform).startswith("Compose(")


def _versions_differ() -> bool:
    from cnn_estimators.estimator import _versions

    return load_checkpoint(DATA / "estimator_v0_1.ckpt")["versions"] != _versions()


@contextlib.contextmanager
def _nothing():
    yield


IMAGES = torch.rand(40, 3, 32, 32, generator=torch.Generator().manual_seed(0)).numpy()
LABELS = np.arange(40) % 4

FACTORIES = {
    "mlp": lambda: make_mlp(),
    "mnist": lambda: make_mnist_cnn(),
    "fashion_fast": lambda: make_fashion_mnist_cnn(),
    "fashion_course": lambda: make_fashion_mnist_cnn(recipe="course"),
    "cifar": lambda: make_cifar_cnn(),
    "fast": lambda: make_fast_cnn(dataset="cifar10"),
    "resnet18": lambda: make_resnet18_classifier(image_size=32),
    "bn_cnn": lambda: make_classifier("bn_cnn"),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_factory_round_trips_exactly(name, tmp_path):
    est = FACTORIES[name]().set_params(max_epochs=1, batch_size=20, random_state=0, device="cpu")
    est.fit(IMAGES, LABELS)
    loaded = CNNClassifier.load(est.save(tmp_path / "m.ckpt"))
    np.testing.assert_array_equal(loaded.predict_proba(IMAGES), est.predict_proba(IMAGES))
    assert repr(loaded.get_params(deep=False)) == repr(est.get_params(deep=False))


def test_resnet18_pretrained_weights_are_not_read_at_load(tmp_path):
    import torchvision

    weights = tmp_path / "backbone.pt"  # stands for ImageNet weights (a download)
    est = make_resnet18_classifier(image_size=32, max_epochs=1, batch_size=20, random_state=0)
    est.set_params(device="cpu", module__weights=str(weights))
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    est.fit(IMAGES, LABELS)
    path = est.save(tmp_path / "m.ckpt")
    weights.unlink()  # gone: load must not need it (nor download anything)
    loaded = CNNClassifier.load(path)
    assert loaded.module__weights == str(weights)
    np.testing.assert_array_equal(loaded.predict_proba(IMAGES), est.predict_proba(IMAGES))


def _samples():
    from skorch.callbacks import EpochScoring, GradientNormClipping
    from skorch.dataset import ValidSplit
    from torchvision.transforms import v2

    from cnn_estimators import predefined_split
    from cnn_estimators import transforms as T

    return [
        T.RandomHorizontalFlip(0.3),
        T.RandomCrop(6, padding=1, fill=0.5, padding_mode="reflect"),
        T.RandomResizedCrop(8, scale=(0.5, 1.0)),
        T.RandomAffine(5, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        T.RandomRotation(10),
        T.Normalize((0.5,), (0.2,)),
        T.Resize(12),
        T.ToRGB(),
        T.Compose(T.Resize(4), T.ToRGB()),
        v2.Compose([v2.Resize((12, 12)), v2.CenterCrop(10)]),
        v2.Resize(12, max_size=20),
        v2.CenterCrop(8),
        v2.RandomHorizontalFlip(0.2),
        v2.Normalize([0.5], [0.5]),
        v2.Grayscale(3),
        predefined_split(np.zeros((2, 1, 8, 8)), ["a", "b"]),
        ValidSplit(0.2, stratified=True, random_state=0),
        GradientNormClipping(1.0),
        EpochScoring("f1_macro", lower_is_better=False, name="f1"),
    ]


def test_every_buildable_class_round_trips():
    from cnn_estimators._allowlist import OBJECTS

    samples = _samples()
    assert {persistence._allowlist.key_of(type(s), OBJECTS) for s in samples} == set(OBJECTS)
    for sample in samples:
        rebuilt = persistence._decode(persistence._encode(sample, "x"), "x", 10**9)
        assert type(rebuilt) is type(sample)
        for name in OBJECTS[persistence._allowlist.key_of(type(sample), OBJECTS)].args:
            assert repr(getattr(rebuilt, name)) == repr(getattr(sample, name)), (sample, name)
        if isinstance(sample, torch.nn.Module):
            assert repr(rebuilt) == repr(sample)


def test_an_estimator_using_the_allowed_classes_round_trips(tmp_path):
    from skorch.callbacks import EpochScoring, GradientNormClipping
    from torchvision.transforms import v2

    from cnn_estimators import predefined_split

    est = CNNClassifier(
        "global_pool_cnn",
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr_schedule=torch.optim.lr_scheduler.ExponentialLR,
        callbacks__lr_scheduler__gamma=0.5,
        eval_transform=v2.Compose([v2.Resize((16, 16)), v2.Normalize([0.5], [0.5])]),
        train_transform=augmentation("fashion_mnist"),
        callbacks=[
            ("clip", GradientNormClipping(1.0)),
            ("f1", EpochScoring("f1_macro", lower_is_better=False, name="valid_f1")),
        ],
        train_split=predefined_split(X[:50], Y[:50]),
        max_epochs=1,
        random_state=0,
        device="cpu",
    ).fit(X[50:300], Y[50:300])
    loaded = CNNClassifier.load(est.save(tmp_path / "m.ckpt"))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert repr(loaded.eval_transform) == repr(est.eval_transform)
    assert loaded.partial_fit(X[50:300], Y[50:300]).n_iter_ == 2


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("optimizer", torch.optim.LBFGS, r"torch\.optim\.lbfgs\.LBFGS cannot be saved as data"),
        ("lr_schedule", torch.optim.lr_scheduler.LambdaLR, r"LambdaLR cannot be saved"),
        ("torch_load_kwargs", {"weights_only": False}, r"torch_load_kwargs"),
        ("eval_transform", LocalTransform(), r"LocalTransform \(from test_persistence\)"),
    ],
)
def test_save_refuses_what_load_would_refuse(tmp_path, param, value, message):
    est = CNNClassifier("mlp", max_epochs=1, random_state=0, device="cpu").fit(X / 16, Y)
    est.set_params(**{param: value})
    with pytest.raises(TypeError, match=message):
        est.save(tmp_path / "model.ckpt")
    assert not (tmp_path / "model.ckpt").exists()
