"""Test accuracy against fit time on the full Fashion-MNIST: the picture to pick a model by.

Every model is fitted on the 60,000 training images (each with its own defaults, so the
factories' recipes hold out their validation part of them) and scored on the 10,000
test images, which are used for nothing else. Fit times are wall seconds and multiples
of one epoch of the course network ``fashion_cnn`` in a hand-written PyTorch loop (the
plain loop of ``time_to_accuracy.py``: ``overhead.hand_fit``), measured in this run
before every third fit and after the last (the median of them all).

- Curves: the course recipes (constant learning rate, so stopping after epoch k is a
  real choice), one fit each (random_state 0). A callback scores the test set after every
  epoch; the time of an epoch is the wall time from the start of ``fit`` to the end of
  that epoch, minus the time the callback spent scoring (and torch's global random state is
  restored after scoring, so the fit is the one it would be unobserved). skorch's
  ``history[:, "dur"]`` is recorded too but not used: its ``EpochTimer`` is the first
  callback, so ``dur`` leaves out the other callbacks' ``on_epoch_end``, the time between
  epochs and the setup of ``fit`` before the first epoch.
- Points: one fit per seed for each entry of :data:`POINTS` (a one-cycle recipe is only
  meaningful at its end); fit time = ``perf_counter`` around ``fit``. An entry whose
  factory does not know its ``recipe`` is skipped with a printed line.

Output: a markdown table (one row per point and per curve epoch; "predict s" is the
prediction of the 10,000 test images, with test-time augmentation when the estimator has
``tta``), the raw results as JSON (``--json``; by default ``benchmarks/accuracy_vs_time.json``
in a full run, none with ``--tiny``) and a PNG (``--plot``; by default
``docs/images/accuracy_vs_time.png``, none with ``--tiny``). ``--replot`` redraws the PNG
and reprints the table from a saved JSON, without training.

    python benchmarks/accuracy_vs_time.py                  # about an hour on 2 cores
    python benchmarks/accuracy_vs_time.py --course fashion_cnn mlp example_cnn
    python benchmarks/accuracy_vs_time.py --replot benchmarks/accuracy_vs_time.json
    python benchmarks/accuracy_vs_time.py --tiny --plot /tmp/a.png --json /tmp/a.json
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import (
    command_line,
    cpu_model,
    environment_lines,
    load_fashion_mnist_or_skip,
    loadavg,
    print_environment,
)
from overhead import hand_fit
from skorch.callbacks import Callback

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PLOT = ROOT / "docs" / "images" / "accuracy_vs_time.png"
DEFAULT_JSON = ROOT / "benchmarks" / "accuracy_vs_time.json"

#: Course recipes drawn as curves: name -> (factory, keyword arguments). example_cnn gets
#: the course settings of ``model_zoo.py`` (Adam, lr 1e-3, batch 128, Fashion-MNIST
#: normalisation) through the course recipe of the factory, with its validation part.
COURSE = {
    "fashion_cnn": ("make_fashion_mnist_cnn", {"recipe": "course"}),
    "mlp": ("make_mlp", {}),
    "example_cnn": ("make_fashion_mnist_cnn", {"recipe": "course", "model": "example_cnn"}),
}
DEFAULT_COURSE = ["fashion_cnn", "mlp"]

#: One point per fit: (label, factory in cnn_estimators, keyword arguments, seeds).
#: Entries whose recipe the factory does not know yet are skipped, not failed.
POINTS: list[tuple[str, str, dict[str, Any], tuple[int, ...]]] = [
    ("accurate", "make_fashion_mnist_cnn", {"recipe": "accurate"}, (0, 1)),
    (
        "accurate, 5 epochs",
        "make_fashion_mnist_cnn",
        {"recipe": "accurate", "max_epochs": 5},
        (0, 1),
    ),
    ("default", "make_fashion_mnist_cnn", {}, (0, 1)),
    ("fast_cnn", "make_fast_cnn", {}, (0,)),
]

#: A hand epoch is timed before every HAND_EVERY-th fit and after the last one (each
#: costs about a minute of a full run).
HAND_EVERY = 3

#: --tiny: epochs of the curves, and what every point's fit is overridden with (a fixed
#: length without the small-data floor or a time budget, so the run takes seconds).
TINY_CURVE_EPOCHS = 2
TINY_POINT_PARAMS = {"max_epochs": 1, "min_steps": None, "time_budget": None}

TABLE_HEADER = (
    "| model | recipe | seed | epochs | fit s | fit / hand epoch | test accuracy | predict s |"
)
REFERENCE_ACCURACIES = (0.93, 0.94)


def call_text(factory: str, kwargs: dict[str, Any]) -> str:
    """``factory(k=v, ...)`` as the user would type it."""
    return f"{factory}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


class ScoreAfterEachEpoch(Callback):
    """skorch callback: (time, test accuracy) after every epoch, scoring time excluded.

    Call :meth:`start` just before ``fit``. At the end of each epoch (it must be the last
    callback: the ones given to an estimator come after its defaults) it records the wall
    time since :meth:`start` minus the time it has itself spent scoring, then predicts the
    test images, with torch's global random state restored afterwards.
    """

    def __init__(self, X_test, y_test, clock=time.perf_counter):
        self.X_test, self.y_test, self.clock = X_test, y_test, clock
        self.start()

    def start(self) -> None:
        self.started, self.excluded, self.epochs = self.clock(), 0.0, []

    def on_epoch_end(self, net, **kwargs):
        now = self.clock()
        fit_s = now - self.started - self.excluded
        torch_state = torch.get_rng_state()  # a DataLoader would draw its seed from it
        begin = self.clock()
        predicted = net.predict(self.X_test)
        predict_s = self.clock() - begin
        torch.set_rng_state(torch_state)
        history = net.history
        self.epochs.append(
            {
                "epoch": len(self.epochs) + 1,
                "fit_s": fit_s,
                "accuracy": float(np.mean(np.asarray(predicted) == np.asarray(self.y_test))),
                "predict_s": predict_s,
                "dur_s": float(history[-1]["dur"]) if "dur" in history[-1] else None,
            }
        )
        self.excluded += self.clock() - now


def _build(factory: str, kwargs: dict[str, Any], seed: int, extra: dict[str, Any]):
    import cnn_estimators

    params = {**kwargs, **extra}  # --tiny's settings replace the entry's
    return getattr(cnn_estimators, factory)(**params, random_state=seed, progress_bar=False)


def _plan(args) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The fits to run, in order (estimators built), and the skipped entries."""
    fits, skipped = [], []
    point_extra = TINY_POINT_PARAMS if args.tiny else {}
    for label, factory, kwargs, seeds in POINTS:
        try:
            built = [_build(factory, kwargs, seed, point_extra) for seed in seeds]
        except ValueError as exc:
            if "'recipe' parameter" not in str(exc):
                raise
            print(f"skipped: {label}: {exc}", flush=True)
            skipped.append({"label": label, "error": str(exc)})
            continue
        for seed, est in zip(seeds, built, strict=True):
            fits.append(
                dict(kind="point", label=label, factory=factory, kwargs=kwargs, seed=seed, est=est)
            )
    curve_extra = {"max_epochs": TINY_CURVE_EPOCHS} if args.tiny else {}
    for name in args.course:  # after the points: the points matter most if a run is cut short
        factory, kwargs = COURSE[name]
        est = _build(factory, kwargs, 0, curve_extra)
        fits.append(dict(kind="curve", label=name, factory=factory, kwargs=kwargs, seed=0, est=est))
    return fits, skipped


