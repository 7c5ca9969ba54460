"""Time to accuracy on the full Fashion-MNIST: ``make_fashion_mnist_cnn()`` vs one hand epoch.

The performance target: ``make_fashion_mnist_cnn()`` with its defaults, fitted on the
60,000 training images, reaches at least 92.0% accuracy on the 10,000 test images in a
fit time of at most 2.0x the time one epoch of the course network ``fashion_cnn`` takes
in a hand-written PyTorch loop (Adam, batch 128) on the same images. Both are measured
in this run, interleaved (hand epoch, factory fit, hand epoch, ...), and the medians are
compared. The test set is used only for the final score.

The hand loop of the target is the one a student writes: the images as a float tensor
with the plain (N, 1, 28, 28) strides. A second hand loop, interleaved with the first,
gets the same images with channels-last strides (the same bytes: one channel), the
layout CNNClassifier gives one-channel batches, for which oneDNN picks faster kernels;
its column shows how much of the ratio that layout accounts for.

    python benchmarks/time_to_accuracy.py             # about 4 minutes on 2 cores
    python benchmarks/time_to_accuracy.py --tiny      # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import command_line, load_fashion_mnist_or_skip, print_environment
from overhead import hand_fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="factory fits, with random_state 0, 1, ... (default: 3)",
    )
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    extra = {}
    if args.tiny:
        args.n_train, args.n_test, args.repeats = 600, 200, 1
        extra = {"max_epochs": 1}
    print(f"command: {command_line()}\n")
    print_environment()
    from cnn_estimators import make_fashion_mnist_cnn

    data = load_fashion_mnist_or_skip(args.n_train, args.n_test)
    X, y = data.X_train, data.y_train
    for channels_last in (False, True):  # warm-up of both layouts' kernels
        hand_fit("fashion_cnn", X[:512], y[:512], 1, channels_last=channels_last)
    hand, hand_cl, fits, scores = [], [], [], []
    for seed in range(args.repeats):
        hand.append(hand_fit("fashion_cnn", X, y, 1, channels_last=False)[0])
        hand_cl.append(hand_fit("fashion_cnn", X, y, 1, channels_last=True)[0])
        est = make_fashion_mnist_cnn(random_state=seed, progress_bar=False, **extra)
        start = time.perf_counter()
        est.fit(X, y)
        fits.append(time.perf_counter() - start)
        scores.append(est.score(data.X_test, data.y_test))
    hand.append(hand_fit("fashion_cnn", X, y, 1, channels_last=False)[0])
    hand_cl.append(hand_fit("fashion_cnn", X, y, 1, channels_last=True)[0])
    h, f = statistics.median(hand), statistics.median(fits)
    h_cl = statistics.median(hand_cl)
    print(
        f"make_fashion_mnist_cnn(): {est.module}, {est.max_epochs} epochs, "
        f"optimizer {est.optimizer}, lr {est.lr}, schedule {est.lr_schedule}, "
        f"precision {est.precision} ({est.precision_}), batch {est.batch_size}, "
        f"validation_fraction {est.validation_fraction}\n"
    )
    print(
        "| images | hand fashion_cnn epoch s | factory fit s | fit / hand epoch | "
        "test accuracy (random_state 0, 1, ...) | hand epoch s, channels-last strides | "
        "fit / that epoch |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.n_train} | {h:.1f} | {f:.1f} | {f / h:.2f} | "
        f"{', '.join(f'{s:.4f}' for s in scores)} | {h_cl:.1f} | {f / h_cl:.2f} |"
    )
    print(
        f"\nhand epochs: {', '.join(f'{t:.1f}' for t in hand)} s; with channels-last "
        f"strides: {', '.join(f'{t:.1f}' for t in hand_cl)} s; "
        f"factory fits: {', '.join(f'{t:.1f}' for t in fits)} s"
    )
    print(
        "target: fit / hand epoch <= 2.0 and test accuracy >= 0.920 (the hand epoch of "
        "the plain loop)"
    )


if __name__ == "__main__":
    main()
