"""Exercise "shapes and parameters of convolution and pooling layers".

Reproduces the course exercise on the shape arithmetic of CNNs. For a layer with kernel
size k, stride s, padding p (and dilation d) an input of n pixels gives

    out = floor((n + 2p - d(k - 1) - 1) / s) + 1      (= floor((n + 2p - k) / s) + 1 for d = 1)

output pixels (``ceil`` instead of ``floor`` for pooling with ``ceil_mode=True``), and a
convolution with C_in input and C_out output channels has (k*k*C_in + 1) * C_out
parameters (the +1 is the bias). The script

1. builds a few hand-made Conv2d/MaxPool2d stacks that show what padding, stride and
   pooling do, checks the formula against the shape PyTorch really produces, and prints
   their ``summary()`` tables;
2. does the same for every registered network of the package (``list_models()``) at its
   default input size: a ``summary()`` table, and a check of every convolution and
   pooling layer against the formula, using forward hooks;
3. saves a bar chart of the parameter counts of the registered networks.

No data and no training are needed, so ``--quick`` runs the same thing.

    python examples/conv_pool_shapes.py                 # a few seconds
    python examples/conv_pool_shapes.py --quick         # the same, for the test suite
    python examples/conv_pool_shapes.py --out figures   # write the PNG into figures/
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn

from cnn_estimators import format_summary, get_model, get_model_info, list_models, summary
from cnn_estimators.unfold import UnfoldConv2d

SHAPED_LAYERS = (nn.Conv2d, UnfoldConv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def expected_size(layer: nn.Module, size: tuple[int, int]) -> tuple[int, int]:
    """Output (height, width) of a conv/pool layer by the course formula."""
    kernel, stride = _pair(layer.kernel_size), _pair(layer.stride)
    padding = _pair(layer.padding) if not isinstance(layer.padding, str) else (0, 0)
    if isinstance(layer.padding, str) and layer.padding == "same":
        return size
    dilation = _pair(getattr(layer, "dilation", 1))
    rounding = math.ceil if getattr(layer, "ceil_mode", False) else math.floor
    out = []
    for n, k, s, p, d in zip(size, kernel, stride, padding, dilation, strict=True):
        o = rounding((n + 2 * p - d * (k - 1) - 1) / s) + 1
        if getattr(layer, "ceil_mode", False) and (o - 1) * s >= n + p:
            o -= 1  # PyTorch's rule: the last window must start inside the (left-padded) input
        out.append(o)
    return (out[0], out[1])


def expected_params(layer: nn.Module) -> int:
    """Parameters of a convolution: (k_h * k_w * C_in + 1) * C_out (without bias: no +1)."""
    kh, kw = _pair(layer.kernel_size)
    bias = 1 if layer.bias is not None else 0
    return (kh * kw * layer.in_channels + bias) * layer.out_channels


def check_shapes(model: nn.Module, input_shape: tuple[int, int, int]) -> pd.DataFrame:
    """Run one image through ``model`` and compare every conv/pool output with the formula."""
    rows = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module, args, output):
        n_in = tuple(args[0].shape[-2:])
        formula = expected_size(module, n_in)
        actual = tuple(output.shape[-2:])
        row = {
            "layer": names[module],
            "type": type(module).__name__,
            "k": _pair(module.kernel_size)[0],
            "s": _pair(module.stride)[0],
            "p": module.padding if isinstance(module.padding, str) else _pair(module.padding)[0],
            "in": f"{n_in[0]}x{n_in[1]}",
            "formula": f"{formula[0]}x{formula[1]}",
            "actual": f"{actual[0]}x{actual[1]}",
            "shape ok": formula == actual,
        }
        if isinstance(module, (nn.Conv2d, UnfoldConv2d)):
            params = sum(p.numel() for p in module.parameters())
            row["params"] = params
            row["params ok"] = params == expected_params(module)
        rows.append(row)

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, SHAPED_LAYERS)
    ]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
    df = pd.DataFrame(rows)
    if "params" in df:
        df["params"] = df["params"].astype("Int64")
    return df


def hand_built_stacks() -> dict[str, tuple[nn.Module, tuple[int, int, int]]]:
    """Small stacks that each show one rule of the shape arithmetic."""
    return {
        "valid 3x3 conv (no padding): 28 -> 26": (nn.Conv2d(1, 8, 3), (1, 28, 28)),
        "'same' 3x3 conv (padding 1): 28 -> 28": (nn.Conv2d(1, 8, 3, padding=1), (1, 28, 28)),
        "strided 3x3 conv (stride 2, no padding): 28 -> 13": (
            nn.Conv2d(1, 8, 3, stride=2),
            (1, 28, 28),
        ),
        "strided 5x5 conv (stride 2, padding 2): 28 -> 14": (
            nn.Conv2d(1, 8, 5, stride=2, padding=2),
            (1, 28, 28),
        ),
        "2x2 max pooling halves the size: 28 -> 14": (nn.MaxPool2d(2), (1, 28, 28)),
        "2x2 max pooling of an odd size rounds down: 27 -> 13": (nn.MaxPool2d(2), (1, 27, 27)),
        "ceil_mode=True keeps the border: 27 -> 14": (
            nn.MaxPool2d(2, ceil_mode=True),
            (1, 27, 27),
        ),
        "overlapping pooling (3x3, stride 2): 28 -> 13": (nn.MaxPool2d(3, stride=2), (1, 28, 28)),
        "LeNet-style: 32 -conv5-> 28 -pool-> 14 -conv5-> 10 -pool-> 5 -> 32*5*5 = 800": (
            nn.Sequential(
                nn.Conv2d(3, 16, 5),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 5),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(32 * 5 * 5, 10),
            ),
            (3, 32, 32),
        ),
    }


def show(df: pd.DataFrame) -> None:
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(df.to_string(index=False))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="for the tests (same run here)")
    parser.add_argument("--out", default=".", help="folder for the figure (default: cwd)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny tensors: extra threads only add overhead
    torch.manual_seed(0)
    failures = 0

    print("=" * 100)
    print("1. Hand-built stacks: out = floor((n + 2p - k) / s) + 1")
    print("=" * 100)
    for title, (model, input_shape) in hand_built_stacks().items():
        print(f"\n## {title}   (input {input_shape})")
        checks = check_shapes(model, input_shape)
        show(checks)
        failures += int((~checks["shape ok"]).sum())
        if "params ok" in checks:
            failures += int((~checks["params ok"].dropna().astype(bool)).sum())
        print(format_summary(summary(model, input_shape)))

    print()
    print("=" * 100)
    print("2. Registered networks at their default input size")
    print("=" * 100)
    totals = {}
    for name in list_models():
        info = get_model_info(name)
        input_shape = (info.default_in_channels, *info.default_input_size)
        print(f"\n## {name}: {info.description}")
        print(f"input {input_shape}, smallest accepted image {info.min_input_size}")
        table = summary(name, input_shape)
        print(format_summary(table))
        model = get_model(
            name,
            in_channels=input_shape[0],
            num_classes=10,
            input_size=input_shape[1:],
        )
        checks = check_shapes(model, input_shape)
        if len(checks):
            print("conv/pool layers against the formula:")
            show(checks)
            failures += int((~checks["shape ok"]).sum())
            if "params ok" in checks:
                failures += int((~checks["params ok"].dropna().astype(bool)).sum())
        else:
            print("(no convolution or pooling layer)")
        totals[name] = (table.attrs["total_params"], table.attrs["trainable_params"])

    print()
    overview = pd.DataFrame(
        [
            {"model": name, "total params": total, "trainable params": trainable}
            for name, (total, trainable) in totals.items()
        ]
    )
    print("Parameter counts (10 classes, default input size):")
    show(overview)

    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    bars = ax.barh(overview["model"], overview["total params"], color="C0")
    ax.bar_label(bars, labels=[f"{v:,}" for v in overview["total params"]], padding=3, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log scale)")
    ax.set_title("Parameters of the registered networks (10 classes)")
    ax.invert_yaxis()
    path = out / "conv_pool_params.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"\nfigure written to {path}")

    if failures:
        print(f"{failures} layer(s) disagree with the formula!")
        return 1
    print("every conv/pool output shape and conv parameter count matches the formula")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
