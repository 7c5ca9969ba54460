"""The CNNClassifier contract: labels, inputs, shapes, seeding, validation, weights, persistence."""

from __future__ import annotations

import pickle
import random
import warnings

import numpy as np
import pytest
import torch
from conftest import make_images
from sklearn.base import clone
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import GridSearchCV, cross_val_score
from skorch.callbacks import Callback
from torch import nn
from torchvision.transforms import v2

from cnn_estimators import CNNClassifier, get_model, make_mlp, summary, to_device


def small(module="mlp", **params):
    """A fast estimator for tests."""
    defaults = dict(max_epochs=2, random_state=0, device="cpu", lr=1e-2)
    if module == "mlp":
        defaults["module__hidden_sizes"] = (16,)
    defaults.update(params)
    return CNNClassifier(module, **defaults)


# ---------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "labels",
    [np.array([3, 7, 11]), np.array(["cat", "dog", "eel"]), np.array([True, False])],
    ids=["int-gaps", "strings", "bools"],
)
def test_any_labels_round_trip(labels):
    X, y_idx = make_images(n=60, n_classes=len(labels))
    y = labels[y_idx]
    est = small(max_epochs=15, validation_fraction=0).fit(X, y)
    np.testing.assert_array_equal(est.classes_, np.sort(labels))
    pred = est.predict(X)
    assert pred.dtype == y.dtype
    assert set(pred) <= set(labels)
    proba = est.predict_proba(X)
    assert proba.shape == (60, len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    # predict is the column of classes_ with the highest probability
    np.testing.assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])
    assert est.score(X, y) > 0.9


def test_classes_parameter_fixes_column_order():
    X, y = make_images(n=40, n_classes=2)
    est = small(classes=[1, 0, 5], validation_fraction=0).fit(X, y)
    np.testing.assert_array_equal(est.classes_, [1, 0, 5])
    assert est.predict_proba(X).shape == (40, 3)
    assert est.module_(torch.zeros(1, 1, 8, 8)).shape == (1, 3)


# ---------------------------------------------------------------- inputs
def _shape_seen(est, X):
    seen = {}

    def record(x):
        seen["shape"] = tuple(x.shape[1:])
        seen["max"] = float(x.max())
        seen["dtype"] = x.dtype
        return x

    est.set_params(eval_transform=record)
    est.fit(X, np.arange(len(X)) % 2)
    return seen


@pytest.mark.parametrize(
    ("shape", "params", "expected"),
    [
        ((20, 3, 8, 8), {}, (3, 8, 8)),  # NCHW
        ((20, 8, 8), {}, (1, 8, 8)),  # NHW grayscale
        ((20, 8, 8, 3), {}, (3, 8, 8)),  # NHWC, detected from the last axis
        ((20, 8, 8, 1), {}, (1, 8, 8)),
        ((20, 784), {}, (1, 28, 28)),  # flat, square inference
        ((20, 3072), {}, (3, 32, 32)),  # flat, RGB inference
        ((20, 2, 3, 4), {}, (2, 3, 4)),
        ((20, 48), {"image_shape": (3, 4, 4)}, (3, 4, 4)),  # flat with image_shape
        ((20, 10), {}, (1, 1, 10)),  # tabular: a 1-pixel-high strip
    ],
)
def test_layouts(shape, params, expected):
    X = np.random.default_rng(0).random(shape, dtype=np.float32)
    est = small(**params)
    seen = _shape_seen(est, X)
    assert seen["shape"] == expected
    assert est.image_shape_ == expected
    assert est.n_features_in_ == int(np.prod(expected))


def test_channels_last_transposes_pixels_correctly():
    rng = np.random.default_rng(0)
    nchw = rng.random((12, 3, 5, 6), dtype=np.float32)
    nhwc = nchw.transpose(0, 2, 3, 1).copy()
    y = np.arange(12) % 2
    a = small().fit(nchw, y).predict_proba(nchw)
    b = small().fit(nhwc, y).predict_proba(nhwc)
    np.testing.assert_array_equal(a, b)


