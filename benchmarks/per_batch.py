"""The framework's per-batch cost: CNNClassifier on a network that costs almost nothing.

A 784 -> 10 linear network with the unfused Adam of a hand loop, on random uint8 images:
what an epoch takes is then mostly the framework's own Python per batch (skorch's loop,
the estimator's steps, callbacks). Compare two trees by running this script with each on
``PYTHONPATH``, alternating (the machine is noisy; compare only figures of one run):

    PYTHONPATH=/path/to/old python benchmarks/per_batch.py
    PYTHONPATH=/path/to/new python benchmarks/per_batch.py
    python benchmarks/per_batch.py --tiny     # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from _common import command_line, print_environment
from torch import nn


class Linear784(nn.Module):
    """Flatten, then one Linear layer (takes the estimator's inferred arguments)."""

    def __init__(self, in_channels=1, num_classes=10, input_size=(28, 28)):
        super().__init__()
        self.fc = nn.Linear(in_channels * input_size[0] * input_size[1], num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--fits", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.fits, args.epochs = 1024, 1, 2
    print(f"command: {command_line()}\n")
    print_environment()
    import cnn_estimators
    from cnn_estimators import CNNClassifier

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(args.n_train, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=args.n_train)
    est = CNNClassifier(
        Linear784,
        max_epochs=args.epochs,
        batch_size=128,
        optimizer="adam",
        optimizer__fused=False,
        validation_fraction=0,
        random_state=0,
        progress_bar=False,
        device="cpu",
    )
    est.fit(X[:256], y[:256])  # warm-up
    durations = []
    for _ in range(args.fits):
        est.fit(X, y)
        durations += list(est.history_[:, "dur"])
    batches = -(-args.n_train // 128)
    epoch = statistics.median(durations)
    print(f"package: {cnn_estimators.__file__}")
    print("| images | batches/epoch | epochs timed | median epoch ms | us per batch |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.n_train} | {batches} | {len(durations)} | {1000 * epoch:.1f} | "
        f"{1e6 * epoch / batches:.0f} |"
    )


if __name__ == "__main__":
    main()
