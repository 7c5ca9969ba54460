"""Run directories of the ``cnn-estimators`` command: its data, estimators, records and
report sections, and its output to logs. The subcommands and the parser are in
:mod:`cnn_estimators.cli`."""

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

#: Parameters of a factory's training recipe that ``grid`` resets, so that every optimizer
#: trains with its own defaults (user ``--set`` values are kept).
_RECIPE_PARAMS = ("lr_schedule", "criterion__label_smoothing")


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


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
def progress_output():
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


def load_data(args: argparse.Namespace):
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


def make_estimator(args: argparse.Namespace, *, progress: bool = False, **defaults: Any):
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


def run_record(args: argparse.Namespace, data: Any, params: dict[str, Any]) -> dict[str, Any]:
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


def make_run_dir(args: argparse.Namespace) -> Path:
    if args.out:
        path = Path(args.out)
    else:
        path = Path("runs") / f"{args.command}-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n")


def start_report(title: str, record: dict[str, Any]):
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


def evaluation_sections(report, est, data, run: Path) -> dict[str, float]:
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


def print_metrics(metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {key:<26} {shown}")


def _history_frame(est: Any):
    import pandas as pd

    keys = ("epoch", "train_loss", "valid_loss", "valid_acc", "dur")
    return pd.DataFrame([{k: row.get(k) for k in keys} for row in est.history_])


def fit_and_report(report, est, data, run: Path) -> dict[str, Any]:
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


def compare(args: argparse.Namespace, data: Any, folds: int):
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
    # The factory's optimizer arguments are gone from ``est``; what is left was given with
    # --set, and goes to the optimizers that accept it.
    table = compare_optimizers(
        est,
        data.X_train,
        data.y_train,
        optimizers=args.optimizers,
        lr=lrs,
        keep_optimizer_args=True,
        **common,
    )
    return table, shared, "Optimizer"


def print_comparison(table: Any, what: str) -> None:
    if what == "Recipe":  # the parameters of each recipe below the table, one line each
        print(table.drop(columns="params").to_string(index=False))
        for name, params in zip(table["recipe"], table["params"], strict=True):
            print(f"  {name}: {params}")
    else:
        print(table.to_string(index=False))


def plot_comparison(table: Any, what: str):
    import numpy as np

    from .plots import plot_optimizer_comparison

    if what == "Recipe":  # one bar per recipe, labelled with its name
        table = table.assign(optimizer=table["recipe"], lr=np.nan, params="")
    ax = plot_optimizer_comparison(table)
    ax.set_title(f"{what} comparison")
    return ax
