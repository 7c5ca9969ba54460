"""cnn_estimators.plots.errors: misclassified images, top losses, confusion matrix."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from plots_fixtures import *  # noqa: F403 (the fixtures, _close_figures autouse)
from sklearn.metrics import ConfusionMatrixDisplay

from cnn_estimators.plots import (
    plot_confusion_matrix,
    plot_misclassified,
    plot_top_losses,
)

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
