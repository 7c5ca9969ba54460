"""Exercise "CNN versus MLP on (Fashion-)MNIST".

Reproduces the course exercise that trains the lecture's convolutional network
(``fashion_cnn``: two 3x3 convolutions with max pooling and a 200-unit hidden layer, built
by ``make_fashion_mnist_cnn`` / ``make_mnist_cnn``) and the multilayer perceptron
(``make_mlp``: Flatten -> Linear(784, 1000) -> ReLU -> Linear(1000, 10)) on the same
images, and compares their test accuracy, number of parameters and training time. Both
get the dataset's normalisation and Adam with lr 1e-3; the training curves (loss and
validation accuracy per epoch, test accuracy as a star) are saved for both.

Data: Fashion-MNIST (``--dataset fashion_mnist``, the default; Debian's
``dataset-fashion-mnist`` package or any local copy) or MNIST (``--dataset mnist``, if a
local copy exists). When the data set is not found, scikit-learn's 8x8 digits, upscaled
to 28x28, stand in (a note says so). ``--quick`` always uses a small subset of the
digits.

    python examples/cnn_vs_mlp.py                      # Fashion-MNIST, 20,000 images, ~minutes
    python examples/cnn_vs_mlp.py --n-train 60000 --epochs 10
    python examples/cnn_vs_mlp.py --dataset mnist
    python examples/cnn_vs_mlp.py --quick              # seconds, for the test suite
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
from _loading import dataset_arg, load_or_fallback  # shared: real data, else a stand-in
from sklearn.metrics import log_loss

from cnn_estimators import (
    ImageData,
    load_digits_images,
    load_fashion_mnist,
    load_mnist,
    make_fashion_mnist_cnn,
    make_mlp,
    make_mnist_cnn,
)
from cnn_estimators.plots import plot_training_curves
from cnn_estimators.preprocessing import ResizeImages
from cnn_estimators.transforms import normalize


def digits_28x28(n_train: int | None, n_test: int | None) -> ImageData:
    """scikit-learn's 8x8 digits upscaled to MNIST's 28x28 (offline stand-in)."""
    data = load_digits_images(n_train=n_train, n_test=n_test, random_state=0)
    resize = ResizeImages((28, 28)).fit(data.X_train)
    return ImageData(
        X_train=resize.transform(data.X_train),
        y_train=data.y_train,
        X_test=resize.transform(data.X_test),
        y_test=data.y_test,
        class_names=data.class_names,
        name="digits",
        source="sklearn.datasets.load_digits, resized to 28x28",
    )


def load_data(args) -> ImageData:
    loader = load_fashion_mnist if args.dataset == "fashion_mnist" else load_mnist
    return load_or_fallback(
        args,
        [(args.dataset, loader)],
        quick=("500 of scikit-learn's digits, upscaled to 28x28", lambda: digits_28x28(500, 200)),
        fallback=("scikit-learn's digits", lambda: digits_28x28(None, None)),
    )


def n_params(est) -> int:
    return sum(p.numel() for p in est.module_.parameters())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default=".", help="folder for the figures (default: cwd)")
    parser.add_argument(
        "--dataset",
        type=dataset_arg("fashion_mnist", "mnist"),
        default="fashion_mnist",
        help="fashion_mnist (default) or mnist; '-' or '_' alike (fashion-mnist)",
    )
    parser.add_argument("--n-train", type=int, default=20000, help="training images (full run)")
    parser.add_argument("--n-test", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 2 if args.quick else args.epochs

    data = load_data(args)
    print(data)
    norm = "fashion_mnist" if data.name == "fashion_mnist" else "mnist"
    common = dict(max_epochs=epochs, random_state=0, progress_bar=False)
    if norm == "fashion_mnist":
        cnn = make_fashion_mnist_cnn(recipe="course", **common)
    else:
        cnn = make_mnist_cnn(**common)
    models = {
        "CNN (fashion_cnn)": cnn,
        "MLP (784-1000-10)": make_mlp(eval_transform=normalize(norm), **common),
    }

    rows = []
    fitted = {}
    for name, est in models.items():
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train)
        fit_time = time.perf_counter() - start
        proba = est.predict_proba(data.X_test)
        accuracy = float(np.mean(est.classes_[proba.argmax(axis=1)] == data.y_test))
        loss = log_loss(data.y_test, proba, labels=est.classes_)
        fitted[name] = (est, {"loss": loss, "accuracy": accuracy})
        rows.append(
            {
                "model": name,
                "parameters": n_params(est),
                "epochs": est.n_iter_,
                "fit time (s)": round(fit_time, 2),
                "s / epoch": round(fit_time / est.n_iter_, 2),
                "best valid acc": round(est.best_validation_score_, 4),
                "test loss": round(loss, 4),
                "test accuracy": round(accuracy, 4),
            }
        )
        curve = pd.DataFrame(
            {
                "epoch": range(1, est.n_iter_ + 1),
                "train_loss": est.loss_curve_,
                "valid_acc": est.validation_scores_,
            }
        )
        print(f"\n{name}: per-epoch history")
        print(curve.round(4).to_string(index=False))

    table = pd.DataFrame(rows)
    print(f"\nCNN vs MLP on {data.name} ({len(data.y_train)} training, {len(data.y_test)} test)")
    print(table.to_string(index=False))
    cnn, mlp = rows
    print(
        f"CNN vs MLP: {cnn['parameters'] / mlp['parameters']:.2f}x the parameters, "
        f"{cnn['fit time (s)'] / max(mlp['fit time (s)'], 1e-9):.1f}x the training time, "
        f"test accuracy {100 * (cnn['test accuracy'] - mlp['test accuracy']):+.1f} points"
    )

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), layout="constrained")
    for row, (name, (est, test_point)) in zip(axes, fitted.items(), strict=True):
        plot_training_curves(est, test_point=test_point, axes=row)
        for ax in row:
            ax.set_title(f"{name}: {ax.get_title()}")
    path = out / "cnn_vs_mlp_curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"training curves written to {path}")


if __name__ == "__main__":
    main()
