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
                                   [--threads N]
    python benchmarks/model_zoo.py --recipes [--fast-epochs 2 3 4 6] [--threads 1]

``--recipes`` compares each network with its own training recipe: the course networks
(and, as a control, ``fast_cnn``) with the course recipe above, one warm-started epoch
per ``fit``, and ``fast_cnn`` with its recipe (:data:`FAST_RECIPE`: SGD with Nesterov
momentum, one-cycle schedule, label smoothing; see ``cnn_estimators/models/fast.py``).
A one-cycle schedule is sized for a fixed number of epochs, so it cannot be evaluated
fairly in the middle of a run: ``fast_cnn`` is trained by separate fits of ``E`` epochs
for every ``E`` in ``--fast-epochs``, each giving one (CPU-s, test accuracy) point. In
this mode torch uses one thread unless ``--threads`` says otherwise (several threads
spin-wait on a loaded machine and inflate the CPU time), and the budgets B1, B2 and B4
(1, 2 and 4 fashion_cnn epochs) are reported.

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
#: Models of the --recipes mode trained with the course recipe (fast_cnn is a control).
RECIPE_COURSE_MODELS = [
    "fashion_cnn",
    "cifar_cnn",
    "example_cnn",
    "bn_cnn",
    "global_pool_cnn",
    "mlp",
    "fast_cnn",
]
#: fast_cnn's own recipe (CNNClassifier arguments besides max_epochs and the fixed ones),
#: chosen on a validation split of the training subset, never on the test set.
FAST_RECIPE = {
    "optimizer": "sgd",
    "lr": 0.4,
    "optimizer__momentum": 0.9,
    "optimizer__nesterov": True,
    "optimizer__weight_decay": 5e-4,
    "lr_schedule": "onecycle",
    "criterion__label_smoothing": 0.1,
    "batch_size": 128,
}
DEFAULT_FAST_EPOCHS = [2, 3, 4, 6]
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


def make_fast_classifier(epochs: int, precision: str = "float32"):
    """fast_cnn with its own recipe (:data:`FAST_RECIPE`), for ``epochs`` epochs."""
    from cnn_estimators import CNNClassifier
    from cnn_estimators.transforms import normalize

    return CNNClassifier(
        "fast_cnn",
        **FAST_RECIPE,
        max_epochs=epochs,
        validation_fraction=0,
        random_state=0,
        device="cpu",
        progress_bar=False,
        precision=precision,
        eval_transform=normalize("fashion_mnist"),
    )


def train_fixed(label: str, data, epochs: int, precision: str = "float32") -> Run:
    """One fit of fast_cnn with its recipe for ``epochs`` epochs: a one-point Run."""
    run = Run(label=label, model="fast_cnn")
    clf = make_fast_classifier(epochs, precision)
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    clf.fit(data.X_train, data.y_train)
    c1, w1 = time.process_time(), time.perf_counter()
    if clf.n_iter_ != epochs:
        raise RuntimeError(f"{label}: expected {epochs} epochs after fit, got {clf.n_iter_}")
    acc = float(clf.score(data.X_test, data.y_test))  # not timed
    run.params = sum(p.numel() for p in clf.module_.parameters())
    run.cpu.append(c1 - c0)
    run.wall.append(w1 - w0)
    run.acc.append(acc)
    print(
        f"  {label:<24} {epochs} epochs: CPU {c1 - c0:8.1f} s  wall {w1 - w0:8.1f} s  "
        f"test acc {acc:.4f}  (load {loadavg()})",
        flush=True,
    )
    return run


def forward_macs(name: str, shape: tuple[int, int, int] = (1, 28, 28)) -> int:
    """Multiply-accumulates of one forward pass of one image (Conv2d and Linear layers)."""
    import torch
    from torch import nn

    from cnn_estimators.models import get_model

    model = get_model(name, in_channels=shape[0], num_classes=10, input_size=shape[1:]).eval()
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels
            total += output[0].numel() * k // module.groups
        else:
            total += module.in_features * module.out_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for handle in handles:
        handle.remove()
    return total


@dataclass
class Series:
    """(CPU-s, wall-s, test acc) points of one model and recipe."""

    label: str
    recipe: str
    runs: list[Run]
    macs: int = 0

    @property
    def points(self) -> list[tuple[float, float, float, str]]:
        """(CPU-s, wall-s, acc, note) sorted by CPU-s."""
        pts = []
        for run in self.runs:
            for i, (c, w, a) in enumerate(zip(run.cpu, run.wall, run.acc, strict=True), 1):
                note = f"epoch {i}" if len(run.acc) > 1 else run.label
                pts.append((c, w, a, note))
        return sorted(pts)

    def time_to(self, threshold: float) -> tuple[float, float] | None:
        """(CPU-s, wall-s) of the cheapest point reaching ``threshold``."""
        hits = [(c, w) for c, w, a, _ in self.points if a >= threshold]
        return min(hits) if hits else None

    def best_within(self, budget: float) -> float | None:
        within = [a for c, _, a, _ in self.points if c <= budget]
        return max(within) if within else None


def report_recipes(series: list[Series], b1: float) -> None:
    """Print the --recipes tables: summary per model/recipe and every point."""
    budgets = (("B1", b1), ("B2", 2 * b1), ("B4", 4 * b1))
    print(
        f"CPU budgets: B1 = {b1:.1f} CPU-s (the first fashion_cnn epoch), "
        f"B2 = {2 * b1:.1f}, B4 = {4 * b1:.1f} CPU-s."
    )
    print("Course recipe: cumulative time at the end of each epoch of one run.")
    print("fast_cnn recipe: one separate fit per total number of epochs E.")
    print("'CPU-s to X%' = cheapest point with test accuracy >= X (wall-s in brackets);")
    print("'best acc ≤ B' = best test accuracy of a point costing at most B CPU-s.")
    print()
    header = (
        "| model | recipe | MACs/img | params | CPU-s to 85% | CPU-s to 88% "
        "| best acc ≤ B1 | best acc ≤ B2 | best acc ≤ B4 | best acc (CPU-s) |"
    )
    print(header)
    print("|" + "---|" * (header.count(" | ") + 1))
    for s in series:
        cells = [s.label, s.recipe, f"{s.macs / 1e6:.1f} M", f"{s.runs[0].params:,}"]
        for threshold in THRESHOLDS:
            hit = s.time_to(threshold)
            cells.append("not reached" if hit is None else f"{hit[0]:.1f} ({hit[1]:.1f})")
        cells += [_fmt(s.best_within(b), ".4f", "-") for _, b in budgets]
        best = max(s.points, key=lambda p: (p[2], -p[0]))
        cells.append(f"{best[2]:.4f} ({best[0]:.1f})")
        print("| " + " | ".join(cells) + " |")
    print()
    print("All points:")
    print()
    print("| model | recipe | point | CPU-s | wall-s | test acc |")
    print("|---|---|---|---|---|---|")
    for s in series:
        for c, w, a, note in s.points:
            print(f"| {s.label} | {s.recipe} | {note} | {c:.1f} | {w:.1f} | {a:.4f} |")
    print()
    print("Summary:")
    for threshold in THRESHOLDS:
        reached = [(s.time_to(threshold)[0], s.label) for s in series if s.time_to(threshold)]
        if reached:
            cpu, label = min(reached)
            print(f"  least CPU to reach {threshold:.0%}: {label} ({cpu:.1f} CPU-s)")
        else:
            print(f"  no model reached {threshold:.0%}")
    for name, budget in budgets:
        scored = [(s.best_within(budget), s.label) for s in series if s.best_within(budget)]
        if scored:
            acc, label = max(scored)
            print(f"  best accuracy within {name} = {budget:.1f} CPU-s: {label} ({acc:.4f})")


def main_recipes(args: argparse.Namespace, data) -> int:
    """The --recipes benchmark (each network with its own training recipe)."""
    print("## Data")
    print(
        f"Fashion-MNIST from {data.source}: {len(data.X_train)} train / {len(data.X_test)} "
        f"test images {data.X_train.shape[1:]} {data.X_train.dtype} (stratified, "
        "random_state=0)"
    )
    print(
        "Course recipe: CNNClassifier(name, optimizer='adam', lr=1e-3, batch_size=128, "
        "max_epochs=1, validation_fraction=0, random_state=0, device='cpu', "
        f"warm_start=True, eval_transform=Normalize(({MEAN:.4f},), ({STD:.4f},))), "
        f"{args.epochs} x fit()"
    )
    recipe = ", ".join(f"{k}={v!r}" for k, v in FAST_RECIPE.items())
    print(
        f"fast_cnn recipe: CNNClassifier('fast_cnn', {recipe}, max_epochs=E, "
        "validation_fraction=0, random_state=0, device='cpu', "
        f"eval_transform=normalize('fashion_mnist')), one fit per E in {args.fast_epochs}"
    )
    print()
    load_before = loadavg()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    warm_up(data)
    make_fast_classifier(1).fit(data.X_train[:256], data.y_train[:256])  # untimed warm-up
    print("## Training (scoring not timed)", flush=True)
    fast_runs = [train_fixed(f"fast_cnn E={e}", data, e) for e in args.fast_epochs]
    course = {}
    for name in args.models:
        course[name] = train(f"{name} (course)", name, data, args.epochs)
    extra = []
    if not args.no_extras:
        repeat_epochs = 4 if 4 in args.fast_epochs else args.fast_epochs[-1]
        extra.append(
            Series(
                "fast_cnn (repeat)",
                "own (one-cycle)",
                [train_fixed(f"fast_cnn E={repeat_epochs} again", data, repeat_epochs)],
            )
        )
        extra.append(
            Series(
                "fast_cnn bf16",
                "own + precision='bf16'",
                [train_fixed(f"fast_cnn bf16 E={repeat_epochs}", data, repeat_epochs, "bf16")],
            )
        )
    total_wall = time.perf_counter() - start_wall
    total_cpu = time.process_time() - start_cpu
    load_after = loadavg()
    print()

    series = [Series("fast_cnn", "own (one-cycle)", fast_runs)]
    series += [
        Series(name if name != "fast_cnn" else "fast_cnn (control)", "course", [run])
        for name, run in course.items()
    ]
    series += extra
    macs = {}
    for s in series:
        name = s.runs[0].model
        if name not in macs:
            macs[name] = forward_macs(name, tuple(data.X_train.shape[1:]))
        s.macs = macs[name]
    if REFERENCE in course:
        b1 = course[REFERENCE].cpu[0]
    else:
        b1 = series[0].points[0][0]
        print(f"({REFERENCE} not run: B1 is the cheapest point of {series[0].label})")
    print("## Results")
    report_recipes(series, b1)
    print()
    print(
        f"Whole benchmark: {total_wall:.0f} s wall, {total_cpu:.0f} CPU-s "
        f"(including scoring and warm-up)."
    )
    print(f"Load average (1/5/15 min) before: {load_before}; after: {load_after}.")
    return 0


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
        "--recipes",
        action="store_true",
        help="each network with its own recipe: course networks (course recipe) vs "
        "fast_cnn (its one-cycle recipe, one fit per --fast-epochs value); 1 thread",
    )
    parser.add_argument(
        "--fast-epochs",
        type=int,
        nargs="+",
        default=None,
        help=f"--recipes: total epochs of the fast_cnn fits (default: {DEFAULT_FAST_EPOCHS})",
    )
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="--recipes: skip the repeat fit and the bf16 fit of fast_cnn",
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
        args.fast_epochs = args.fast_epochs or [1]
    if args.recipes:
        args.models = args.models or list(RECIPE_COURSE_MODELS)
        args.threads = 1 if args.threads is None else args.threads
    args.models = args.models or list(DEFAULT_MODELS)
    args.fast_epochs = args.fast_epochs or list(DEFAULT_FAST_EPOCHS)
    if any(e < 1 for e in args.fast_epochs):
        parser.error("--fast-epochs must be >= 1")
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
    if args.recipes:
        return main_recipes(args, data)
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
