"""Cost of train-time augmentation: epoch time with and without it, side by side.

The data issue's target: augmentation must not make an epoch more than 1.3x slower than
the same epoch without it. Runs are interleaved (plain, augmented, plain, ...) and the
ratio of medians is reported, on real Fashion-MNIST (fashion_cnn, "fashion_mnist" preset)
and on CIFAR-sized random images (cifar_cnn, "cifar10" preset: 4-pixel padded crop + flip).

    python benchmarks/augmentation.py              # about 3 minutes on 2 cores
    python benchmarks/augmentation.py --tiny       # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import command_line, load_fashion_mnist_or_skip, print_environment


def epoch_seconds(module, X, y, train_transform, eval_transform, batch_size):
    from cnn_estimators import CNNClassifier

    est = CNNClassifier(
        module,
        max_epochs=1,
        batch_size=batch_size,
        validation_fraction=0,
        random_state=0,
        device="cpu",
        train_transform=train_transform,
        eval_transform=eval_transform,
        progress_bar=False,
    )
    start = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - start


def compare(name, module, X, y, preset, norm, repeats, batch_size):
    from cnn_estimators.transforms import augmentation, normalize

    plain, augmented = [], []
    epoch_seconds(module, X[:256], y[:256], None, normalize(norm), batch_size)  # warm-up
    for _ in range(repeats):
        plain.append(epoch_seconds(module, X, y, None, normalize(norm), batch_size))
        augmented.append(
            epoch_seconds(module, X, y, augmentation(preset), normalize(norm), batch_size)
        )
    p, a = statistics.median(plain), statistics.median(augmented)
    print(f"| {name} | {len(X)} | {preset!r} | {p:.2f} | {a:.2f} | {a / p:.3f} |", flush=True)
    return a / p


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.repeats = 512, 1
    print(f"command: {command_line()}\n")
    print_environment()
    data = load_fashion_mnist_or_skip(args.n_train, 100)
    rng = np.random.default_rng(0)
    X_rgb = rng.integers(0, 256, (args.n_train, 3, 32, 32), dtype=np.uint8)
    y_rgb = rng.integers(0, 10, args.n_train)
    print("| data / network | images | preset | plain epoch s | augmented epoch s | ratio |")
    print("|---|---|---|---|---|---|")
    ratios = [
        compare(
            "Fashion-MNIST / fashion_cnn",
            "fashion_cnn",
            data.X_train,
            data.y_train,
            "fashion_mnist",
            "fashion_mnist",
            args.repeats,
            128,
        ),
        compare(
            "random 3x32x32 / cifar_cnn",
            "cifar_cnn",
            X_rgb,
            y_rgb,
            "cifar10",
            "cifar10",
            args.repeats,
            128,
        ),
    ]
    print(
        f"\nworst ratio {max(ratios):.3f} (target <= 1.30); medians of {args.repeats} "
        "interleaved repeats"
    )


if __name__ == "__main__":
    main()
