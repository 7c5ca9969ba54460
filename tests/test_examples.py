"""Every script in examples/ runs in its --quick mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_quick(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the example printed nothing"


def test_quickstart_writes_its_figure(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--quick", "--out", "cm.png"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert (tmp_path / "cm.png").stat().st_size > 1000


def test_examples_accept_every_spelling_of_a_data_set_name(monkeypatch):
    import argparse

    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    from _loading import dataset_arg

    parse = dataset_arg("fashion_mnist", "mnist")
    assert parse("fashion-mnist") == parse("Fashion_MNIST") == "fashion_mnist"
    assert parse("MNIST") == "mnist"
    with pytest.raises(argparse.ArgumentTypeError, match="runs on fashion_mnist or mnist"):
        parse("digits")
    with pytest.raises(argparse.ArgumentTypeError, match="Did you mean 'cifar10'"):
        parse("cifar-100")
