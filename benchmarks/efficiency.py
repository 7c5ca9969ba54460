"""Compute efficiency and scaling of training on Fashion-MNIST.

1. **FLOP/s vs matmul**: the training FLOPs of a network (forward + backward, counted by
   ``torch.utils.flop_counter.FlopCounterMode`` on one batch: convolutions, matrix
   products) times the images per second of ``CNNClassifier.fit``, divided by the FLOP/s
   of a large ``torch.matmul`` in the network's training precision, measured in the same
   run: the default Fashion-MNIST model (``make_fashion_mnist_cnn()``, bf16 where the CPU
   has it) against the bf16 matmul, the course networks (fp32) against the fp32 one.
   The default model is also run with ``precision="float32"``, against the fp32 matmul.
   The last column is a bound: the same ratio if the network's convolutions were all
   that took time (all its counted FLOPs over the time of its convolutions, each timed
   alone at its shapes in the fit, in its precision, with channels-last tensors: the
   forward pass and the gradients training needs). With the convolution kernels
   PyTorch uses on the CPU (oneDNN), nothing done to the other layers can beat it.
2. **Where the time goes**: the share of the default model's training time per kind of
   operator (convolutions, batch norm, ReLU, pooling, optimizer, the rest), from
   ``torch.profiler`` over a few batches (batch norm, ReLU and pooling are bound by
   memory traffic, not by arithmetic), and the default model's convolutions timed alone,
   pass by pass: the bound of the last column, explained.
   With ``--layouts``, also networks of ``layouts.py`` (wider ones among them) trained with
   the same recipe, to see how the ratio grows with the width of the layers.
3. **Epoch time vs data size**: the epoch time of ``CNNClassifier.fit`` on 10k, 20k and
   40k images (validation off), repeated with the sizes interleaved; per-image times are
   compared with the 10k one (linear scaling = 1.00).

    python benchmarks/efficiency.py           # 2 to 6 minutes on 2 cores
    python benchmarks/efficiency.py --layouts v2 v2_128 v2_wide2x s2s2_192 s2s2_256
    python benchmarks/efficiency.py --tiny    # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import command_line, load_fashion_mnist_or_skip, print_environment
from layouts import LAYOUTS, LayoutNet
from torch import nn

BATCH = 128


def matmul_flops(dtype: torch.dtype, n: int, repeats: int) -> float:
    """FLOP/s of an n x n by n x n matmul (2 n^3 FLOPs), median of ``repeats``."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    return 2 * n**3 / _median_seconds(lambda: torch.matmul(a, b), repeats)


def training_flops_per_image(est, X_u8: np.ndarray) -> float:
    """Forward + backward FLOPs per image of the fitted estimator's network."""
    from torch.utils.flop_counter import FlopCounterMode

    module = est.module_.train()
    x = est._prepare_batch(torch.from_numpy(X_u8[:BATCH]), False)
    y = torch.zeros(len(x), dtype=torch.long)
    counter = FlopCounterMode(display=False)
    with counter:
        nn.functional.cross_entropy(module(x), y).backward()
    module.zero_grad()
    return counter.get_total_flops() / len(x)


def _median_seconds(function, repeats: int = 5) -> float:
    function()  # warm-up: the kernel is chosen and its memory allocated
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


#: one timed pass of a convolution: (FLOPs counted by FlopCounterMode, median seconds)
Pass = tuple[float, float]


def convolution_kernel_times(
    module: nn.Module, batch: int, image_shape: tuple[int, ...], dtype: torch.dtype
) -> list[tuple[str, dict[str, Pass]]]:
    """Time the training convolutions of ``module`` alone, each at its own shapes.

    One forward pass of ``batch`` zero images records each convolution's input shape and
    which gradients training needs (of its input: when the input requires a gradient; of
    its weight: when the weight does). Each convolution is then timed alone on random
    channels-last tensors of ``dtype``: its forward pass and those gradients. Returns,
    per convolution in the order of the forward pass, a description and its passes.
    """
    seen: list[tuple[nn.Conv2d, torch.Size, bool]] = []

    def record(conv, args):
        seen.append((conv, args[0].shape, args[0].requires_grad))

    hooks = [
        m.register_forward_pre_hook(record) for m in module.modules() if isinstance(m, nn.Conv2d)
    ]
    training = module.training
    try:
        with torch.enable_grad():
            module.eval()(torch.zeros(batch, *image_shape))
    finally:
        module.train(training)
        for hook in hooks:
            hook.remove()
    timed = []
    for conv, shape, input_grad in seen:
        passes = _time_convolution(conv, shape, dtype, input_grad, conv.weight.requires_grad)
        name = (
            f"{conv.in_channels}->{conv.out_channels}, {'x'.join(map(str, conv.kernel_size))}"
            f" stride {conv.stride[0]}, input {'x'.join(map(str, shape[2:]))}"
        )
        timed.append((name, passes))
    return timed


def kernel_seconds(timed: list[tuple[str, dict[str, Pass]]]) -> float:
    """Seconds of all the passes of :func:`convolution_kernel_times`."""
    return sum(seconds for _, passes in timed for _, seconds in passes.values())


