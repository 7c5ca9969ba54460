"""The one label encoder: user labels <-> the 0..K-1 indices the network trains on.

Every path that turns labels into class indices -- ``fit``, ``partial_fit``, a
predefined validation set, ``score`` -- goes through :func:`fit_classes` (which fixes
``classes_``) and :func:`encode` (which maps labels to positions in ``classes_``).
``classes_`` keeps the order the user gave in ``classes`` (or the sorted labels when
``classes`` is None), and the columns of ``predict_proba`` follow it, so ``encode``
never assumes that ``classes_`` is sorted.

Class and sample weights live here too: they are keyed by the same labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from ._validation import check_sample_weight

__all__ = ["check_weighted_classes", "encode", "fit_classes", "sample_weights"]


def fit_classes(y: np.ndarray, classes: Any, *, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """The classes of a new fit and ``y`` encoded against them.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Checked labels (see ``check_labels``).
    classes : array-like or None
        All labels, in the order of ``predict_proba``'s columns; None takes the sorted
        distinct labels of ``y`` (at least two).
    owner : str
        The estimator's name, for messages.

    Returns
    -------
    classes_ : ndarray
    y_enc : ndarray of int64

    Examples
    --------
    >>> import numpy as np
    >>> classes, y_enc = fit_classes(np.array(["a", "b", "a"]), ["b", "a"], owner="Est")
    >>> classes.tolist(), y_enc.tolist()
    (['b', 'a'], [1, 0, 1])
    """
    if classes is None:
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{owner} needs samples of at least 2 classes in the data, but the data "
                f"contain only one class: {classes.tolist()[0]!r}."
            )
        return classes, y_enc.astype(np.int64).reshape(-1)
    classes = np.asarray(classes)
    if classes.ndim != 1 or len(classes) < 2:
        raise ValueError(
            f"The 'classes' parameter of {owner} must list at least 2 labels in a 1-d "
            f"array-like; got {classes.tolist()!r} instead."
        )
    if len(np.unique(classes)) != len(classes):
        raise ValueError(f"The 'classes' parameter has duplicates: {classes.tolist()!r}.")
    hint = "y contains labels {labels} that are not in the 'classes' parameter {classes}."
    return classes, encode(y, classes, unseen=hint)


def encode(y: Any, classes: np.ndarray, *, unseen: str) -> np.ndarray:
    """Positions of the labels ``y`` in ``classes`` (in any order), as int64.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    classes : ndarray
        The classes, in the order of the network's outputs (not necessarily sorted).
    unseen : str
        The message raised for labels not in ``classes``: ``{labels}`` is replaced by the
        list of those labels, ``{classes}`` by the list of classes.

    Examples
    --------
    >>> import numpy as np
    >>> encode(np.array([3, 7, 3]), np.array([7, 3]), unseen="{labels} unknown").tolist()
    [1, 0, 1]
    """
    y = np.asarray(y)
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    positions = np.searchsorted(sorted_classes, y)
    positions = np.clip(positions, 0, len(classes) - 1)
    found = sorted_classes[positions] == y
    if not np.all(found):
        missing = np.unique(y[~found])
        raise ValueError(
            unseen.format(labels=repr(missing.tolist()), classes=repr(classes.tolist()))
        )
    return order[positions].astype(np.int64)


def sample_weights(
    sample_weight: Any,
    class_weight: Any,
    y_enc: np.ndarray,
    classes: np.ndarray,
    *,
    owner: str,
) -> np.ndarray | None:
    """Per-image loss weights: ``sample_weight`` times the weight of each image's class.

    Returns None when neither is given (an unweighted loss).

    Examples
    --------
    >>> import numpy as np
    >>> w = sample_weights(None, {"b": 3.0}, np.array([0, 1]), np.array(["a", "b"]), owner="E")
    >>> w.tolist()
    [1.0, 3.0]
    """
    sw = check_sample_weight(sample_weight, len(y_enc), owner=owner)
    if class_weight is None:
        return sw
    if isinstance(class_weight, str) and class_weight == "balanced":
        present = np.unique(y_enc)
        per_class = np.ones(len(classes))
        per_class[present] = compute_class_weight("balanced", classes=present, y=y_enc)
    else:
        known = set(classes.tolist())
        unknown = [k for k in class_weight if k not in known]
        if unknown:
            raise ValueError(
                f"The 'class_weight' dict has labels {unknown!r} that are not among the "
                f"classes {classes.tolist()!r}."
            )
        per_class = np.array([float(class_weight.get(c, 1.0)) for c in classes.tolist()])
        if not np.all(np.isfinite(per_class)) or np.any(per_class < 0):
            raise ValueError("The 'class_weight' values must be finite and non-negative.")
    weights = per_class[y_enc].astype(np.float32)
    return weights if sw is None else (weights * sw).astype(np.float32)


def check_weighted_classes(weights: np.ndarray | None, y_enc: np.ndarray) -> None:
    """Refuse weights that leave fewer than two classes to learn from.

    Examples
    --------
    >>> import numpy as np
    >>> check_weighted_classes(np.array([1.0, 0.0]), np.array([0, 1]))
    Traceback (most recent call last):
    ...
    ValueError: Only one class has images with a non-zero weight (sample_weight x class_weight); the classifier needs at least 2 classes to learn from.
    """  # noqa: E501
    if weights is None:
        return
    if len(np.unique(y_enc[weights > 0])) < 2:
        raise ValueError(
            "Only one class has images with a non-zero weight (sample_weight x "
            "class_weight); the classifier needs at least 2 classes to learn from."
        )
