"""Assignment "the example network, and an improved one".

Reproduces the course assignment: train the given network (``example_cnn``: three
Conv2d(5x5, padding 2) -> ReLU -> MaxPool2d(2) blocks with 32, 64 and 128 filters, then
Linear(., 64) -> ReLU -> Linear(64, 10)) with the lab's recipe (SGD, momentum 0.9,
lr 0.01, CIFAR normalisation), then improve on it, and report an accuracy comparison
table. The improvements are added one at a time so their effects can be told apart:

1. ``example_cnn``, the assignment's recipe (the baseline);
2. the same network with augmentation (random shifts and flips) and a OneCycle
   learning-rate schedule (warm-up to lr 0.05, then annealing);
3. ``bn_cnn`` (batch normalisation, LeakyReLU) with the same augmentation and schedule;
4. ``fast_cnn`` (the package's small Conv-BN-ReLU residual network) with its documented
   recipe (OneCycle up to lr 0.4, Nesterov momentum, weight decay 5e-4, label smoothing
   0.1) plus the augmentation.

It prints the table (parameters, fit time, best validation and test accuracy) and saves
a figure with the validation curves and the test accuracies.

Data: CIFAR-10 when a local copy exists (``load_cifar10``). Without it, a synthetic set
of the same size stands in, with a note: 10 classes of coloured shapes (disk, ring,
square, bars, cross ...) at random positions and scales, 32x32 RGB. ``--quick`` uses 200
of those at 16x16 and two epochs.

    python examples/assignment_network.py                  # CIFAR-10, 10,000 images: ~tens of min
    python examples/assignment_network.py --n-train 50000 --epochs 20
    python examples/assignment_network.py --quick          # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from _loading import load_or_fallback  # shared: real data if present, else a stand-in
from _synthetic import synthetic_shapes  # shared offline stand-in for CIFAR-10
from matplotlib.ticker import MaxNLocator

from cnn_estimators import ImageData, load_cifar10, make_cifar_cnn
from cnn_estimators.transforms import augmentation


def load_data(args) -> ImageData:
    return load_or_fallback(
        args,
        [("CIFAR-10", load_cifar10)],
        quick=(
            "200 synthetic coloured shapes (16x16 RGB), not CIFAR-10",
            lambda: synthetic_shapes(200, 100, size=16),
        ),
        fallback=(
            "synthetic coloured shapes",
            lambda: synthetic_shapes(args.n_train or 20000, args.n_test or 2000),
        ),
    )


def candidates(epochs: int, batch_size: int) -> dict[str, tuple[str, object]]:
    common = dict(max_epochs=epochs, batch_size=batch_size, random_state=0, progress_bar=False)
    return {
        "1. example_cnn": (
            "assignment: SGD lr 0.01, momentum 0.9",
            make_cifar_cnn(model="example_cnn", **common),
        ),
        "2. example_cnn + aug + onecycle": (
            "augmentation, OneCycle max lr 0.05",
            make_cifar_cnn(
                model="example_cnn",
                lr=0.05,
                lr_schedule="onecycle",
                train_transform=augmentation("cifar10"),
                **common,
            ),
        ),
        "3. bn_cnn + aug + onecycle": (
            "augmentation, OneCycle max lr 0.05",
            make_cifar_cnn(
                model="bn_cnn",
                lr=0.05,
                lr_schedule="onecycle",
                train_transform=augmentation("cifar10"),
                **common,
            ),
        ),
        "4. fast_cnn + aug + onecycle": (
            "augmentation, OneCycle max lr 0.4, Nesterov, wd 5e-4, label smoothing 0.1",
            make_cifar_cnn(
                model="fast_cnn",
                lr=0.4,
                lr_schedule="onecycle",
                optimizer__nesterov=True,
                optimizer__weight_decay=5e-4,
                criterion__label_smoothing=0.1,
                train_transform=augmentation("cifar10"),
                **common,
            ),
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default=".", help="folder for the figure (default: cwd)")
    parser.add_argument("--n-train", type=int, default=10000, help="training images (full run)")
    parser.add_argument("--n-test", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 2 if args.quick else args.epochs

    data = load_data(args)
    print(data)
    rows, curves = [], {}
    for name, (recipe, est) in candidates(epochs, 64 if args.quick else 128).items():
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train)
        fit_time = time.perf_counter() - start
        test_acc = est.score(data.X_test, data.y_test)
        curves[name] = est.validation_scores_
        rows.append(
            {
                "model": name,
                "recipe": recipe,
                "parameters": sum(p.numel() for p in est.module_.parameters()),
                "epochs": est.n_iter_,
                "fit time (s)": round(fit_time, 1),
                "best valid acc": round(est.best_validation_score_, 4),
                "test accuracy": round(test_acc, 4),
            }
        )
        print(f"{name}: test accuracy {test_acc:.4f} ({fit_time:.1f} s)")

    table = pd.DataFrame(rows)
    print(f"\nAccuracy comparison on {data.name} ({len(data.y_train)} training images)")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    base = table["test accuracy"].iloc[0]
    best = table.loc[table["test accuracy"].idxmax()]
    print(
        f"best: {best['model']} with {best['test accuracy']:.4f} "
        f"({100 * (best['test accuracy'] - base):+.1f} points over the assignment network)"
    )

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    for name, scores in curves.items():
        ax1.plot(range(1, len(scores) + 1), scores, marker="o", label=name)
    ax1.set_xlabel("epoch")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs
    ax1.set_ylabel("validation accuracy")
    ax1.set_title("Validation accuracy per epoch")
    ax1.legend(fontsize=8)
    bars = ax2.barh(table["model"], table["test accuracy"], color="C0")
    ax2.bar_label(bars, fmt="%.3f", padding=3)
    ax2.set_xlim(0, 1.1)
    ax2.invert_yaxis()
    ax2.set_xlabel("test accuracy")
    ax2.set_title("Test accuracy")
    path = out / "assignment_network_comparison.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