def _time_convolution(
    conv: nn.Conv2d, shape: torch.Size, dtype: torch.dtype, input_grad: bool, weight_grad: bool
) -> dict[str, Pass]:
    """The training passes of ``conv`` alone: name -> (FLOPs, seconds)."""
    from torch.utils.flop_counter import FlopCounterMode

    from cnn_estimators.estimator import _one_channel_as_channels_last

    x = torch.randn(shape).to(dtype).contiguous(memory_format=torch.channels_last)
    if shape[1] == 1:  # the estimator's strides for one channel (a no-op above)
        x = _one_channel_as_channels_last(x)
    w = conv.weight.detach().to(dtype).contiguous(memory_format=torch.channels_last)
    settings = (conv.stride, conv.padding, conv.dilation, False, (0, 0), conv.groups)
    y = nn.functional.conv2d(x, w, None, conv.stride, conv.padding, conv.dilation, conv.groups)
    grad = torch.randn_like(y)
    backward = torch.ops.aten.convolution_backward
    calls = {
        "forward": lambda: nn.functional.conv2d(
            x, w, None, conv.stride, conv.padding, conv.dilation, conv.groups
        )
    }
    if input_grad:
        calls["input gradient"] = lambda: backward(
            grad, x, w, None, *settings, [True, False, False]
        )
    if weight_grad:
        calls["weight gradient"] = lambda: backward(
            grad, x, w, None, *settings, [False, True, False]
        )
    passes = {}
    for name, call in calls.items():
        with FlopCounterMode(display=False) as counter:
            call()
        passes[name] = (counter.get_total_flops(), _median_seconds(call))
    return passes


def print_kernel_table(timed: list[tuple[str, dict[str, Pass]]], reference: float):
    """One row per convolution: GFLOP/s of each pass and its share of the kernels' time."""
    total = kernel_seconds(timed)
    print(
        "| convolution | forward GFLOP/s | input gradient GFLOP/s | weight gradient GFLOP/s "
        "| all passes / matmul | share of the convolutions' time |"
    )
    print("|---|---|---|---|---|---|")
    for name, passes in timed:
        rates = [
            f"{passes[key][0] / passes[key][1] / 1e9:.0f}" if key in passes else "(not needed)"
            for key in ("forward", "input gradient", "weight gradient")
        ]
        flops = sum(f for f, _ in passes.values())
        seconds = kernel_seconds([(name, passes)])
        print(
            f"| {name} | {' | '.join(rates)} | {flops / seconds / reference:.2f} | "
            f"{seconds / total:.2f} |"
        )


def fit_epoch_seconds(module: str, X_u8: np.ndarray, y: np.ndarray, epochs: int):
    from cnn_estimators import CNNClassifier, make_fashion_mnist_cnn

    common = dict(
        max_epochs=epochs, validation_fraction=0, random_state=0, device="cpu", progress_bar=False
    )
    if module == "default":  # make_fashion_mnist_cnn() as it is, validation off
        est = make_fashion_mnist_cnn(**common)
    elif module.startswith("layout:"):  # a layouts.py network, the factory's recipe
        layout = LAYOUTS[module.removeprefix("layout:")]
        est = make_fashion_mnist_cnn(model=LayoutNet, module__layout=layout, **common)
    elif module == "default-float32":
        est = make_fashion_mnist_cnn(precision="float32", **common)
    else:
        est = CNNClassifier(module, optimizer="adam", lr=1e-3, batch_size=BATCH, **common)
    est.fit(X_u8, y)
    return statistics.median(est.history_[:, "dur"]), est


#: operator-name fragments -> category of the time breakdown (first match wins)
CATEGORIES = (
    ("convolution", ("convolution", "conv2d")),
    ("batch norm", ("batch_norm",)),
    ("ReLU", ("threshold", "relu", "clamp_min")),
    ("pooling", ("pool",)),
    ("optimizer", ("_fused_sgd", "_fused_adam")),
)


