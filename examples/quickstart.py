"""Quickstart: a CNN as a scikit-learn classifier on real handwritten digits.

Fits a network, cross-validates it, compares two optimizers with GridSearchCV and saves a
confusion matrix, all through scikit-learn's own API.

    python examples/quickstart.py            # a few seconds on 2 CPU cores
    python examples/quickstart.py --quick    # smaller, for the test suite
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import GridSearchCV, cross_val_score

from cnn_estimators import load_digits_images, make_classifier, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--out", default="confusion_matrix.png")
    args = parser.parse_args(argv)
    epochs = 2 if args.quick else 8

    data = load_digits_images(random_state=0)  # uint8 images (N, 1, 8, 8), no download
    print(data)
    est = make_classifier(
        "global_pool_cnn", max_epochs=epochs, lr=3e-3, batch_size=64, random_state=0
    )
    print(summary("global_pool_cnn", (1, 8, 8)).to_string(index=False))

    scores = cross_val_score(est, data.X_train, data.y_train, cv=3 if args.quick else 5)
    print(f"cross-validation accuracy: {scores.mean():.3f} +/- {scores.std():.3f}")

    grid = [  # one sub-grid per optimizer, so SGD's momentum never reaches Adam
        {"optimizer": ["sgd"], "optimizer__momentum": [0.9], "lr": [0.05]},
        {"optimizer": ["adam"], "lr": [3e-3]},
    ]
    search = GridSearchCV(est, grid, cv=3).fit(data.X_train, data.y_train)
    print(f"best: {search.best_params_} ({search.best_score_:.3f})")

    best = search.best_estimator_
    print(f"test accuracy: {best.score(data.X_test, data.y_test):.3f}")
    disp = ConfusionMatrixDisplay.from_estimator(
        best, data.X_test, data.y_test, display_labels=data.class_names
    )
    disp.figure_.savefig(args.out, dpi=100)
    plt.close(disp.figure_)
    print(f"confusion matrix written to {args.out}")


if __name__ == "__main__":
    main()
