"""Test-time augmentation on Fashion-MNIST: accuracy and prediction cost, side by side.

Fits one network, then predicts the test set plainly and with ``tta="flip"`` and
``tta="flip_shift"`` (the same weights: ``tta`` only changes ``predict_proba``).

    python benchmarks/tta.py            # about 3 minutes on 2 cores
    python benchmarks/tta.py --tiny     # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import time

from _common import command_line, load_fashion_mnist_or_skip, print_environment


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.n_test, args.epochs = 500, 200, 1
    print(f"command: {command_line()}\n")
    print_environment()
    from cnn_estimators import make_fashion_mnist_cnn
    from cnn_estimators.transforms import augmentation

    data = load_fashion_mnist_or_skip(args.n_train, args.n_test)
    est = make_fashion_mnist_cnn(
        max_epochs=args.epochs,
        random_state=0,
        progress_bar=False,
        train_transform=augmentation("fashion_mnist"),
    )
    start = time.perf_counter()
    est.fit(data.X_train, data.y_train)
    print(
        f"fit: {time.perf_counter() - start:.1f} s ({args.n_train} images, "
        f"{args.epochs} epochs, fashion_cnn with flip + 2-px crop augmentation)\n"
    )
    print("| tta | views | test accuracy | predict s | cost vs plain |")
    print("|---|---|---|---|---|")
    base = None
    for tta, views in [(None, 1), ("flip", 2), ("flip_shift", 6)]:
        est.set_params(tta=tta)
        start = time.perf_counter()
        acc = est.score(data.X_test, data.y_test)
        seconds = time.perf_counter() - start
        base = base or seconds
        print(
            f"| {tta} | {views} | {acc:.4f} | {seconds:.2f} | {seconds / base:.2f}x |", flush=True
        )


if __name__ == "__main__":
    main()
