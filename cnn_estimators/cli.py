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
import ast
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .datasets._names import DATASET_NAMES, dataset_name

__all__ = ["main"]

#: Parameters of a factory's training recipe that ``grid`` resets, so that every optimizer
#: trains with its own defaults (user ``--set`` values are kept).
_RECIPE_PARAMS = ("lr_schedule", "criterion__label_smoothing")


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _dataset_arg(value: str) -> str:
    try:
        return dataset_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _stdout_is_terminal() -> bool:
    return bool(getattr(sys.stdout, "isatty", lambda: False)())


class _LogLines:
    """stdout for logs (CI, nohup, captured output): each line is written as soon as it
    ends, without the terminal colours of skorch's epoch table."""

    _COLOUR = re.compile(r"\x1b\[[0-9;]*m")

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(self._COLOUR.sub("", text))
        if "\n" in text:
            self._stream.flush()
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _progress_output():
    """Line by line output when stdout is not a terminal, in this process and in the
    worker processes of ``--n-jobs``."""
    if _stdout_is_terminal():
        yield
        return
    stdout, unbuffered = sys.stdout, os.environ.get("PYTHONUNBUFFERED")
    sys.stdout = _LogLines(stdout)
    os.environ["PYTHONUNBUFFERED"] = "1"
    try:
        yield
    finally:
        sys.stdout = stdout
        if unbuffered is None:
            os.environ.pop("PYTHONUNBUFFERED", None)
        else:
            os.environ["PYTHONUNBUFFERED"] = unbuffered


def _parse_sets(items: Sequence[str]) -> dict[str, Any]:
    params = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects name=value, e.g. --set lr=0.01; got {item!r}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a plain string such as optimizer=adam
        params[key.strip()] = value
    return params


# ----------------------------------------------------------------------------- data
_ADVICE = (  # the loaders' advice to Python callers, in the words of this command
    ("call again with download=False", "run the command again without --download"),
    ("pass download=True", "add --download"),
    ("download=True", "--download"),
    ("pass data_home=...", "add --data-home DIR"),
    ("data_home=", "--data-home "),
)


def _command_line_advice(message: str) -> str:
    for python, command in _ADVICE:
        message = message.replace(python, command)
    return message


def _load_data(args: argparse.Namespace):
    from . import datasets

    kwargs: dict[str, Any] = {
        "n_train": getattr(args, "n_train", None),
        "n_test": args.n_test,
        "random_state": args.random_state,
    }
    if args.dataset == "digits":
        return datasets.load_digits_images(**kwargs)
    loader = {
        "mnist": datasets.load_mnist,
        "fashion_mnist": datasets.load_fashion_mnist,
        "cifar10": datasets.load_cifar10,
    }[args.dataset]
    try:
        return loader(download=args.download, data_home=args.data_home, **kwargs)
    except (FileNotFoundError, ConnectionError, ValueError) as exc:  # e.g. a bad checksum
        raise type(exc)(_command_line_advice(str(exc))) from exc


# ----------------------------------------------------------------------------- estimators
def _factory_estimator(dataset: str, params: dict[str, Any]):
    from . import factories

    if dataset == "digits":
        defaults = {"model": "global_pool_cnn", "lr": 3e-3, "batch_size": 64, "max_epochs": 8}
        return factories.make_mnist_cnn(**{**defaults, **params})
    factory = {
        "fashion_mnist": factories.make_fashion_mnist_cnn,
        "mnist": factories.make_mnist_cnn,
        "cifar10": factories.make_cifar_cnn,
    }[dataset]
    return factory(**params)


def _user_params(args: argparse.Namespace, *, lr: bool = True) -> dict[str, Any]:
    """``--set``, ``--model``, ``--epochs`` and (with ``lr``) a single ``--lr``, with the
    seed."""
    params = {"random_state": args.random_state, **_parse_sets(args.set)}
    if args.model is not None:
        params["model"] = args.model
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    if lr and isinstance(getattr(args, "lr", None), float):
        params["lr"] = args.lr
    return params


def _estimator(args: argparse.Namespace, *, progress: bool = False, **defaults: Any):
    """The data set's factory with ``defaults`` under the user's parameters. ``progress``:
    one line per epoch (skorch's ``verbose=1`` table) when stdout is not a terminal, where
    the progress bar is not shown."""
    params = {**defaults, **_user_params(args)}
    if progress and not _stdout_is_terminal():
        params.setdefault("verbose", 1)
    return _factory_estimator(args.dataset, params)


