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
        ("overhead.py", "| on float32 input: predict_proba throughput / hand |"),
        ("tta.py", "| tta | views | test accuracy |"),
        ("transfer.py", "| freeze | cache | fit s |"),
        ("compile.py", "| compile | fit s | first epoch s |"),
        ("time_to_accuracy.py", "| images | hand fashion_cnn epoch s | factory fit s |"),
        ("layouts.py", "| layout | forward MMAC/image | seed | fit s | validation accuracy |"),
        ("per_batch.py", "| images | batches/epoch | epochs timed | median epoch ms |"),
        ("subset_recipes.py", "| model | min_steps | epochs | optimizer steps |"),
        ("time_budget.py", "| time_budget s | planned epochs | epochs run |"),
        (
            "accuracy_vs_time.py",
            "| model | recipe | seed | epochs | fit s | fit / hand epoch | test accuracy |",
        ),
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
    result = _run_benchmark("efficiency.py", "--tiny", "--layouts", "v2", "patch4_256")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    if SKIP_MESSAGE in result.stdout:
        pytest.skip("efficiency.py found no Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    # efficiency.py's tiny run with layouts: its default tables, and the layouts' rows
    assert "| images | epoch s (median) | ms/image | vs smallest |" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| layouts.py ")]
    assert [row.split(":")[0] for row in rows] == ["| layouts.py v2", "| layouts.py patch4_256"]
    assert 'make_fashion_mnist_cnn(precision="float32")' in result.stdout
    kernels = result.stdout.split("| share of the convolutions' time |")[1].splitlines()[2:]
    kernels = kernels[: kernels.index("")]
    assert [row.split(",")[0] for row in kernels] == [  # fast_cnn_v2's five convolutions
        "| 1->32",
        "| 32->64",
        "| 64->96",
        "| 96->96",
        "| 96->192",
    ]
    assert "(not needed)" in kernels[0]  # no gradient for the images
    table = result.stdout.split("| bound: its convolutions alone |")[1].splitlines()[2:8]
    assert len(table) == 6 and all(row.startswith("| ") for row in table), table
    for row in table:  # the ratio and its bound, both measured
        ratio, bound = (float(cell) for cell in row.strip("|").split("|")[-2:])
        assert ratio > 0 and bound > 0, row
    shares = {}
    for line in result.stdout.split("| operators | ms | share |")[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        name, _, share = line.strip("|").split("|")
        shares[name.strip()] = float(share)
    assert set(shares) == {
        "convolution",
        "batch norm",
        "ReLU",
        "pooling",
        "optimizer",
        "everything else",
    }
    # a training epoch of a Conv-BN-ReLU network with pooling: each kind of layer took
    # time, and the convolutions the most
    assert all(share > 0 for name, share in shares.items() if name != "optimizer"), shares
    assert shares["convolution"] == max(shares.values()) and sum(shares.values()) <= 1.01


@pytest.fixture
def benchmark_modules(monkeypatch):
    """The benchmark scripts imported as modules (they import each other by name)."""
    import importlib

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module("layouts"), importlib.import_module("efficiency")


def test_layout_tokens_set_kernel_and_stride(benchmark_modules):
    import torch

    layouts, _ = benchmark_modules
    assert layouts._parse_conv("c64") == (64, 3, 1)
    assert layouts._parse_conv("c32s2") == (32, 3, 2)
    assert layouts._parse_conv("c256k4s4") == (256, 4, 4)
    with pytest.raises(ValueError, match="Unknown layout token 'c12x'"):
        layouts._parse_conv("c12x")
    net = layouts.LayoutNet("c8k4s4 c16 c4k5")
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.padding) for c in convs] == [
        ((4, 4), (4, 4), (0, 0)),  # patches: an even kernel is not padded
        ((3, 3), (1, 1), (1, 1)),
        ((5, 5), (1, 1), (2, 2)),  # odd kernels keep the size
    ]
    features = net.features(torch.zeros(2, 1, 28, 28))
    assert features.shape == (2, 4, 7, 7)
    for name in layouts.LAYOUTS:  # every named layout builds and classifies a 28x28 image
        assert layouts.LayoutNet(layouts.LAYOUTS[name])(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_convolution_bound_times_each_convolution_at_its_shapes(benchmark_modules, monkeypatch):
    import torch

    layouts, efficiency = benchmark_modules
    calls = []

    def fake_time(conv, shape, dtype, input_grad, weight_grad):
        calls.append((conv.out_channels, tuple(shape), dtype, input_grad, weight_grad))
        return {"forward": (1e9, 1.0), "weight gradient": (2e9, 4.0 * len(calls))}

    monkeypatch.setattr(efficiency, "_time_convolution", fake_time)
    net = layouts.LayoutNet("c8s2 c16 p c32").train()
    net.features[0][0].weight.requires_grad_(False)  # a frozen stem: no weight gradient
    timed = efficiency.convolution_kernel_times(net, 5, (1, 28, 28), torch.bfloat16)
    assert calls == [  # in the order of the forward pass; the images need no gradient
        (8, (5, 1, 28, 28), torch.bfloat16, False, False),
        (16, (5, 8, 14, 14), torch.bfloat16, True, True),
        (32, (5, 16, 7, 7), torch.bfloat16, True, True),
    ]
    assert [name for name, _ in timed] == [
        "1->8, 3x3 stride 2, input 28x28",
        "8->16, 3x3 stride 1, input 14x14",
        "16->32, 3x3 stride 1, input 7x7",
    ]
    assert efficiency.kernel_seconds(timed) == pytest.approx(3 * 1.0 + 4 + 8 + 12)
    assert net.training  # the module's mode is restored
    assert not any(m._forward_pre_hooks for m in net.modules())  # and its hooks removed


@pytest.mark.parametrize("groups", [1, 2])
def test_convolution_passes_are_counted_like_the_network(benchmark_modules, groups):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    _, efficiency = benchmark_modules
    conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False, groups=groups)
    shape = torch.Size((2, 4, 9, 9))
    x = torch.rand(shape, requires_grad=True)
    with FlopCounterMode(display=False) as counter:  # how the ratios' numerator counts
        conv(x).sum().backward()
    passes = efficiency._time_convolution(conv, shape, torch.float32, True, True)
    assert set(passes) == {"forward", "input gradient", "weight gradient"}
    assert sum(flops for flops, _ in passes.values()) == counter.get_total_flops()
    assert all(seconds > 0 for _, seconds in passes.values())
    forward = 2 * (2 * 6 * 5 * 5) * (4 // groups) * 3 * 3  # output (2, 6, 5, 5)
    assert passes["forward"][0] == forward
    passes = efficiency._time_convolution(conv, shape, torch.float32, False, True)
    assert set(passes) == {"forward", "weight gradient"}


@pytest.fixture
def accuracy_vs_time(monkeypatch):
    """benchmarks/accuracy_vs_time.py imported as a module."""
    import importlib

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module("accuracy_vs_time")


def test_accuracy_vs_time_leaves_its_scoring_out_of_the_epoch_times(accuracy_vs_time):
    import numpy as np
    import torch
    from skorch.history import History

    now = [100.0]

    class Net:  # what the callback reads of a net: its history and predict
        history = History()

        def predict(self, X):
            now[0] += 50.0  # scoring the test set takes 50 s, and draws random numbers
            torch.rand(3)
            return np.array([0, 1, 1, 0])

    curve = accuracy_vs_time.ScoreAfterEachEpoch(
        np.zeros((4, 1, 2, 2)), np.array([0, 1, 0, 0]), clock=lambda: now[0]
    )
    now[0] += 7.0  # before the fit: not counted
    curve.start()
    net = Net()
    for seconds in (3.0, 5.0):  # two epochs of training
        net.history.new_epoch()
        net.history.record("dur", seconds - 1)
        now[0] += seconds
        state = torch.get_rng_state()
        curve.on_epoch_end(net)
        assert torch.equal(torch.get_rng_state(), state)  # the fit's random numbers
    assert [e["epoch"] for e in curve.epochs] == [1, 2]
    assert [e["fit_s"] for e in curve.epochs] == [3.0, 8.0]  # not 58 s: scoring excluded
    assert [e["predict_s"] for e in curve.epochs] == [50.0, 50.0]
    assert [e["accuracy"] for e in curve.epochs] == [0.75, 0.75]
    assert [e["dur_s"] for e in curve.epochs] == [2.0, 4.0]
    assert curve.excluded == 100.0


def test_accuracy_vs_time_skips_only_unknown_recipes(accuracy_vs_time, monkeypatch, capsys):
    import argparse

    args = argparse.Namespace(course=["mlp"], tiny=True)
    monkeypatch.setattr(
        accuracy_vs_time,
        "POINTS",
        [
            ("new", "make_fashion_mnist_cnn", {"recipe": "no_such_recipe"}, (0, 1)),
            ("fast", "make_fast_cnn", {"max_epochs": 3}, (0, 2)),
        ],
    )
    fits, skipped = accuracy_vs_time._plan(args)
    assert [(f["kind"], f["label"], f["seed"]) for f in fits] == [  # points first
        ("point", "fast", 0),
        ("point", "fast", 2),
        ("curve", "mlp", 0),
    ]
    assert [f["est"].random_state for f in fits] == [0, 2, 0]
    assert fits[2]["est"].max_epochs == accuracy_vs_time.TINY_CURVE_EPOCHS
    assert fits[0]["est"].max_epochs == 1 and fits[0]["est"].min_steps is None  # --tiny
    assert [s["label"] for s in skipped] == ["new"]
    assert "skipped: new: The 'recipe' parameter" in capsys.readouterr().out
    monkeypatch.setattr(
        accuracy_vs_time, "POINTS", [("bad", "make_fast_cnn", {"dataset": "nope"}, (0,))]
    )
    with pytest.raises(ValueError, match="Unknown dataset"):  # another error: not a skip
        accuracy_vs_time._plan(args)


def _check_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = imread(path).shape[:2]
    assert 300 <= height <= 3000 and 500 <= width <= 4000, (height, width)


def test_accuracy_vs_time_results_plot_and_replot(accuracy_vs_time, tmp_path):
    import json
    import statistics

    png, raw = tmp_path / "a.png", tmp_path / "a.json"
    result = _run_benchmark("accuracy_vs_time.py", "--tiny", "--plot", str(png), "--json", str(raw))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    if SKIP_MESSAGE in result.stdout:
        pytest.skip(
            "accuracy_vs_time.py found no Fashion-MNIST (apt-get install dataset-fashion-mnist)"
        )
    _check_png(png)
    results = json.loads(raw.read_text())
    assert (results["n_train"], results["n_test"]) == (600, 200)
    hand = results["hand_epoch_s"]
    curves, points = results["curves"], results["points"]
    # one hand epoch before every HAND_EVERY-th fit and one after the last, all measured
    fits = len(curves) + len(points)
    assert len(hand) == -(-fits // accuracy_vs_time.HAND_EVERY) + 1 and all(t > 0 for t in hand)
    median = statistics.median(hand)
    assert results["hand_epoch_median_s"] == pytest.approx(median)
    assert [c["call"] for c in curves] == ["make_fashion_mnist_cnn(recipe='course')", "make_mlp()"]
    for curve in curves:
        epochs = curve["epochs"]
        assert [e["epoch"] for e in epochs] == [1, 2]  # --tiny: two epochs, one entry each
        times = [e["fit_s"] for e in epochs]
        assert 0 < times[0] <= times[1] <= curve["fit_s_total"], curve
        for e in epochs:
            assert 0 <= e["accuracy"] <= 1 and e["predict_s"] > 0
            assert e["ratio"] == pytest.approx(e["fit_s"] / median)
    seeds = {}
    for point in points:
        seeds.setdefault(point["label"], []).append(point["seed"])
        assert point["epochs"] == 1 and point["fit_s"] > 0 and point["predict_s"] > 0
        assert 0 <= point["accuracy"] <= 1
        assert point["ratio"] == pytest.approx(point["fit_s"] / median)
    assert seeds["fast_cnn"] == [0] and seeds["default"] == [0, 1]
    skipped = [s["label"] for s in results["skipped"]]
    assert all(label in seeds or label in skipped for label, *_ in accuracy_vs_time.POINTS)
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 2 * 2 + len(points)  # header, curve epochs, points
    # the saved results redraw the plot and reprint the same table, without training
    again = tmp_path / "b.png"
    replot = _run_benchmark("accuracy_vs_time.py", "--replot", str(raw), "--plot", str(again))
    assert replot.returncode == 0, (replot.stdout + replot.stderr)[-3000:]
    _check_png(again)
    assert [line for line in replot.stdout.splitlines() if line.startswith("| ")] == rows
    assert "hand fashion_cnn epoch:" not in replot.stdout  # nothing was measured


def test_accuracy_vs_time_replot_refuses_foreign_and_oversized_files(
    accuracy_vs_time, tmp_path, capsys
):
    import argparse

    parser = argparse.ArgumentParser(prog="accuracy_vs_time.py")
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"points": []}')
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:  # sparse: no disk used, and never read into memory
        f.truncate(accuracy_vs_time.MAX_RESULTS_BYTES + 1)
    for path, reason in ((foreign, "KeyError"), (huge, "more than the")):
        with pytest.raises(SystemExit) as exit_info:
            accuracy_vs_time._read_results(parser, str(path))
        assert exit_info.value.code == 2
        assert reason in capsys.readouterr().err
    good = tmp_path / "good.json"
    good.write_text(
        '{"hand_epoch_s": [1.0], "hand_epoch_median_s": 1.0, "curves": [], "points": [], '
        '"cpu": "x"}'
    )
    assert accuracy_vs_time._read_results(parser, str(good))["cpu"] == "x"


def test_accuracy_vs_time_replot_error_names_the_file_and_the_size(accuracy_vs_time, tmp_path):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(accuracy_vs_time.MAX_RESULTS_BYTES + 1)
    result = _run_benchmark("accuracy_vs_time.py", "--replot", str(huge), timeout=120)
    assert result.returncode == 2
    assert f"--replot {huge}: not a JSON written by this script" in result.stderr
    assert "more than the" in result.stderr
