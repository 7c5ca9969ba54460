"""Recipes on a subset: the factories vs scikit-learn's MLPClassifier in cross-validation.

The factories' recipes are tuned in epochs of 60,000 images; on a few thousand images the
same epochs are a small fraction of the optimizer steps, and ``min_steps`` sets a floor.
This script cross-validates, on the same stratified folds of a stratified Fashion-MNIST
subset, each factory with its default ``min_steps`` and with other floors, and
``MLPClassifier((1000,), max_iter=5)`` for comparison, with the fit time of each fold.

    python benchmarks/subset_recipes.py                       # about 10 minutes on 2 cores
    python benchmarks/subset_recipes.py --min-steps none 300  # other floors
    python benchmarks/subset_recipes.py --tiny                # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import command_line, load_fashion_mnist_or_skip, print_environment

FACTORIES = ("fashion", "fast")


def _factory(name: str):
    from cnn_estimators import make_fashion_mnist_cnn, make_fast_cnn

    return {"fashion": make_fashion_mnist_cnn, "fast": make_fast_cnn}[name]


def _cross_validate(make, X, y, folds):
    """Accuracy, fit seconds and epochs of each fold."""
    scores, seconds, epochs = [], [], []
    for train, test in folds:
        est = make()
        start = time.perf_counter()
        est.fit(X[train], y[train])
        seconds.append(time.perf_counter() - start)
        scores.append(float(est.score(X[test], y[test])))
        history = getattr(est, "history_", None)
        epochs.append(len(history) if history is not None else est.n_iter_)
    return np.array(scores), np.array(seconds), epochs


def _row(name, floor, scores, seconds, epochs, steps):
    per_fold = " ".join(f"{s:.3f}" for s in scores)
    return (
        f"| {name} | {floor} | {'/'.join(map(str, sorted(set(epochs))))} | {steps} | "
        f"{scores.mean():.4f} ± {scores.std():.4f} | {per_fold} | {seconds.mean():.1f} |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=5000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--min-steps",
        nargs="+",
        default=["default", "none", "300", "500"],
        help="floors to compare: 'default' (the factory's), 'none' or a number",
    )
    parser.add_argument("--factories", nargs="+", choices=FACTORIES, default=["fashion"])
    parser.add_argument("--mlp-iter", type=int, default=5)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        # not the factory's floor: 150 one-batch epochs on 135 images would take a minute
        args.n_images, args.folds, args.min_steps, args.mlp_iter = 300, 2, ["none", "20"], 1
    print(f"command: {command_line()}\n")
    print_environment()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier

    from cnn_estimators._plan import steps_per_epoch

    data = load_fashion_mnist_or_skip(args.n_images, 10)
    X, y = data.X_train, data.y_train
    folds = list(StratifiedKFold(args.folds).split(X, y))
    n_fit = len(folds[0][0])
    print(
        f"{len(X)} stratified Fashion-MNIST training images, {args.folds}-fold "
        f"StratifiedKFold ({n_fit} images per fit); accuracy on the held-out fold, fit "
        "seconds = mean over the folds\n"
    )
    print(
        "| model | min_steps | epochs | optimizer steps | CV accuracy (mean ± std) | "
        "per fold | fit s per fold |"
    )
    print("|---|---|---|---|---|---|---|")

    def mlp():
        return MLPClassifier((1000,), max_iter=args.mlp_iter, random_state=0)

    flat = X.reshape(len(X), -1).astype(np.float32) / 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores, seconds, epochs = _cross_validate(mlp, flat, y, folds)
    steps = args.mlp_iter * steps_per_epoch(n_fit, 200)  # batch_size="auto": 200
    print(
        _row(
            f"MLPClassifier((1000,), max_iter={args.mlp_iter})", "-", scores, seconds, epochs, steps
        ),
        flush=True,
    )
    for name in args.factories:
        factory = _factory(name)
        for floor in args.min_steps:
            params = (
                {} if floor == "default" else {"min_steps": None if floor == "none" else int(floor)}
            )
            probe = factory(**params)
            label = f"{probe.min_steps} (default)" if floor == "default" else probe.min_steps

            def make(factory=factory, params=params):
                return factory(random_state=0, progress_bar=False, **params)

            scores, seconds, epochs = _cross_validate(make, X, y, folds)
            n_train = n_fit - int(np.ceil(probe.validation_fraction * n_fit))
            steps = max(epochs) * steps_per_epoch(n_train, probe.batch_size)
            print(_row(f"{factory.__name__}()", label, scores, seconds, epochs, steps), flush=True)


if __name__ == "__main__":
    main()
