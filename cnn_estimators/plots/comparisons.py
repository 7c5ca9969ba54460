"""Results of experiments as data frames: optimizer comparisons and cross-validation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import (
    _check_columns,
    _finite,
    _is_int,
    _pyplot,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _config_label(row: Mapping[str, Any]) -> str:
    parts = [str(row["optimizer"])]
    lr = row.get("lr")
    if _finite(lr):
        parts.append(f"lr={float(lr):g}")
    params = row.get("params")
    if isinstance(params, Mapping):
        for key, value in params.items():
            short = str(key)
            for prefix in ("optimizer__", "module__"):
                short = short.removeprefix(prefix)
            if short in ("optimizer", "lr"):
                continue
            parts.append(f"{short}={_format_value(value)}")
    elif isinstance(params, str) and params.strip() not in ("", "{}"):
        parts.append(params.strip())
    return " ".join(parts)


def plot_optimizer_comparison(df: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Bar chart of the mean test score of optimizer configurations, with ± std error bars.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per configuration with the columns ``optimizer``, ``lr``, ``params``
        (a dict of further settings such as ``{"optimizer__momentum": 0.9}``, a string,
        or empty), ``mean_test_score`` and ``std_test_score``. Bars follow the row
        order, top to bottom; the best configuration is highlighted.
    ax : Axes, default=None
        Axes to draw on. None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes, with one horizontal bar per configuration, labelled
        ``"<optimizer> lr=<lr> <param>=<value> ..."``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from cnn_estimators.plots import plot_optimizer_comparison
    >>> df = pd.DataFrame({"optimizer": ["adam", "sgd"], "lr": [1e-3, 0.1],
    ...                    "params": [{}, {"optimizer__momentum": 0.9}],
    ...                    "mean_test_score": [0.91, 0.88], "std_test_score": [0.01, 0.02]})
    >>> ax = plot_optimizer_comparison(df)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['adam lr=0.001', 'sgd lr=0.1 momentum=0.9']
    """
    func = "plot_optimizer_comparison"
    _check_columns(df, ["optimizer", "mean_test_score"], func)
    if len(df) == 0:
        raise ValueError(f"{func} got an empty data frame.")
    rows = df.to_dict("records")
    labels = [_config_label(row) for row in rows]
    means = np.asarray([float(row["mean_test_score"]) for row in rows])
    stds = (
        np.asarray([float(row["std_test_score"]) for row in rows])
        if "std_test_score" in df.columns
        else None
    )
    if ax is None:
        height = 1.2 + 0.45 * len(rows)
        _, ax = _pyplot().subplots(figsize=(7.0, height), layout="constrained")
    positions = np.arange(len(rows))
    colors = ["C0"] * len(rows)
    if np.isfinite(means).any():
        colors[int(np.nanargmax(means))] = "C2"
    bars = ax.barh(
        positions,
        means,
        xerr=stds,
        color=colors,
        capsize=4,
        error_kw={"elinewidth": 1.2, "ecolor": "0.2"},
    )
    ax.bar_label(bars, fmt="%.3f", padding=4, fontsize=8)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel("mean test score (± std)")
    ax.set_title("Optimizer comparison")
    ax.grid(True, axis="x", alpha=0.3)
    return ax


def _is_fold(value: Any) -> bool:
    if isinstance(value, np.generic):
        value = value.item()
    if _is_int(value):
        return True
    if isinstance(value, str):
        return value.strip().isdigit()
    return isinstance(value, float) and value.is_integer()


def _row_key(fold: Any, label: Any) -> Any:
    """The ``fold`` value of a row, or its index label when ``fold`` is missing (NaN)."""
    if fold is None or (isinstance(fold, float) and math.isnan(fold)):
        return label
    return fold


def plot_cv_results(df: pd.DataFrame, *, metric: str = "accuracy", ax: Axes | None = None) -> Axes:
    """Bar chart of a cross-validation score per fold, with its mean and ± std band.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per fold, identified by an integer ``fold`` column (or, without that
        column or where it is NaN, by the index), plus optional rows whose ``fold`` (or
        index label) is "mean" and "std".
        When those rows are missing the mean and the standard deviation (``ddof=0``) of
        the folds are used.
    metric : str, default="accuracy"
        The column to plot: ``metric``, else ``test_<metric>``, else ``valid_<metric>``.
    ax : Axes, default=None
        Axes to draw on. None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes, with one bar per fold, a horizontal line at the mean and a shaded
        band of ± one standard deviation.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from cnn_estimators.plots import plot_cv_results
    >>> df = pd.DataFrame({"fold": [0, 1, 2, "mean", "std"],
    ...                    "accuracy": [0.90, 0.92, 0.88, 0.90, 0.016]})
    >>> ax = plot_cv_results(df)
    >>> len(ax.patches), ax.get_ylabel()
    (3, 'accuracy')
    """
    func = "plot_cv_results"
    _check_columns(df, [], func)
    if not isinstance(metric, str):
        raise ValueError(f"The 'metric' parameter of {func} must be a str; got {metric!r}.")
    column = next(
        (c for c in (metric, f"test_{metric}", f"valid_{metric}") if c in df.columns), None
    )
    if column is None:
        numeric = [c for c in df.columns if c != "fold"]
        raise ValueError(
            f"{func}: the data frame has no column {metric!r} (nor 'test_{metric}'); its "
            f"columns are {numeric}. Pass metric=<one of them>."
        )
    if "fold" in df.columns:
        keys = [_row_key(f, i) for f, i in zip(df["fold"], df.index, strict=True)]
    else:
        keys = list(df.index)
    values = [float(v) for v in df[column]]
    folds = [(int(float(k)), v) for k, v in zip(keys, values, strict=True) if _is_fold(k)]
    if not folds:
        raise ValueError(f"{func}: the data frame has no fold rows (integer 'fold' values).")
    named = {str(k).lower(): v for k, v in zip(keys, values, strict=True) if isinstance(k, str)}
    scores = np.asarray([v for _, v in folds])
    mean = named.get("mean", float(scores.mean()))
    std = named.get("std", float(scores.std()))

    if ax is None:
        _, ax = _pyplot().subplots(
            figsize=(1.0 + 0.6 * len(folds) + 2.0, 3.8), layout="constrained"
        )
    positions = np.arange(len(folds))
    bars = ax.bar(positions, scores, color="C0", width=0.7, label="fold")
    ax.bar_label(bars, fmt="%.3f", padding=2, fontsize=8)
    ax.set_xticks(positions, [str(k) for k, _ in folds])
    span = (-0.5, len(folds) - 0.5)
    ax.axhline(mean, color="C3", linewidth=1.5, label=f"mean = {mean:.3f}")
    ax.fill_between(span, mean - std, mean + std, color="C3", alpha=0.2, label=f"± std = {std:.3f}")
    ax.set_xlim(*span)
    ax.set_xlabel("fold")
    ax.set_ylabel(metric)
    ax.set_title(f"Cross-validation {metric}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax
