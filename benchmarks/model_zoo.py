"""Accuracy per CPU-second of the registered networks on real Fashion-MNIST.

Every model is trained with the same recipe (Adam, lr 1e-3, batch 128, no validation
split, pixels normalised with the Fashion-MNIST mean and std), one epoch per call of a
warm-started ``fit``. After each epoch the script records the cumulative CPU time spent
in ``fit`` (``time.process_time()``: this process, all threads), the wall time, and the
accuracy on a held-out test subset (scoring is not counted in either time).

Reported per model: parameters, CPU-s and wall-s in total, test accuracy after each
epoch, the CPU-seconds needed to reach 85 % and 88 % test accuracy (resolution: one
epoch), and the best test accuracy reached within a fixed CPU budget (the CPU time of
one, and of two, fashion_cnn epochs measured in the same run). Ratios are relative to
fashion_cnn in the same run.

Usage::

    python benchmarks/model_zoo.py [--n-train 10000] [--n-test 2000] [--epochs 6]
                                   [--models fast_cnn fashion_cnn ...] [--tiny]

A model named twice is trained twice (by default fast_cnn runs first and last: the
accuracies are identical, the difference of the CPU times shows the measurement noise).
Without a local copy of Fashion-MNIST the script prints a skip message and exits with 0.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    command_line,
    load_fashion_mnist_or_skip,
    loadavg,
    print_environment,
)

DEFAULT_MODELS = [
    "fast_cnn",
    "fashion_cnn",
    "cifar_cnn",
    "example_cnn",
    "bn_cnn",
    "global_pool_cnn",
    "mlp",
    "fast_cnn",
]
TINY_MODELS = ["fast_cnn", "fashion_cnn"]
REFERENCE = "fashion_cnn"
THRESHOLDS = (0.85, 0.88)
#: Fashion-MNIST training-set pixel mean and standard deviation (pixels scaled to [0, 1]).
MEAN, STD = 0.2860, 0.3530

TABLE_HEADER = (
    "| model | params | epochs | CPU-s total | wall-s total | test acc per epoch | final acc "
    "| CPU-s to 85% | CPU-s to 88% | best acc ≤ B1 | best acc ≤ B2 |"
)


@dataclass
class Run:
    """Measurements of one model: cumulative CPU-s, wall-s and test accuracy per epoch."""

    label: str
    model: str
    params: int = 0
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)

    def time_to(self, threshold: float) -> float | None:
        """Cumulative CPU-s at the end of the first epoch reaching ``threshold``."""
        for cpu, acc in zip(self.cpu, self.acc, strict=True):
            if acc >= threshold:
                return cpu
        return None

    def best_within(self, budget: float) -> float | None:
        """Best test accuracy after an epoch that ended within ``budget`` CPU-s."""
        within = [a for c, a in zip(self.cpu, self.acc, strict=True) if c <= budget]
        return max(within) if within else None

    @property
    def cpu_per_epoch(self) -> float:
        return self.cpu[-1] / len(self.cpu)


def make_classifier(name: str):
    import torchvision.transforms.v2 as transforms

    from cnn_estimators import CNNClassifier

    return CNNClassifier(
        name,
        optimizer="adam",
        lr=1e-3,
        batch_size=128,
        max_epochs=1,
        validation_fraction=0,
        random_state=0,
        device="cpu",
        warm_start=True,
        progress_bar=False,
        eval_transform=transforms.Normalize((MEAN,), (STD,)),
    )


def train(label: str, name: str, data, epochs: int) -> Run:
    """Train ``name`` for ``epochs`` epochs, one warm-started ``fit`` call per epoch."""
    run = Run(label=label, model=name)
    clf = make_classifier(name)
    cpu_total = wall_total = 0.0
    for epoch in range(1, epochs + 1):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        clf.fit(data.X_train, data.y_train)
        c1, w1 = time.process_time(), time.perf_counter()
        if clf.n_iter_ != epoch:
            raise RuntimeError(f"{name}: expected {epoch} epochs after fit, got {clf.n_iter_}")
        cpu_total += c1 - c0
        wall_total += w1 - w0
        acc = float(clf.score(data.X_test, data.y_test))  # not timed
        if epoch == 1:
            run.params = sum(p.numel() for p in clf.module_.parameters())
        run.cpu.append(cpu_total)
        run.wall.append(wall_total)
        run.acc.append(acc)
        print(
            f"  {label:<18} epoch {epoch}: CPU {cpu_total:8.1f} s  wall {wall_total:8.1f} s  "
            f"test acc {acc:.4f}  (load {loadavg()})",
            flush=True,
        )
    return run


def warm_up(data) -> None:
    """One untimed epoch of the MLP on a few images: loads torch's kernels and skorch."""
    clf = make_classifier("mlp")
    clf.fit(data.X_train[:256], data.y_train[:256])
    clf.score(data.X_test[:64], data.y_test[:64])


def _fmt(value: float | None, spec: str, missing: str) -> str:
    return missing if value is None else format(value, spec)


def _ratio(value: float | None, ref: float | None) -> str:
    if value is None or ref is None or ref == 0:
        return "n/a"
    return f"{value / ref:.2f}x"


def report(runs: list[Run], reference: Run) -> None:
    """Print the main table, the ratios to the reference and a per-epoch table."""
    b1 = reference.cpu[0]
    b2 = 2 * b1
    print(
        f"CPU budgets: B1 = {b1:.1f} CPU-s (one {reference.label} epoch), "
        f"B2 = {b2:.1f} CPU-s (2 x B1)."
    )
    print("'CPU-s to X%' is the cumulative CPU time at the end of the first epoch whose")
    print("test accuracy is >= X (resolution: one epoch).")
    print("'best acc ≤ B' is the best test accuracy after an epoch that ended within B;")
    print("'-' = the first epoch alone costs more than B.")
    print()
    print(TABLE_HEADER)
    print("|" + "---|" * TABLE_HEADER.count(" | ") + "---|")
    for run in runs:
        accs = " ".join(f"{a:.3f}" for a in run.acc)
        cells = [
            run.label,
            f"{run.params:,}",
            str(len(run.acc)),
            f"{run.cpu[-1]:.1f}",
            f"{run.wall[-1]:.1f}",
            accs,
            f"{run.acc[-1]:.4f}",
            _fmt(run.time_to(THRESHOLDS[0]), ".1f", "not reached"),
            _fmt(run.time_to(THRESHOLDS[1]), ".1f", "not reached"),
            _fmt(run.best_within(b1), ".4f", "-"),
            _fmt(run.best_within(b2), ".4f", "-"),
        ]
        print("| " + " | ".join(cells) + " |")
    print()

    print(f"Ratios to {reference.label} (same run; < 1 means less CPU than {reference.label}):")
    print()
    print("| model | CPU-s per epoch | ratio | CPU-s to 85% ratio | CPU-s to 88% ratio |")
    print("|---|---|---|---|---|")
    for run in runs:
        print(
            f"| {run.label} | {run.cpu_per_epoch:.1f} | "
            f"{_ratio(run.cpu_per_epoch, reference.cpu_per_epoch)} | "
            f"{_ratio(run.time_to(THRESHOLDS[0]), reference.time_to(THRESHOLDS[0]))} | "
            f"{_ratio(run.time_to(THRESHOLDS[1]), reference.time_to(THRESHOLDS[1]))} |"
        )
    print()

    print("Per epoch (cumulative times in fit):")
    print()
    print("| model | epoch | CPU-s | wall-s | test acc |")
    print("|---|---|---|---|---|")
    for run in runs:
        for i, (c, w, a) in enumerate(zip(run.cpu, run.wall, run.acc, strict=True), 1):
            print(f"| {run.label} | {i} | {c:.1f} | {w:.1f} | {a:.4f} |")
    print()

    print("Summary:")
    for threshold in THRESHOLDS:
        reached = [(r.time_to(threshold), r.label) for r in runs if r.time_to(threshold)]
        if reached:
            cpu, label = min(reached)
            print(f"  least CPU to reach {threshold:.0%}: {label} ({cpu:.1f} CPU-s)")
        else:
            print(f"  no model reached {threshold:.0%}")
    for name, budget in (("B1", b1), ("B2", b2)):
        scored = [(r.best_within(budget), r.label) for r in runs if r.best_within(budget)]
        if scored:
            acc, label = max(scored)
            print(f"  best accuracy within {name} = {budget:.1f} CPU-s: {label} ({acc:.4f})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=10000, help="training images")
    parser.add_argument("--n-test", type=int, default=2000, help="test images")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per model")
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        help=f"registered model names, in order (default: {' '.join(DEFAULT_MODELS)})",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="smoke test: 300 train / 100 test images, 1 epoch, fast_cnn and fashion_cnn",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads(N) before training (default: torch's default)",
    )
    parser.add_argument(
        "--debian-dir",
        default=None,
        help="look for Debian's Fashion-MNIST here instead of /usr/share/datasets/fashion-mnist",
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.n_test, args.epochs = 300, 100, 1
        args.models = args.models or list(TINY_MODELS)
    args.models = args.models or list(DEFAULT_MODELS)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"## Command\n{command_line()}\n", flush=True)
    data = load_fashion_mnist_or_skip(
        args.n_train, args.n_test, random_state=0, debian_dir=args.debian_dir
    )

    from cnn_estimators import list_models

    unknown = sorted(set(args.models) - set(list_models()))
    if unknown:
        print(f"unknown model(s) {unknown}; registered: {list_models()}", file=sys.stderr)
        return 2

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    print_environment()
    print("## Data")
    print(
        f"Fashion-MNIST from {data.source}: {len(data.X_train)} train / {len(data.X_test)} "
        f"test images {data.X_train.shape[1:]} {data.X_train.dtype} (stratified, "
        "random_state=0)"
    )
    print(
        "Recipe: CNNClassifier(name, optimizer='adam', lr=1e-3, batch_size=128, "
        "max_epochs=1, validation_fraction=0, random_state=0, device='cpu', "
        f"warm_start=True, eval_transform=Normalize(({MEAN:.4f},), ({STD:.4f},))), "
        f"{args.epochs} x fit()"
    )
    print()

    load_before = loadavg()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    warm_up(data)
    print("## Training (one warm-started fit per epoch; scoring not timed)", flush=True)
    counts = Counter(args.models)
    seen: Counter[str] = Counter()
    runs = []
    for name in args.models:
        seen[name] += 1
        label = f"{name} #{seen[name]}" if counts[name] > 1 else name
        runs.append(train(label, name, data, args.epochs))
    total_wall = time.perf_counter() - start_wall
    total_cpu = time.process_time() - start_cpu
    load_after = loadavg()
    print()

    reference = next((r for r in runs if r.model == REFERENCE), runs[0])
    print("## Results")
    report(runs, reference)
    print()
    print(
        f"Whole benchmark: {total_wall:.0f} s wall, {total_cpu:.0f} CPU-s "
        f"(including scoring and warm-up)."
    )
    print(f"Load average (1/5/15 min) before: {load_before}; after: {load_after}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