def _fit_curve(fit, X, y, data) -> dict[str, Any]:
    est = fit["est"]
    curve = ScoreAfterEachEpoch(data.X_test, data.y_test)
    est.set_params(callbacks=[*(est.callbacks or []), ("test_score_curve", curve)])
    gc.collect()
    curve.start()
    est.fit(X, y)
    total = time.perf_counter() - curve.started - curve.excluded
    return {"epochs": curve.epochs, "fit_s_total": total, "scoring_s_total": curve.excluded}


def _fit_point(fit, X, y, data) -> dict[str, Any]:
    est = fit["est"]
    gc.collect()
    start = time.perf_counter()
    est.fit(X, y)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    predicted = est.predict(data.X_test)
    predict_s = time.perf_counter() - start
    return {
        "epochs": len(est.history_),
        "fit_s": fit_s,
        "accuracy": float(np.mean(predicted == data.y_test)),
        "predict_s": predict_s,
    }


def run(args) -> dict[str, Any]:
    """Measure everything; the results as the JSON document."""
    data = load_fashion_mnist_or_skip(args.n_train, args.n_test)
    X, y = data.X_train, data.y_train
    print(
        f"Fashion-MNIST from {data.source}: {len(X)} training images, {len(data.X_test)} "
        "test images (the test images only for the scores)",
        flush=True,
    )
    if args.tiny:
        print(
            f"--tiny: curves {TINY_CURVE_EPOCHS} epochs, every point overridden with "
            f"{call_text('', TINY_POINT_PARAMS)[1:-1]}",
            flush=True,
        )
    fits, skipped = _plan(args)
    hand_fit("fashion_cnn", X[:512], y[:512], 1, channels_last=False)  # warm-up
    hand = []

    def hand_epoch():
        hand.append(hand_fit("fashion_cnn", X, y, 1, channels_last=False)[0])
        print(f"  hand fashion_cnn epoch: {hand[-1]:.2f} s (load {loadavg()})", flush=True)

    curves, points = [], []
    for index, fit in enumerate(fits):
        if index % HAND_EVERY == 0:
            hand_epoch()
        est = fit["est"]
        entry = {
            "label": fit["label"],
            "factory": fit["factory"],
            "kwargs": fit["kwargs"],
            "call": call_text(fit["factory"], fit["kwargs"]),
            "model": str(est.module),
            "seed": fit["seed"],
            "tta": None if est.tta is None else repr(est.tta),
        }
        if fit["kind"] == "curve":
            entry.update(_fit_curve(fit, X, y, data))
            curves.append(entry)
            last = entry["epochs"][-1]
            print(
                f"  {entry['call']} (curve): {last['epoch']} epochs, {last['fit_s']:.2f} s "
                f"(+ {entry['scoring_s_total']:.2f} s of scoring, not counted), test accuracy "
                f"{last['accuracy']:.4f}",
                flush=True,
            )
        else:
            entry.update(_fit_point(fit, X, y, data))
            points.append(entry)
            print(
                f"  {entry['call']} seed {entry['seed']}: {entry['epochs']} epochs, "
                f"{entry['fit_s']:.2f} s, test accuracy {entry['accuracy']:.4f}",
                flush=True,
            )
    hand_epoch()
    median = statistics.median(hand)
    for curve in curves:
        for epoch in curve["epochs"]:
            epoch["ratio"] = epoch["fit_s"] / median
    for point in points:
        point["ratio"] = point["fit_s"] / median
    return {
        "command": command_line(),
        "environment": environment_lines(),
        "cpu": cpu_model(),
        "tiny": bool(args.tiny),
        "n_train": len(X),
        "n_test": len(data.X_test),
        "hand_epoch_s": hand,
        "hand_epoch_median_s": median,
        "curves": curves,
        "points": points,
        "skipped": skipped,
    }


