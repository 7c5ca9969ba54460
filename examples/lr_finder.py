"""Exercise "finding a learning rate with the LR range test".

Reproduces the course exercise on the learning-rate range test (Leslie Smith, 2015):
a fresh copy of the network trains for a few dozen mini-batches while the learning rate
grows exponentially from 1e-5 to 10, and the (smoothed) loss is recorded against the
learning rate (``lr_find``). Good learning rates lie where the loss falls fastest, well
before it explodes; ``suggested_lr`` is the steepest point. The script prints the
suggestion and the curve's key points, saves the plot (``plot_lr_find``), then trains
the network with the suggested learning rate and, for comparison, with 10x smaller and
10x larger ones (SGD with momentum 0.9), and prints their test accuracies.

Data: Fashion-MNIST (``load_fashion_mnist``, e.g. Debian's ``dataset-fashion-mnist``)
with the lecture network ``fashion_cnn``. Without it scikit-learn's 8x8 digits stand in,
with ``global_pool_cnn``, and a note says so. ``--quick`` uses 400 digits.

    python examples/lr_finder.py            # 10,000 Fashion-MNIST images: ~minutes
    python examples/lr_finder.py --quick    # seconds, for the test suite
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
from sklearn.base import clone

from cnn_estimators import (
    ImageData,
    load_digits_images,
    load_fashion_mnist,
    lr_find,
    make_classifier,
    make_fashion_mnist_cnn,
)
from cnn_estimators.plots import plot_lr_find, plot_training_curves


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
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        torch.set_num_threads(1)  # tiny batches: extra threads only add overhead
    epochs = 3 if args.quick else args.epochs

    data = load_data(args)
    print(data)
    common = dict(
        optimizer="sgd",
        optimizer__momentum=0.9,
        max_epochs=epochs,
        random_state=0,
        progress_bar=False,
    )
    if data.name == "fashion_mnist":
        est = make_fashion_mnist_cnn(recipe="course", **common)
    else:
        est = make_classifier("global_pool_cnn", batch_size=32, **common)

    result = lr_find(
        est,
        data.X_train,
        data.y_train,
        start_lr=1e-5,
        end_lr=10.0,
        num_iter=100 if args.quick else 150,
    )
    print(f"\n{result}")
    history = result.history
    lowest = history.loc[history["smoothed_loss"].idxmin()]
    print(
        f"suggested lr (steepest descent of the smoothed loss): {result.suggested_lr:.3g}; "
        f"lowest smoothed loss {lowest['smoothed_loss']:.3f} at lr {lowest['lr']:.3g}; "
        f"{'stopped when the loss diverged' if result.diverged else 'did not diverge'}"
    )
    step = max(1, len(history) // 10)
    print("\nThe range test, every few steps")
    print(history.iloc[::step].round(5).to_string(index=False))
    ax = plot_lr_find(result)
    ax.figure.savefig(out / "lr_find.png", dpi=100, bbox_inches="tight")
    plt.close(ax.figure)

    rows, best = [], None
    for factor in (0.1, 1.0, 10.0):
        lr = result.suggested_lr * factor
        model = clone(est).set_params(lr=lr)
        try:
            model.fit(data.X_train, data.y_train)
        except FloatingPointError as exc:  # the loss became NaN: the lr is far too large
            print(f"lr {lr:.3g}: training diverged ({exc})")
            rows.append({"lr": lr, "vs suggested": f"x{factor:g}", "test accuracy": float("nan")})
            continue
        accuracy = model.score(data.X_test, data.y_test)
        rows.append(
            {
                "lr": lr,
                "vs suggested": f"x{factor:g}",
                "final train loss": round(model.loss_curve_[-1], 4),
                "best valid acc": round(model.best_validation_score_, 4),
                "test accuracy": round(accuracy, 4),
            }
        )
        if factor == 1.0:
            best = (model, accuracy)
    print(f"\nTraining {epochs} epochs with learning rates around the suggestion")
    print(pd.DataFrame(rows).to_string(index=False))

    if best is not None:
        fig = plot_training_curves(best[0], test_point={"accuracy": best[1]})
        fig.suptitle(f"lr = suggested = {result.suggested_lr:.3g}")
        fig.savefig(out / "lr_find_training_curves.png", dpi=100)
        plt.close(fig)
    print(f"figures written to {out}: lr_find.png, lr_find_training_curves.png")


if __name__ == "__main__":
    main()
