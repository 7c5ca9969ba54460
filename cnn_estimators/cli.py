"""The ``cnn-estimators`` command: ``list-models``, ``summary`` and ``demo``.

Run ``cnn-estimators --help`` (or ``python -m cnn_estimators --help``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]


def _list_models(args: argparse.Namespace) -> int:
    from .models import get_model_info, list_models

    for name in list_models(include=args.include):
        info = get_model_info(name)
        size = "any size" if info.variable_input_size else "fixed size"
        print(
            f"{name:<16} min {info.min_input_size[0]}x{info.min_input_size[1]}, {size}: "
            f"{info.description}"
        )
    return 0


def _summary(args: argparse.Namespace) -> int:
    from .summary import format_summary, summary

    table = summary(args.model, tuple(args.input_shape))
    print(format_summary(table))
    return 0


def _demo(args: argparse.Namespace) -> int:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from .datasets import load_digits_images
    from .estimator import CNNClassifier

    data = load_digits_images(random_state=args.random_state)
    print(f"Data: {data!r}")
    est = CNNClassifier(
        args.model,
        max_epochs=args.epochs,
        lr=3e-3,
        batch_size=64,
        random_state=args.random_state,
        progress_bar=False,
    )
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=args.random_state)
    start = time.perf_counter()
    scores = cross_val_score(est, data.X_train, data.y_train, cv=cv, n_jobs=args.n_jobs)
    cv_time = time.perf_counter() - start
    print(
        f"\n5-fold cross-validation of {args.model!r} ({args.epochs} epochs) on "
        f"{len(data.X_train)} training images ({cv_time:.1f} s):"
    )
    for fold, score in enumerate(scores, 1):
        print(f"  fold {fold}: accuracy {score:.4f}")
    print(f"  mean {np.mean(scores):.4f} +/- {np.std(scores):.4f}")
    start = time.perf_counter()
    est.fit(data.X_train, data.y_train)
    test_acc = est.score(data.X_test, data.y_test)
    print(
        f"\nFitted on all training images in {time.perf_counter() - start:.1f} s: "
        f"test accuracy {test_acc:.4f} on {len(data.X_test)} held-out images."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cnn-estimators``."""
    parser = argparse.ArgumentParser(
        prog="cnn-estimators",
        description="scikit-learn compatible CNN image classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list-models", help="list the registered networks")
    p.add_argument("--include", default=None, help="fnmatch filter, e.g. '*cnn'")
    p.set_defaults(func=_list_models)

    p = sub.add_parser("summary", help="layer table of a registered network")
    p.add_argument("model")
    p.add_argument("--input-shape", nargs=3, type=int, metavar=("C", "H", "W"), default=(1, 28, 28))
    p.set_defaults(func=_summary)

    p = sub.add_parser("demo", help="cross-validate and fit a CNN on the bundled digits")
    p.add_argument("--model", default="global_pool_cnn")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--random-state", type=int, default=0)
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 2 bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"cnn-estimators: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
