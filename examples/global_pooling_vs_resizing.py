"""Exercise "images of different sizes: global pooling versus resizing".

Reproduces the course exercise on variable-size inputs. Every image is resized to its
own random size (8 to 24 pixels for the 8x8 digits), so the data set is a *list* of
arrays of shape (1, h, w), not one array. Three ways to classify it, each evaluated with
scikit-learn's ``cross_val_score`` (stratified, shuffled K-fold):

1. ``global_pool_cnn`` with global **max** pooling, trained directly on the ragged list
   (batches are grouped by size; the global pooling makes the classifier independent of
   the size of the feature maps);
2. the same network with global **average** pooling;
3. ``Pipeline([ResizeImages("smallest"), global_pool_cnn])``: every image is first
   resized to the smallest size seen at fit (8x8), then classified at one size.

It prints the size distribution, the per-fold accuracies and the three mean +/- std
accuracies, and saves example images and a bar chart.

Data: scikit-learn's digits (offline; all 1,797 in a full run; ``--quick`` uses 300,
resized to 8..16 pixels).
``--dataset mnist`` or ``--dataset fashion_mnist`` uses a subset of those (28x28 images
resized to 14..42 pixels) when a local copy exists, else falls back to the digits with
a note.

    python examples/global_pooling_vs_resizing.py                 # ~a minute
    python examples/global_pooling_vs_resizing.py --dataset fashion_mnist --n 3000
    python examples/global_pooling_vs_resizing.py --quick         # seconds, for the tests
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from _loading import dataset_arg  # shared: any spelling of the data set names
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from cnn_estimators import load_digits_images, load_fashion_mnist, load_mnist, make_classifier
from cnn_estimators.preprocessing import ResizeImages


def load_images(args) -> tuple[np.ndarray, np.ndarray, str, tuple[int, int]]:
    """Square uint8 images (N, 1, H, W), labels, a name and the (min, max) target size."""
    if args.quick:
        print("data: --quick uses 300 of scikit-learn's 8x8 digits, resized to 8..16 pixels")
        data = load_digits_images(n_train=300, random_state=0)
        return data.X_train, data.y_train, "digits", (8, 16)
    if args.dataset != "digits":
        loader = load_mnist if args.dataset == "mnist" else load_fashion_mnist
        try:
            data = loader(n_train=args.n, n_test=10, random_state=0)  # the test split is unused
        except (OSError, ValueError) as exc:
            reason = "no local copy" if isinstance(exc, FileNotFoundError) else exc
            print(f"note: {args.dataset} is not available ({reason}); using scikit-learn's digits")
        else:
            print(f"data: {args.n} {args.dataset} images from {data.source}")
            return data.X_train, data.y_train, args.dataset, (14, 42)
    data = load_digits_images(random_state=0)
    print("data: all 1,797 of scikit-learn's 8x8 digits")
    X = np.concatenate([data.X_train, data.X_test])
    return X, np.concatenate([data.y_train, data.y_test]), "digits", (8, 24)


def random_sizes(images: np.ndarray, low: int, high: int, seed: int = 0) -> list[np.ndarray]:
    """Resize each image to its own random square size in [low, high] (a ragged list)."""
    rng = np.random.default_rng(seed)
    out = []
    for image, size in zip(images, rng.integers(low, high + 1, size=len(images)), strict=True):
        out.append(ResizeImages((int(size), int(size))).fit_transform(image[None])[0])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default=".", help="folder for the figures (default: cwd)")
    parser.add_argument(
        "--dataset",
        type=dataset_arg("digits", "mnist", "fashion_mnist"),
        default="digits",
        help="digits (default), mnist or fashion_mnist; '-' or '_' alike (fashion-mnist)",
    )
    parser.add_argument("--n", type=int, default=3000, help="images of (Fashion-)MNIST to use")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--cv", type=int, default=5)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 3 if args.quick else args.epochs
    cv = 3 if args.quick else args.cv

    images, y, name, (low, high) = load_images(args)
    X = random_sizes(images, low, high)
    sizes = pd.Series([img.shape[-1] for img in X])
    print(f"{len(X)} images of {sizes.nunique()} different sizes, {low}..{high} pixels square")
    print("size histogram:", sizes.value_counts().sort_index().to_dict())

    common = dict(max_epochs=epochs, lr=3e-3, batch_size=32, random_state=0, progress_bar=False)
    candidates = {
        "global max pooling (ragged)": make_classifier(
            "global_pool_cnn", module__global_pool="max", **common
        ),
        "global average pooling (ragged)": make_classifier(
            "global_pool_cnn", module__global_pool="avg", **common
        ),
        'ResizeImages("smallest") + CNN': Pipeline(
            [
                ("resize", ResizeImages("smallest")),
                ("cnn", make_classifier("global_pool_cnn", module__global_pool="max", **common)),
            ]
        ),
    }
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=0)
    rows, per_fold = [], {}
    for label, est in candidates.items():
        scores = cross_val_score(est, X, y, cv=folds)
        per_fold[label] = scores
        rows.append({"method": label, "mean accuracy": scores.mean(), "std": scores.std()})
        print(f"{label:32s} {scores.mean():.3f} +/- {scores.std():.3f}")

    print(f"\nPer-fold accuracy ({cv}-fold CV, {epochs} epochs, {name})")
    print(pd.DataFrame(per_fold).round(4).to_string())
    table = pd.DataFrame(rows)
    print("\nSummary")
    print(table.round(4).to_string(index=False))

    fig = plt.figure(figsize=(12, 4), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.2, 1])
    examples = np.argsort(sizes.to_numpy())[:: max(1, len(X) // 6)][:6]
    axes = left.subplots(2, 3)
    for ax, i in zip(axes.ravel(), examples, strict=False):
        ax.imshow(X[i][0], cmap="gray")
        ax.set_title(f"label {y[i]}, {X[i].shape[-2]}x{X[i].shape[-1]}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    left.suptitle("Examples (their sizes in the titles)")
    ax = right.subplots()
    bars = ax.barh(table["method"], table["mean accuracy"], xerr=table["std"], color="C0")
    ax.bar_label(bars, fmt="%.3f", padding=12)
    ax.set_xlim(0, 1.15)
    ax.invert_yaxis()
    ax.set_xlabel(f"{cv}-fold CV accuracy (mean +/- std)")
    path = out / "global_pooling_vs_resizing.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