def _network(args: argparse.Namespace):
    """The estimator whose optimizers ``grid`` compares: the factory's network and data
    settings without its optimizer arguments, schedule and label smoothing (unless given
    with ``--set``)."""
    user = _user_params(args, lr=False)
    fixed = sorted({"optimizer", "lr"} & set(user))
    if fixed:
        raise UsageError(
            f"grid sets {' and '.join(fixed)} per candidate: choose them with --optimizers "
            "and --lr instead of --set"
        )
    est = _factory_estimator(args.dataset, user)
    kept = {
        key: value
        for key, value in est.get_params(deep=False).items()
        if key in user or not (key.startswith("optimizer__") or key in _RECIPE_PARAMS)
    }
    kept.setdefault("lr_schedule", None)
    return type(est)(**kept)


def _recipes(args: argparse.Namespace) -> dict[str, Any]:
    """The training recipes the package's factories define for the data set."""
    from .factories import make_fashion_mnist_cnn, make_fast_cnn

    user = _user_params(args)
    if args.dataset == "fashion_mnist":
        recipes = {
            "fast": make_fashion_mnist_cnn(recipe="fast", **user),
            "course": make_fashion_mnist_cnn(recipe="course", **user),
        }
    else:
        recipes = {"default": _factory_estimator(args.dataset, user)}
    stats = "mnist" if args.dataset == "digits" else args.dataset
    recipes["fast_cnn"] = make_fast_cnn(dataset=stats, **user)
    wanted = args.recipes or list(recipes)
    unknown = [name for name in wanted if name not in recipes]
    if unknown:
        raise UsageError(
            f"unknown recipe {unknown[0]!r} for {args.dataset}: use one of "
            f"{', '.join(recipes)} (or --recipes alone for all)"
        )
    return {name: recipes[name] for name in wanted}


# ----------------------------------------------------------------------------- records
def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    return repr(value)  # transforms and other objects: as they print


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_json_default))


def _record(args: argparse.Namespace, data: Any, params: dict[str, Any]) -> dict[str, Any]:
    """What was run: command, data set, image counts, non-default parameters."""
    record: dict[str, Any] = {"command": args.command, "dataset": args.dataset}
    if args.command != "evaluate":
        record["n_train"] = len(data.y_train)
    record["n_test"] = len(data.y_test)
    record.update(
        image_shape=list(data.image_shape),
        n_classes=data.n_classes,
        data_source=data.source,
        random_state=args.random_state,
        params=_jsonable(params),
    )
    return record


def _run_dir(args: argparse.Namespace) -> Path:
    if args.out:
        path = Path(args.out)
    else:
        path = Path("runs") / f"{args.command}-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n")


def _start_report(title: str, record: dict[str, Any]):
    from .report import Report

    report = Report(title)
    n_train = f"{record['n_train']} training images, " if "n_train" in record else ""
    report.add_text(
        "Data",
        f"{record['dataset']}: {n_train}{record['n_test']} test images of shape "
        f"{tuple(record['image_shape'])}, {record['n_classes']} classes "
        f"(from {record['data_source']}).",
    )
    report.add_config("Run (parameters that differ from the defaults)", record)
    return report


def _class_names(data: Any) -> list[str] | None:
    return list(data.class_names) or None


def _evaluation_sections(report, est, data, run: Path) -> dict[str, float]:
    """Test metrics, confusion matrix, per-class and highest-loss tables, in the report."""
    from sklearn.metrics import log_loss

    from .experiments import classification_report_df, top_losses
    from .plots import plot_confusion_matrix

    proba = est.predict_proba(data.X_test)
    pred = est.classes_[proba.argmax(axis=1)]
    metrics = {
        "test_accuracy": float((pred == data.y_test).mean()),
        "test_log_loss": float(log_loss(data.y_test, proba, labels=est.classes_)),
    }
    names = _class_names(data)
    per_class = classification_report_df(est, data.X_test, data.y_test, class_names=names)
    per_class.to_csv(run / "per_class.csv")
    disp = plot_confusion_matrix(est, data.X_test, data.y_test, class_names=names)
    disp.figure_.savefig(run / "confusion_matrix.png", dpi=90, bbox_inches="tight")
    report.add_figure("Confusion matrix (test set)", disp.figure_)
    report.add_table("Per-class metrics (test set)", per_class.reset_index(names="class"))
    worst = top_losses(est, data.X_test, data.y_test, k=10, class_names=names)
    worst.to_csv(run / "top_losses.csv", index=False)
    report.add_table("Highest-loss test images", worst)
    return metrics