def table_lines(results: dict[str, Any]) -> list[str]:
    """The markdown table: each curve's epochs, then the points."""
    lines = [TABLE_HEADER, "|---|---|---|---|---|---|---|---|"]

    def row(entry, measured, epochs, recipe):
        predict = f"{measured['predict_s']:.2f}"
        if entry.get("tta"):
            predict += f" (with tta={entry['tta']})"
        return (
            f"| {entry['model']} | {recipe} | {entry['seed']} | {epochs} | "
            f"{measured['fit_s']:.2f} | {measured['ratio']:.2f} | {measured['accuracy']:.4f} | "
            f"{predict} |"
        )

    for curve in results["curves"]:
        for e in curve["epochs"]:
            lines.append(row(curve, e, e["epoch"], f"{curve['call']}, per epoch"))
    lines += [row(p, p, p["epochs"], p["call"]) for p in results["points"]]
    return lines


def print_results(results: dict[str, Any]) -> None:
    hand = results["hand_epoch_s"]
    print(
        f"\nhand fashion_cnn epochs (plain loop, {results['n_train']} images): "
        f"{', '.join(f'{t:.2f}' for t in hand)} s; median {results['hand_epoch_median_s']:.2f} s "
        "(the unit of 'fit / hand epoch')\n"
    )
    print("\n".join(table_lines(results)))
    for skip in results["skipped"]:
        print(f"\nskipped: {skip['label']}: {skip['error']}")


