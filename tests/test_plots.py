"""Tests of cnn_estimators.plots: artists, labels and shapes (never pixels)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.container import BarContainer
from sklearn.exceptions import NotFittedError
from sklearn.metrics import ConfusionMatrixDisplay
from torch import nn

from cnn_estimators import CNNClassifier
from cnn_estimators.models import get_model
from cnn_estimators.plots import (
    plot_activations,
    plot_confusion_matrix,
    plot_cv_results,
    plot_filters,
    plot_misclassified,
    plot_optimizer_comparison,
    plot_top_losses,
    plot_training_curves,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(shape, n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)).astype(np.float32), np.arange(n) % 2


@pytest.fixture(scope="module")
def gray_data():
    return _images((1, 12, 12))


@pytest.fixture(scope="module")
def fashion(gray_data):
    """fashion_cnn on 40 gray 12x12 images, batches of 8 (36 train / 4 validation)."""
    X, y = gray_data
    clf = CNNClassifier(
        "fashion_cnn", max_epochs=2, batch_size=8, random_state=0, device="cpu", progress_bar=False
    )
    return clf.fit(X, y)


@pytest.fixture(scope="module")
def fashion_no_valid(gray_data):
    X, y = gray_data
    clf = CNNClassifier(
        "fashion_cnn",
        max_epochs=2,
        validation_fraction=0.0,
        random_state=0,
        device="cpu",
        progress_bar=False,
    )
    return clf.fit(X, y)


@pytest.fixture(scope="module")
def rgb_data():
    return _images((3, 16, 16), seed=1)


@pytest.fixture(scope="module")
def global_pool(rgb_data):
    X, y = rgb_data
    clf = CNNClassifier(
        "global_pool_cnn", max_epochs=2, random_state=0, device="cpu", progress_bar=False
    )
    return clf.fit(X, y)


@pytest.fixture(scope="module")
def resnet(rgb_data):
    X, y = rgb_data
    clf = CNNClassifier(
        "resnet18",
        max_epochs=1,
        random_state=0,
        device="cpu",
        progress_bar=False,
        module__image_size=32,
    )
    return clf.fit(X, y)


def _labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------------
# plot_training_curves
# ---------------------------------------------------------------------------


def test_training_curves_per_epoch(fashion):
    fig = plot_training_curves(fashion)
    loss_ax, acc_ax = fig.axes
    assert [loss_ax.get_title(), acc_ax.get_title()] == ["Loss", "Accuracy"]
    assert loss_ax.get_xlabel() == acc_ax.get_xlabel() == "epoch"
    assert (loss_ax.get_ylabel(), acc_ax.get_ylabel()) == ("loss", "accuracy")
    assert _labels(loss_ax) == ["train", "validation"]
    assert _legend(loss_ax) == ["train", "validation"]
    assert _labels(acc_ax) == ["validation"]  # no train accuracy is recorded by default
    train, valid = loss_ax.get_lines()
    assert list(train.get_xdata()) == [1.0, 2.0]
    assert list(train.get_ydata()) == pytest.approx(fashion.history_[:, "train_loss"])
    assert list(valid.get_ydata()) == pytest.approx(fashion.history_[:, "valid_loss"])
    assert list(acc_ax.get_lines()[0].get_ydata()) == pytest.approx(
        fashion.history_[:, "valid_acc"]
    )


def test_training_curves_from_history_with_test_point_and_ylim(fashion):
    fig = plot_training_curves(
        fashion.history_,
        test_point={"loss": 0.31, "accuracy": 0.9},
        ylim={"loss": (0, 3), "accuracy": (0, 1)},
    )
    loss_ax, acc_ax = fig.axes
    assert _labels(loss_ax) == ["train", "validation", "test (0.31)"]
    assert _labels(acc_ax) == ["validation", "test (0.9)"]
    star = acc_ax.get_lines()[-1]
    assert list(star.get_xdata()) == [2.0] and list(star.get_ydata()) == [0.9]
    assert star.get_marker() == "*"
    assert loss_ax.get_ylim() == (0, 3) and acc_ax.get_ylim() == (0, 1)

    fig = plot_training_curves(fashion, ylim=(0.1, 0.9))
    assert all(ax.get_ylim() == (0.1, 0.9) for ax in fig.axes)


def test_training_curves_per_batch(fashion):
    fig = plot_training_curves(fashion, per="batch")
    (ax,) = fig.axes
    assert ax.get_title() == "Loss per batch"
    assert _labels(ax) == ["train", "validation"]
    n_train = sum("train_loss" in b for row in fashion.history_ for b in row["batches"])
    n_valid = sum("valid_loss" in b for row in fashion.history_ for b in row["batches"])
    assert n_train == 2 * 5 and n_valid == 2  # 36 images in batches of 8, 4 in one batch
    train, valid = ax.get_lines()
    assert len(train.get_xdata()) == n_train and len(valid.get_xdata()) == n_valid
    assert train.get_xdata()[4] == pytest.approx(1.0)  # last batch of epoch 1 ends at x=1
    assert max(train.get_xdata()) == pytest.approx(2.0)


@pytest.mark.parametrize("n_epochs", [1, 2, 3, 5, 12])
@pytest.mark.parametrize("per", ["epoch", "batch"])
def test_training_curves_show_whole_epochs(n_epochs, per):
    """The x ticks are whole epochs, also for a single epoch (no 0.95 ... 1.05 axis)."""
    batches = [{"train_loss": 1.0}] * 3
    history = [
        {"epoch": e, "train_loss": 1 / e, "valid_loss": 1 / e, "valid_acc": 0.5, "batches": batches}
        for e in range(1, n_epochs + 1)
    ]
    fig = plot_training_curves(history, per=per)
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert low <= n_epochs <= high
    plt.close(fig)


def test_training_curves_without_validation(fashion_no_valid):
    fig = plot_training_curves(fashion_no_valid, test_point={"loss": 0.5})
    loss_ax, acc_ax = fig.axes
    assert _labels(loss_ax) == ["train", "test (0.5)"]
    assert acc_ax.get_lines() == []
    assert "no accuracy recorded" in acc_ax.texts[0].get_text()
    assert acc_ax.get_title() == "Accuracy"


def test_training_curves_uses_given_axes(fashion):
    fig, (a, b) = plt.subplots(1, 2)
    assert plot_training_curves(fashion, axes=[a, b]) is fig
    assert _labels(a) == ["train", "validation"]
    fig2, ax = plt.subplots()
    assert plot_training_curves(fashion, metrics="loss", axes=ax) is fig2
    assert len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="one Axes per metric"):
        plot_training_curves(fashion, axes=ax)


def test_training_curves_errors(fashion):
    with pytest.raises(NotFittedError):
        plot_training_curves(CNNClassifier())
    with pytest.raises(ValueError, match="'per'"):
        plot_training_curves(fashion, per="step")
    with pytest.raises(ValueError, match="ylim"):
        plot_training_curves(fashion, ylim=(0, 1, 2))
    with pytest.raises(ValueError, match="empty history"):
        plot_training_curves([])


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


# ---------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------


def _optimizer_df():
    return pd.DataFrame(
        {
            "optimizer": ["adam", "sgd", "sgd"],
            "lr": [1e-3, 0.1, 0.01],
            "params": [{}, {"optimizer__momentum": 0.9}, {"optimizer__momentum": 0.0}],
            "mean_test_score": [0.91, 0.88, 0.8],
            "std_test_score": [0.01, 0.02, 0.03],
        }
    )


def test_optimizer_comparison():
    ax = plot_optimizer_comparison(_optimizer_df())
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "adam lr=0.001",
        "sgd lr=0.1 momentum=0.9",
        "sgd lr=0.01 momentum=0",
    ]
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.91, 0.88, 0.8])
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert bars.errorbar is not None and len(bars) == 3
    assert ax.get_xlabel().startswith("mean test score")
    assert ax.get_title() == "Optimizer comparison"


def test_optimizer_comparison_given_axes_and_errors():
    _, ax = plt.subplots()
    assert plot_optimizer_comparison(_optimizer_df(), ax=ax) is ax
    with pytest.raises(ValueError, match="mean_test_score"):
        plot_optimizer_comparison(pd.DataFrame({"optimizer": ["adam"]}))


def test_cv_results():
    df = pd.DataFrame(
        {
            "fold": [0, 1, 2, 3, 4, "mean", "std"],
            "accuracy": [0.9, 0.8, 0.85, 0.95, 0.9, 0.88, 0.05],
            "loss": [0.3, 0.5, 0.4, 0.2, 0.3, 0.34, 0.1],
        }
    )
    ax = plot_cv_results(df)
    assert len(ax.patches) == 5
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.9, 0.8, 0.85, 0.95, 0.9])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4"]
    (mean_line,) = ax.get_lines()
    assert list(mean_line.get_ydata()) == [0.88, 0.88]
    assert _legend(ax) == ["mean = 0.880", "± std = 0.050", "fold"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("fold", "accuracy")
    _, given = plt.subplots()
    assert plot_cv_results(df, metric="loss", ax=given) is given
    assert given.get_ylabel() == "loss"


def test_cv_results_index_folds_and_computed_mean():
    df = pd.DataFrame({"test_accuracy": [0.5, 0.7]}, index=[0, 1])
    ax = plot_cv_results(df)
    assert len(ax.patches) == 2
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([0.6, 0.6])
    # fold numbers read back from a CSV as strings; mean/std as index labels
    df = pd.DataFrame(
        {"fold": ["0", "1", "2", None, None], "accuracy": [0.5, 0.7, 0.6, 0.65, 0.1]},
        index=[0, 1, 2, "mean", "std"],
    )
    ax = plot_cv_results(df)
    assert len(ax.patches) == 3
    assert list(ax.get_lines()[0].get_ydata()) == [0.65, 0.65]
    with pytest.raises(ValueError, match="no column 'f1'"):
        plot_cv_results(df, metric="f1")


# ---------------------------------------------------------------------------
# Misclassified, top losses, confusion matrix
# ---------------------------------------------------------------------------


def test_misclassified_from_estimator(fashion, gray_data):
    X, y = gray_data
    y_pred = fashion.predict(X)
    wrong = np.flatnonzero(y_pred != y)
    fig = plot_misclassified(X, y, y_pred, class_names=["even", "odd"], n=4)
    if len(wrong) == 0:
        assert "no misclassified" in fig.axes[0].texts[0].get_text()
        return
    shown = wrong[:4]
    assert len(fig.axes) == len(shown)
    names = np.array(["even", "odd"])
    expected = [f"{names[y[i]]} → {names[y_pred[i]]}" for i in shown]
    assert [ax.get_title() for ax in fig.axes] == expected
    assert all(ax.images[0].get_cmap().name == "gray" for ax in fig.axes)


@pytest.mark.parametrize(
    "layout",
    [
        lambda X: X,  # (N, 1, H, W)
        lambda X: X[:, 0],  # (N, H, W)
        lambda X: X.transpose(0, 2, 3, 1),  # (N, H, W, 1)
        lambda X: X.reshape(len(X), -1),  # flat square
        lambda X: torch.from_numpy(X),
    ],
    ids=["nchw", "nhw", "nhwc", "flat", "tensor"],
)
def test_misclassified_layouts_and_indices(gray_data, layout):
    X, y = gray_data
    y_pred = 1 - y
    fig = plot_misclassified(layout(X), y, y_pred, indices=[2, 3, 5], class_names={0: "a", 1: "b"})
    assert [ax.get_title() for ax in fig.axes] == ["a → b", "b → a", "b → a"]
    assert all(np.asarray(ax.images[0].get_array()).shape == (12, 12) for ax in fig.axes)
    assert "true → predicted" in fig.get_suptitle()


def test_misclassified_rgb_n_ncols_and_none(rgb_data):
    X, y = rgb_data
    fig = plot_misclassified(X, y, 1 - y, n=10, ncols=5)
    assert len(fig.axes) == 10
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (16, 16, 3)
    assert fig.axes[0].get_title() == "0 → 1"
    fig = plot_misclassified(X, y, y)
    assert len(fig.axes) == 1 and len(fig.axes[0].images) == 0
    assert "no misclassified images" in fig.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="one label"):
        plot_misclassified(X, y[:3], y[:3])


def test_top_losses(gray_data):
    X, _ = gray_data
    df = pd.DataFrame(
        {
            "index": [7, 1, 4],
            "true": [1, 1, 0],
            "predicted": [0, 0, 1],
            "loss": [3.2, 2.5, 1.25],
            "p_true": [0.04, 0.08, 0.3],
        }
    )
    fig = plot_top_losses(X, df, class_names=["even", "odd"])
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "odd → even\nloss=3.20 p=0.04"
    assert all("→" in t and "loss=" in t and "p=" in t for t in titles)
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (12, 12)
    fig2 = plt.figure()
    assert plot_top_losses(X, df, n=2, fig=fig2) is fig2
    assert [ax.get_title().split("\n")[0] for ax in fig2.axes] == ["1 → 0", "1 → 0"]
    with pytest.raises(ValueError, match="index column"):
        plot_top_losses(X, df.assign(index=[0, 1, 99]))


def test_confusion_matrix(fashion, gray_data):
    X, y = gray_data
    names = ["even", "odd number"]
    display = plot_confusion_matrix(fashion, X, y, class_names=names, normalize="true")
    assert isinstance(display, ConfusionMatrixDisplay)
    assert display.confusion_matrix.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert [t.get_text() for t in display.ax_.get_xticklabels()] == names
    assert display.ax_.get_xticklabels()[0].get_rotation() == 90  # a long name: vertical
    _, ax = plt.subplots()
    display = plot_confusion_matrix(fashion, X, y, ax=ax)
    assert display.ax_ is ax and display.figure_ is ax.figure
    assert display.confusion_matrix.sum() == len(y)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
    assert ax.get_xticklabels()[0].get_rotation() == 0
    with pytest.raises(ValueError, match="normalize"):
        plot_confusion_matrix(fashion, X, y, normalize="rows")
    with pytest.raises(ValueError, match="3 names"):
        plot_confusion_matrix(fashion, X, y, class_names=["a", "b", "c"])


def test_public_api():
    from cnn_estimators import plots

    assert sorted(plots.__all__) == sorted(name for name in dir(plots) if name.startswith("plot_"))
    assert isinstance(plots.ACTIVATIONS[0](), nn.Module)
