"""Data loading shared by the examples: the real data set if a local copy exists, else a
stand-in, so that every script runs offline.

Not an example itself (``tests/test_examples.py`` skips files starting with ``_``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from cnn_estimators import ImageData
from cnn_estimators.datasets import dataset_name


def load_or_fallback(
    args,
    loaders: Sequence[tuple[str, Callable[..., ImageData]]],
    *,
    quick: tuple[str, Callable[[], ImageData]],
    fallback: tuple[str, Callable[[], ImageData]],
) -> ImageData:
    """``quick`` with --quick, else the first of ``loaders`` with a local copy, else ``fallback``.

    ``quick`` and ``fallback`` are ``(description, make_data)`` pairs; each loader is called
    with ``n_train=args.n_train, n_test=args.n_test, random_state=0`` and never downloads.
    """
    if args.quick:
        print(f"data: --quick uses {quick[0]}")
        return quick[1]()
    for name, loader in loaders:
        try:
            data = loader(n_train=args.n_train, n_test=args.n_test, random_state=0)
        except (OSError, ValueError) as exc:
            reason = "no local copy" if isinstance(exc, FileNotFoundError) else exc
            print(f"note: {name} is not available ({reason})")
            continue
        print(f"data: {name} from {data.source}")
        return data
    print(f"note: using {fallback[0]}")
    return fallback[1]()


def dataset_arg(*allowed: str) -> Callable[[str], str]:
    """An argparse ``type`` for ``--dataset``: any spelling of the data set names
    (``fashion-mnist``, ``Fashion_MNIST``), returned as the one of ``ImageData.name``."""

    def parse(value: str) -> str:
        try:
            name = dataset_name(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if name not in allowed:
            raise argparse.ArgumentTypeError(
                f"this example runs on {' or '.join(allowed)}; got {value!r}"
            )
        return name

    return parse
