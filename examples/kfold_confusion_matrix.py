"""Exercise "K-fold cross-validation and the confusion matrix".

Reproduces the course exercise on evaluating a CNN properly:

1. stratified K-fold cross-validation on the training set (``cross_validate_estimator``):
   a table with the accuracy, log loss, fit time and epochs of every fold, then the
   mean and the standard deviation, and a bar chart of the folds (``plot_cv_results``);
2. a final fit on the whole training set, evaluated once on the test set: the confusion
   matrix as counts and normalised over the true classes (``plot_confusion_matrix``),
   the most frequent confusions (``confusion_pairs``), the misclassified test images
   (``plot_misclassified``) and the images with the highest loss (``top_losses``,
   ``plot_top_losses``).

Data: Fashion-MNIST (``load_fashion_mnist``, e.g. Debian's ``dataset-fashion-mnist``)
with the lecture network ``fashion_cnn``. Without it scikit-learn's 8x8 digits stand in,
with ``global_pool_cnn``, and a note says so. ``--quick`` uses 400 digits and 3 folds.

    python examples/kfold_confusion_matrix.py              # 10,000 Fashion-MNIST images: ~minutes
    python examples/kfold_confusion_matrix.py --cv 10 --epochs 8
    python examples/kfold_confusion_matrix.py --quick      # seconds, for the test suite
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from _loading import load_or_fallback  # shared: real data if present, else a stand-in

from cnn_estimators import (
    ImageData,
    cross_validate_estimator,
    load_digits_images,
    load_fashion_mnist,
    make_classifier,
    make_fashion_mnist_cnn,
)
from cnn_estimators.experiments import confusion_pairs, top_losses
from cnn_estimators.plots import (
    plot_confusion_matrix,
    plot_cv_results,
    plot_misclassified,
    plot_top_losses,
)


def load_data(args) -> ImageData:
    return load_or_fallback(
        args,
        [("Fashion-MNIST", load_fashion_mnist)],
        quick=(
            "400 of scikit-learn's 8x8 digits",
            lambda: load_digits_images(n_train=400, n_test=200, random_state=0),
        ),
        fallback=("scikit-learn's digits", lambda: load_digits_images(random_state=0)),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default=".", help="folder for the figures (default: cwd)")
    parser.add_argument("--n-train", type=int, default=10000, help="training images (full run)")
    parser.add_argument("--n-test", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cv", type=int, default=5, help="number of folds")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 4 if args.quick else args.epochs
    cv = 3 if args.quick else args.cv
    n_show = 8 if args.quick else 16  # images in the error figures

    data = load_data(args)
    print(data)
    names = data.class_names
    common = dict(max_epochs=epochs, random_state=0, progress_bar=False)
    if data.name == "fashion_mnist":
        est = make_fashion_mnist_cnn(recipe="course", **common)
    else:
        est = make_classifier("global_pool_cnn", lr=3e-3, batch_size=64, **common)

    # 1. K-fold cross-validation on the training set.
    cv_table = cross_validate_estimator(est, data.X_train, data.y_train, cv=cv, random_state=0)
    print(f"\n{cv}-fold stratified cross-validation of {est.module} ({epochs} epochs per fold)")
    print(cv_table.round(4).to_string(index=False))
    mean, std = cv_table.set_index("fold").loc[["mean", "std"], "accuracy"]
    print(f"cross-validation accuracy: {mean:.4f} +/- {std:.4f}")
    ax = plot_cv_results(cv_table)
    ax.figure.savefig(out / "kfold_cv_results.png", dpi=100, bbox_inches="tight")
    plt.close(ax.figure)

    # 2. Final model: fit on all training images, evaluate once on the test set.
    est.fit(data.X_train, data.y_train)
    test_acc = est.score(data.X_test, data.y_test)
    print(f"\ntest accuracy of the final model: {test_acc:.4f} (cross-validation: {mean:.4f})")

    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5), layout="constrained")
    for ax, normalize in zip(axes, (None, "true"), strict=True):
        plot_confusion_matrix(
            est, data.X_test, data.y_test, class_names=names, normalize=normalize, ax=ax
        )
    fig.savefig(out / "kfold_confusion_matrix.png", dpi=100)
    plt.close(fig)

    pairs = confusion_pairs(est, data.X_test, data.y_test, class_names=names, top=10)
    print("\nMost frequent confusions (test set)")
    print(pairs.round(3).to_string(index=False))

    y_pred = est.predict(data.X_test)
    n_wrong = int((y_pred != data.y_test).sum())
    print(f"\n{n_wrong} of {len(y_pred)} test images are misclassified")
    fig = plot_misclassified(data.X_test, data.y_test, y_pred, class_names=names, n=n_show)
    fig.savefig(out / "kfold_misclassified.png", dpi=100)
    plt.close(fig)

    worst = top_losses(est, data.X_test, data.y_test, k=n_show // 2, class_names=names)
    print("\nHighest-loss test images")
    with pd.option_context("display.width", 160):
        print(worst.round(4).to_string(index=False))
    fig = plot_top_losses(data.X_test, worst, class_names=names)
    fig.savefig(out / "kfold_top_losses.png", dpi=100)
    plt.close(fig)
    print(
        f"\nfigures written to {out}: kfold_cv_results.png, kfold_confusion_matrix.png, "
        "kfold_misclassified.png, kfold_top_losses.png"
    )


if __name__ == "__main__":
    main()