def test_uint8_scaled_float64_cast_tensor_and_list_inputs():
    X, y = make_images(n=20, dtype=np.uint8)
    seen = _shape_seen(small(), X)
    assert seen["max"] <= 1.0 and seen["dtype"] == torch.float32
    seen = _shape_seen(small(), X.astype(np.float64))
    assert seen["max"] > 1.0 and seen["dtype"] == torch.float32  # floats are not rescaled
    Xf = X.astype(np.float32) / 255
    ref = small().fit(Xf, y).predict_proba(Xf)
    np.testing.assert_allclose(small().fit(torch.from_numpy(Xf), y).predict_proba(Xf), ref)
    np.testing.assert_allclose(small().fit(Xf.tolist(), y.tolist()).predict_proba(Xf), ref)
    # uint8 input gives the same model as the same pixels scaled by hand
    np.testing.assert_allclose(small().fit(X, y).predict_proba(Xf), ref, atol=1e-6)


def test_uint8_training_data_is_not_copied_to_float():
    X, y = make_images(n=20, dtype=np.uint8)
    est = small()
    batches = []
    est.set_params(eval_transform=lambda x: batches.append(x.shape[0]) or x)
    est.fit(X, y)
    # batches are converted one at a time: never a float copy of the whole set
    assert max(batches) <= est.batch_size


def test_fit_never_changes_parameters(images):
    X, y = images
    est = small(
        "global_pool_cnn",
        lr_schedule="cosine",
        keep_best=True,
        callbacks__lr_scheduler__eta_min=1e-4,
    )
    before = est.get_params(deep=False)
    est.fit(X, y)
    after = est.get_params(deep=False)
    assert before.keys() == after.keys()
    for key in before:
        assert before[key] is after[key], key
    assert est.get_params()["device"] == "cpu"
    assert CNNClassifier().get_params()["device"] == "auto"


def test_shapes_inferred_and_user_module_params_win():
    X, y = make_images(n=30, shape=(3, 12, 12), n_classes=3)
    est = small("fashion_cnn").fit(X, y)
    first = est.module_.features[0] if hasattr(est.module_, "features") else None
    assert isinstance(first, nn.Conv2d) and first.in_channels == 3
    assert est.module_(torch.zeros(2, 3, 12, 12)).shape == (2, 3)
    with pytest.raises(ValueError, match="module__num_classes=5 does not match the 3 classes"):
        small("fashion_cnn", module__num_classes=5).fit(X, y)


def test_eval_transform_resize_sizes_the_network(digit_images):
    X, y = digit_images
    est = small("fashion_cnn", eval_transform=v2.Resize((28, 28)), max_epochs=1)
    est.fit(X[:200], y[:200])
    assert est.image_shape_ == (1, 8, 8)
    assert est.predict(X[:5]).shape == (5,)


def test_variable_size_prediction_for_global_pooling():
    X, y = make_images(n=30, shape=(1, 16, 16))
    est = small("global_pool_cnn").fit(X, y)
    Xbig, _ = make_images(n=4, shape=(1, 24, 20))
    assert est.predict_proba(Xbig).shape == (4, 2)
    fixed = small("fashion_cnn").fit(X, y)
    with pytest.raises(ValueError, match="only accepts that size"):
        fixed.predict(Xbig)


class TinyNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=2, width=4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, num_classes),
        )

    def forward(self, x):
        return self.net(x)


def test_module_class_gets_only_the_arguments_it_accepts(images):
    X, y = images
    est = small(TinyNet, module__width=3).fit(X, y)
    assert est.module_.net[0].out_channels == 3
    assert est.predict(X).shape == (len(X),)


# ---------------------------------------------------------------- random_state
def test_same_seed_same_model_different_seed_different_model(digits):
    X, y = digits
    a = small("global_pool_cnn", random_state=1).fit(X[:300], y[:300])
    b = small("global_pool_cnn", random_state=1).fit(X[:300], y[:300])
    c = small("global_pool_cnn", random_state=2).fit(X[:300], y[:300])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.history_[:, "train_loss"] == b.history_[:, "train_loss"]
    wa = next(a.module_.parameters()).detach()
    wc = next(c.module_.parameters()).detach()
    assert not torch.equal(wa, wc)


def test_fit_does_not_touch_global_random_state(images):
    X, y = images
    torch_state = torch.get_rng_state().clone()
    np_state = np.random.get_state()[1].copy()
    py_state = random.getstate()
    small(random_state=0).fit(X, y)
    assert torch.equal(torch_state, torch.get_rng_state())
    np.testing.assert_array_equal(np_state, np.random.get_state()[1])
    assert py_state == random.getstate()


