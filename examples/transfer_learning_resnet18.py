"""Exercise "transfer learning with ResNet18: frozen backbone versus fine-tuning".

Reproduces the course exercise on transfer learning. A torchvision ResNet18 gets a new
``fc`` layer for the 10 classes (``make_resnet18_classifier``; resizing, grayscale to RGB
and the ImageNet normalisation happen inside the model) and is trained three ways:

* ``freeze="all_but_fc"``: feature extraction, only the new ``fc`` layer trains;
* ``freeze="all_but_layer4"`` (the course default): ``layer4`` and ``fc`` train;
* ``freeze="none"``: the whole network is fine-tuned.

It prints the trainable and total parameter counts, the fit time and the test accuracy
of each, and saves a bar chart.

Weights: the ImageNet weights (``weights="DEFAULT"``) are used when torchvision can load
them (from the torch hub cache, or by downloading them in a full run). Offline, the
``RuntimeError`` is caught, its message (which names the file to download and where to
put it) is printed, and the networks start from random weights instead (``weights=None``).
Frozen *random* features are of course much weaker than frozen ImageNet features: the
comparison then shows how much a random backbone can still support a linear classifier.
``--quick`` never downloads: it uses the weights only if they are already cached.

Images are resized to ``--image-size`` (64 by default, 32 with ``--quick``) instead of
ImageNet's 224 to keep the CPU time low.

Data: CIFAR-10 when a local copy exists; else Fashion-MNIST (real images, e.g. Debian's
``dataset-fashion-mnist``; grayscale is repeated to RGB inside the model); else
synthetic coloured shapes (10 classes, 32x32 RGB). A note says which. ``--quick`` uses
160 synthetic shapes.

    python examples/transfer_learning_resnet18.py                   # ~tens of minutes
    python examples/transfer_learning_resnet18.py --n-train 2000 --image-size 32
    python examples/transfer_learning_resnet18.py --quick           # seconds, for the tests
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from _loading import load_or_fallback  # shared: real data if present, else a stand-in
from _synthetic import synthetic_shapes  # shared offline stand-in for CIFAR-10
from torchvision.models import ResNet18_Weights

from cnn_estimators import (
    ImageData,
    get_model,
    load_cifar10,
    load_fashion_mnist,
    make_resnet18_classifier,
)

FREEZE = {
    "all_but_fc": "feature extraction (fc only)",
    "all_but_layer4": "layer4 + fc (course default)",
    "none": "full fine-tuning",
}


def load_data(args) -> ImageData:
    return load_or_fallback(
        args,
        [("CIFAR-10", load_cifar10), ("Fashion-MNIST", load_fashion_mnist)],
        quick=("160 synthetic coloured shapes (32x32 RGB)", lambda: synthetic_shapes(160, 100)),
        fallback=(
            "synthetic coloured shapes (32x32 RGB)",
            lambda: synthetic_shapes(args.n_train or 5000, args.n_test or 2000),
        ),
    )


def pick_weights(quick: bool) -> str | None:
    """Return "DEFAULT" if the ImageNet weights can be loaded, else None (with a note)."""
    weights = ResNet18_Weights.DEFAULT
    cached = os.path.join(
        torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url.split("?")[0])
    )
    if quick and not os.path.exists(cached):
        print(
            "note: --quick does not download the ImageNet weights and none are cached at "
            f"{cached}; using random initialisation (weights=None)"
        )
        return None
    try:
        get_model("resnet18", in_channels=3, num_classes=10, input_size=(32, 32), weights="DEFAULT")
    except RuntimeError as exc:
        print(f"note: the ImageNet weights are unavailable: {exc}")
        print("note: falling back to random initialisation (weights=None)")
        return None
    print("ImageNet weights loaded (weights='DEFAULT')")
    return "DEFAULT"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default=".", help="folder for the figure (default: cwd)")
    parser.add_argument("--n-train", type=int, default=5000, help="training images (full run)")
    parser.add_argument("--n-test", type=int, default=2000, help="test images (full run)")
    parser.add_argument("--image-size", type=int, default=64, help="side the model resizes to")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 1 if args.quick else args.epochs
    image_size = 32 if args.quick else args.image_size

    data = load_data(args)
    print(data)
    weights = pick_weights(args.quick)
    rows = []
    for freeze, meaning in FREEZE.items():
        est = make_resnet18_classifier(
            weights=weights,
            freeze=freeze,
            image_size=image_size,
            max_epochs=epochs,
            random_state=0,
            progress_bar=False if args.quick else "auto",
        )
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train)
        fit_time = time.perf_counter() - start
        params = list(est.module_.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad)
        test_acc = est.score(data.X_test, data.y_test)
        rows.append(
            {
                "freeze": freeze,
                "what trains": meaning,
                "trainable params": trainable,
                "total params": sum(p.numel() for p in params),
                "trainable %": round(100 * trainable / sum(p.numel() for p in params), 2),
                "fit time (s)": round(fit_time, 1),
                "best valid acc": round(est.best_validation_score_, 4),
                "test accuracy": round(test_acc, 4),
            }
        )
        print(f"freeze={freeze}: test accuracy {test_acc:.4f} ({fit_time:.1f} s)")

    table = pd.DataFrame(rows)
    init = "ImageNet weights" if weights else "random initialisation (weights=None)"
    print(
        f"\nResNet18 transfer learning on {data.name}: {init}, images resized to "
        f"{image_size}x{image_size}, {epochs} epoch(s), Adam lr 5e-4"
    )
    with pd.option_context("display.width", 200):
        print(table.to_string(index=False))

    fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
    labels = [f"{r['freeze']}\n{r['trainable params']:,} trainable" for r in rows]
    bars = ax.barh(labels, table["test accuracy"], color=["C0", "C1", "C2"])
    ax.bar_label(bars, fmt="%.3f", padding=3)
    ax.set_xlim(0, 1.1)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy")
    ax.set_title(f"ResNet18 on {data.name} ({init})")
    path = out / "transfer_learning_resnet18.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
