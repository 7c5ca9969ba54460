"""cnn_estimators.plots.filters: kernels and activation maps."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from plots_fixtures import *  # noqa: F403 (the fixtures, _close_figures autouse)
from sklearn.exceptions import NotFittedError

from cnn_estimators import CNNClassifier
from cnn_estimators.models import get_model
from cnn_estimators.plots import plot_activations, plot_filters

# ---------------------------------------------------------------------------
# plot_filters
# ---------------------------------------------------------------------------


def test_filters_first_layer_gray(fashion):
    fig = plot_filters(fashion)
    assert len(fig.axes) == 64
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert fig.axes[0].images[0].get_array().shape == (3, 3)
    assert fig.axes[0].images[0].get_cmap().name == "gray"
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1", "2"]
    assert "features.0" in fig.get_suptitle()


def test_filters_indices_layer_and_fig(fashion):
    fig = plt.figure()
    out = plot_filters(fashion, layer="features.3", indices=[0, 5, 7], fig=fig)
    assert out is fig
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["0", "5", "7"]
    assert "mean over input channels" in fig.get_suptitle()
    fig = plot_filters(fashion, layer="last", indices=range(4))
    assert len(fig.axes) == 4 and "features.3 (128×64×3×3" in fig.get_suptitle()


def test_filters_rgb_are_normalised(global_pool):
    fig = plot_filters(global_pool.module_)
    assert len(fig.axes) == 16
    rgb = np.asarray(fig.axes[0].images[0].get_array())
    assert rgb.shape == (3, 3, 3)
    assert rgb.min() == pytest.approx(0.0) and rgb.max() == pytest.approx(1.0)


def test_filters_errors(fashion):
    mlp = get_model("mlp", in_channels=1, num_classes=2, input_size=(8, 8))
    with pytest.raises(ValueError, match="no Conv2d layer"):
        plot_filters(mlp)
    with pytest.raises(ValueError, match="not a convolution"):
        plot_filters(fashion, layer="features.1")
    with pytest.raises(ValueError, match=r"Did you mean 'features\.0'"):
        plot_filters(fashion, layer="feature.0")
    with pytest.raises(ValueError, match="indices"):
        plot_filters(fashion, indices=[64])
    with pytest.raises(NotFittedError):
        plot_filters(CNNClassifier())


# ---------------------------------------------------------------------------
# plot_activations
# ---------------------------------------------------------------------------


def test_activations_default_image_gray_estimator(fashion):
    fig = plot_activations(fashion)  # china.jpg, averaged to gray, resized to 12x12
    assert len(fig.axes) == 1 + 16
    first = fig.axes[0]
    assert first.get_title() == "input"
    assert np.asarray(first.images[0].get_array()).shape == (12, 12)
    assert first.images[0].get_cmap().name == "gray"
    # fashion_cnn: Conv2d(3x3) is followed by MaxPool2d, so the raw conv output (10x10)
    assert all(np.asarray(ax.images[0].get_array()).shape == (10, 10) for ax in fig.axes[1:])
    assert [ax.get_title() for ax in fig.axes[1:3]] == ["0", "1"]
    assert "before activation" in fig.get_suptitle()


def test_activations_after_relu_rgb(global_pool):
    fig = plot_activations(global_pool, n=4)
    assert len(fig.axes) == 5
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (16, 16, 3)
    assert all(np.asarray(ax.images[0].get_array()).shape == (16, 16) for ax in fig.axes[1:])
    assert "after ReLU" in fig.get_suptitle()
    # after ReLU: no negative values
    assert all(np.asarray(ax.images[0].get_array()).min() >= 0 for ax in fig.axes[1:])


def test_activations_last_layer_and_indices(fashion, gray_data):
    X, _ = gray_data
    fig = plt.figure()
    out = plot_activations(fashion, X[0], layer="last", indices=[3, 100], fig=fig)
    assert out is fig
    assert len(fig.axes) == 3
    # 12 -> conv 10 -> pool 5 -> conv 3
    assert np.asarray(fig.axes[1].images[0].get_array()).shape == (3, 3)
    assert [ax.get_title() for ax in fig.axes[1:]] == ["3", "100"]
    assert "features.3" in fig.get_suptitle()


def test_activations_resnet_last_conv(resnet, rgb_data):
    module = resnet.module_
    shapes = []
    handle = module.layer4[1].conv2.register_forward_hook(lambda m, i, o: shapes.append(o.shape))
    try:
        resnet.predict_proba(rgb_data[0][:1])
    finally:
        handle.remove()
    module.train()
    fig = plot_activations(resnet, layer="last", n=8)
    assert module.training  # mode restored
    assert not module.layer4[1].conv2._forward_hooks  # hooks removed
    module.eval()
    assert "layer4.1.conv2" in fig.get_suptitle()
    assert len(fig.axes) == 9
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (16, 16, 3)
    assert np.asarray(fig.axes[1].images[0].get_array()).shape == tuple(shapes[0][2:])


def test_activations_bare_module_and_image_layouts():
    net = get_model("fashion_cnn", in_channels=1, num_classes=10, input_size=(28, 28))
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    fig = plot_activations(net, image, n=2)
    assert len(fig.axes) == 3
    assert np.asarray(fig.axes[1].images[0].get_array()).shape == (26, 26)
    # an RGB channels-last uint8 image is averaged to the module's single channel
    rgb = (np.random.default_rng(1).random((20, 24, 3)) * 255).astype(np.uint8)
    fig = plot_activations(net, rgb, n=1)
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (20, 24)
    assert np.asarray(fig.axes[1].images[0].get_array()).shape == (18, 22)
    # image_size resizes; any module name whose output is a feature map works
    fig = plot_activations(net, rgb, layer="features.2", image_size=16, n=1)
    assert np.asarray(fig.axes[1].images[0].get_array()).shape == (7, 7)


def test_activations_apply_eval_transform(fashion, monkeypatch):
    calls = []

    def spy(x):
        calls.append(tuple(x.shape))
        return x

    monkeypatch.setattr(fashion, "eval_transform", spy)
    plot_activations(fashion, n=1)
    assert calls == [(1, 1, 12, 12)]


def test_activations_errors(fashion):
    mlp = get_model("mlp", in_channels=1, num_classes=2, input_size=(8, 8))
    with pytest.raises(ValueError, match="no Conv2d layer"):
        plot_activations(mlp)
    with pytest.raises(ValueError, match="has no module 'nope'"):
        plot_activations(fashion, layer="nope")
    with pytest.raises(ValueError, match="not a \\(N, C, H, W\\)"):
        plot_activations(fashion, layer="classifier.1")
    with pytest.raises(ValueError, match="indices"):
        plot_activations(fashion, indices=[64])
    net = get_model("cifar_cnn", in_channels=3, num_classes=2, input_size=(8, 8))
    with pytest.raises(ValueError, match="2 channels"):
        plot_activations(net, np.zeros((2, 8, 8), dtype=np.float32))
