"""Exercise "what does a CNN see? Filters and activation maps".

Reproduces the course exercise that looks inside convolutional networks:

1. trains the CIFAR-10 lab network (``cifar_cnn``; with Adam, augmentation and a cosine
   schedule) and shows its first-layer filters (``plot_filters``: 32 RGB 3x3 kernels,
   shown in colour);
2. shows the activation maps of chosen first-layer filters (``--filters``, default
   0 1 2 3 4 5 6 7) for scikit-learn's sample photo ``china.jpg`` (the default image of
   ``plot_activations``), and the activation maps of the last convolution (126 channels
   at a quarter of the resolution: coarser, more abstract features);
3. does the same for ResNet18: the 64 7x7 filters of ``conv1`` and the activations of
   its first and last convolutions (``layer4.1.conv2``: 512 channels at 1/32 of the input
   size). The ImageNet weights are used when they can be loaded (the torch hub cache,
   or a download in a full run); offline the network keeps its random initialisation
   (``weights=None``), said in a note: its filters are then noise, which is itself
   instructive next to the trained ``cifar_cnn`` filters. The input is resized to
   ``image_size`` inside the model (128 in a full run, 64 with ``--quick``).

It prints the shape of every map shown and the statistics of the chosen filters.

Data for ``cifar_cnn``: CIFAR-10 when a local copy exists (``load_cifar10``); else
synthetic coloured shapes (10 classes: disk, ring, square, bars, cross ..., 32x32 RGB),
with a note. ``--quick`` uses 200 synthetic shapes and one epoch.

    python examples/filters_and_activations.py                     # ~minutes
    python examples/filters_and_activations.py --filters 3 7 12 30
    python examples/filters_and_activations.py --quick             # seconds, for the tests
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from _loading import load_or_fallback  # shared: real data if present, else a stand-in
from _synthetic import synthetic_shapes  # shared offline stand-in for CIFAR-10
from sklearn.datasets import load_sample_image
from torchvision.models import ResNet18_Weights

from cnn_estimators import (
    ImageData,
    get_model,
    load_cifar10,
    make_cifar_cnn,
    summary,
)
from cnn_estimators.plots import plot_activations, plot_filters
from cnn_estimators.transforms import augmentation


def load_data(args) -> ImageData:
    return load_or_fallback(
        args,
        [("CIFAR-10", load_cifar10)],
        quick=(
            "200 synthetic coloured shapes (32x32 RGB), not CIFAR-10",
            lambda: synthetic_shapes(200, 100),
        ),
        fallback=(
            "synthetic coloured shapes",
            lambda: synthetic_shapes(args.n_train or 20000, args.n_test or 2000),
        ),
    )


def resnet_weights(quick: bool) -> str | None:
    """Return "DEFAULT" if the ImageNet weights can be loaded, else None (with a note)."""
    url = ResNet18_Weights.DEFAULT.url
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
    if quick and not os.path.exists(cached):
        print(
            f"note: --quick does not download the ImageNet weights (none cached at {cached}); "
            "ResNet18 keeps its random initialisation (weights=None)"
        )
        return None
    try:
        get_model("resnet18", in_channels=3, num_classes=10, input_size=(32, 32), weights="DEFAULT")
    except RuntimeError as exc:
        print(f"note: the ImageNet weights are unavailable: {exc}")
        print("note: ResNet18 keeps its random initialisation (weights=None)")
        return None
    print("ResNet18: ImageNet weights loaded (weights='DEFAULT')")
    return "DEFAULT"


def conv_shapes(model, input_shape, layers) -> pd.DataFrame:
    """Output shapes of the named layers for one image of ``input_shape``."""
    table = summary(model, input_shape)
    table = table[table["layer"].isin(layers)].drop_duplicates("layer")
    return table[["layer", "type", "output_shape", "params"]]


def save(fig, path: Path) -> None:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"  wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default=".", help="folder for the figures (default: cwd)")
    parser.add_argument(
        "--filters", type=int, nargs="+", default=list(range(8)), help="filter indices to show"
    )
    parser.add_argument("--n-train", type=int, default=10000, help="training images (full run)")
    parser.add_argument("--n-test", type=int, default=2000, help="test images (full run)")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 1 if args.quick else args.epochs
    # The photo is 427x640; show it at a third (quick: a sixth) of its size.
    photo_size = (71, 107) if args.quick else (142, 213)
    resnet_size = 64 if args.quick else 128
    n_maps = 8 if args.quick else 16  # activation maps shown for the last layers

    print(f"image: sklearn's china.jpg, shape {load_sample_image('china.jpg').shape}")

    # 1. A trained cifar_cnn and its first-layer filters.
    data = load_data(args)
    print(data)
    est = make_cifar_cnn(
        optimizer="adam",  # learns faster than the lab's SGD: the filters are the point here
        lr=1e-3,
        max_epochs=epochs,
        lr_schedule="cosine",
        train_transform=augmentation("cifar10"),
        random_state=0,
        progress_bar=False if args.quick else "auto",
    )
    est.fit(data.X_train, data.y_train)
    test_acc = est.score(data.X_test, data.y_test)
    print(f"cifar_cnn: {est.n_iter_} epoch(s), test accuracy {test_acc:.4f}")

    weight = est.module_.features[0].weight.detach()  # (32, 3, 3, 3)
    chosen = [i for i in args.filters if 0 <= i < weight.shape[0]]
    stats = pd.DataFrame(
        {
            "filter": chosen,
            "mean R": weight[chosen, 0].mean(dim=(1, 2)).numpy(),
            "mean G": weight[chosen, 1].mean(dim=(1, 2)).numpy(),
            "mean B": weight[chosen, 2].mean(dim=(1, 2)).numpy(),
            "L2 norm": weight[chosen].flatten(1).norm(dim=1).numpy(),
        }
    )
    print(f"\ncifar_cnn first-layer filters {tuple(weight.shape)}; the chosen ones:")
    print(stats.round(4).to_string(index=False))

    print("\ncifar_cnn feature maps for the photo:")
    print(conv_shapes(est, (3, *photo_size), ["features.0", "features.6"]).to_string(index=False))
    save(plot_filters(est, indices=chosen if args.quick else None), out / "cifar_cnn_filters.png")
    save(
        plot_activations(est, layer="first", indices=chosen, image_size=photo_size),
        out / "cifar_cnn_activations_first.png",
    )
    save(
        plot_activations(est, layer="last", n=n_maps, image_size=photo_size),
        out / "cifar_cnn_activations_last.png",
    )

    # 2. ResNet18 (ImageNet weights if available, else random).
    weights = resnet_weights(args.quick)
    torch.manual_seed(0)
    net = get_model(
        "resnet18",
        in_channels=3,
        num_classes=10,
        input_size=(resnet_size, resnet_size),
        weights=weights,
        image_size=resnet_size,
    )
    print(f"\nResNet18 (weights={weights!r}), photo resized to {resnet_size}x{resnet_size}:")
    layers = ["conv1", "layer1.0.conv1", "layer4.1.conv2"]
    print(conv_shapes(net, (3, resnet_size, resnet_size), layers).to_string(index=False))
    resnet_chosen = [i for i in args.filters if 0 <= i < net.conv1.out_channels]
    shown = resnet_chosen if args.quick else None  # all 64 in a full run
    save(plot_filters(net, layer="conv1", indices=shown), out / "resnet18_filters.png")
    save(
        plot_activations(net, layer="first", indices=resnet_chosen),
        out / "resnet18_activations_first.png",
    )
    save(plot_activations(net, layer="last", n=n_maps), out / "resnet18_activations_last.png")


if __name__ == "__main__":
    main()
