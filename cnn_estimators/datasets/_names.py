"""One spelling for the names of the bundled data sets.

Every entry point (the command line, the examples) accepts the names in any case, with or
without ``-``, ``_`` or spaces (``fashion-mnist``, ``Fashion_MNIST``, ``CIFAR-10``), and
prints the canonical spelling of :data:`DATASET_NAMES`, the one of ``ImageData.name``.
"""

from __future__ import annotations

import difflib
import re

__all__ = ["DATASET_NAMES", "dataset_name"]

#: The canonical names, as ``ImageData.name`` spells them.
DATASET_NAMES: tuple[str, ...] = ("digits", "mnist", "fashion_mnist", "cifar10")


def spelling_key(name: str) -> str:
    """``name`` without case, spaces, ``-`` or ``_``: names equal under the spelling rule
    have the same key (``transforms.normalize`` and ``augmentation`` use it too)."""
    return re.sub(r"[\s_\-]+", "", name).lower()


_KEYS = {spelling_key(name): name for name in DATASET_NAMES}


def dataset_name(name: str) -> str:
    """The canonical spelling of a data set name.

    Parameters
    ----------
    name : str
        A name of :data:`DATASET_NAMES` in any case, with or without ``-``, ``_`` or
        spaces between its parts.

    Returns
    -------
    str
        The name as :data:`DATASET_NAMES` spells it.

    Raises
    ------
    ValueError
        For any other name; the message lists the names and suggests the closest.

    Examples
    --------
    >>> from cnn_estimators.datasets import dataset_name
    >>> dataset_name("fashion-mnist"), dataset_name("Fashion_MNIST"), dataset_name("CIFAR-10")
    ('fashion_mnist', 'fashion_mnist', 'cifar10')
    """
    key = spelling_key(name) if isinstance(name, str) else None
    if key in _KEYS:
        return _KEYS[key]
    hint = ""
    if key:
        close = difflib.get_close_matches(key, list(_KEYS), n=1, cutoff=0.6)
        hint = f" Did you mean {_KEYS[close[0]]!r}?" if close else ""
    raise ValueError(
        f"The 'dataset' parameter must be one of {', '.join(map(repr, DATASET_NAMES))} "
        f"(any case, '-' or '_' between the parts); got {name!r} instead.{hint}"
    )
