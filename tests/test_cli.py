"""The cnn-estimators command line and its run directories."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnn_estimators.cli import main

FAST = ["--epochs", "1", "--n-test", "200"]


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


def test_missing_data_exits_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_ESTIMATORS_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["fit", "--dataset", "cifar10", "--out", str(tmp_path / "run")]) == 1
    assert "download=True" in capsys.readouterr().err


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
    assert metrics["best_optimizer"] in ("sgd", "adam")


def test_demo_prints_tables_and_the_report_path(tmp_path, capsys):
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "5-fold cross-validation" in out and "Optimizer comparison" in out
    assert "rmsprop" in out and f"report: {tmp_path}" in out
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4  # cv, optimizers, curves, confusion


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "cnn_estimators", "list-models"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mlp" in result.stdout
