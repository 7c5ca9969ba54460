"""The benchmark scripts run end to end (tiny settings; no timing is checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "model_zoo.py"
SKIP_MESSAGE = "SKIPPED: Fashion-MNIST data not found"
TABLE_HEADER = "| model | params | epochs | CPU-s total | wall-s total |"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_model_zoo_tiny():
    result = _run("--tiny")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    if SKIP_MESSAGE in result.stdout:  # no local Fashion-MNIST: the script skips cleanly
        return
    assert TABLE_HEADER in result.stdout, output
    assert "## Environment" in result.stdout
    assert "| fast_cnn |" in result.stdout and "| fashion_cnn |" in result.stdout


def test_model_zoo_skips_without_data(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run(
        "--tiny",
        "--debian-dir",
        str(tmp_path / "no-such-dir"),
        env={"HOME": str(tmp_path), "CNN_ESTIMATORS_DATA": str(empty)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert SKIP_MESSAGE in result.stdout
    assert TABLE_HEADER not in result.stdout


def _run_benchmark(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("script", "header"),
    [
        ("augmentation.py", "| data / network | images | preset |"),
        ("memory.py", "| images | array MB |"),
        ("overhead.py", "| CNNClassifier unfused / hand |"),
        ("tta.py", "| tta | views | test accuracy |"),
        ("transfer.py", "| freeze | cache | fit s |"),
        ("compile.py", "| compile | fit s | first epoch s |"),
        ("time_to_accuracy.py", "| images | hand fashion_cnn epoch s | factory fit s |"),
        ("layouts.py", "| layout | forward MMAC/image | seed | fit s | validation accuracy |"),
        ("efficiency.py", "| images | epoch s (median) | ms/image | vs smallest |"),
    ],
)
def test_other_benchmarks_tiny(script, header):
    result = _run_benchmark(script, "--tiny")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "## Environment" in result.stdout  # printed before the data are looked for
    assert "cpu flags         : " in result.stdout  # which bf16/AMX kernels the CPU has
    if SKIP_MESSAGE in result.stdout:
        pytest.skip(f"{script} found no Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    assert header in result.stdout, output[-3000:]


def test_efficiency_refuses_an_unknown_layout_before_any_work():
    refused = _run_benchmark("efficiency.py", "--layouts", "nope", timeout=120)
    assert refused.returncode == 2 and "invalid choice: 'nope'" in refused.stderr
    assert "## Environment" not in refused.stdout


def test_efficiency_measures_layouts_and_breaks_the_time_down():
    result = _run_benchmark("efficiency.py", "--tiny", "--layouts", "v2", "s2s2_192")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    if SKIP_MESSAGE in result.stdout:
        pytest.skip("efficiency.py found no Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    rows = [line for line in result.stdout.splitlines() if line.startswith("| layouts.py ")]
    assert [row.split(":")[0] for row in rows] == ["| layouts.py v2", "| layouts.py s2s2_192"]
    assert 'make_fashion_mnist_cnn(precision="float32")' in result.stdout
    shares = {}
    for line in result.stdout.split("| operators | ms | share |")[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        name, _, share = line.strip("|").split("|")
        shares[name.strip()] = float(share)
    assert set(shares) == {"convolution", "batch norm", "ReLU", "pooling", "optimizer",
                           "everything else"}
    # a training epoch of a Conv-BN-ReLU network with pooling: each kind of layer took
    # time, and the convolutions the most
    assert all(share > 0 for name, share in shares.items() if name != "optimizer"), shares
    assert shares["convolution"] == max(shares.values()) and sum(shares.values()) <= 1.01
