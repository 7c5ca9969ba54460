"""Exercise "comparing optimizers: SGD, SGD with momentum, Adam, RMSprop (and AdamW)".

Reproduces the course exercise that compares optimizers and learning rates by
cross-validation. ``compare_optimizers`` runs one ``GridSearchCV`` over a list of
sub-grids, one per optimizer, so that SGD's ``momentum`` is only ever given to SGD
(a single flat grid would pass it to Adam, which raises a TypeError):

* SGD: lr 0.01 and 0.1, momentum 0 and 0.9;
* Adam, RMSprop and AdamW: lr 1e-3.

It prints the cross-validation table (mean and std of the accuracy, fit time, rank) and
saves it as a bar chart (``plot_optimizer_comparison``). Then the best configuration of
each optimizer is trained once more on the whole training set, to print its test
accuracy and plot its training-loss curve next to the others.

Data: Fashion-MNIST (``load_fashion_mnist``, e.g. Debian's ``dataset-fashion-mnist``)
with the lecture network ``fashion_cnn``. Without it scikit-learn's 8x8 digits stand in,
with ``global_pool_cnn``, and a note says so. ``--quick`` uses 400 digits.

    python examples/optimizer_comparison.py                # 5,000 Fashion-MNIST images: ~minutes
    python examples/optimizer_comparison.py --n-train 10000 --epochs 5
    python examples/optimizer_comparison.py --quick        # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from _loading import load_or_fallback  # shared: real data if present, else a stand-in
from matplotlib.ticker import MaxNLocator
from sklearn.base import clone

from cnn_estimators import (
    ImageData,
    compare_optimizers,
    load_digits_images,
    load_fashion_mnist,
    make_classifier,
    make_fashion_mnist_cnn,
)
from cnn_estimators.plots import plot_optimizer_comparison

OPTIMIZERS = ["sgd", "adam", "rmsprop", "adamw"]


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
    parser.add_argument("--n-train", type=int, default=5000, help="training images (full run)")
    parser.add_argument("--n-test", type=int, default=2000, help="test images (full run)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cv", type=int, default=3)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 4 if args.quick else args.epochs

    data = load_data(args)
    print(data)
    common = dict(max_epochs=epochs, random_state=0, progress_bar=False)
    if data.name == "fashion_mnist":
        est = make_fashion_mnist_cnn(recipe="course", **common)
    else:
        est = make_classifier("global_pool_cnn", batch_size=64, **common)
    print(f"network: {est.module}, {epochs} epochs per fit, {args.cv}-fold cross-validation")

    start = time.perf_counter()
    results = compare_optimizers(
        est,
        data.X_train,
        data.y_train,
        optimizers=OPTIMIZERS,
        lr={"sgd": [0.01, 0.1], "adam": [1e-3], "rmsprop": [1e-3], "adamw": [1e-3]},
        param_grid={"sgd": {"optimizer__momentum": [0.0, 0.9]}},
        cv=args.cv,
        random_state=0,
    )
    print(f"\nCross-validated accuracy, best first ({time.perf_counter() - start:.1f} s)")
    with pd.option_context("display.width", 160):
        print(results.round(4).to_string(index=False))

    ax = plot_optimizer_comparison(results)
    ax.figure.savefig(out / "optimizer_comparison.png", dpi=100, bbox_inches="tight")
    plt.close(ax.figure)

    # The best configuration of each optimizer, refitted on all the training data.
    best = results.drop_duplicates("optimizer").reset_index(drop=True)
    rows, fig_curves = [], plt.figure(figsize=(7, 4), layout="constrained")
    ax = fig_curves.add_subplot()
    for _, row in best.iterrows():
        params = {"optimizer": row["optimizer"], "lr": row["lr"]}
        for item in filter(None, row["params"].split(", ")):  # e.g. "momentum=0.9"
            key, value = item.split("=")
            params[f"optimizer__{key}"] = float(value)
        model = clone(est).set_params(**params)
        model.fit(data.X_train, data.y_train)
        label = f"{row['optimizer']} lr={row['lr']:g} {row['params']}".strip()
        ax.plot(range(1, model.n_iter_ + 1), model.loss_curve_, marker="o", label=label)
        rows.append(
            {
                "optimizer": row["optimizer"],
                "lr": row["lr"],
                "params": row["params"],
                "cv accuracy": round(row["mean_test_score"], 4),
                "final train loss": round(model.loss_curve_[-1], 4),
                "test accuracy": round(model.score(data.X_test, data.y_test), 4),
            }
        )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs
    ax.set_ylabel("training loss")
    ax.set_title("Training loss of the best configuration of each optimizer")
    ax.legend()
    fig_curves.savefig(out / "optimizer_loss_curves.png", dpi=100)
    plt.close(fig_curves)

    print("\nBest configuration per optimizer, refitted on all training images")
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"figures written to {out}: optimizer_comparison.png, optimizer_loss_curves.png")


if __name__ == "__main__":
    main()