def print_breakdown(X_u8: np.ndarray, y: np.ndarray, batches: int) -> None:
    """Self CPU time of the default model's training, summed per operator category."""
    from torch.profiler import ProfilerActivity, profile

    from cnn_estimators import make_fashion_mnist_cnn

    est = make_fashion_mnist_cnn(
        max_epochs=1, validation_fraction=0, random_state=0, device="cpu", progress_bar=False
    )
    n = min(len(X_u8), batches * est.batch_size)
    est.fit(X_u8[:n], y[:n])  # warm-up: kernels chosen, memory allocated once
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        est.fit(X_u8[:n], y[:n])
    shares = {name: 0.0 for name, _ in CATEGORIES}
    shares["everything else"] = 0.0
    for event in prof.key_averages():
        # aten:: operators only: the profiler's other rows (Python ranges such as
        # Optimizer.step, autograd nodes) hold Python time or nest the operators
        key = event.key.lower()
        if not key.startswith("aten::"):
            continue
        for name, fragments in CATEGORIES:
            if any(f in key for f in fragments):
                shares[name] += event.self_cpu_time_total
                break
        else:
            shares["everything else"] += event.self_cpu_time_total
    total = sum(shares.values())
    print(
        f"one fit of 1 epoch on {n} images (batch {est.batch_size}), precision "
        f"{est.precision_}; share of the self CPU time of the aten operators (Python "
        "time left out; the fit's weight initialisation and uint8 scaling are in "
        "'everything else')\n"
    )
    print("| operators | ms | share |")
    print("|---|---|---|")
    for name, micros in shares.items():
        print(f"| {name} | {micros / 1e3:.1f} | {micros / total:.3f} |")
    flops = training_flops_per_image(est, X_u8) * n
    print(
        f"\nThe counted FLOPs ({flops / 1e9:.1f} G, almost all in convolutions) over the "
        f"convolutions' time alone: {flops / (shares['convolution'] / 1e6) / 1e9:.1f} GFLOP/s; "
        f"over all operators: {flops / (total / 1e6) / 1e9:.1f} GFLOP/s (profiled, so a "
        "little slower than unprofiled)"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 20000, 40000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--matmul-n", type=int, default=2048)
    parser.add_argument(
        "--layouts",
        nargs="*",
        default=[],
        choices=list(LAYOUTS),
        help="also measure these layouts.py networks (default: none)",
    )
    parser.add_argument(
        "--profile-batches",
        type=int,
        default=20,
        help="training batches profiled for the breakdown (default: 20)",
    )
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.sizes, args.repeats, args.epochs, args.matmul_n = [256, 512], 1, 1, 256
        args.profile_batches = 2
    print(f"command: {command_line()}\n")
    print_environment()
    data = load_fashion_mnist_or_skip(max(args.sizes), 10)
    X, y = data.X_train, data.y_train
    n_small = min(args.sizes)

    print("## Training FLOP/s vs matmul FLOP/s\n")
    print(
        "| network | precision | fwd+bwd MFLOP/image | images/s | GFLOP/s | "
        "fp32 matmul GFLOP/s | bf16 matmul GFLOP/s | ratio to the matmul of its precision | "
        "bound: its convolutions alone |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    modules = ["default", "default-float32", "fashion_cnn", "fast_cnn"]
    for module in [*modules, *(f"layout:{name}" for name in args.layouts)]:
        mm32 = matmul_flops(torch.float32, args.matmul_n, 5)
        mm16 = matmul_flops(torch.bfloat16, args.matmul_n, 5)
        seconds, est = fit_epoch_seconds(module, X[:n_small], y[:n_small], args.epochs)
        mm32 = max(mm32, matmul_flops(torch.float32, args.matmul_n, 5))  # before and after
        mm16 = max(mm16, matmul_flops(torch.bfloat16, args.matmul_n, 5))
        flops = training_flops_per_image(est, X)
        rate = flops * n_small / seconds
        bf16 = est.precision_ == "bf16"
        reference = mm16 if bf16 else mm32
        timed = convolution_kernel_times(
            est.module_, est.batch_size, X.shape[1:], torch.bfloat16 if bf16 else torch.float32
        )
        # all the network's counted FLOPs of a batch, in the time of its convolutions
        kernels = flops * est.batch_size / kernel_seconds(timed)
        if module == "default":
            default_kernels, default_reference, default_batch = timed, reference, est.batch_size
        name = {
            "default": f"make_fashion_mnist_cnn(): {est.module}",
            "default-float32": f'make_fashion_mnist_cnn(precision="float32"): {est.module}',
        }.get(module, module)
        if module.startswith("layout:"):
            name = (
                f"layouts.py {module.removeprefix('layout:')}: `{est.module__layout}`, "
                "factory recipe"
            )
        print(
            f"| {name} | {est.precision_} | {flops / 1e6:.1f} | {n_small / seconds:.0f} | "
            f"{rate / 1e9:.1f} | {mm32 / 1e9:.1f} | {mm16 / 1e9:.1f} | "
            f"{rate / reference:.2f} | {kernels / reference:.2f} |",
            flush=True,
        )

    print("\n## The default model's convolutions, each timed alone (the bound above)\n")
    print_kernel_table(default_kernels, default_reference)
    print(
        f"\nbatch {default_batch}, channels-last tensors, its training precision; ratios "
        "to the matmul of that precision measured beside the default model's fit"
    )

    print("\n## Where the training time of the default model goes (torch.profiler)\n")
    print_breakdown(X[:n_small], y[:n_small], args.profile_batches)

    print("\n## Epoch time vs number of images (fashion_cnn, CNNClassifier)\n")
    per_image: dict[int, list[float]] = {n: [] for n in args.sizes}
    for _ in range(args.repeats):
        for n in args.sizes:  # interleaved: each repeat runs every size once
            seconds, _ = fit_epoch_seconds("fashion_cnn", X[:n], y[:n], args.epochs)
            per_image[n].append(seconds / n)
    base = statistics.median(per_image[n_small])
    print("| images | epoch s (median) | ms/image | vs smallest |")
    print("|---|---|---|---|")
    for n in args.sizes:
        ms = statistics.median(per_image[n])
        print(f"| {n} | {ms * n:.2f} | {ms * 1e3:.3f} | {ms / base:.3f} |")


if __name__ == "__main__":
    main()
