"""Plots for fitted CNN estimators and for the results of experiments.

Every function draws with matplotlib (``pyplot`` is imported when a function is
called, never at import time), never calls ``plt.show()``, and returns what it drew
on: a :class:`~matplotlib.figure.Figure` for multi-panel plots, an
:class:`~matplotlib.axes.Axes` for single-axes plots, or scikit-learn's
:class:`~sklearn.metrics.ConfusionMatrixDisplay` (``.figure_``, ``.ax_``). Pass
``ax=`` (``axes=`` or ``fig=`` for grids) to draw into an existing figure.

* Training: :func:`plot_training_curves` (loss and accuracy per epoch or per batch).
* Inside the network: :func:`plot_filters` (convolution kernels) and
  :func:`plot_activations` (feature maps of one image).
* Errors: :func:`plot_misclassified`, :func:`plot_top_losses`,
  :func:`plot_confusion_matrix`.
* Experiments (data frames): :func:`plot_optimizer_comparison`,
  :func:`plot_cv_results`, and :func:`plot_lr_find` for the learning-rate range test.
"""

from .comparisons import plot_cv_results, plot_optimizer_comparison
from .curves import plot_lr_find, plot_training_curves
from .errors import plot_confusion_matrix, plot_misclassified, plot_top_losses
from .filters import ACTIVATIONS as ACTIVATIONS
from .filters import plot_activations, plot_filters

__all__ = [
    "plot_activations",
    "plot_confusion_matrix",
    "plot_cv_results",
    "plot_filters",
    "plot_lr_find",
    "plot_misclassified",
    "plot_optimizer_comparison",
    "plot_top_losses",
    "plot_training_curves",
]
