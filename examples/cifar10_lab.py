"""Lab "CIFAR-10 with a small CNN, augmentation and a learning-rate schedule".

Reproduces the course's CIFAR-10 lab: the lab network (``make_cifar_cnn``: three padded
3x3 convolutions with 32, 64 and 126 filters, two max pools, global average pooling and a
64-unit hidden layer) trained with SGD (momentum 0.9, lr 0.01, batch 128), the classic
augmentation (random 4-pixel shifts and horizontal flips, ``augmentation("cifar10")``),
a learning-rate schedule (``--schedule step``: divide by 10 every third of the epochs,
or ``cosine``) and best-only checkpointing: the weights are saved in
``<out>/checkpoints/run-<id>/`` only when the validation accuracy improves, and restored
at the end. It prints the per-epoch table (losses, validation accuracy, learning rate,
checkpoints), the test accuracy and the per-class report, and saves the training curves,
the confusion matrix and a few misclassified test images.

Data: CIFAR-10 when a local copy exists (``load_cifar10``; see its docstring for the
folders searched). Without it a synthetic colour set of the same size stands in, and a
note says so: 10 classes of shapes (disk, ring, square, bars, cross ...) in a random bright
colour on a random dark background, at random positions and scales, with pixel noise
(the class is the shape, not the colour; flips and shifts keep it). ``--quick`` always
uses 300 of those synthetic images (too few, in 3 epochs, for SGD to get far: it is a
smoke test).

    python examples/cifar10_lab.py                       # 20,000 images, 15 epochs: ~minutes
    python examples/cifar10_lab.py --n-train 50000 --epochs 30 --schedule cosine
    python examples/cifar10_lab.py --quick               # seconds, for the test suite
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
from _synthetic import synthetic_shapes  # shared offline stand-in for CIFAR-10

from cnn_estimators import ImageData, load_cifar10, make_cifar_cnn
from cnn_estimators.experiments import classification_report_df, confusion_pairs
from cnn_estimators.plots import plot_confusion_matrix, plot_misclassified, plot_training_curves
from cnn_estimators.transforms import augmentation


def load_data(args) -> ImageData:
    return load_or_fallback(
        args,
        [("CIFAR-10", load_cifar10)],
        quick=(
            "300 synthetic coloured shapes (32x32 RGB), not CIFAR-10",
            lambda: synthetic_shapes(300, 150),
        ),
        fallback=(
            "synthetic coloured shapes",
            lambda: synthetic_shapes(args.n_train or 20000, args.n_test or 2000),
        ),
    )


def epoch_table(est) -> pd.DataFrame:
    rows = []
    for row in est.history_:
        lr = row.get("event_lr")
        if lr is None and row["batches"]:
            lr = row["batches"][-1].get("event_lr")
        rows.append(
            {
                "epoch": row["epoch"],
                "train_loss": row["train_loss"],
                "valid_loss": row.get("valid_loss"),
                "valid_acc": row.get("valid_acc"),
                "lr": lr,
                "checkpoint": "saved" if row.get("event_cp") else "",
                "dur (s)": row["dur"],
            }
        )
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default=".", help="folder for figures and checkpoints")
    parser.add_argument("--schedule", choices=["step", "cosine"], default="step")
    parser.add_argument("--n-train", type=int, default=20000, help="training images (full run)")
    parser.add_argument("--n-test", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 3 if args.quick else args.epochs

    data = load_data(args)
    print(data)
    est = make_cifar_cnn(
        max_epochs=epochs,
        batch_size=64 if args.quick else 128,
        lr_schedule=args.schedule,
        train_transform=augmentation("cifar10"),
        checkpoint_dir=out / "checkpoints",
        random_state=0,
        progress_bar=False if args.quick else "auto",
    )
    print(
        f"optimizer: {est.optimizer} lr={est.lr} momentum={est.optimizer__momentum}, "
        f"schedule: {args.schedule}, augmentation: {est.train_transform}"
    )
    start = time.perf_counter()
    est.fit(data.X_train, data.y_train)
    fit_time = time.perf_counter() - start

    print("\nPer-epoch history")
    print(epoch_table(est).round(4).to_string(index=False))
    best_epoch = int(np.argmax(est.validation_scores_)) + 1
    print(f"\nfit time: {fit_time:.1f} s for {est.n_iter_} epochs")
    print(
        f"best validation accuracy {est.best_validation_score_:.4f} at epoch {best_epoch}; "
        f"its weights were restored from {est.checkpoint_path_}"
    )
    test_acc = est.score(data.X_test, data.y_test)
    print(f"test accuracy: {test_acc:.4f}")

    report = classification_report_df(est, data.X_test, data.y_test, class_names=data.class_names)
    print("\nPer-class report (test set)")
    print(report.round(3).to_string())
    pairs = confusion_pairs(est, data.X_test, data.y_test, class_names=data.class_names, top=5)
    print("\nMost frequent confusions")
    print(pairs.round(3).to_string(index=False))

    fig = plot_training_curves(est, test_point={"accuracy": test_acc})
    fig.savefig(out / "cifar10_curves.png", dpi=100)
    plt.close(fig)
    disp = plot_confusion_matrix(
        est, data.X_test, data.y_test, class_names=data.class_names, normalize="true"
    )
    disp.figure_.set_size_inches(8, 7)
    disp.figure_.savefig(out / "cifar10_confusion_matrix.png", dpi=100)
    plt.close(disp.figure_)
    y_pred = est.predict(data.X_test)
    fig = plot_misclassified(data.X_test, data.y_test, y_pred, class_names=data.class_names, n=16)
    fig.savefig(out / "cifar10_misclassified.png", dpi=100)
    plt.close(fig)
    print(
        f"\nfigures written to {out}: cifar10_curves.png, cifar10_confusion_matrix.png, "
        "cifar10_misclassified.png"
    )


if __name__ == "__main__":
    main()
