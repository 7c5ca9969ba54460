"""Exercise "convolution as a matrix product (im2col / unfold)".

Reproduces the course exercise that implements a 2-D convolution with
``torch.nn.functional.unfold`` and a matrix multiply, with a hand-written backward pass
(``cnn_estimators.unfold.UnfoldConv2d``), and checks it against ``nn.Conv2d``:

1. outputs and gradients (input, weight, bias) of ``UnfoldConv2d.from_conv(conv)`` and
   ``conv`` for several kernel sizes, strides and paddings: the maximum absolute
   differences (float32 rounding, ~1e-6);
2. ``torch.autograd.gradcheck`` of the hand-written backward pass, in float64, against
   finite differences;
3. a network whose convolutions are ``UnfoldConv2d`` (``module__conv_impl="unfold"``)
   trained through the estimator, next to the same network with ``nn.Conv2d`` (same
   seed, hence the same initial weights): accuracies and fit times;
4. a timing comparison of forward and forward + backward passes (median of repeats),
   saved as a bar chart: the unfolded columns hold every input value k*k times, so the
   im2col version uses more memory and is usually slower than PyTorch's kernels.

Data for step 3: Fashion-MNIST with ``fashion_cnn`` when a local copy exists (e.g.
Debian's ``dataset-fashion-mnist``), else scikit-learn's digits with
``global_pool_cnn`` (a note says so). ``--quick`` uses 300 digits and smaller timings.

    python examples/unfold_convolution.py            # ~a few minutes
    python examples/unfold_convolution.py --quick    # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from _loading import load_or_fallback  # shared: real data if present, else a stand-in
from torch import nn

from cnn_estimators import (
    ImageData,
    load_digits_images,
    load_fashion_mnist,
    make_classifier,
    make_fashion_mnist_cnn,
)
from cnn_estimators.unfold import UnfoldConv2d, unfold_conv2d

# (in_channels, out_channels, kernel_size, stride, padding, image size)
CONFIGS = [
    (1, 8, 3, 1, 0, 28),
    (3, 16, 3, 1, 1, 32),
    (3, 16, 5, 1, 2, 32),
    (16, 32, 3, 2, 1, 16),
    (8, 4, (3, 5), (2, 1), (1, 2), 15),
]


def load_data(args) -> ImageData:
    return load_or_fallback(
        args,
        [("Fashion-MNIST", load_fashion_mnist)],
        quick=(
            "300 of scikit-learn's 8x8 digits",
            lambda: load_digits_images(n_train=300, n_test=150, random_state=0),
        ),
        fallback=("scikit-learn's digits", lambda: load_digits_images(random_state=0)),
    )


def compare_layers() -> pd.DataFrame:
    """Max |difference| of outputs and gradients between Conv2d and its UnfoldConv2d twin."""
    rows = []
    for c_in, c_out, k, s, p, n in CONFIGS:
        conv = nn.Conv2d(c_in, c_out, k, stride=s, padding=p)
        twin = UnfoldConv2d.from_conv(conv)
        x = torch.randn(4, c_in, n, n)
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        y1, y2 = conv(x1), twin(x2)
        grad = torch.randn_like(y1)
        y1.backward(grad)
        y2.backward(grad)
        pairs = {
            "y": (y1, y2),
            "dx": (x1.grad, x2.grad),
            "dW": (conv.weight.grad, twin.weight.grad),
            "db": (conv.bias.grad, twin.bias.grad),
        }
        row = {
            "layer": repr(twin).removeprefix("UnfoldConv2d"),
            "input": f"4x{c_in}x{n}x{n}",
            "output": "x".join(map(str, y1.shape)),
        }
        row.update({f"diff {k}": (a - b).abs().max().item() for k, (a, b) in pairs.items()})
        # Gradients of the weights sum over many terms: compare relative to their size.
        row["max rel. diff"] = max(
            ((a - b).abs().max() / a.abs().max()).item() for a, b in pairs.values()
        )
        rows.append(row)
    return pd.DataFrame(rows)


def run_gradcheck() -> bool:
    """Finite-difference check of the hand-written backward pass (float64)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, generator=gen, requires_grad=True)
    ok = True
    for stride, padding in ((1, 0), (2, 1), (1, "same")):
        passed = torch.autograd.gradcheck(
            lambda x, w, b, s=stride, p=padding: unfold_conv2d(x, w, b, stride=s, padding=p),
            (x, w, b),
            eps=1e-6,
            atol=1e-5,
        )
        print(f"gradcheck stride={stride} padding={padding!r}: {'passed' if passed else 'FAILED'}")
        ok = ok and passed
    return ok


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def timing(batch: int, repeats: int) -> pd.DataFrame:
    rows = []
    for c_in, c_out, k, s, p, n in CONFIGS[:4]:
        conv = nn.Conv2d(c_in, c_out, k, stride=s, padding=p)
        twin = UnfoldConv2d.from_conv(conv)
        x = torch.randn(batch, c_in, n, n)
        row = {"layer": f"{c_in}->{c_out} k={k} s={s} p={p} on {n}x{n}"}
        for label, layer in (("Conv2d", conv), ("Unfold", twin)):
            with torch.no_grad():
                row[f"{label} fwd (ms)"] = 1e3 * median_time(lambda m=layer, x=x: m(x), repeats)

            def step(m=layer, x=x):
                m.zero_grad()
                m(x.requires_grad_()).sum().backward()

            row[f"{label} fwd+bwd (ms)"] = 1e3 * median_time(step, repeats)
        row["ratio fwd+bwd"] = row["Unfold fwd+bwd (ms)"] / row["Conv2d fwd+bwd (ms)"]
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default=".", help="folder for the figure (default: cwd)")
    parser.add_argument("--n-train", type=int, default=5000, help="training images (full run)")
    parser.add_argument("--n-test", type=int, default=2000, help="test images (full run)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny tensors: extra threads only add overhead
    torch.manual_seed(0)

    print("1. UnfoldConv2d.from_conv(conv) against nn.Conv2d (float32)")
    print("   max absolute differences of the output y and the gradients dx, dW, db")
    diffs = compare_layers()
    with pd.option_context("display.width", 160, "display.float_format", "{:.2e}".format):
        print(diffs.to_string(index=False))
    worst = diffs["max rel. diff"].max()
    print(f"largest relative difference: {worst:.2e} ({'OK' if worst < 1e-5 else 'TOO LARGE'})")

    print("\n2. gradcheck of the hand-written backward pass (float64, finite differences)")
    grad_ok = run_gradcheck()

    print("\n3. Training through the estimator with module__conv_impl='unfold'")
    data = load_data(args)
    epochs = 2 if args.quick else args.epochs
    rows = []
    for impl in ("torch", "unfold"):
        common = dict(module__conv_impl=impl, max_epochs=epochs, random_state=0, progress_bar=False)
        if data.name == "fashion_mnist":
            est = make_fashion_mnist_cnn(recipe="course", **common)
        else:
            est = make_classifier("global_pool_cnn", lr=3e-3, batch_size=64, **common)
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train)
        rows.append(
            {
                "conv_impl": impl,
                "model": est.module,
                "first conv": type(est.module_.features[0]).__name__,
                "fit time (s)": round(time.perf_counter() - start, 2),
                "final train loss": round(est.loss_curve_[-1], 5),
                "test accuracy": round(est.score(data.X_test, data.y_test), 4),
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))
    gap = abs(rows[0]["final train loss"] - rows[1]["final train loss"])
    print(
        "same seed, same initial weights: the training agrees up to float32 rounding "
        f"(final loss difference {gap:.1e})"
    )

    print("\n4. Timing (median of repeats, CPU)")
    times = timing(batch=16 if args.quick else 64, repeats=3 if args.quick else 20)
    with pd.option_context("display.width", 200):
        print(times.round(3).to_string(index=False))
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    pos = np.arange(len(times))
    ax.barh(pos - 0.2, times["Conv2d fwd+bwd (ms)"], height=0.4, label="nn.Conv2d")
    ax.barh(pos + 0.2, times["Unfold fwd+bwd (ms)"], height=0.4, label="UnfoldConv2d")
    ax.set_yticks(pos, times["layer"])
    ax.invert_yaxis()
    ax.set_xlabel("forward + backward time (ms, median)")
    ax.set_title("im2col (unfold) convolution vs nn.Conv2d")
    ax.legend()
    path = out / "unfold_convolution_timing.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path}")
    return 0 if grad_ok and worst < 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
