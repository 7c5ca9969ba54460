"""Experiment helpers: optimizer and recipe comparisons, cross-validation tables, the LR
range test and class-aware evaluation.

Every function returns a :class:`pandas.DataFrame` (or an object holding one), ready to be
printed, saved or handed to the plotting helpers. Estimators passed in are never modified:
the functions fit :func:`sklearn.base.clone` copies, or only call ``predict`` /
``predict_proba`` on an already fitted estimator.
"""

from .reports import classification_report_df, confusion_pairs, misclassified, top_losses
from .searches import DEFAULT_LRS, compare_optimizers, compare_recipes
from .training import LRFindResult, cross_validate_estimator, lr_find

__all__ = [
    "DEFAULT_LRS",
    "LRFindResult",
    "classification_report_df",
    "compare_optimizers",
    "compare_recipes",
    "confusion_pairs",
    "cross_validate_estimator",
    "lr_find",
    "misclassified",
    "top_losses",
]
