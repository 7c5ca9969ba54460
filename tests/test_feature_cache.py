"""cache_features: a frozen backbone runs once per image, and the result does not change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch.utils.data import TensorDataset

import cnn_estimators._input as input_module
from cnn_estimators import CNNClassifier, predefined_split
from cnn_estimators._data import RaggedImageDataset
from cnn_estimators._feature_cache import compute_features
from cnn_estimators.models import get_model
from cnn_estimators.transforms import augmentation

N = 120


@pytest.fixture(scope="module")
def small(digit_images):
    X, y = digit_images
    return X[:N], y[:N]


def resnet(**kw):
    params = dict(
        module="resnet18",
        module__freeze="all_but_fc",
        module__image_size=32,
        max_epochs=2,
        lr=1e-3,
        batch_size=32,
        random_state=0,
        device="cpu",
        progress_bar=False,
    )
    return CNNClassifier(**{**params, **kw})


def assert_same_fit(a, b, X):
    assert a.loss_curve_ == pytest.approx(b.loss_curve_, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ the model's split
@pytest.mark.parametrize(
    ("freeze", "stages", "shape"),
    [("all_but_fc", 5, (512,)), ("all_but_layer4", 4, (256, 2, 2)), ("none", 0, (3, 32, 32))],
)
def test_resnet_frozen_features_then_head_is_the_network(freeze, stages, shape):
    torch.manual_seed(0)
    net = get_model(
        "resnet18", in_channels=3, num_classes=4, input_size=(32, 32), image_size=32, freeze=freeze
    ).train()
    x = torch.rand(3, 3, 32, 32)
    assert net.n_frozen_stages() == stages
    features = net.frozen_features(x)
    assert tuple(features.shape[1:]) == shape
    if freeze != "none":  # frozen BatchNorm uses running statistics: train mode is the same
        torch.testing.assert_close(net.forward_head(features), net(x))
    torch.testing.assert_close(net.eval().forward_head(net.frozen_features(x)), net(x))


# ------------------------------------------------------------------ the estimator
@pytest.mark.parametrize("freeze", ["all_but_fc", "all_but_layer4"])
def test_cached_fit_equals_recomputing(small, freeze):
    X, y = small
    cached = resnet(module__freeze=freeze, cache_features=True).fit(X, y)
    recomputed = resnet(module__freeze=freeze, cache_features=False).fit(X, y)
    assert cached.features_cached_ and not recomputed.features_cached_
    assert_same_fit(cached, recomputed, X)
    # the frozen backbone did not move
    for name, value in cached.module_.state_dict().items():
        if name.startswith(("conv1", "bn1", "layer1")):
            torch.testing.assert_close(value, recomputed.module_.state_dict()[name])


class _CountBackbone(Callback):
    """Counts the images that go through ``layer1`` once training has begun."""

    def on_train_begin(self, net, **kwargs):
        self.images_ = 0

        def count(module, args, output):
            self.images_ += len(args[0])

        net.module_.layer1.register_forward_hook(count)


def test_later_epochs_cost_only_the_head(small):
    X, y = small
    n_seen = 3 * N  # 3 epochs over the training and validation images
    cached, recomputed = _CountBackbone(), _CountBackbone()
    resnet(cache_features="auto", max_epochs=3, callbacks=[("count", cached)]).fit(X, y)
    resnet(cache_features=False, max_epochs=3, callbacks=[("count", recomputed)]).fit(X, y)
    assert recomputed.images_ == n_seen
    assert cached.images_ == 0  # the backbone ran once per image, before the first epoch


def test_auto_skips_what_it_cannot_cache(small, monkeypatch):
    X, y = small
    assert not resnet(module__freeze="none", max_epochs=1).fit(X, y).features_cached_
    flips = augmentation("mnist")
    assert not resnet(train_transform=flips, max_epochs=1).fit(X, y).features_cached_
    plain = CNNClassifier("global_pool_cnn", max_epochs=1, progress_bar=False, random_state=0)
    assert not plain.fit(X, y).features_cached_
    monkeypatch.setattr(input_module, "AUTO_CACHE_LIMIT_BYTES", 512 * N - 1)
    assert not resnet(max_epochs=1).fit(X, y).features_cached_  # 512 floats per image
    monkeypatch.setattr(input_module, "AUTO_CACHE_LIMIT_BYTES", 2048 * N)
    assert resnet(max_epochs=1).fit(X, y).features_cached_


def test_weights_and_a_predefined_validation_set(small, digit_images):
    X, y = small
    X_valid, y_valid = digit_images[0][N : N + 40], digit_images[1][N : N + 40]
    kw = dict(class_weight="balanced", train_split=predefined_split(X_valid, y_valid))
    cached = resnet(cache_features=True, **kw).fit(X, y)
    recomputed = resnet(cache_features=False, **kw).fit(X, y)
    assert cached.validation_scores_ == recomputed.validation_scores_
    assert_same_fit(cached, recomputed, X_valid)


def test_images_of_several_sizes_keep_their_order(small):
    X, y = small
    ragged = [torch.from_numpy(img) for img in X[:40]] + [
        torch.nn.functional.pad(torch.from_numpy(img), (1, 1, 1, 1)) for img in X[40:]
    ]
    est = resnet(cache_features=True, max_epochs=1).fit(ragged, y)
    assert est.features_cached_
    # Batched by size, the features come back in the images' order.
    order = np.r_[np.arange(40, N), np.arange(40)]
    dataset = RaggedImageDataset([ragged[i] for i in order], torch.from_numpy(y[order]))
    features = compute_features(est, dataset)
    est.module_.eval()
    with torch.no_grad():
        one_by_one = [
            est.module_.frozen_features(est._prepare_batch(x[None], False)) for x in dataset.images
        ]
    torch.testing.assert_close(features, torch.cat(one_by_one), rtol=1e-4, atol=1e-5)


def test_lazy_datasets(small):
    X, y = small
    data = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    cached = resnet(cache_features=True, iterator_valid__num_workers=0).fit(data)
    recomputed = resnet(cache_features=False, iterator_valid__num_workers=0).fit(data)
    assert cached.features_cached_
    assert_same_fit(cached, recomputed, X)
