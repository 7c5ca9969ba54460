"""The cnn-estimators command line and its run directories."""

from __future__ import annotations

import html
import html.parser
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnn_estimators.cli import main

FAST = ["--epochs", "1", "--n-test", "200"]
ROOT = Path(__file__).resolve().parents[1]


def test_list_models(capsys):
    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    assert "fashion_cnn" in out and "resnet18" in out


def test_list_models_filter(capsys):
    assert main(["list-models", "--include", "*pool*"]) == 0
    assert capsys.readouterr().out.strip().startswith("global_pool_cnn")


def test_summary(capsys):
    assert main(["summary", "fashion_cnn", "--input-shape", "1", "28", "28"]) == 0
    assert "Total params: 716,706" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["no-such-command"], ["fit", "--dataset", "imagenet"], ["fit", "--epochs", "x"]],
)
def test_bad_usage_exits_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err


def test_bad_values_exit_2(capsys, tmp_path):
    assert main(["summary", "nope"]) == 2
    assert "Unknown model 'nope'" in capsys.readouterr().err
    assert main(["fit", "--set", "lr", "--out", str(tmp_path)]) == 2
    assert "--set expects name=value" in capsys.readouterr().err
    assert main(["fit", "--set", "lr=-1", *FAST, "--out", str(tmp_path)]) == 2
    assert "The 'lr' parameter" in capsys.readouterr().err


