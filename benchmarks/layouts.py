"""How ``fast_cnn_v2`` was chosen: candidate layouts on a validation split of Fashion-MNIST.

Each layout is trained with the recipe of ``make_fashion_mnist_cnn()`` (SGD with Nesterov
momentum 0.9, one-cycle schedule, label smoothing 0.1, bf16 autocast where the CPU has it)
on 50,000 of the 60,000 training images and scored on the other 10,000 (a seeded split;
the test set is never used). A layout is a list of layers: ``c<out>`` a 3x3 Conv-BN-ReLU
(``c<out>s2`` with stride 2; ``c<out>k<k>s<k>`` a k x k kernel, e.g. ``c256k4s4`` cuts the
image into 4x4 patches: odd kernels are padded to keep the size, even ones are not),
``p`` a 2x2 max pool (``ceil_mode``), ``r`` a residual block of two Conv-BN-ReLU; all end
with global average pooling and a Linear layer.

    python benchmarks/layouts.py                               # all layouts, ~15 minutes
    python benchmarks/layouts.py --layouts v2 wide --seeds 0 1 2
    python benchmarks/layouts.py --tiny                        # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
from _common import command_line, load_fashion_mnist_or_skip, print_environment
from torch import nn

#: name -> layers; "v2" is the layout of fast_cnn_v2, "v1" the one of fast_cnn.
LAYOUTS = {
    "v1": "c32s2 c64 p r p c128",
    "v2": "c32s2 c64 p c96 c96 p c192",
    "v2_narrow_stem": "c24s2 c48 p c96 c96 p c192",
    "v2_80": "c32s2 c64 p c80 c80 p c160",
    "v2_112": "c32s2 c64 p c112 c112 p c224",
    "v2_128": "c32s2 c64 p c128 c128 p c256",
    "residual_96": "c32s2 c64 p c96 r p c192",
    "residual_128": "c32s2 c64 p c128 r p c256",
    "residual_96_narrow_stem": "c24s2 c48 p c96 r p c192",
    "residual_96_wide_head": "c32s2 c64 p c96 r p c256",
    "residual_80": "c32s2 c64 p c80 r p c160",
}
#: the layouts trained by default (the validation search of fast_cnn_v2)
SEARCHED = list(LAYOUTS)
#: wider networks, for their compute efficiency (efficiency.py --layouts), not searched
LAYOUTS.update(
    {
        "v2_wide2x": "c64s2 c128 p c192 c192 p c384",
        "v2_nopool14_128": "c32s2 c64s2 c128 c128 p c256",
        "s2s2_192": "c64s2 c128s2 c192 c192 p c384",
        "s2s2_256": "c64s2 c128s2 c256 c256 p c512",
        # patch stems: most of the compute in wide 3x3 convolutions at 14x14 or 7x7
        "patch4_256": "c256k4s4 c256 c256",
        "patch2_128": "c128k2s2 c128 c128 c256k2s2 c256 c256",
    }
)


def _parse_conv(token: str) -> tuple[int, int, int]:
    """``"c<out>[k<kernel>][s<stride>]"`` -> (out, kernel, stride); by default kernel 3,
    stride 1."""
    match = re.fullmatch(r"c(\d+)(?:k(\d+))?(?:s(\d+))?", token)
    if match is None:
        raise ValueError(f"Unknown layout token {token!r}; see the docstring of layouts.py.")
    out, kernel, stride = match.groups()
    return int(out), int(kernel or 3), int(stride or 1)


class LayoutNet(nn.Module):
    """A network built from a layout string (see the module docstring)."""

    def __init__(self, layout: str = LAYOUTS["v2"], in_channels: int = 1, num_classes: int = 10):
        from cnn_estimators.models.fast import ConvBNReLU, ResidualBlock

        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for token in layout.split():
            if token == "p":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            elif token == "r":
                layers.append(ResidualBlock(channels))
            else:
                out, kernel, stride = _parse_conv(token)
                if kernel == 3:
                    layers.append(ConvBNReLU(channels, out, stride=stride))
                else:
                    layers += [
                        nn.Conv2d(
                            channels,
                            out,
                            kernel,
                            stride,
                            padding=kernel // 2 * (kernel % 2),
                            bias=False,
                        ),
                        nn.BatchNorm2d(out),
                        nn.ReLU(inplace=True),
                    ]
                channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


def forward_macs(layout: str) -> float:
    """Multiply-accumulates of one forward pass on a 1x28x28 image."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    net = LayoutNet(layout).eval()
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 1, 28, 28))
    return counter.get_total_flops() / 2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", nargs="+", default=SEARCHED, choices=list(LAYOUTS))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.6)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-train", type=int, default=50000)
    parser.add_argument("--n-valid", type=int, default=10000)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.layouts, args.epochs, args.n_train, args.n_valid = ["v2", "residual_96"], 1, 512, 256
    print(f"command: {command_line()}\n")
    print_environment()
    from cnn_estimators import make_fashion_mnist_cnn

    data = load_fashion_mnist_or_skip(args.n_train + args.n_valid, 100)
    order = np.random.default_rng(123).permutation(len(data.X_train))
    train, valid = order[: args.n_train], order[args.n_train :]
    print(
        f"{args.n_train} training / {args.n_valid} validation images (both from the "
        f"training set), {args.epochs} epochs, batch {args.batch_size}, peak lr {args.lr}, "
        f"weight decay {args.weight_decay}\n"
    )
    print("| layout | forward MMAC/image | seed | fit s | validation accuracy |")
    print("|---|---|---|---|---|")
    for name in args.layouts:
        for seed in args.seeds:
            est = make_fashion_mnist_cnn(
                model=LayoutNet,
                module__layout=LAYOUTS[name],
                max_epochs=args.epochs,
                lr=args.lr,
                optimizer__weight_decay=args.weight_decay,
                batch_size=args.batch_size,
                validation_fraction=0,
                random_state=seed,
                progress_bar=False,
            )
            start = time.perf_counter()
            est.fit(data.X_train[train], data.y_train[train])
            fit_s = time.perf_counter() - start
            score = est.score(data.X_train[valid], data.y_train[valid])
            print(
                f"| {name}: `{LAYOUTS[name]}` | {forward_macs(LAYOUTS[name]) / 1e6:.1f} | "
                f"{seed} | {fit_s:.1f} | {score:.4f} |",
                flush=True,
            )
    print("\nfit times are of this run (noisy on a shared machine); compare accuracies")


if __name__ == "__main__":
    main()
