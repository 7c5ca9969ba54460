"""The ``cnn-estimators`` command line.

Subcommands: ``list-models``, ``summary``, ``fit``, ``cv``, ``grid`` (optimizer comparison),
``evaluate`` and ``demo``. Estimator parameters route straight through ``--set``
(``--set module__dropout=0.3 --set lr=0.01``). ``fit``, ``cv``, ``grid`` and ``demo`` write
a run directory with ``metrics.json``, tables (CSV), plots (PNG) and ``report.html``.
Exit code 0 on success, 1 when the work fails (e.g. data not found), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10")


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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


def _load_data(name: str, n_train: int | None, n_test: int | None, seed: int):
    from . import datasets

    loaders = {
        "digits": datasets.load_digits_images,
        "fashion-mnist": datasets.load_fashion_mnist,
        "mnist": datasets.load_mnist,
        "cifar10": datasets.load_cifar10,
    }
    return loaders[name](n_train=n_train, n_test=n_test, random_state=seed)


def _make_estimator(dataset: str, model: str | None, params: dict[str, Any], seed: int):
    from . import factories

    base = {"random_state": seed, **params}
    if model is not None:
        base["model"] = model
    if dataset == "digits":
        defaults = {"model": "global_pool_cnn", "lr": 3e-3, "batch_size": 64, "max_epochs": 8}
        return factories.make_mnist_cnn(**{**defaults, **base})
    factory = {
        "fashion-mnist": factories.make_fashion_mnist_cnn,
        "mnist": factories.make_mnist_cnn,
        "cifar10": factories.make_cifar_cnn,
    }[dataset]
    return factory(**base)


def _run_dir(args: argparse.Namespace) -> Path:
    if args.out:
        path = Path(args.out)
    else:
        path = Path("runs") / f"{args.command}-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _config(args: argparse.Namespace, est: Any) -> dict[str, Any]:
    params = {
        k: v for k, v in est.get_params(deep=False).items() if not callable(v) or isinstance(v, str)
    }
    return {"command": args.command, "dataset": args.dataset, "estimator": params}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=repr) + "\n")


def _evaluation_sections(report, est, data, run: Path) -> dict[str, float]:
    """Test metrics, confusion matrix and per-class table, added to the report."""
    from sklearn.metrics import log_loss

    from .experiments import classification_report_df
    from .plots import plot_confusion_matrix

    proba = est.predict_proba(data.X_test)
    pred = est.classes_[proba.argmax(axis=1)]
    metrics = {
        "test_accuracy": float((pred == data.y_test).mean()),
        "test_log_loss": float(log_loss(data.y_test, proba, labels=est.classes_)),
        "n_test": len(data.y_test),
    }
    names = data.class_names or None
    per_class = classification_report_df(est, data.X_test, data.y_test, class_names=names)
    per_class.to_csv(run / "per_class.csv")
    disp = plot_confusion_matrix(est, data.X_test, data.y_test, class_names=names)
    disp.figure_.savefig(run / "confusion_matrix.png", dpi=90, bbox_inches="tight")
    report.add_figure("Confusion matrix (test set)", disp.figure_)
    report.add_table("Per-class metrics (test set)", per_class.reset_index())
    return metrics


def _estimator(args: argparse.Namespace, **defaults: Any):
    """The estimator of a run: the factory of the data set, ``--set`` over ``defaults``,
    ``--epochs``."""
    params = {**defaults, **_parse_sets(args.set)}
    est = _make_estimator(args.dataset, args.model, params, args.random_state)
    if args.epochs:
        est.set_params(max_epochs=args.epochs)
    return est


def _fit(args: argparse.Namespace) -> int:
    from .plots import plot_training_curves
    from .report import Report

    data = _load_data(args.dataset, args.n_train, args.n_test, args.random_state)
    run = _run_dir(args)
    est = _estimator(args, keep_best=True, checkpoint_dir=str(run / "checkpoints"))
    start = time.perf_counter()
    est.fit(data.X_train, data.y_train)
    fit_time = time.perf_counter() - start
    report = Report(f"fit: {est.module} on {args.dataset}")
    report.add_config("Configuration", _config(args, est))
    est.history_.to_file(str(run / "history.json"))
    _history_frame(est).to_csv(run / "history.csv", index=False)
    fig = plot_training_curves(est)
    fig.savefig(run / "training_curves.png", dpi=90, bbox_inches="tight")
    report.add_figure("Training curves", fig)
    metrics = {
        "fit_time_s": fit_time,
        "epochs": est.n_iter_,
        "best_validation_accuracy": est.best_validation_score_,
    }
    metrics.update(_evaluation_sections(report, est, data, run))
    est.save(run / "model.ckpt")  # data only: loading it runs no code
    _write_json(run / "metrics.json", metrics)
    report.add_config("Metrics", metrics)
    path = report.write(run / "report.html")
    _print_metrics(metrics)
    print(f"report: {path}")
    return 0


def _history_frame(est: Any):
    import pandas as pd

    keys = ("epoch", "train_loss", "valid_loss", "valid_acc", "dur")
    return pd.DataFrame([{k: row.get(k) for k in keys} for row in est.history_])


def _print_metrics(metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {key:<26} {shown}")


def _cv(args: argparse.Namespace) -> int:
    from .experiments import cross_validate_estimator
    from .plots import plot_cv_results
    from .report import Report

    data = _load_data(args.dataset, args.n_train, args.n_test, args.random_state)
    run = _run_dir(args)
    est = _estimator(args)
    table = cross_validate_estimator(
        est,
        data.X_train,
        data.y_train,
        cv=args.folds,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
    )
    table.to_csv(run / "cv.csv", index=False)
    print(table.to_string(index=False))
    report = Report(f"{args.folds}-fold cross-validation: {est.module} on {args.dataset}")
    report.add_config("Configuration", _config(args, est))
    report.add_table("Folds", table)
    ax = plot_cv_results(table)
    ax.figure.savefig(run / "cv.png", dpi=90, bbox_inches="tight")
    report.add_figure("Cross-validation accuracy", ax.figure)
    summary = table.set_index("fold")
    metrics = {
        "cv_accuracy_mean": float(summary.loc["mean", "accuracy"]),
        "cv_accuracy_std": float(summary.loc["std", "accuracy"]),
    }
    _write_json(run / "metrics.json", metrics)
    print(f"report: {report.write(run / 'report.html')}")
    return 0


def _grid(args: argparse.Namespace) -> int:
    from .experiments import compare_optimizers
    from .plots import plot_optimizer_comparison
    from .report import Report

    data = _load_data(args.dataset, args.n_train, args.n_test, args.random_state)
    run = _run_dir(args)
    est = _estimator(args)
    table = compare_optimizers(
        est,
        data.X_train,
        data.y_train,
        optimizers=args.optimizers,
        cv=args.folds,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
    )
    table.to_csv(run / "grid.csv", index=False)
    print(table.to_string(index=False))
    report = Report(f"Optimizer comparison: {est.module} on {args.dataset}")
    report.add_config("Configuration", _config(args, est))
    report.add_table("Configurations (cross-validated)", table)
    ax = plot_optimizer_comparison(table)
    ax.figure.savefig(run / "grid.png", dpi=90, bbox_inches="tight")
    report.add_figure("Optimizer comparison", ax.figure)
    best = table.iloc[0]
    _write_json(
        run / "metrics.json",
        {
            "best_optimizer": str(best["optimizer"]),
            "best_lr": float(best["lr"]),
            "best_cv_accuracy": float(best["mean_test_score"]),
        },
    )
    print(f"report: {report.write(run / 'report.html')}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .estimator import CNNClassifier
    from .report import Report

    model_file = Path(args.model_file)
    if not model_file.exists():
        raise UsageError(f"no model file at {model_file}; give the model.ckpt of a fit run")
    est = CNNClassifier.load(model_file)
    data = _load_data(args.dataset, None, args.n_test, args.random_state)
    run = _run_dir(args)
    report = Report(f"evaluate: {model_file} on {args.dataset}")
    metrics = _evaluation_sections(report, est, data, run)
    _write_json(run / "metrics.json", metrics)
    _print_metrics(metrics)
    print(f"report: {report.write(run / 'report.html')}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from .experiments import compare_optimizers, cross_validate_estimator
    from .plots import plot_cv_results, plot_optimizer_comparison, plot_training_curves
    from .report import Report

    data = _load_data(args.dataset, args.n_train, args.n_test, args.random_state)
    run = _run_dir(args)
    print(f"Data: {data!r}")
    est = _estimator(args)
    report = Report(f"cnn_estimators demo: {est.module} on {args.dataset}")
    report.add_config("Configuration", _config(args, est))

    start = time.perf_counter()
    cv = cross_validate_estimator(
        est, data.X_train, data.y_train, cv=5, n_jobs=args.n_jobs, random_state=args.random_state
    )
    print(f"\n5-fold cross-validation ({time.perf_counter() - start:.1f} s):")
    print(cv.to_string(index=False))
    cv.to_csv(run / "cv.csv", index=False)
    report.add_table("5-fold cross-validation", cv)
    report.add_figure("Cross-validation accuracy", plot_cv_results(cv).figure)

    start = time.perf_counter()
    grid = compare_optimizers(
        est, data.X_train, data.y_train, cv=3, n_jobs=args.n_jobs, random_state=args.random_state
    )
    print(f"\nOptimizer comparison, 3-fold ({time.perf_counter() - start:.1f} s):")
    print(grid.to_string(index=False))
    grid.to_csv(run / "grid.csv", index=False)
    report.add_table("Optimizer comparison (3-fold)", grid)
    report.add_figure("Optimizer comparison", plot_optimizer_comparison(grid).figure)

    est.fit(data.X_train, data.y_train)
    report.add_figure("Training curves", plot_training_curves(est))
    metrics = _evaluation_sections(report, est, data, run)
    metrics["cv_accuracy_mean"] = float(pd.to_numeric(cv.set_index("fold").loc["mean", "accuracy"]))
    _write_json(run / "metrics.json", metrics)
    print(
        f"\nTest accuracy of the fitted {est.module!r}: {metrics['test_accuracy']:.4f} "
        f"on {metrics['n_test']} held-out images."
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


def _add_common(p: argparse.ArgumentParser, *, default_dataset: str = "digits") -> None:
    p.add_argument("--dataset", choices=DATASETS, default=default_dataset)
    p.add_argument("--model", default=None, help="a registered model (see list-models)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an estimator parameter, e.g. --set lr=0.01 (repeatable)",
    )
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--out", default=None, help="run directory (default runs/<command>-...)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cnn-estimators``."""
    parser = _Parser(
        prog="cnn-estimators", description="scikit-learn compatible CNN image classifiers."
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    p = sub.add_parser("list-models", help="list the registered networks")
    p.add_argument("--include", default=None, help="fnmatch filter, e.g. '*cnn'")
    p.set_defaults(func=_list_models)

    p = sub.add_parser("summary", help="layer table of a registered network")
    p.add_argument("model")
    p.add_argument("--input-shape", nargs=3, type=int, metavar=("C", "H", "W"), default=(1, 28, 28))
    p.set_defaults(func=_summary)

    p = sub.add_parser("fit", help="fit, evaluate on the test split, write a run directory")
    _add_common(p)
    p.set_defaults(func=_fit)

    p = sub.add_parser("cv", help="stratified K-fold cross-validation")
    _add_common(p)
    p.add_argument("--folds", type=int, default=5)
    p.set_defaults(func=_cv)

    p = sub.add_parser("grid", help="compare optimizers with GridSearchCV")
    _add_common(p)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--optimizers", nargs="+", default=["sgd", "adam", "rmsprop"])
    p.set_defaults(func=_grid)

    p = sub.add_parser("evaluate", help="evaluate a fitted model (model.ckpt of a fit run)")
    p.add_argument("model_file")
    _add_common(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("demo", help="5-fold CV, optimizer comparison and confusion matrix")
    _add_common(p)
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 failure, 2 bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
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