def test_missing_data_exits_1_with_command_line_advice(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_ESTIMATORS_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["fit", "--dataset", "cifar10", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "CIFAR-10 was not found" in err and "add --download" in err
    assert "--data-home DIR" in err
    assert "download=True" not in err and "data_home=" not in err  # no Python advice


def test_download_and_data_home_reach_the_loader(tmp_path, monkeypatch, capsys):
    from cnn_estimators import datasets

    calls = []

    def loader(**kwargs):
        calls.append(kwargs)
        raise ConnectionError("Downloading MNIST failed; call again with download=False.")

    monkeypatch.setattr(datasets, "load_mnist", loader)
    argv = ["fit", "--dataset", "MNIST", "--download", "--data-home", str(tmp_path)]
    assert main([*argv, "--n-test", "50", "--out", str(tmp_path / "run")]) == 1
    assert calls == [
        {
            "download": True,
            "data_home": str(tmp_path),
            "n_train": None,
            "n_test": 50,
            "random_state": 0,
        }
    ]
    assert "run the command again without --download" in capsys.readouterr().err
    assert main(["evaluate", "model.ckpt", "--download", "--out", str(tmp_path)]) == 2


def test_fit_writes_a_run_directory_and_evaluate_reads_it(tmp_path, capsys):
    run = tmp_path / "fit"
    assert main(["fit", *FAST, "--set", "lr=0.003", "--out", str(run)]) == 0
    for name in (
        "metrics.json",
        "history.csv",
        "history.json",
        "model.ckpt",
        "report.html",
        "training_curves.png",
        "confusion_matrix.png",
        "per_class.csv",
    ):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["epochs"] == 1
    assert list((run / "checkpoints").glob("run-*/best_params.ckpt"))
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "<table" in html
    out = tmp_path / "eval"
    assert main(["evaluate", str(run / "model.ckpt"), "--n-test", "200", "--out", str(out)]) == 0
    evaluated = json.loads((out / "metrics.json").read_text())
    assert evaluated["test_accuracy"] == pytest.approx(metrics["test_accuracy"])


def test_cv_and_grid(tmp_path, capsys):
    assert main(["cv", *FAST, "--folds", "3", "--out", str(tmp_path / "cv")]) == 0
    assert "mean" in (tmp_path / "cv" / "cv.csv").read_text()
    assert (
        main(
            [
                "grid",
                *FAST,
                "--folds",
                "2",
                "--optimizers",
                "sgd",
                "adam",
                "--out",
                str(tmp_path / "grid"),
            ]
        )
        == 0
    )
    grid = (tmp_path / "grid" / "grid.csv").read_text()
    assert "sgd" in grid and "adam" in grid and "momentum=0.9" in grid
    metrics = json.loads((tmp_path / "grid" / "metrics.json").read_text())
    assert metrics["best"]["optimizer"] in ("sgd", "adam")
    assert len(metrics["candidates"]) == 3  # sgd at 0.01 and 0.1, adam at 0.001


def test_demo_prints_tables_and_the_report_path(tmp_path, capsys):
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "5-fold cross-validation" in out and "Optimizer comparison" in out
    assert "rmsprop" in out and f"report: {tmp_path}" in out
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4  # cv, optimizers, curves, confusion


# ----------------------------------------------------------------- helpers for the new tests
@pytest.fixture
def fake_fashion(monkeypatch):
    """Fashion-MNIST stand-in: digits upscaled to 16x16, with Fashion-MNIST's class names."""
    import dataclasses

    import numpy as np

    from cnn_estimators import datasets

    def load(*, n_train=None, n_test=None, random_state=0, download=False, data_home=None):
        digits = datasets.load_digits_images(
            n_train=n_train or 300, n_test=n_test or 100, random_state=random_state
        )

        def up(X):
            return np.repeat(np.repeat(X, 2, axis=2), 2, axis=3)

        return dataclasses.replace(
            digits,
            X_train=up(digits.X_train),
            X_test=up(digits.X_test),
            class_names=list(datasets.FASHION_MNIST_CLASSES),
            name="fashion_mnist",
            source="a test stand-in",
        )

    monkeypatch.setattr(datasets, "load_fashion_mnist", load)


class _Tables(html.parser.HTMLParser):
    """{heading: [[cell, ...], ...]} of the tables of a report page, and its paragraphs."""

    def __init__(self):
        super().__init__()
        self.tables, self.paragraphs, self._tag, self._heading = {}, [], None, ""

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "p"):
            self._tag = tag
        elif tag == "tr":
            self.tables.setdefault(self._heading, []).append([])
        elif tag in ("td", "th"):
            self._tag = "cell"
            self.tables[self._heading][-1].append("")

    def handle_endtag(self, tag):
        if tag in ("h2", "p", "td", "th"):
            self._tag = None

    def handle_data(self, data):
        if self._tag == "h2":
            self._heading = data
        elif self._tag == "p":
            self.paragraphs.append(data)
        elif self._tag == "cell":
            self.tables[self._heading][-1][-1] += data.strip()


def read_report(path):
    parser = _Tables()
    parser.feed(path.read_text())
    return parser


def read_csv(path):
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False)