def test_numpy_and_python_randomness_in_training_is_seeded(images):
    X, y = images
    draws = []

    def noisy(x):  # a user's augmentation drawing from the global generators
        draws.append((np.random.rand(), random.random()))
        return x + float(np.random.rand()) * 0.01

    a = small(train_transform=noisy, random_state=5).fit(X, y).predict_proba(X)
    first, draws[:] = list(draws), []
    b = small(train_transform=noisy, random_state=5).fit(X, y).predict_proba(X)
    assert first == draws
    np.testing.assert_array_equal(a, b)


def test_reproducible_inside_cross_val_score_with_two_jobs(digits):
    X, y = digits
    est = small("global_pool_cnn", random_state=0, max_epochs=2)
    serial = cross_val_score(est, X[:600], y[:600], cv=3, n_jobs=1)
    parallel = cross_val_score(est, X[:600], y[:600], cv=3, n_jobs=2)
    np.testing.assert_array_equal(serial, parallel)


def test_validation_split_is_stratified_and_seeded(digits):
    _, y = digits
    est = small(validation_fraction=0.2, random_state=3)
    split_a = est._split_indices(y, 3)
    split_b = est._split_indices(y, 3)
    np.testing.assert_array_equal(split_a[1], split_b[1])
    counts = np.bincount(y[split_a[1]], minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~20% of ~180 per class
    assert len(np.intersect1d(*split_a)) == 0


# ---------------------------------------------------------------- validation and curves
def test_mlp_style_attributes(digits):
    X, y = digits
    est = small(max_epochs=3).fit(X, y)
    assert est.n_iter_ == 3
    assert len(est.loss_curve_) == 3 and len(est.validation_scores_) == 3
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert 0 <= est.best_validation_score_ <= 1
    no_val = small(max_epochs=2, validation_fraction=0).fit(X, y)
    assert no_val.validation_scores_ is None and no_val.best_validation_score_ is None
    assert "valid_loss" not in no_val.history_[-1]


def test_early_stopping_stops(digits):
    X, y = digits
    # tol=1 can never be met: training stops after n_iter_no_change epochs without improvement
    est = small(max_epochs=20, early_stopping=True, n_iter_no_change=2, tol=1.0).fit(X, y)
    assert est.n_iter_ == 3


def test_early_stopping_on_validation_loss(digits):
    X, y = digits
    est = small(
        max_epochs=20,
        early_stopping=True,
        n_iter_no_change=2,
        tol=1e9,
        callbacks__early_stopping__monitor="valid_loss",
        callbacks__early_stopping__lower_is_better=True,
    ).fit(X, y)
    assert est.n_iter_ == 3


# ---------------------------------------------------------------- optimizers
@pytest.mark.parametrize("name", ["sgd", "Adam", "ADAMW", "rmsprop", torch.optim.Adagrad])
def test_optimizer_names_and_classes(name, images):
    X, y = images
    est = small(optimizer=name).fit(X, y)
    expected = (
        name
        if isinstance(name, type)
        else {
            "sgd": torch.optim.SGD,
            "adam": torch.optim.Adam,
            "adamw": torch.optim.AdamW,
            "rmsprop": torch.optim.RMSprop,
        }[name.lower()]
    )
    assert type(est.optimizer_) is expected


def test_optimizer_routed_arguments(images):
    X, y = images
    est = small(optimizer="sgd", optimizer__momentum=0.9, lr=0.05).fit(X, y)
    assert est.optimizer_.param_groups[0]["momentum"] == 0.9
    assert est.optimizer_.param_groups[0]["lr"] == 0.05


def test_frozen_parameters_are_not_given_to_the_optimizer(images):
    X, y = images
    est = small("resnet18", module__image_size=32, module__freeze="all_but_fc", max_epochs=1)
    est.fit(np.repeat(X, 3, axis=1), y)
    in_optimizer = {id(p) for g in est.optimizer_.param_groups for p in g["params"]}
    assert in_optimizer == {id(p) for p in est.module_.fc.parameters()}


# ---------------------------------------------------------------- weights
def test_class_weight_equals_the_same_sample_weight(images):
    X, y = images
    full = dict(batch_size=-1, validation_fraction=0, precision="float64")
    a = small(class_weight={0: 3.0, 1: 1.0}, **full).fit(X, y)
    b = small(**full).fit(X, y, sample_weight=np.where(y == 0, 3.0, 1.0))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-10)


