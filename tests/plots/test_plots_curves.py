"""cnn_estimators.plots.curves: training curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from plots_fixtures import *  # noqa: F403 (the fixtures, _close_figures autouse)
from sklearn.exceptions import NotFittedError

from cnn_estimators import CNNClassifier
from cnn_estimators.plots import plot_training_curves


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
