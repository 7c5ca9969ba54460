"""Presets: the channel statistics and the training augmentations of common data sets."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from torch import nn

from ..datasets._names import spelling_key
from ._deterministic import Compose, Normalize
from ._random import RandomAffine, RandomCrop, RandomHorizontalFlip, RandomResizedCrop

__all__ = ["MEAN_STD", "augmentation", "normalize"]

#: The Fashion-MNIST values were measured on its 60,000 training images.
MEAN_STD: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def _suggest(name: Any, valid: Iterable[str], what: str) -> ValueError:
    valid = sorted(valid)
    msg = f"Unknown {what} {name!r}; valid names are {', '.join(map(repr, valid))}."
    close = difflib.get_close_matches(str(name).lower(), valid, n=1, cutoff=0.5)
    if close:
        msg += f" Did you mean {close[0]!r}?"
    return ValueError(msg)


def _canonical(name: Any, names: Iterable[str]) -> Any:
    """The name of ``names`` that ``name`` spells, in the package's one spelling rule
    (any case, with or without ``-``, ``_`` or spaces: see ``datasets.dataset_name``)."""
    if not isinstance(name, str):
        return name
    return {spelling_key(n): n for n in names}.get(spelling_key(name), name)


def normalize(dataset: str) -> Normalize:
    """Build the :class:`Normalize` for a dataset's channel statistics.

    Parameters
    ----------
    dataset : {"mnist", "fashion_mnist", "cifar10", "imagenet"}
        Dataset whose mean and standard deviation (see :data:`MEAN_STD`) to use. Case,
        spaces, ``-`` and ``_`` are ignored ("Fashion-MNIST" and "CIFAR-10" work).

    Returns
    -------
    Normalize
        A new module.

    Examples
    --------
    >>> normalize("mnist")
    Normalize(mean=(0.1307,), std=(0.3081,))
    """
    key = _canonical(dataset, MEAN_STD)
    if key not in MEAN_STD:
        raise _suggest(dataset, MEAN_STD, "dataset")
    mean, std = MEAN_STD[key]
    return Normalize(mean, std)


_AUGMENTATIONS: dict[str, Callable[[], list[nn.Module]]] = {
    "cifar10": lambda: [RandomCrop(padding=4), RandomHorizontalFlip()],
    "cifar10_resized_crop": lambda: [RandomResizedCrop(), RandomHorizontalFlip()],
    "mnist": lambda: [RandomAffine(degrees=7, translate=(0.05, 0.05))],
    "fashion_mnist": lambda: [RandomHorizontalFlip(), RandomCrop(padding=2)],
    "imagenet": lambda: [RandomResizedCrop(), RandomHorizontalFlip()],
}


def augmentation(preset: str) -> Compose:
    """Build the training augmentation commonly used with a dataset.

    Parameters
    ----------
    preset : str
        One of

        - ``"cifar10"``: ``RandomCrop(padding=4)`` then ``RandomHorizontalFlip()``;
        - ``"cifar10_resized_crop"``: ``RandomResizedCrop()`` then
          ``RandomHorizontalFlip()``;
        - ``"mnist"``: ``RandomAffine(degrees=7, translate=(0.05, 0.05))`` (no flips:
          a mirrored digit is not the same digit);
        - ``"fashion_mnist"``: ``RandomHorizontalFlip()`` then ``RandomCrop(padding=2)``;
        - ``"imagenet"``: ``RandomResizedCrop()`` then ``RandomHorizontalFlip()``.

        Case, spaces, ``-`` and ``_`` are ignored.

    Returns
    -------
    Compose
        New modules, for ``train_transform``; they keep the images' size.

    Examples
    --------
    >>> import torch
    >>> t = augmentation("mnist")
    >>> t
    Compose(
      (0): RandomAffine(degrees=(-7, 7), translate=(0.05, 0.05), scale=None, fill=0)
    )
    >>> t(torch.rand(8, 1, 28, 28)).shape
    torch.Size([8, 1, 28, 28])
    """
    key = _canonical(preset, _AUGMENTATIONS)
    if key not in _AUGMENTATIONS:
        raise _suggest(preset, _AUGMENTATIONS, "augmentation preset")
    return Compose(*_AUGMENTATIONS[key]())