def _print_metrics(metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {key:<26} {shown}")


def _history_frame(est: Any):
    import pandas as pd

    keys = ("epoch", "train_loss", "valid_loss", "valid_acc", "dur")
    return pd.DataFrame([{k: row.get(k) for k in keys} for row in est.history_])


def _fit_and_report(report, est, data, run: Path) -> dict[str, Any]:
    """Fit on the training split, add the curves and the test evaluation to the report."""
    from .plots import plot_training_curves

    start = time.perf_counter()
    est.fit(data.X_train, data.y_train)
    metrics: dict[str, Any] = {"fit_time_s": time.perf_counter() - start, "epochs": est.n_iter_}
    est.history_.to_file(str(run / "history.json"))
    _history_frame(est).to_csv(run / "history.csv", index=False)
    fig = plot_training_curves(est)
    fig.savefig(run / "training_curves.png", dpi=90, bbox_inches="tight")
    report.add_figure("Training curves", fig)
    return metrics


# ----------------------------------------------------------------------------- subcommands
def _fit(args: argparse.Namespace) -> int:
    from .report import non_default_params

    data = _load_data(args)
    run = _run_dir(args)
    est = _estimator(args, progress=True, keep_best=True, checkpoint_dir=str(run / "checkpoints"))
    record = _record(args, data, non_default_params(est))
    report = _start_report(f"fit: {est.module} on {args.dataset}", record)
    metrics = _fit_and_report(report, est, data, run)
    metrics["best_validation_accuracy"] = est.best_validation_score_
    metrics.update(_evaluation_sections(report, est, data, run))
    est.save(run / "model.ckpt")  # data only: loading it runs no code
    _write_json(run / "metrics.json", {**record, **metrics})
    report.add_config("Metrics", metrics)
    _print_metrics(metrics)
    print(f"report: {report.write(run / 'report.html')}")
    return 0


def _cv(args: argparse.Namespace) -> int:
    from .experiments import cross_validate_estimator
    from .plots import plot_cv_results
    from .report import non_default_params

    data = _load_data(args)
    run = _run_dir(args)
    est = _estimator(args)
    record = _record(args, data, non_default_params(est))
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
    report = _start_report(f"{args.folds}-fold cross-validation: {est.module}", record)
    report.add_table("Folds", table)
    ax = plot_cv_results(table)
    ax.figure.savefig(run / "cv.png", dpi=90, bbox_inches="tight")
    report.add_figure("Cross-validation accuracy", ax.figure)
    summary = table.set_index("fold")
    metrics = {
        "cv_accuracy_mean": float(summary.loc["mean", "accuracy"]),
        "cv_accuracy_std": float(summary.loc["std", "accuracy"]),
    }
    _write_json(run / "metrics.json", {**record, **metrics})
    print(f"report: {report.write(run / 'report.html')}")
    return 0


def _compare(args: argparse.Namespace, data: Any, folds: int):
    """(table, shared parameters, what was compared) for ``grid`` and ``demo``."""
    from .experiments import compare_optimizers, compare_recipes
    from .report import non_default_params

    common = dict(cv=folds, n_jobs=args.n_jobs, random_state=args.random_state, verbose=3)
    if getattr(args, "recipes", None) is not None:
        recipes = _recipes(args)
        print(f"Comparing the recipes {', '.join(recipes)}, {folds}-fold, one line per fit:")
        table = compare_recipes(recipes, data.X_train, data.y_train, **common)
        return table, {}, "Recipe"
    est = _network(args)
    shared = {k: v for k, v in non_default_params(est).items() if k not in ("optimizer", "lr")}
    lrs = args.lr if isinstance(getattr(args, "lr", None), list) else None  # grid's --lr
    print(
        f"Comparing optimizers {', '.join(args.optimizers)} on {est.module}, {folds}-fold, "
        "one line per fit:"
    )
    table = compare_optimizers(
        est, data.X_train, data.y_train, optimizers=args.optimizers, lr=lrs, **common
    )
    return table, shared, "Optimizer"


def _print_comparison(table: Any, what: str) -> None:
    if what == "Recipe":  # the parameters of each recipe below the table, one line each
        print(table.drop(columns="params").to_string(index=False))
        for name, params in zip(table["recipe"], table["params"], strict=True):
            print(f"  {name}: {params}")
    else:
        print(table.to_string(index=False))


def _plot_comparison(table: Any, what: str):
    import numpy as np

    from .plots import plot_optimizer_comparison

    if what == "Recipe":  # one bar per recipe, labelled with its name
        table = table.assign(optimizer=table["recipe"], lr=np.nan, params="")
    ax = plot_optimizer_comparison(table)
    ax.set_title(f"{what} comparison")
    return ax


def _grid(args: argparse.Namespace) -> int:
    data = _load_data(args)
    run = _run_dir(args)
    table, shared, what = _compare(args, data, args.folds)
    table.to_csv(run / "grid.csv", index=False)
    _print_comparison(table, what)
    record = _record(args, data, shared)
    compared = "optimizers, learning rates and optimizer arguments: per candidate (table)"
    if what == "Recipe":
        compared = "every parameter: per recipe (table)"
    record["compared"] = compared
    report = _start_report(f"{what} comparison on {args.dataset}", record)
    report.add_table(f"Candidates ({args.folds}-fold cross-validation)", table)
    ax = _plot_comparison(table, what)
    ax.figure.savefig(run / "grid.png", dpi=90, bbox_inches="tight")
    report.add_figure(f"{what} comparison", ax.figure)
    best = table.iloc[0]
    metrics = {
        "best": {k: best[k] for k in table.columns if k in ("recipe", "optimizer", "lr", "params")},
        "best_cv_accuracy": float(best["mean_test_score"]),
        "candidates": table.to_dict("records"),
    }
    _write_json(run / "metrics.json", {**record, **metrics})
    print(f"report: {report.write(run / 'report.html')}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .estimator import CNNClassifier
    from .report import non_default_params

    model_file = Path(args.model_file)
    if not model_file.exists():
        raise UsageError(f"no model file at {model_file}; give the model.ckpt of a fit run")
    est = CNNClassifier.load(model_file)
    data = _load_data(args)
    run = _run_dir(args)
    record = {**_record(args, data, non_default_params(est)), "model_file": str(model_file)}
    report = _start_report(f"evaluate: {model_file} on {args.dataset}", record)
    metrics = _evaluation_sections(report, est, data, run)
    _write_json(run / "metrics.json", {**record, **metrics})
    _print_metrics(metrics)
    print(f"report: {report.write(run / 'report.html')}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from .experiments import cross_validate_estimator
    from .plots import plot_cv_results
    from .report import non_default_params

    data = _load_data(args)
    run = _run_dir(args)
    print(f"Data: {data!r}")
    est = _estimator(args)
    record = _record(args, data, non_default_params(est))
    report = _start_report(f"cnn_estimators demo: {est.module} on {args.dataset}", record)

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
    grid, shared, what = _compare(args, data, 3)
    print(f"{what} comparison, 3-fold ({time.perf_counter() - start:.1f} s):")
    _print_comparison(grid, what)
    grid.to_csv(run / "grid.csv", index=False)
    report.add_config("Optimizer comparison: parameters shared by the candidates", shared)
    report.add_table("Optimizer comparison (3-fold)", grid)
    report.add_figure("Optimizer comparison", _plot_comparison(grid, what).figure)

    print(f"\nFitting {est.module} on the {len(data.y_train)} training images:")
    final = _estimator(args, progress=True)
    metrics = _fit_and_report(report, final, data, run)
    metrics.update(_evaluation_sections(report, final, data, run))
    metrics["cv_accuracy_mean"] = float(pd.to_numeric(cv.set_index("fold").loc["mean", "accuracy"]))
    _write_json(run / "metrics.json", {**record, **metrics, "optimizers": grid.to_dict("records")})
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
        with _progress_output():
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
