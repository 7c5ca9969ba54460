"""AcceleratedCNNClassifier: CNNClassifier trained through Hugging Face Accelerate.

In-process tests use Accelerate's CPU mode in one process; ``test_two_processes_on_cpu``
launches examples/accelerate_train.py as two processes (gloo on the loopback interface).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from cnn_estimators import CNNClassifier, make_fast_cnn
from cnn_estimators.accelerated import AcceleratedCNNClassifier, make_accelerated

accelerate = pytest.importorskip("accelerate")
from accelerate import Accelerator  # noqa: E402
from accelerate.state import AcceleratorState, GradientState  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LETTERS = np.array(list("abcdefghij"))
FAST = dict(
    max_epochs=3, batch_size=64, lr=3e-3, random_state=0, torch_threads=1, progress_bar=False
)


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps one process-wide state; each test configures its own."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = np.round(X * 255 / 16).astype(np.uint8).reshape(-1, 1, 8, 8)
    return images[:1200], LETTERS[y[:1200]], images[1200:], LETTERS[y[1200:]]


def accelerated(**params):
    return AcceleratedCNNClassifier(
        "global_pool_cnn", accelerator=Accelerator(cpu=True), **{**FAST, **params}
    )


def test_fit_predict_string_labels(data):
    X, y, X_test, y_test = data
    clf = accelerated().fit(X, y)
    assert clf.num_processes_ == 1
    assert isinstance(clf.accelerator_, Accelerator)
    np.testing.assert_array_equal(clf.classes_, LETTERS)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert set(clf.predict(X_test)) <= set(LETTERS)
    assert clf.score(X_test, y_test) > 0.7  # chance is 0.1
    # After fit the network and optimizer are plain torch objects again.
    assert type(clf.module_).__name__ == "GlobalPoolCNN"
    assert type(clf.optimizer_) is torch.optim.Adam
    assert not clf._wrapped_with_accelerator


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "sample_weight"])
def test_one_process_is_bitwise_a_cnnclassifier(data, weighted):
    X, y, X_test, _ = data
    fit = {"sample_weight": np.linspace(0.5, 2.0, len(y))} if weighted else {}
    extra = {"class_weight": "balanced"} if weighted else {}
    acc = accelerated(**extra).fit(X, y, **fit)
    plain = CNNClassifier("global_pool_cnn", **FAST, **extra).fit(X, y, **fit)
    np.testing.assert_array_equal(acc.predict_proba(X_test), plain.predict_proba(X_test))
    assert acc.loss_curve_ == plain.loss_curve_
    assert acc.validation_scores_ == plain.validation_scores_


def test_images_of_several_sizes_in_one_process(data):
    X, y, _, _ = data
    images = [x if i % 2 else np.pad(x, ((0, 0), (1, 1), (1, 1))) for i, x in enumerate(X[:300])]
    acc = accelerated(max_epochs=1).fit(images, y[:300])
    plain = CNNClassifier("global_pool_cnn", **{**FAST, "max_epochs": 1}).fit(images, y[:300])
    np.testing.assert_array_equal(acc.predict_proba(images), plain.predict_proba(images))


def test_default_accelerator_is_built_at_fit(data):
    X, y, _, _ = data
    clf = AcceleratedCNNClassifier("global_pool_cnn", **{**FAST, "max_epochs": 1})
    assert clf.accelerator is None and clf.accelerator_ is None and clf.device is None
    clf.fit(X[:300], y[:300])
    assert isinstance(clf.accelerator_, Accelerator)
    assert clf.accelerator is clf.accelerator_  # what skorch's mixin uses
    assert clf.get_params()["accelerator"] is None  # the parameter is unchanged


def test_pickle_drops_the_accelerator_and_predicts_the_same(data):
    X, y, X_test, _ = data
    clf = accelerated(max_epochs=1).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.get_params()["accelerator"] is None
    assert loaded.accelerator_ is None and loaded.device is None
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))
    loaded.partial_fit(X, y)  # trains again with a new Accelerator()
    assert len(loaded.history_) == 2 and isinstance(loaded.accelerator_, Accelerator)


def test_clone_and_grid_search_share_the_accelerator(data):
    X, y, _, _ = data
    clf = accelerated(max_epochs=1)
    accelerator = clf.accelerator
    twin = clone(clf)
    assert twin.get_params()["accelerator"] is accelerator  # Accelerate deep-copies to itself
    assert twin.get_params(deep=False).keys() == clf.get_params(deep=False).keys()
    search = GridSearchCV(clf, {"lr": [1e-3, 3e-3]}, cv=2).fit(X[:400], y[:400])
    assert search.best_estimator_.accelerator is accelerator
    # Prepared networks, optimizers and data loaders are released after every fit.
    assert accelerator._models == [] and accelerator._optimizers == []
    assert accelerator._dataloaders == []


@pytest.mark.parametrize(
    "check",
    [
        check_parameters_default_constructible,
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
    ],
    ids=lambda c: c.__name__,
)
def test_sklearn_parameter_checks(check):
    check(AcceleratedCNNClassifier.__name__, AcceleratedCNNClassifier("global_pool_cnn"))


def test_keep_best_checkpoint_dir_and_save_load(data, tmp_path):
    X, y, X_test, _ = data
    clf = accelerated(checkpoint_dir=str(tmp_path / "runs")).fit(X, y)
    plain = CNNClassifier("global_pool_cnn", checkpoint_dir=str(tmp_path / "plain"), **FAST).fit(
        X, y
    )
    assert Path(clf.checkpoint_path_, "best_params.ckpt").exists()
    assert clf.best_validation_score_ == plain.best_validation_score_
    np.testing.assert_array_equal(clf.predict_proba(X_test), plain.predict_proba(X_test))

    path = clf.save(tmp_path / "model.ckpt")
    loaded = AcceleratedCNNClassifier.load(path)
    assert type(loaded) is AcceleratedCNNClassifier
    assert loaded.get_params()["accelerator"] is None and loaded.device is None
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))


def test_warm_start_wraps_the_network_again(data):
    X, y, X_test, y_test = data
    clf = accelerated(max_epochs=1, warm_start=True).fit(X, y)
    first = clf.score(X_test, y_test)
    clf.fit(X, y)
    clf.partial_fit(X, y)
    assert len(clf.history_) == 3 and not clf._wrapped_with_accelerator
    assert clf.history_[-1, "train_loss"] < clf.history_[0, "train_loss"]
    assert clf.score(X_test, y_test) > first


def test_mixed_precision_bf16_trains_and_predicts_in_float32(data):
    X, y, X_test, y_test = data
    clf = AcceleratedCNNClassifier(
        "global_pool_cnn", accelerator=Accelerator(cpu=True, mixed_precision="bf16"), **FAST
    ).fit(X, y)
    plain = CNNClassifier("global_pool_cnn", **FAST).fit(X, y)
    assert clf.score(X_test, y_test) > 0.6
    # bf16 autocast during training changes the numbers; the unwrapped network is float32.
    assert clf.loss_curve_ != plain.loss_curve_
    assert "forward" not in clf.module_.__dict__  # no autocast wrapper left
    assert clf.predict_proba(X_test).dtype == np.float32
    assert pickle.loads(pickle.dumps(clf)).score(X_test, y_test) == clf.score(X_test, y_test)


def test_precision_bf16_with_accelerator_without_mixed_precision(data):
    # precision="bf16" is the estimator's own autocast, as in CNNClassifier.
    X, y, X_test, _ = data
    acc = accelerated(precision="bf16").fit(X, y)
    plain = CNNClassifier("global_pool_cnn", precision="bf16", **FAST).fit(X, y)
    assert acc.loss_curve_ == plain.loss_curve_
    np.testing.assert_array_equal(acc.predict_proba(X_test), plain.predict_proba(X_test))


@pytest.mark.parametrize(
    "mixed, precision, allowed",
    [
        ("bf16", "float64", "'float32' or 'bf16'"),
        ("fp16", "bf16", "'float32'"),
        ("fp16", "float64", "'float32'"),
    ],
)
def test_precision_conflicting_with_mixed_precision(data, mixed, precision, allowed):
    X, y, _, _ = data
    clf = AcceleratedCNNClassifier(
        "global_pool_cnn",
        accelerator=Accelerator(cpu=True, mixed_precision=mixed),
        precision=precision,
        **FAST,
    )
    match = (
        rf"The 'precision' parameter of AcceleratedCNNClassifier must be {allowed} with an "
        rf"Accelerator whose mixed_precision is '{mixed}'; got '{precision}' instead\. Set "
        r"precision='float32'"
    )
    with pytest.raises(ValueError, match=match):
        clf.fit(X[:100], y[:100])
    assert not hasattr(clf, "module_")  # rejected before anything was built


@pytest.mark.parametrize("mixed", ["no", "fp16"])
def test_precision_fp16_is_left_to_the_accelerator(data, mixed):
    X, y, _, _ = data
    clf = AcceleratedCNNClassifier(
        "global_pool_cnn",
        accelerator=Accelerator(cpu=True, mixed_precision=mixed),
        precision="fp16",
        **FAST,
    )
    with pytest.raises(
        ValueError,
        match=r"The 'precision' parameter of AcceleratedCNNClassifier must be 'float32' for "
        r"float16 training.*mixed_precision='fp16'",
    ):
        clf.fit(X[:100], y[:100])


def test_invalid_accelerator_and_device(data):
    X, y, _, _ = data
    with pytest.raises(TypeError, match=r"'accelerator' parameter .* must be None or an accel"):
        AcceleratedCNNClassifier("global_pool_cnn", accelerator="cuda").fit(X[:50], y[:50])
    with pytest.raises(ValueError, match=r"'device' parameter .* must be None when the Acc"):
        accelerated(device="cpu").fit(X[:50], y[:50])
    # Without device placement the device is the user's to choose.
    manual = AcceleratedCNNClassifier(
        "global_pool_cnn",
        accelerator=Accelerator(cpu=True, device_placement=False),
        device="cpu",
        **{**FAST, "max_epochs": 1},
    ).fit(X[:200], y[:200])
    assert manual.predict(X[:5]).shape == (5,)


def test_launched_processes_that_see_one_process_are_an_error(data, monkeypatch):
    X, y, _, _ = data
    clf = accelerated()  # the Accelerator is built first: it really is one process
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"launched as one of 2 .* ACCELERATE_USE_CPU=1"):
        clf.fit(X[:50], y[:50])


@pytest.mark.parametrize(
    "params, split, match",
    [
        ({"resume": True, "checkpoint_dir": "runs"}, False, r"resume=True is not supported .*"),
        ({"batch_size": 63}, True, r"'batch_size' parameter .* multiple of the 2 processes"),
    ],
    ids=["resume", "split_batches"],
)
def test_settings_rejected_across_processes(params, split, match):
    # A multi-process Accelerator needs a launch: its relevant attributes, checked alone.
    fake = SimpleNamespace(
        mixed_precision="no", num_processes=2, device_placement=True, split_batches=split
    )
    clf = AcceleratedCNNClassifier("global_pool_cnn", **params)
    with pytest.raises(ValueError, match=match):
        clf._check_accelerator(fake)
    AcceleratedCNNClassifier("global_pool_cnn")._check_accelerator(fake)  # defaults pass


def test_make_accelerated_keeps_the_parameters():
    base = make_fast_cnn(max_epochs=4, lr=0.01)
    accelerator = Accelerator(cpu=True)
    clf = make_accelerated(base, accelerator=accelerator)
    assert type(clf) is AcceleratedCNNClassifier
    assert clf.accelerator is accelerator and clf.device is None
    params = clf.get_params(deep=False)
    for key, value in base.get_params(deep=False).items():
        if key != "device":
            assert params[key] is value or params[key] == value, key
    with pytest.raises(TypeError, match="make_accelerated needs a CNNClassifier"):
        make_accelerated(GridSearchCV(base, {}))


def test_import_without_accelerate_and_clear_error_at_fit(monkeypatch):
    # Importing the module needs skorch only; Accelerate is imported when a fit needs it.
    monkeypatch.setitem(sys.modules, "accelerate", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "cnn_estimators.accelerated")
    module = importlib.import_module("cnn_estimators.accelerated")
    clf = module.AcceleratedCNNClassifier("mlp", max_epochs=1)
    with pytest.raises(ImportError, match=r"pip install 'cnn-estimators\[accelerate\]'"):
        clf.fit(np.zeros((4, 1, 8, 8), np.float32), [0, 1, 0, 1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_on_cpu(tmp_path):
    """`accelerate launch` with 2 CPU processes: disjoint shards, same final weights.

    ``accelerate launch --cpu`` starts one process (its simple launcher), so the command is
    ``--multi_gpu`` (torchrun) with the script's ``Accelerator(cpu=True)``: gloo on the
    loopback interface.
    """
    report = tmp_path / "report.json"
    batch_size = 64
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port()),
        str(ROOT / "examples" / "accelerate_train.py"),
        "--quick", "--cpu", "--batch-size", str(batch_size), "--report", str(report),
    ]  # fmt: skip
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}
    }
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the launcher and its workers form one process group
    )
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, stderr[-4000:]
    result = json.loads(report.read_text())

    assert result["num_processes"] == 2
    n_train = result["n_train"]
    one_process = math.ceil(n_train / batch_size)
    per_process = math.ceil(one_process / 2)
    assert per_process < one_process
    # Every process runs half the batches of a one-process epoch, in every epoch.
    assert result["batches_per_epoch"][0] == result["batches_per_epoch"][1]
    assert set(result["batches_per_epoch"][0]) == {per_process}
    assert result["images_epoch_1"] == [per_process * batch_size] * 2
    # Together they saw every training image once, plus Accelerate's padding of the last
    # round of batches (images from the start of the epoch, the only ones seen twice).
    assert result["padding"] == 2 * per_process * batch_size - n_train
    assert result["distinct_images_epoch_1"] == n_train
    assert sum(result["images_epoch_1"]) - n_train == result["padding"]
    assert result["shared_images_epoch_1"] <= result["padding"] < 2 * batch_size
    # Losses and scores are those of both processes together, so both recorded the same
    # history (and made the same decisions); gradients were averaged and the best weights
    # sent from the main process.
    history = np.array(result["histories"])
    assert history.shape == (2, 6, 3) and np.isfinite(history).all()
    np.testing.assert_array_equal(history[0], history[1])
    assert history[0, -1, 0] < history[0, 0, 0]  # the training loss went down
    assert result["checksums"][0] == result["checksums"][1]
    assert result["best_validation_accuracy"] > 0.6
    assert result["test_accuracy"] > 0.6  # chance is 0.1
    assert "identical weights on every process: True" in stdout


@pytest.mark.parametrize("mixed", ["no", "fp16", "bf16"])
def test_precision_auto_leaves_the_precision_to_the_accelerator(data, mixed, monkeypatch):
    import cnn_estimators._precision as precision_module

    # Even where the CPU computes in bf16, "auto" adds no autocast of the estimator's own.
    monkeypatch.setattr(precision_module, "bf16_supported", lambda device: True)
    X, y, _, _ = data
    clf = AcceleratedCNNClassifier(
        "global_pool_cnn",
        accelerator=Accelerator(cpu=True, mixed_precision=mixed),
        precision="auto",
        **{**FAST, "max_epochs": 1},
    ).fit(X[:100], y[:100])
    assert clf.precision_ == "float32"
    assert isinstance(clf._autocast(), contextlib.nullcontext)
