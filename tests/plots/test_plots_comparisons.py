"""cnn_estimators.plots.comparisons: optimizer comparisons and CV results."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from plots_fixtures import *  # noqa: F403 (the fixtures, _close_figures autouse)

from cnn_estimators.plots import plot_cv_results, plot_optimizer_comparison


def _labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


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
