"""Every script in examples/ runs in its --quick mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


#: Extra arguments of an example's run, and the file that run must write.
WRITES = {"quickstart": (["--out", "cm.png"], "cm.png")}


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_quick(script, tmp_path):
    extra, written = WRITES.get(script.stem, ([], None))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(script), "--quick", *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the example printed nothing"
    if written is not None:  # quickstart writes its figure where --out says
        assert (tmp_path / written).stat().st_size > 1000


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