# ----------------------------------------------------------------- item 1: optimizers, recipes
def test_grid_gives_each_optimizer_its_own_settings(fake_fashion, tmp_path, capsys):
    """The fast recipe's SGD momentum, Nesterov, weight decay, one-cycle schedule and lr 0.6
    stay out of the candidates: each optimizer trains with its own defaults."""
    out = tmp_path / "grid"
    argv = ["grid", "--dataset", "fashion-mnist", "--epochs", "1", "--n-train", "200"]
    assert main([*argv, "--n-test", "50", "--folds", "2", "--out", str(out)]) == 0
    table = read_csv(out / "grid.csv")
    rows = sorted(zip(table["optimizer"], table["lr"], table["params"], strict=True))
    assert rows == [
        ("adam", 0.001, ""),
        ("rmsprop", 0.001, ""),
        ("sgd", 0.01, "momentum=0.9"),
        ("sgd", 0.1, "momentum=0.9"),
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "fashion_mnist" and metrics["n_train"] == 200
    shared = metrics["params"]
    assert shared["module"] == "fast_cnn_v2" and shared["max_epochs"] == 1
    for key in ("lr", "optimizer", "lr_schedule", "optimizer__nesterov", "optimizer__momentum"):
        assert key not in shared, key
    assert "criterion__label_smoothing" not in shared
    assert [c["optimizer"] for c in metrics["candidates"]] == table["optimizer"].tolist()
    assert metrics["best"]["optimizer"] == table["optimizer"][0]
    html_text = (out / "report.html").read_text()
    assert "0.6" not in html_text.split("Candidates")[0]  # no lr that no candidate used


def test_grid_lr_and_bad_usage(tmp_path, capsys):
    out = tmp_path / "grid"
    argv = ["grid", *FAST, "--n-train", "200", "--folds", "2", "--optimizers", "adam", "sgd"]
    assert main([*argv, "--lr", "0.002", "0.02", "--out", str(out)]) == 0
    table = read_csv(out / "grid.csv")
    assert sorted(zip(table["optimizer"], table["lr"], strict=True)) == [
        ("adam", 0.002),
        ("adam", 0.02),
        ("sgd", 0.002),
        ("sgd", 0.02),
    ]
    capsys.readouterr()
    assert main(["grid", "--set", "lr=0.1", "--out", str(out)]) == 2
    assert "--optimizers and --lr instead of --set" in capsys.readouterr().err
    assert main(["grid", "--recipes", "nope", "--out", str(out)]) == 2
    assert "unknown recipe 'nope' for digits: use one of default, fast_cnn" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as info:
        main(["grid", "--recipes", "--optimizers", "adam"])
    assert info.value.code == 2


def test_grid_keeps_optimizer_arguments_given_with_set(tmp_path, capsys):
    out = tmp_path / "grid"
    argv = ["grid", *FAST, "--n-train", "100", "--folds", "2", "--optimizers", "adam", "sgd"]
    sets = ["--set", "optimizer__weight_decay=0.001", "--set", "optimizer__nesterov=True"]
    assert main([*argv, *sets, "--lr", "0.01", "--out", str(out)]) == 0
    table = read_csv(out / "grid.csv")
    assert sorted(zip(table["optimizer"], table["params"], strict=True)) == [
        ("adam", "weight_decay=0.001"),
        ("sgd", "momentum=0.9, nesterov=True, weight_decay=0.001"),
    ]


def test_grid_recipes_compares_whole_recipes(fake_fashion, tmp_path, capsys):
    out = tmp_path / "recipes"
    argv = ["grid", "--dataset", "fashion_mnist", "--recipes", "fast", "course", "--epochs", "1"]
    assert main([*argv, "--n-train", "150", "--folds", "2", "--out", str(out)]) == 0
    table = read_csv(out / "grid.csv").set_index("recipe")
    assert sorted(table.index) == ["course", "fast"]
    assert (table.loc["fast", "optimizer"], table.loc["fast", "lr"]) == ("sgd", 0.6)
    assert "optimizer__nesterov=True" in table.loc["fast", "params"]
    assert "lr_schedule=onecycle" in table.loc["fast", "params"]
    assert (table.loc["course", "optimizer"], table.loc["course", "lr"]) == ("adam", 0.001)
    assert "module=fashion_cnn" in table.loc["course", "params"]
    assert re.search(r"\[CV 1/2\] END \.*name=fast;", capsys.readouterr().out)


# ----------------------------------------------------------------- item 2: data set names
@pytest.mark.parametrize("spelling", ["fashion-mnist", "fashion_mnist", "Fashion-MNIST"])
def test_every_spelling_of_a_data_set_name(spelling, fake_fashion, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["cv", "--dataset", spelling, "--epochs", "1", "--n-train", "60", "--folds", "2"]
    assert main([*argv, "--set", "module=mlp", "--out", str(out)]) == 0
    assert "on fashion_mnist" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["dataset"] == "fashion_mnist"


def test_unknown_data_set_name_lists_the_names(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--dataset", "cifar-100"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "'digits', 'mnist', 'fashion_mnist', 'cifar10'" in err
    assert "Did you mean 'cifar10'?" in err


# ----------------------------------------------------------------- item 4: what was run
def test_fit_report_and_metrics_say_what_was_run(fake_fashion, tmp_path, capsys):
    from cnn_estimators.datasets import FASHION_MNIST_CLASSES

    out = tmp_path / "fit"
    argv = ["fit", "--dataset", "fashion-mnist", "--n-train", "200", "--n-test", "100"]
    assert main([*argv, "--epochs", "1", "--lr", "0.05", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["dataset"], metrics["n_train"], metrics["n_test"]) == (
        "fashion_mnist",
        200,
        100,
    )
    params = metrics["params"]
    assert params["lr"] == 0.05 and params["max_epochs"] == 1 and params["random_state"] == 0
    assert params["module"] == "fast_cnn_v2" and params["optimizer__nesterov"] is True
    assert "batch_size" in params and "device" not in params  # only non-default values

    report = read_report(out / "report.html")
    assert any("200 training images, 100 test images" in p for p in report.paragraphs)
    names = set(FASHION_MNIST_CLASSES)
    per_class = report.tables["Per-class metrics (test set)"]
    assert [row[0] for row in per_class[1:11]] == list(FASHION_MNIST_CLASSES)
    assert not any(cell.lower() == "nan" or not cell for row in per_class for cell in row)
    worst = report.tables["Highest-loss test images"]
    header = worst[0]
    shown = {row[header.index(col)] for row in worst[1:] for col in ("true", "predicted")}
    assert shown and shown <= names  # the names of the per-class table, not label numbers
    assert '"lr": 0.05' in html.unescape((out / "report.html").read_text())


# ----------------------------------------------------------------- item 6: help and progress
def _subparsers():
    import argparse

    from cnn_estimators.cli import build_parser

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_option_has_a_help_line():
    for name, sub in _subparsers().items():
        for action in sub._actions:
            assert action.help and action.help != "==SUPPRESS==", (name, action.dest)


def test_options_are_offered_only_where_they_act():
    def options(name):
        return {opt for a in _subparsers()[name]._actions for opt in a.option_strings}

    for name in ("fit", "evaluate"):
        assert "--n-jobs" not in options(name)
    assert "--n-jobs" in options("cv") and "--n-jobs" in options("grid")
    assert not {"--set", "--epochs", "--model", "--n-train", "--lr"} & options("evaluate")
    assert {"--download", "--data-home"} <= options("evaluate")


def test_progress_lines_when_stdout_is_not_a_terminal(tmp_path, capsys):
    assert main(["fit", "--epochs", "2", "--n-train", "200", "--out", str(tmp_path / "f")]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # no terminal colours in a log
    epochs = [line.split()[0] for line in out.splitlines() if re.match(r"\s+\d+\s+\d", line)]
    assert epochs == ["1", "2"]
    assert main(["cv", *FAST, "--n-train", "200", "--folds", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^\[CV\] END .* accuracy: \(test=", out, re.MULTILINE)) == 3


def test_log_lines_are_flushed_line_by_line():
    from cnn_estimators._cli_runs import _LogLines

    class Stream(io.StringIO):
        flushes = 0

        def flush(self):
            self.flushes += 1

    stream = Stream()
    log = _LogLines(stream)
    log.write("\x1b[36m2.2735\x1b[0m")
    assert stream.flushes == 0
    log.write(" end\n")
    assert stream.flushes == 1 and stream.getvalue() == "2.2735 end\n"


def test_module_entry_point_prints_a_line_per_fold(tmp_path):
    """python -m cnn_estimators, its stdout a pipe as in CI logs."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    argv = ["cv", "--dataset", "Digits", *FAST, "--n-train", "150", "--folds", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "cnn_estimators", *argv, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("[CV] END") == 2
    assert "of global_pool_cnn on digits" in result.stdout
