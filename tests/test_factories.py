"""Factories return configured, clonable CNNClassifier instances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from cnn_estimators import (
    CNNClassifier,
    make_cifar_cnn,
    make_classifier,
    make_fashion_mnist_cnn,
    make_fast_cnn,
    make_mlp,
    make_mnist_cnn,
    make_resnet18_classifier,
)
from cnn_estimators._plan import plan_epochs
from cnn_estimators.factories import (
    _FAST_MIN_STEPS,
    _FAST_V2_MIN_STEPS,
    CIFAR10_MEAN,
    FASHION_MNIST_MEAN,
    MNIST_MEAN,
)

FACTORIES = [
    make_mlp,
    make_mnist_cnn,
    make_fashion_mnist_cnn,
    make_cifar_cnn,
    make_resnet18_classifier,
    make_fast_cnn,
]


@pytest.mark.parametrize("factory", FACTORIES)
def test_factories_return_clonable_estimators(factory):
    est = factory()
    assert isinstance(est, CNNClassifier)
    cloned = clone(est)
    assert cloned.get_params(deep=False).keys() == est.get_params(deep=False).keys()


@pytest.mark.parametrize("factory", FACTORIES)
def test_model_argument_and_overrides(factory):
    est = factory(model="global_pool_cnn", lr=0.123, max_epochs=1)
    assert est.module == "global_pool_cnn" and est.lr == 0.123 and est.max_epochs == 1


def test_dataset_defaults():
    assert make_cifar_cnn().optimizer == "sgd"
    assert make_cifar_cnn().get_params()["optimizer__momentum"] == 0.9
    assert "optimizer__momentum" not in make_cifar_cnn(optimizer="adam").get_params()
    for factory, mean in [
        (make_cifar_cnn, CIFAR10_MEAN),
        (make_mnist_cnn, MNIST_MEAN),
        (make_fashion_mnist_cnn, FASHION_MNIST_MEAN),
    ]:
        got = factory().eval_transform.mean.flatten().tolist()
        assert got == pytest.approx(mean)
    res = make_resnet18_classifier()
    assert (res.lr, res.batch_size, res.optimizer) == (5e-4, 32, "adam")
    assert res.module__freeze == "all_but_layer4" and res.module__image_size == 224


def test_make_classifier():
    est = make_classifier("bn_cnn", lr=0.5)
    assert est.module == "bn_cnn" and est.lr == 0.5
    with pytest.raises(ValueError, match="Did you mean 'bn_cnn'"):
        make_classifier("bn_cn")


def test_cifar_factory_trains_on_rgb_images():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (32, 3, 16, 16), dtype=np.uint8)
    y = np.arange(32) % 2
    est = make_cifar_cnn(max_epochs=1, random_state=0, device="cpu").fit(X, y)
    assert isinstance(est.optimizer_, torch.optim.SGD)
    assert est.predict(X).shape == (32,)


def test_resnet18_factory_trains_small():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (8, 3, 16, 16), dtype=np.uint8)
    y = np.arange(8) % 2
    est = make_resnet18_classifier(
        image_size=32, max_epochs=1, random_state=0, device="cpu", batch_size=4
    ).fit(X, y)
    trainable = {n.split(".")[0] for n, p in est.module_.named_parameters() if p.requires_grad}
    assert trainable == {"layer4", "fc"}
    assert est.predict_proba(X).shape == (8, 2)


@pytest.mark.parametrize("optimizer", ["sgd", "SGD", "Sgd", torch.optim.SGD, "rmsprop"])
def test_cifar_factory_keeps_momentum_for_optimizers_that_take_it(optimizer):
    assert make_cifar_cnn(optimizer=optimizer).get_params()["optimizer__momentum"] == 0.9


def test_fast_cnn_recipe_trains():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (64, 1, 12, 12), dtype=np.uint8)
    y = np.arange(64) % 2
    est = make_fast_cnn(max_epochs=2, random_state=0, device="cpu").fit(X, y)
    group = est.optimizer_.param_groups[0]
    assert isinstance(est.optimizer_, torch.optim.SGD) and group["nesterov"]
    assert group["weight_decay"] == 5e-4 and est.criterion_.label_smoothing == 0.1
    assert dict(est.callbacks_)["lr_scheduler"].lr_scheduler_.total_steps == 2 * 1


def test_fashion_mnist_recipes():
    fast = make_fashion_mnist_cnn()
    assert (fast.module, fast.optimizer, fast.lr, fast.lr_schedule) == (
        "fast_cnn_v2",
        "sgd",
        0.6,
        "onecycle",
    )
    assert (fast.batch_size, fast.max_epochs, fast.precision) == (256, 4, "auto")
    params = fast.get_params()
    assert params["optimizer__nesterov"] and params["optimizer__momentum"] == 0.9
    assert params["optimizer__weight_decay"] == 5e-4
    assert params["criterion__label_smoothing"] == 0.1
    course = make_fashion_mnist_cnn(recipe="course")
    assert (course.module, course.optimizer, course.lr, course.batch_size, course.max_epochs) == (
        "fashion_cnn",
        "adam",
        1e-3,
        128,
        10,
    )
    assert course.precision == "float32" and course.lr_schedule is None
    assert not any(k.startswith("optimizer__") for k in course.get_params())
    for est in (fast, course):
        assert est.eval_transform.mean.flatten().tolist() == pytest.approx(FASHION_MNIST_MEAN)


def test_accurate_recipe_is_the_fast_one_on_v3_longer_with_flips_and_flip_tta():
    fast, accurate = make_fashion_mnist_cnn(), make_fashion_mnist_cnn(recipe="accurate")
    changed = {
        k
        for k, v in accurate.get_params(deep=False).items()
        if repr(v) != repr(fast.get_params(deep=False)[k])
    }
    assert changed == {"module", "max_epochs", "train_transform", "tta"}
    assert (accurate.module, accurate.max_epochs, accurate.tta) == ("fast_cnn_v3", 24, "flip")
    assert type(accurate.train_transform).__name__ == "RandomHorizontalFlip"
    assert accurate.train_transform.p == 0.5 and accurate.min_steps == _FAST_V2_MIN_STEPS
    # each estimator gets its own transform module (clone-safe, nothing shared)
    assert make_fashion_mnist_cnn(recipe="accurate").train_transform is not accurate.train_transform
    # a max_epochs given replaces the floor, as for the other one-cycle recipes
    short = make_fashion_mnist_cnn(recipe="accurate", max_epochs=6)
    assert (short.max_epochs, short.min_steps, short.tta) == (6, None, "flip")


def test_accurate_recipe_flips_in_training_and_averages_the_mirror_at_prediction(monkeypatch):
    import cnn_estimators._precision as precision_module

    monkeypatch.setattr(precision_module, "bf16_supported", lambda device: False)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (48, 1, 28, 28), dtype=np.uint8)
    y = np.arange(48) % 3
    est = make_fashion_mnist_cnn(
        recipe="accurate", max_epochs=1, batch_size=16, random_state=0, device="cpu"
    )
    seen = []
    flip = est.train_transform
    monkeypatch.setattr(
        type(flip),
        "forward",
        lambda self, x: seen.append(x.clone()) or type(flip)._transform(self, x),
    )
    est.fit(X, y)
    assert len(seen) == 3  # every training batch went through the flips (48 images, 16 a batch)
    with_tta = est.predict_proba(X)
    est.set_params(tta=None)
    plain, mirrored = est.predict_proba(X), est.predict_proba(X[..., ::-1].copy())
    np.testing.assert_allclose(with_tta, (plain + mirrored) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain, mirrored, atol=1e-4)  # the mirror is a different view


@pytest.mark.parametrize(
    ("optimizer", "kept"),
    [
        ("adam", {"optimizer__weight_decay"}),
        ("RMSprop", {"optimizer__momentum", "optimizer__weight_decay"}),
        (
            torch.optim.SGD,
            {"optimizer__momentum", "optimizer__nesterov", "optimizer__weight_decay"},
        ),
    ],
)
def test_recipe_arguments_an_optimizer_does_not_take_are_dropped(optimizer, kept):
    est = make_fashion_mnist_cnn(optimizer=optimizer, lr=1e-3)
    assert {k for k in est.get_params() if k.startswith("optimizer__")} == kept
    # given explicitly, an argument is kept (and fit reports it if the optimizer rejects it)
    assert make_fashion_mnist_cnn(optimizer="adam", optimizer__nesterov=True).get_params()[
        "optimizer__nesterov"
    ]


def test_fast_fashion_mnist_recipe_trains(monkeypatch):
    import cnn_estimators._precision as precision_module

    monkeypatch.setattr(precision_module, "bf16_supported", lambda device: False)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (64, 1, 28, 28), dtype=np.uint8)
    y = np.arange(64) % 2
    est = make_fashion_mnist_cnn(max_epochs=2, batch_size=16, random_state=0, device="cpu")
    est.fit(X, y)
    assert est.precision_ == "float32"  # "auto" on a device without native bf16
    assert type(est.module_).__name__ == "FastCNNV2"
    assert dict(est.callbacks_)["lr_scheduler"].lr_scheduler_.total_steps == 2 * 4
    assert est.predict_proba(X).shape == (64, 2)


@pytest.mark.parametrize(
    ("factory", "floor"),
    [(make_fashion_mnist_cnn, _FAST_V2_MIN_STEPS), (make_fast_cnn, _FAST_MIN_STEPS)],
)
def test_onecycle_recipes_keep_4_epochs_on_the_full_data_and_a_floor_on_a_subset(factory, floor):
    est = factory()
    assert est.min_steps == floor and est.max_epochs == 4
    # all 60,000 Fashion-MNIST images, and their training part with validation_fraction=0.1
    for n_train in (60_000, 54_000):
        plan = plan_epochs(
            n_train=n_train,
            batch_size=est.batch_size,
            max_epochs=est.max_epochs,
            min_steps=est.min_steps,
        )
        assert (plan.epochs, plan.planned_by) == (4, "max_epochs"), n_train
    # a fold of 5-fold cross-validation on 5,000 images: 4,000 images, 3,600 trained on
    plan = plan_epochs(
        n_train=3_600, batch_size=est.batch_size, max_epochs=4, min_steps=est.min_steps
    )
    assert plan.planned_by == "min_steps"
    assert floor <= plan.epochs * plan.steps_per_epoch < floor + plan.steps_per_epoch


def test_max_epochs_given_to_a_factory_replaces_its_floor():
    assert make_fast_cnn(max_epochs=6).min_steps is None
    assert make_fashion_mnist_cnn(max_epochs=6, min_steps=50).min_steps == 50
    assert make_fashion_mnist_cnn(min_steps=None).min_steps is None
    assert make_fashion_mnist_cnn(recipe="course").min_steps is None
    assert make_cifar_cnn().min_steps is None and make_mnist_cnn().min_steps is None