def test_balanced_class_weight_and_string_keys():
    X, y_idx = make_images(n=40)
    y = np.array(["a", "b"])[y_idx]
    y[:6] = "a"  # imbalance
    full = dict(batch_size=-1, validation_fraction=0, precision="float64")
    counts = {c: (y == c).sum() for c in ("a", "b")}
    manual = {c: len(y) / (2 * counts[c]) for c in counts}
    a = small(class_weight="balanced", **full).fit(X, y)
    b = small(class_weight=manual, **full).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-10)


def test_integer_sample_weight_equals_repeating_samples(images):
    X, y = images
    full = dict(batch_size=-1, validation_fraction=0, precision="float64", max_epochs=5)
    w = np.arange(len(y)) % 3
    a = small(**full).fit(X, y, sample_weight=w)
    b = small(**full).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-9)


def test_weights_change_the_model(images):
    X, y = images
    full = dict(batch_size=-1, validation_fraction=0)
    a = small(**full).fit(X, y).predict_proba(X)
    b = small(**full, class_weight={0: 10.0, 1: 1.0}).fit(X, y).predict_proba(X)
    assert b[:, 0].mean() > a[:, 0].mean()


# ---------------------------------------------------------------- persistence and sklearn tools
def test_clone_pickle_set_params_round_trip(images):
    X, y = images
    est = small(
        "global_pool_cnn",
        optimizer="sgd",
        optimizer__momentum=0.9,
        callbacks__valid_acc__lower_is_better=False,
    )
    cloned = clone(est)
    assert cloned.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    restored = pickle.loads(pickle.dumps(est))
    assert restored.get_params()["optimizer__momentum"] == 0.9
    est.fit(X, y)
    fitted_copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(fitted_copy.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(fitted_copy.classes_, est.classes_)
    assert not hasattr(clone(est), "module_")
    est.set_params(lr=0.5, module__global_pool="avg")
    assert est.lr == 0.5 and est.get_params()["module__global_pool"] == "avg"


def test_pickled_auto_device_stays_auto(images):
    X, y = images
    est = small(device="auto").fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    assert restored.get_params()["device"] == "auto"
    assert restored.device == "cpu"


def test_cross_val_score_five_folds_on_digits(digits):
    X, y = digits
    scores = cross_val_score(small("global_pool_cnn", max_epochs=4, lr=3e-3), X, y, cv=5)
    assert scores.shape == (5,)
    assert scores.mean() > 0.5  # 4 short epochs on real digits; chance is 0.1


def test_grid_search_over_optimizers_on_digits(digits):
    X, y = digits
    grid = [
        {"optimizer": ["sgd"], "optimizer__momentum": [0.0, 0.9], "lr": [0.05]},
        {"optimizer": ["adam", "rmsprop"], "lr": [1e-2]},
    ]
    search = GridSearchCV(small(max_epochs=6), grid, cv=3).fit(X[:600] / 16, y[:600])
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.6
    assert search.best_estimator_.predict(X[:3]).shape == (3,)


def test_confusion_matrix_display(digits):
    X, y = digits
    est = small(max_epochs=3).fit(X, y)
    disp = ConfusionMatrixDisplay.from_estimator(est, X, y)
    assert disp.confusion_matrix.shape == (10, 10)
    assert disp.confusion_matrix.sum() == len(y)


def test_partial_fit_and_warm_start_continue_training(images):
    X, y = images
    est = small(max_epochs=2)
    est.partial_fit(X, y)
    weights = [p.detach().clone() for p in est.module_.parameters()]
    est.partial_fit(X, y)
    assert len(est.history_) == 4 and est.n_iter_ == 4
    assert any(
        not torch.equal(a, b) for a, b in zip(weights, est.module_.parameters(), strict=True)
    )
    warm = small(max_epochs=2, warm_start=True).fit(X, y).fit(X, y)
    assert len(warm.history_) == 4
    cold = small(max_epochs=2).fit(X, y).fit(X, y)
    assert len(cold.history_) == 2


def test_partial_fit_classes_argument(images):
    X, y = images
    est = small().partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert est.get_params()["classes"] is None


def test_train_transform_runs_only_on_training_batches(images):
    X, y = images
    seen = []

    def count(x):
        seen.append(len(x))
        return x

    est = small(train_transform=count, validation_fraction=0.25, batch_size=8, max_epochs=2)
    est.fit(X, y)
    n_train = len(X) - 10
    assert sum(seen) == 2 * n_train  # training images of both epochs, nothing else
    seen.clear()
    est.predict_proba(X)
    est.score(X, y)
    assert seen == []


def test_precision_options(images):
    X, y = images
    est64 = small(precision="float64").fit(X, y)
    assert next(est64.module_.parameters()).dtype == torch.float64
    assert est64.predict_proba(X).dtype == np.float64
    bf16 = small("global_pool_cnn", precision="bf16").fit(X, y)
    assert bf16.predict_proba(X).dtype == np.float32
    assert np.isfinite(bf16.loss_curve_).all()


class _GradNorms(Callback):
    """Records the gradient norm seen by on_grad_computed callbacks (e.g. clipping)."""

    def initialize(self):
        self.norms_, self.before_, self.after_ = [], [], []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.before_.append(next(net.module_.parameters()).detach().clone())

    def on_grad_computed(self, net, named_parameters, **kwargs):
        params = [p for _, p in named_parameters]
        self.norms_.append(float(torch.cat([p.grad.flatten() for p in params]).norm()))

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.after_.append(next(net.module_.parameters()).detach().clone())


def test_fp16_autocast_with_a_gradient_scaler(digits):
    X, y = digits
    kw = dict(max_epochs=1, batch_size=64, validation_fraction=0, lr=3e-3)
    ref = _GradNorms()
    small("global_pool_cnn", callbacks=[("norms", ref)], **kw).fit(X, y)
    rec = _GradNorms()
    est = small("global_pool_cnn", precision="fp16", callbacks=[("norms", rec)], **kw)
    est.fit(X, y)
    assert isinstance(est.grad_scaler_, torch.amp.GradScaler)
    assert est.grad_scaler_.get_scale() >= 2.0**15  # no overflow in this run
    # the callbacks see true gradients (unscaled), as gradient clipping needs
    assert rec.norms_[0] == pytest.approx(ref.norms_[0], rel=0.05)
    assert est.predict_proba(X).dtype == np.float32
    assert est.score(X, y) > 0.5
    assert est.training_state()["grad_scaler"]["scale"] == est.grad_scaler_.get_scale()
    with torch.no_grad(), est._autocast():
        assert est.module_(
            est._prepare_batch(torch.from_numpy(X[:2]).view(2, 1, 8, 8), False)
        ).dtype == (torch.float16)


def test_fp16_step_with_an_overflow_is_skipped_and_the_scale_lowered(digits, monkeypatch):
    X, y = digits
    scale = torch.amp.GradScaler.scale
    calls = []

    def overflow_first(self, outputs):
        calls.append(1)
        return scale(self, outputs) * (float("inf") if len(calls) == 1 else 1.0)

    monkeypatch.setattr(torch.amp.GradScaler, "scale", overflow_first)
    rec = _GradNorms()
    est = small(
        "global_pool_cnn",
        precision="fp16",
        callbacks=[("norms", rec)],
        max_epochs=1,
        batch_size=64,
        validation_fraction=0,
    )
    est.fit(X[:192], y[:192])  # three batches
    assert torch.equal(rec.after_[0], rec.before_[0])  # the overflowing step was skipped
    assert not torch.equal(rec.after_[1], rec.before_[1])  # the next ones were taken
    assert est.grad_scaler_.get_scale() == 2.0**15  # 2**16 halved once


def test_device_auto_resolves_and_to_device(images):
    X, y = images
    est = small(device="auto").fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert est.device == expected
    to_device(est, "cpu")
    assert est.device == "cpu" and est.get_params()["device"] == "cpu"
    assert next(est.module_.parameters()).device.type == "cpu"
    assert est.to_device("cpu") is est


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_and_move_to_cpu(images):
    X, y = images
    est = small(device="cuda", optimizer="adam").fit(X, y)
    assert next(est.module_.parameters()).is_cuda
    proba_cuda = est.predict_proba(X)
    to_device(est, "cpu")
    assert not next(est.module_.parameters()).is_cuda
    for state in est.optimizer_.state.values():
        assert all(not v.is_cuda for v in state.values() if torch.is_tensor(v))
    np.testing.assert_allclose(est.predict_proba(X), proba_cuda, atol=1e-5)
    est.partial_fit(X, y)  # training continues on the CPU


def test_summary_of_fitted_estimator(images):
    X, y = images
    est = small("fashion_cnn", max_epochs=1).fit(np.repeat(np.repeat(X, 2, 2), 2, 3), y)
    table = summary(est, (1, 16, 16))
    assert table.attrs["total_params"] == sum(p.numel() for p in est.module_.parameters())


def test_make_mlp_passes_digits_quickly(digits):
    X, y = digits
    est = make_mlp(max_epochs=5, random_state=0, device="cpu").fit(X / 16, y)
    assert est.score(X / 16, y) > 0.9


def test_batch_losses_are_recorded_as_floats(images):
    X, y = images
    est = small(max_epochs=2, batch_size=8).fit(X, y)
    for epoch in est.history_:
        train = [b["train_loss"] for b in epoch["batches"] if "train_loss" in b]
        valid = [b["valid_loss"] for b in epoch["batches"] if "valid_loss" in b]
        assert train and valid
        assert all(type(v) is float for v in train + valid)
        sizes = [b["train_batch_size"] for b in epoch["batches"] if "train_loss" in b]
        assert epoch["train_loss"] == pytest.approx(np.average(train, weights=sizes))


def test_predict_does_not_touch_global_random_state(images):
    X, y = images
    est = small().fit(X, y)
    state = torch.get_rng_state().clone()
    est.predict_proba(X)
    est.score(X, y)
    assert torch.equal(state, torch.get_rng_state())


class StrideRecorder(nn.Module):
    """Records the strides of the batches the estimator feeds it."""

    seen: list = []

    def __init__(self, in_channels=1, num_classes=2):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        StrideRecorder.seen.append(tuple(x.stride()))
        return self.head(self.conv(x).mean(dim=(2, 3)))


def test_one_channel_batches_get_channels_last_strides(images):
    X, y = images  # (40, 1, 8, 8)
    StrideRecorder.seen = []
    est = small(StrideRecorder, batch_size=8, validation_fraction=0).fit(X, y)
    assert set(StrideRecorder.seen) == {(64, 1, 8, 1)}  # oneDNN's fast kernels
    StrideRecorder.seen = []
    rgb = np.repeat(X, 3, axis=1)
    small(StrideRecorder, batch_size=8, validation_fraction=0).fit(rgb, y)
    assert set(StrideRecorder.seen) == {(192, 64, 8, 1)}  # 3 channels: left contiguous
    np.testing.assert_allclose(est.predict_proba(X).sum(axis=1), 1, rtol=1e-6)


class _InPlaceScale(nn.Module):
    """An eval_transform that works in place (as v2.Normalize(inplace=True) would)."""

    def forward(self, x):
        return x.mul_(2.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_prediction_batches_without_a_dataloader_match_the_dataloader_ones(images, dtype):
    from torch.utils.data import DataLoader

    from cnn_estimators._data import SequentialBatches

    X, y = images
    X = (X * 255).astype(np.uint8) if dtype == np.uint8 else X
    est = small("global_pool_cnn", batch_size=16, eval_transform=_InPlaceScale()).fit(X, y)
    before = X.copy()
    dataset = est._as_dataset(X)
    assert isinstance(est.get_iterator(dataset), SequentialBatches)
    assert len(est.get_iterator(dataset)) == 3  # 40 images, batches of 16, 16, 8
    light = est.predict_proba(X)
    np.testing.assert_array_equal(X, before)  # the in-place transform saw a copy
    # any iterator_valid__* argument keeps the DataLoader (here: the same 0 workers)
    est.set_params(iterator_valid__num_workers=0)
    assert isinstance(est.get_iterator(dataset), DataLoader)
    np.testing.assert_array_equal(est.predict_proba(X), light)
    np.testing.assert_array_equal(X, before)
    # a subset (as in cross-validation) gives its own rows, in order
    batches = [b[0] for b in SequentialBatches(dataset.subset([5, 1, 7]), 2)]
    assert torch.equal(torch.cat(batches), dataset.images[[5, 1, 7]])
    assert [len(b) for b in batches] == [2, 1]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_prediction_inputs_are_the_images_of_the_batches(dtype, weighted):
    from cnn_estimators._data import ImageTensorDataset, SequentialBatches

    images = torch.arange(7 * 2 * 2, dtype=torch.float32).reshape(7, 1, 2, 2).to(dtype)
    original = images.clone()  # the dataset holds `images` itself, not a copy
    weights = torch.linspace(0.5, 2.0, 7) if weighted else None
    dataset = ImageTensorDataset(images, torch.arange(7), sample_weight=weights)
    for data in (dataset, dataset.subset([6, 0, 3, 2])):
        batches = SequentialBatches(data, 3)
        inputs = list(batches.inputs())
        full = [x["X"] if isinstance(x, dict) else x for x, _ in batches]
        sizes = [3, 3, 1] if len(data) == 7 else [3, 1]
        assert [len(x) for x in inputs] == [len(x) for x in full] == sizes
        for a, b in zip(inputs, full, strict=True):
            assert a.dtype == dtype and torch.equal(a, b)
        # float batches are copies: writing into one leaves the dataset's images alone
        if dtype == torch.float32:
            inputs[0].add_(100.0)
            assert torch.equal(images, original)


def test_prediction_sets_eval_mode_even_if_the_network_was_left_in_training_mode(images):
    X, y = images
    est = small(module__dropout=0.5, module__hidden_sizes=(64,), max_epochs=1).fit(X, y)
    expected = est.predict_proba(X)
    est.module_.train()  # e.g. by user code between calls
    np.testing.assert_array_equal(est.predict_proba(X), expected)  # dropout is off
    assert not est.module_.training


@pytest.mark.parametrize("optimizer", ["adam", "AdamW", "sgd"])
def test_named_optimizers_use_the_fused_implementation(images, optimizer):
    X, y = images
    est = small(optimizer=optimizer, max_epochs=1).fit(X, y)
    assert est.optimizer_.defaults["fused"] is True
    # the same update as the default implementation, up to rounding
    plain = small(optimizer=optimizer, max_epochs=1, optimizer__fused=False).fit(X, y)
    assert not plain.optimizer_.defaults["fused"]
    for a, b in zip(est.module_.parameters(), plain.module_.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fused_implementation_is_not_forced_on_classes_or_other_choices(images):
    X, y = images
    by_class = small(optimizer=torch.optim.Adam, max_epochs=1).fit(X, y)
    assert not by_class.optimizer_.defaults.get("fused")
    foreach = small(optimizer="adam", optimizer__foreach=True, max_epochs=1).fit(X, y)
    assert not foreach.optimizer_.defaults.get("fused") and foreach.optimizer_.defaults["foreach"]
    rmsprop = small(optimizer="rmsprop", max_epochs=1).fit(X, y)  # no fused RMSprop
    assert "fused" not in rmsprop.optimizer_.defaults


@pytest.mark.parametrize("nonlinearity", ["auto", None])
def test_lean_in_memory_prediction_equals_skorchs_loop(images, nonlinearity):
    from skorch import NeuralNet

    X, y = images
    est = small("global_pool_cnn", batch_size=16, predict_nonlinearity=nonlinearity).fit(X, y)
    dataset = est._as_dataset(X)
    assert est._lean_batches(dataset) is not None
    np.testing.assert_array_equal(est.predict_proba(X), NeuralNet.predict_proba(est, dataset))

    class Traced(CNNClassifier):
        calls = 0

        def evaluation_step(self, batch, training=False):
            Traced.calls += 1
            return super().evaluation_step(batch, training)

    traced = Traced("global_pool_cnn", batch_size=16, max_epochs=1, random_state=0, device="cpu")
    traced.fit(X, y)
    Traced.calls = 0
    traced.predict_proba(X)
    assert Traced.calls == 3  # a subclass that changes the per-batch step keeps skorch's loop


def test_deep_params_show_callback_settings_set_in_init_and_set_params(images):
    X, y = images
    est = small(early_stopping=True, callbacks__early_stopping__patience=3)
    assert est.get_params(deep=True)["callbacks__early_stopping__patience"] == 3
    est.set_params(callbacks__early_stopping__patience=7)
    assert est.get_params(deep=True)["callbacks__early_stopping__patience"] == 7
    est.fit(X, y)
    assert dict(est.callbacks_)["early_stopping"].patience == 7
    assert est.get_params(deep=True)["callbacks__early_stopping__patience"] == 7
    est.set_params(callbacks__early_stopping__patience=2)  # applied at the next fit
    assert est.get_params(deep=True)["callbacks__early_stopping__patience"] == 2
    assert clone(est).get_params(deep=True)["callbacks__early_stopping__patience"] == 2


def _first_training_batch(random_state, X, y):
    seen = []

    def record(x):
        seen.append(x.clone())
        return x

    small(
        random_state=random_state,
        max_epochs=1,
        validation_fraction=0,
        batch_size=8,
        train_transform=record,
    ).fit(X, y)
    return seen[0]


def test_random_state_decides_the_batch_order(images):
    X, y = images
    a = _first_training_batch(0, X, y)
    assert torch.equal(a, _first_training_batch(0, X, y))
    others = [_first_training_batch(seed, X, y) for seed in (1, 2)]
    assert not any(torch.equal(a, b) for b in others)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_uint8_images_are_scaled_to_unit_range_in_every_precision(precision):
    X, y = make_images(n=20, dtype=np.uint8)
    seen = []
    est = small(precision=precision, max_epochs=1).fit(X, y)
    est.set_params(eval_transform=lambda x: seen.append(x.clone()) or x)
    est.predict_proba(X)
    dtype = torch.float64 if precision == "float64" else torch.float32
    expected = torch.from_numpy(X).to(dtype) / 255
    got = torch.cat(seen)
    assert got.dtype == dtype
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    ("scale", "offset", "warns"),
    [(255.0, 0.0, True), (16.0, 0.0, True), (1.0, 0.0, False), (3.0, -1.5, False)],
    ids=["0-255", "0-16", "0-1", "standardised"],
)
def test_float_images_above_one_warn_once_and_are_not_rescaled(scale, offset, warns):
    from cnn_estimators.estimator import PixelRangeWarning

    X, y = make_images(n=20)
    X = (X * scale + offset).astype(np.float32)
    seen = []
    est = small(max_epochs=2, eval_transform=lambda x: seen.append(float(x.max())) or x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
        est.predict(X)
    ours = [w for w in caught if issubclass(w.category, PixelRangeWarning)]
    assert len(ours) == (1 if warns else 0)  # once per fit, never per batch or predict
    if warns:
        assert f"X / {X.max():g} here; X / 255 for 8-bit pixels" in str(ours[0].message)
    assert max(seen) == pytest.approx(float(X.max()))  # used as given, never rescaled


def test_uint8_images_do_not_warn_about_their_range():
    from cnn_estimators.estimator import PixelRangeWarning

    X, y = make_images(n=20, dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PixelRangeWarning)
        small(max_epochs=1).fit(X, y)


def test_set_params_after_fit_rebuilds_what_changed_at_the_next_partial_fit(images):
    """set_params on a fitted estimator marks what it changed; the next partial_fit
    rebuilds exactly that: a new optimizer keeps the weights, a new module starts over."""
    X, y = images
    est = small("global_pool_cnn", max_epochs=1).fit(X, y)
    weights = [p.detach().clone() for p in est.module_.parameters()]
    est.set_params(optimizer="sgd", lr=0.01)
    assert isinstance(est.optimizer_, torch.optim.Adam)  # nothing is rebuilt before fit
    est.partial_fit(X, y)
    assert isinstance(est.optimizer_, torch.optim.SGD)
    assert len(est.history_) == 2  # continued: same network, one more epoch
    after = list(est.module_.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(weights, after, strict=True))
    est.set_params(module="mlp")
    est.partial_fit(X, y)
    assert (
        type(est.module_).__name__
        == type(get_model("mlp", in_channels=1, num_classes=3, input_size=(8, 8))).__name__
    )
    assert type(est.module_).__name__ != "GlobalPoolCNN"
    assert len(est.history_) == 1  # a new network cannot continue the old one's training
    est.partial_fit(X, y)  # and the marks were used up: this call continues
    assert len(est.history_) == 2
