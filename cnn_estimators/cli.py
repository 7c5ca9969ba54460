"""The ``cnn-estimators`` command line.

Subcommands: ``list-models``, ``summary``, ``fit``, ``cv``, ``grid`` (optimizers, or with
``--recipes`` whole training recipes), ``evaluate`` and ``demo``. Estimator parameters
route straight through ``--set`` (``--set module__dropout=0.3 --set lr=0.01``). ``fit``,
``cv``, ``grid``, ``evaluate`` and ``demo`` write a run directory with ``metrics.json``,
tables (CSV), plots (PNG) and ``report.html``, each naming the data set, the numbers of
training and test images and every parameter that differs from the defaults.
Exit code 0 on success, 1 when the work fails (e.g. data not found), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._cli_runs import (
    UsageError,
    compare,
    evaluation_sections,
    fit_and_report,
    load_data,
    make_estimator,
    make_run_dir,
    plot_comparison,
    print_comparison,
    print_metrics,
    progress_output,
    run_record,
    start_report,
    write_json,
)
from .datasets._names import DATASET_NAMES, dataset_name

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _dataset_arg(value: str) -> str:
    try:
        return dataset_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ----------------------------------------------------------------------------- subcommands
def _finish(run: Path, report: Any, record: dict, metrics: dict, *, show: bool = True) -> int:
    """The end of every subcommand: metrics.json, the metrics on screen, report.html."""
    write_json(run / "metrics.json", {**record, **metrics})
    if show:
        print_metrics(metrics)
    print(f"report: {report.write(run / 'report.html')}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    from .report import non_default_params

    data = load_data(args)
    run = make_run_dir(args)
    est = make_estimator(
        args, progress=True, keep_best=True, checkpoint_dir=str(run / "checkpoints")
    )
    record = run_record(args, data, non_default_params(est))
    report = start_report(f"fit: {est.module} on {args.dataset}", record)
    metrics = fit_and_report(report, est, data, run)
    metrics["best_validation_accuracy"] = est.best_validation_score_
    metrics.update(evaluation_sections(report, est, data, run))
    est.save(run / "model.ckpt")  # data only: loading it runs no code
    report.add_config("Metrics", metrics)
    return _finish(run, report, record, metrics)


def _cv(args: argparse.Namespace) -> int:
    from .experiments import cross_validate_estimator
    from .plots import plot_cv_results
    from .report import non_default_params

    data = load_data(args)
    run = make_run_dir(args)
    est = make_estimator(args)
    record = run_record(args, data, non_default_params(est))
    print(f"{args.folds}-fold cross-validation of {est.module} on {data.name}, one line per fold:")
    table = cross_validate_estimator(
        est,
        data.X_train,
        data.y_train,
        cv=args.folds,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
        verbose=3,
    )
    table.to_csv(run / "cv.csv", index=False)
    print(table.to_string(index=False))
    report = start_report(f"{args.folds}-fold cross-validation: {est.module}", record)
    report.add_table("Folds", table)
    ax = plot_cv_results(table)
    ax.figure.savefig(run / "cv.png", dpi=90, bbox_inches="tight")
    report.add_figure("Cross-validation accuracy", ax.figure)
    summary = table.set_index("fold")
    metrics = {
        "cv_accuracy_mean": float(summary.loc["mean", "accuracy"]),
        "cv_accuracy_std": float(summary.loc["std", "accuracy"]),
    }
    return _finish(run, report, record, metrics, show=False)


def _grid(args: argparse.Namespace) -> int:
    data = load_data(args)
    run = make_run_dir(args)
    table, shared, what = compare(args, data, args.folds)
    table.to_csv(run / "grid.csv", index=False)
    print_comparison(table, what)
    record = run_record(args, data, shared)
    compared = "optimizers, learning rates and optimizer arguments: per candidate (table)"
    if what == "Recipe":
        compared = "every parameter: per recipe (table)"
    record["compared"] = compared
    report = start_report(f"{what} comparison on {args.dataset}", record)
    report.add_table(f"Candidates ({args.folds}-fold cross-validation)", table)
    ax = plot_comparison(table, what)
    ax.figure.savefig(run / "grid.png", dpi=90, bbox_inches="tight")
    report.add_figure(f"{what} comparison", ax.figure)
    best = table.iloc[0]
    metrics = {
        "best": {k: best[k] for k in table.columns if k in ("recipe", "optimizer", "lr", "params")},
        "best_cv_accuracy": float(best["mean_test_score"]),
        "candidates": table.to_dict("records"),
    }
    return _finish(run, report, record, metrics, show=False)


def _evaluate(args: argparse.Namespace) -> int:
    from .estimator import CNNClassifier
    from .report import non_default_params

    model_file = Path(args.model_file)
    if not model_file.exists():
        raise UsageError(f"no model file at {model_file}; give the model.ckpt of a fit run")
    est = CNNClassifier.load(model_file)
    data = load_data(args)
    run = make_run_dir(args)
    record = {**run_record(args, data, non_default_params(est)), "model_file": str(model_file)}
    report = start_report(f"evaluate: {model_file} on {args.dataset}", record)
    metrics = evaluation_sections(report, est, data, run)
    return _finish(run, report, record, metrics)


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from .experiments import cross_validate_estimator
    from .plots import plot_cv_results
    from .report import non_default_params

    data = load_data(args)
    run = make_run_dir(args)
    print(f"Data: {data!r}")
    est = make_estimator(args)
    record = run_record(args, data, non_default_params(est))
    report = start_report(f"cnn_estimators demo: {est.module} on {args.dataset}", record)

    print(f"\n5-fold cross-validation of {est.module}, one line per fold:")
    start = time.perf_counter()
    cv = cross_validate_estimator(
        est,
        data.X_train,
        data.y_train,
        cv=5,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
        verbose=3,
    )
    print(f"5-fold cross-validation ({time.perf_counter() - start:.1f} s):")
    print(cv.to_string(index=False))
    cv.to_csv(run / "cv.csv", index=False)
    report.add_table("5-fold cross-validation", cv)
    report.add_figure("Cross-validation accuracy", plot_cv_results(cv).figure)

    print()
    start = time.perf_counter()
    grid, shared, what = compare(args, data, 3)
    print(f"{what} comparison, 3-fold ({time.perf_counter() - start:.1f} s):")
    print_comparison(grid, what)
    grid.to_csv(run / "grid.csv", index=False)
    report.add_config("Optimizer comparison: parameters shared by the candidates", shared)
    report.add_table("Optimizer comparison (3-fold)", grid)
    report.add_figure("Optimizer comparison", plot_comparison(grid, what).figure)

    print(f"\nFitting {est.module} on the {len(data.y_train)} training images:")
    final = make_estimator(args, progress=True)
    metrics = fit_and_report(report, final, data, run)
    metrics.update(evaluation_sections(report, final, data, run))
    metrics["cv_accuracy_mean"] = float(pd.to_numeric(cv.set_index("fold").loc["mean", "accuracy"]))
    write_json(run / "metrics.json", {**record, **metrics, "optimizers": grid.to_dict("records")})
    print(
        f"\nTest accuracy of the fitted {est.module!r}: {metrics['test_accuracy']:.4f} "
        f"on {len(data.y_test)} held-out images."
    )
    print(f"report: {report.write(run / 'report.html')}")
    return 0


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


# ----------------------------------------------------------------------------- parser
def _add_data(p: argparse.ArgumentParser, *, n_train: bool = True) -> None:
    p.add_argument(
        "--dataset",
        type=_dataset_arg,
        default="digits",
        metavar="NAME",
        help=f"one of {', '.join(DATASET_NAMES)} ('-' or '_' alike, e.g. fashion-mnist); "
        "digits is bundled, the others are read from the data home (default: digits)",
    )
    if n_train:
        p.add_argument(
            "--n-train",
            type=int,
            metavar="N",
            help="a stratified, seeded subset of N training images",
        )
    p.add_argument(
        "--n-test", type=int, metavar="N", help="a stratified, seeded subset of N test images"
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="download the data set with torchvision into the data home if no local copy is "
        "found (the files' MD5 checksums are verified); not needed for digits",
    )
    p.add_argument(
        "--data-home",
        metavar="DIR",
        help="folder searched first for the data and where --download saves it (default: "
        "$CNN_ESTIMATORS_DATA, else ~/cnn_estimators_data)",
    )
    p.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="N",
        help="seeds the subsets, the folds and the estimator's weights (default: 0)",
    )


def _add_estimator(p: argparse.ArgumentParser, *, lr: bool = True) -> None:
    p.add_argument(
        "--model", help="a registered network instead of the data set's (see list-models)"
    )
    p.add_argument("--epochs", type=int, metavar="N", help="max_epochs (default: the recipe's)")
    if lr:
        p.add_argument("--lr", type=float, help="learning rate (the peak of a one-cycle schedule)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any estimator parameter, e.g. --set module__dropout=0.3 (repeatable)",
    )


def _add_run(p: argparse.ArgumentParser, *, n_jobs: bool) -> None:
    if n_jobs:
        p.add_argument(
            "--n-jobs",
            type=int,
            metavar="N",
            help="fits run in parallel (-1: one per CPU core; default: one at a time)",
        )
    p.add_argument(
        "--out", metavar="DIR", help="run directory (default: runs/<command>-<dataset>-<time>)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cnn-estimators``."""
    parser = _Parser(
        prog="cnn-estimators", description="scikit-learn compatible CNN image classifiers."
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    p = sub.add_parser("list-models", help="list the registered networks")
    p.add_argument("--include", metavar="PATTERN", help="fnmatch filter on the names, e.g. '*cnn'")
    p.set_defaults(func=_list_models)

    p = sub.add_parser("summary", help="layer table of a registered network")
    p.add_argument("model", help="a registered network (see list-models)")
    p.add_argument(
        "--input-shape",
        nargs=3,
        type=int,
        metavar=("C", "H", "W"),
        default=(1, 28, 28),
        help="channels, height and width of one image (default: 1 28 28)",
    )
    p.set_defaults(func=_summary)

    p = sub.add_parser("fit", help="fit, evaluate on the test split, write a run directory")
    _add_data(p)
    _add_estimator(p)
    _add_run(p, n_jobs=False)
    p.set_defaults(func=_fit)

    p = sub.add_parser("cv", help="stratified K-fold cross-validation")
    _add_data(p)
    _add_estimator(p)
    p.add_argument("--folds", type=int, default=5, metavar="K", help="number of folds (default: 5)")
    _add_run(p, n_jobs=True)
    p.set_defaults(func=_cv)

    p = sub.add_parser(
        "grid",
        help="compare optimizers (each with its own learning rates) or, with --recipes, the "
        "data set's training recipes, by cross-validation",
    )
    _add_data(p)
    _add_estimator(p, lr=False)
    p.add_argument(
        "--lr",
        type=float,
        nargs="+",
        metavar="LR",
        help="learning rates tried with every optimizer (default: each optimizer's own: "
        "sgd 0.01 and 0.1, adam, adamw and rmsprop 0.001)",
    )
    p.add_argument("--folds", type=int, default=3, metavar="K", help="number of folds (default: 3)")
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--optimizers",
        nargs="+",
        default=["sgd", "adam", "rmsprop"],
        metavar="NAME",
        help="optimizers to compare: sgd, adam, adamw, rmsprop (default: sgd adam rmsprop)",
    )
    what.add_argument(
        "--recipes",
        nargs="*",
        metavar="NAME",
        help="compare whole training recipes instead: the data set's factory recipes "
        "(fast and course for fashion_mnist, default for the others) and fast_cnn; "
        "no name: all of them",
    )
    _add_run(p, n_jobs=True)
    p.set_defaults(func=_grid)

    p = sub.add_parser("evaluate", help="evaluate a fitted model (model.ckpt of a fit run)")
    p.add_argument("model_file", help="the model.ckpt written by fit")
    _add_data(p, n_train=False)
    _add_run(p, n_jobs=False)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("demo", help="5-fold CV, optimizer comparison and confusion matrix")
    _add_data(p)
    _add_estimator(p)
    _add_run(p, n_jobs=True)
    p.set_defaults(func=_demo, optimizers=["sgd", "adam", "rmsprop"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 failure, 2 bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with progress_output():
            return args.func(args)
    except UsageError as exc:
        print(f"cnn-estimators: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as exc:
        print(f"cnn-estimators: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ConnectionError, OSError) as exc:
        print(f"cnn-estimators: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
