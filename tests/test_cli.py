"""The cnn-estimators command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnn_estimators.cli import main


def test_list_models(capsys):
    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    assert "fashion_cnn" in out and "resnet18" in out


def test_list_models_filter(capsys):
    assert main(["list-models", "--include", "*pool*"]) == 0
    assert capsys.readouterr().out.strip().startswith("global_pool_cnn")


def test_summary(capsys):
    assert main(["summary", "fashion_cnn", "--input-shape", "1", "28", "28"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 716,706" in out


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    assert main(["summary", "nope"]) == 2
    assert "Unknown model 'nope'" in capsys.readouterr().err


def test_demo_runs_quickly(capsys):
    assert main(["demo", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "5-fold cross-validation" in out and "test accuracy" in out
    assert sum(line.strip().startswith("fold ") for line in out.splitlines()) == 5


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "cnn_estimators", "list-models"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mlp" in result.stdout
