"""Inspection of errors: misclassified images, the highest losses, the confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.exceptions import NotFittedError

from .._validation import check_images
from ._common import (
    _check_columns,
    _check_indices,
    _check_positive_int,
    _class_name,
    _finite,
    _image_grid,
    _n_samples,
    _show_chw,
    _take,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure
    from sklearn.metrics import ConfusionMatrixDisplay


def _image_titles_grid(
    X: Any,
    indices: Sequence[int],
    titles: Sequence[str],
    *,
    func: str,
    ncols: int,
    fig: Any,
    suptitle: str,
    empty: str,
) -> Any:
    if not indices:
        fig, axes = _image_grid(fig, 1, 1, size=3.0)
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, empty, ha="center", va="center", transform=axes[0].transAxes)
        fig.suptitle(suptitle)
        return fig
    images, _ = check_images(_take(X, indices), owner=func)
    fig, axes = _image_grid(fig, len(indices), ncols, size=1.7)
    for ax, image, title in zip(axes, images.numpy(), titles, strict=True):
        _show_chw(ax, image)
        ax.set_title(title, fontsize=8)
    fig.suptitle(suptitle)
    return fig


def plot_misclassified(
    X: Any,
    y_true: Any,
    y_pred: Any,
    *,
    indices: Sequence[int] | None = None,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    n: int = 16,
    ncols: int = 8,
    fig: Figure | SubFigure | None = None,
) -> Figure | SubFigure:
    """Show misclassified images titled "true → predicted".

    Parameters
    ----------
    X : array-like or tensor
        The images, in any layout the estimators accept: (N, C, H, W), (N, H, W),
        (N, H, W, C) or flat square rows (N, H*W). Only the shown ones are converted.
    y_true, y_pred : array-like of shape (N,)
        True and predicted labels.
    indices : sequence of int, default=None
        The images to show (at most ``n`` of them); None takes the first ``n`` images
        with ``y_true != y_pred``.
    class_names : sequence or dict, default=None
        Display names: a sequence indexed by integer labels, or a dict label → name.
    n : int, default=16
        Maximum number of images.
    ncols : int, default=8
        Number of columns of the grid.
    fig : Figure or SubFigure, default=None
        Figure to draw on (it is cleared first). None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per image, titled ``"<true> → <predicted>"`` (a single axes with a note
        when nothing is misclassified).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators.plots import plot_misclassified
    >>> X, y = load_digits(return_X_y=True)
    >>> y_pred = y.copy()
    >>> y_pred[[3, 7]] = 0
    >>> fig = plot_misclassified(X, y, y_pred)
    >>> [ax.get_title() for ax in fig.axes]
    ['3 → 0', '7 → 0']
    """
    func = "plot_misclassified"
    n = _check_positive_int(n, "n", func)
    ncols = _check_positive_int(ncols, "ncols", func)
    size = _n_samples(X, func)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != (size,) or y_pred.shape != (size,):
        raise ValueError(
            f"{func}: X has {size} images but y_true has shape {y_true.shape} and y_pred "
            f"{y_pred.shape}; give one label of each per image."
        )
    if indices is None:
        chosen = [int(i) for i in np.flatnonzero(y_true != y_pred)[:n]]
    else:
        chosen = _check_indices(indices, size, "indices", func, "images")[:n]
    titles = [
        f"{_class_name(y_true[i], class_names)} → {_class_name(y_pred[i], class_names)}"
        for i in chosen
    ]
    return _image_titles_grid(
        X,
        chosen,
        titles,
        func=func,
        ncols=ncols,
        fig=fig,
        suptitle="Misclassified images (true → predicted)",
        empty="no misclassified images",
    )


def plot_top_losses(
    X: Any,
    df: pd.DataFrame,
    *,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    n: int | None = None,
    ncols: int = 8,
    fig: Figure | SubFigure | None = None,
) -> Figure | SubFigure:
    """Show the images with the highest loss, titled with their labels, loss and p(true).

    Parameters
    ----------
    X : array-like or tensor
        The images (any layout :func:`plot_misclassified` accepts).
    df : pandas.DataFrame
        One row per image to show, in order, with the columns ``index`` (row of ``X``),
        ``true``, ``predicted``, ``loss`` and ``p_true`` (the predicted probability of
        the true class).
    class_names : sequence or dict, default=None
        Display names of the labels (see :func:`plot_misclassified`).
    n : int, default=None
        Show only the first ``n`` rows; None shows all.
    ncols : int, default=8
        Number of columns of the grid.
    fig : Figure or SubFigure, default=None
        Figure to draw on (it is cleared first). None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per row, titled ``"<true> → <predicted>"`` over
        ``"loss=<loss> p=<p_true>"``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators.plots import plot_top_losses
    >>> X, y = load_digits(return_X_y=True)
    >>> df = pd.DataFrame({"index": [5, 9], "true": [5, 9], "predicted": [3, 8],
    ...                    "loss": [4.2, 3.1], "p_true": [0.02, 0.05]})
    >>> fig = plot_top_losses(X, df)
    >>> fig.axes[0].get_title()
    '5 → 3\\nloss=4.20 p=0.02'
    """
    func = "plot_top_losses"
    _check_columns(df, ["index", "true", "predicted"], func)
    ncols = _check_positive_int(ncols, "ncols", func)
    rows = df.to_dict("records")
    if n is not None:
        rows = rows[: _check_positive_int(n, "n", func)]
    size = _n_samples(X, func)
    chosen = (
        _check_indices([r["index"] for r in rows], size, "index column", func, "images")
        if rows
        else []
    )
    titles = []
    for row in rows:
        title = (
            f"{_class_name(row['true'], class_names)} → "
            f"{_class_name(row['predicted'], class_names)}"
        )
        extra = []
        if _finite(row.get("loss")):
            extra.append(f"loss={float(row['loss']):.2f}")
        if _finite(row.get("p_true")):
            extra.append(f"p={float(row['p_true']):.2f}")
        titles.append(title + ("\n" + " ".join(extra) if extra else ""))
    return _image_titles_grid(
        X,
        chosen,
        titles,
        func=func,
        ncols=ncols,
        fig=fig,
        suptitle="Top losses (true → predicted)",
        empty="no images",
    )


def plot_confusion_matrix(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    normalize: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> ConfusionMatrixDisplay:
    """Confusion matrix of a fitted classifier on ``(X, y)``.

    A thin wrapper over :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_estimator`
    with all the estimator's classes as rows and columns (``labels=classes_``), the
    class names as tick labels, and vertical x tick labels when a name is longer than
    four characters.

    Parameters
    ----------
    estimator : fitted classifier
        Any fitted scikit-learn classifier (with ``classes_``).
    X : array-like
        Images, in any layout the estimator accepts.
    y : array-like of shape (n_samples,)
        True labels.
    class_names : sequence or dict, default=None
        Names for ``estimator.classes_``: a sequence in the order of ``classes_``, or a
        dict label → name. None shows the labels.
    normalize : {"true", "pred", "all"}, default=None
        Normalise over the true labels (rows), the predictions (columns) or all cells;
        None shows counts. Normalised values are printed with two decimals.
    ax : Axes, default=None
        Axes to draw on. None creates a new figure.
    **kwargs
        Passed on to ``from_estimator`` (e.g. ``cmap``, ``colorbar``,
        ``xticks_rotation``, ``values_format``).

    Returns
    -------
    display : sklearn.metrics.ConfusionMatrixDisplay
        With ``figure_``, ``ax_`` and ``confusion_matrix``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from cnn_estimators.plots import plot_confusion_matrix
    >>> X, y = load_digits(n_class=3, return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> disp = plot_confusion_matrix(clf, X, y, class_names=["zero", "one", "two"])
    >>> [t.get_text() for t in disp.ax_.get_xticklabels()]
    ['zero', 'one', 'two']
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    func = "plot_confusion_matrix"
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"The 'normalize' parameter of {func} must be 'true', 'pred', 'all' or None; "
            f"got {normalize!r}."
        )
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet: {func} needs a "
            "fitted classifier. Call 'fit' with appropriate arguments first."
        )
    classes = list(classes)
    if class_names is None:
        labels = [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    elif isinstance(class_names, Mapping):
        labels = [_class_name(c, class_names) for c in classes]
    else:
        labels = [str(name) for name in class_names]
        if len(labels) != len(classes):
            raise ValueError(
                f"The 'class_names' parameter of {func} has {len(labels)} names, but the "
                f"estimator has {len(classes)} classes {classes}."
            )
    long_labels = max(len(label) for label in labels) > 4
    kwargs.setdefault("xticks_rotation", "vertical" if long_labels else "horizontal")
    if normalize is not None:
        kwargs.setdefault("values_format", ".2f")
    display = ConfusionMatrixDisplay.from_estimator(
        estimator,
        X,
        y,
        labels=classes,
        display_labels=labels,
        normalize=normalize,
        ax=ax,
        **kwargs,
    )
    suffix = {None: "", "true": " (rows sum to 1)", "pred": " (columns sum to 1)", "all": ""}
    display.ax_.set_title(f"Confusion matrix{suffix[normalize]}")
    return display