def plot(results: dict[str, Any], path: Path) -> None:
    """Draw test accuracy against fit time (hand epochs, log scale; seconds on top)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    hand = results["hand_epoch_median_s"]
    fig = Figure(figsize=(9, 7), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    colors = iter(f"C{i}" for i in range(100))
    for curve in results["curves"]:
        xs = [e["ratio"] for e in curve["epochs"]]
        ys = [e["accuracy"] for e in curve["epochs"]]
        ax.plot(xs, ys, "-o", ms=4, color=next(colors), label=f"{curve['call']}: after each epoch")
        for index in {0, len(xs) - 1}:  # the first and last epochs' numbers
            ax.annotate(
                str(curve["epochs"][index]["epoch"]),
                (xs[index], ys[index]),
                xytext=(4, -10),
                textcoords="offset points",
                fontsize=8,
            )
    markers = iter("sD^vPX*<>" * 10)
    labels: dict[str, tuple[str, str]] = {}
    for point in results["points"]:
        label = f"{point['label']}: {point['call']}"
        if label not in labels:
            labels[label] = (next(colors), next(markers))
            legend = point["call"] + (f", tta={point['tta']}" if point.get("tta") else "")
        else:
            legend = None  # one legend entry per entry of POINTS, whatever its seeds
        color, marker = labels[label]
        ax.plot(point["ratio"], point["accuracy"], marker, ms=8, color=color, ls="", label=legend)
    low, high = ax.get_ylim()  # room above the highest reference line for its label
    ax.set_ylim(low, max(high, max(REFERENCE_ACCURACIES) + 0.006))
    for level in REFERENCE_ACCURACIES:
        ax.axhline(level, ls=":", lw=1, color="0.4")
        ax.annotate(
            f"{level:.0%}",
            (0, level),  # at the left: fast and that accurate is the rare corner
            xycoords=("axes fraction", "data"),
            xytext=(4, 2),
            textcoords="offset points",
            fontsize=8,
            color="0.3",
        )
    ticks = FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(ticks)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("fit time / one hand-written fashion_cnn epoch (log scale)")
    ax.set_ylabel(f"test accuracy ({results['n_test']:,} test images)")
    top = ax.secondary_xaxis("top", functions=(lambda r: r * hand, lambda s: s / hand))
    top.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    top.xaxis.set_major_formatter(ticks)
    top.xaxis.set_minor_formatter(NullFormatter())
    top.set_xlabel("fit time, s")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(
        f"Fashion-MNIST, {results['n_train']:,} training images: test accuracy vs fit time\n"
        f"{results['cpu']}; one hand epoch = {hand:.1f} s (median of "
        f"{len(results['hand_epoch_s'])})",
        fontsize=10,
    )
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


#: The largest results file --replot reads (a full run writes about 9 KB).
MAX_RESULTS_BYTES = 16 * 2**20


def _read_results(parser, path: str) -> dict[str, Any]:
    try:
        size = Path(path).stat().st_size
        if size > MAX_RESULTS_BYTES:
            raise ValueError(f"{size} bytes, more than the {MAX_RESULTS_BYTES} a run writes")
        results = json.loads(Path(path).read_text(encoding="utf-8"))
        for key in ("hand_epoch_s", "hand_epoch_median_s", "curves", "points", "cpu"):
            results[key]  # the keys the table and the plot read
    except (OSError, ValueError, KeyError, TypeError) as exc:
        parser.error(f"--replot {path}: not a JSON written by this script ({exc!r})")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument(
        "--course",
        nargs="*",
        choices=list(COURSE),
        default=DEFAULT_COURSE,
        help=f"course recipes drawn as curves (default: {' '.join(DEFAULT_COURSE)})",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        help=f"PNG to write (default: {DEFAULT_PLOT.relative_to(ROOT)}; none with --tiny)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help=f"raw results to write (default: {DEFAULT_JSON.relative_to(ROOT)}; none with --tiny)",
    )
    parser.add_argument("--replot", metavar="JSON", help="redraw the PNG from a saved JSON")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.n_test = 600, 200
    elif args.replot is None:
        args.plot = args.plot or DEFAULT_PLOT
        args.json = args.json or DEFAULT_JSON
    print(f"command: {command_line()}\n")
    if args.replot is not None:
        results = _read_results(parser, args.replot)
        print(f"results of: {results.get('command', '?')}\n## Environment of that run")
        print("\n".join(results.get("environment", [])))
        print_results(results)
        plot(results, args.plot or DEFAULT_PLOT)
        return
    print_environment()
    results = run(args)
    print_results(results)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=repr) + "\n", encoding="utf-8")
        print(f"\njson: {args.json}")
    if args.plot is not None:
        plot(results, args.plot)


if __name__ == "__main__":
    sys.exit(main())
