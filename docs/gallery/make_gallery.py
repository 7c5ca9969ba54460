"""Regenerate the figures of the documentation's gallery (docs/gallery/*.png).

Every figure comes from a tiny run on scikit-learn's bundled 8x8 digits (offline, about
15 seconds on a 2-core CPU), drawn by the package's own plotting functions and saved as PNG
at 72 dpi. Usage, from the repository root::

    .venv/bin/python docs/gallery/make_gallery.py          # writes docs/gallery/*.png
    .venv/bin/python docs/gallery/make_gallery.py --out /tmp/gallery

The runs are seeded (``random_state=0``); the pictures are reproducible on one machine,
torch build and thread count, up to the floating-point details of the CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DPI = 72
MAX_BYTES = 80_000  # per figure; the gallery page stays light


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE), help="folder for the PNG files")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)

    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(ROOT))  # the package of this checkout, installed or not
    import matplotlib.pyplot as plt
    import torch
    from PIL import Image

    from cnn_estimators import CNNClassifier, load_digits_images
    from cnn_estimators.experiments import (
        compare_optimizers,
        cross_validate_estimator,
        lr_find,
        misclassified,
    )
    from cnn_estimators.plots import (
        plot_activations,
        plot_confusion_matrix,
        plot_cv_results,
        plot_filters,
        plot_lr_find,
        plot_misclassified,
        plot_optimizer_comparison,
        plot_training_curves,
    )

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig, name: str) -> None:
        path = out / f"{name}.png"
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
        plt.close(fig)
        # A 256-colour palette PNG: a third of the size, no visible difference here.
        with Image.open(path) as image:
            palette = image.convert("RGB").quantize(colors=256)
        palette.save(path, optimize=True)
        written.append(path)

    start = time.perf_counter()
    data = load_digits_images()  # uint8 (1347, 1, 8, 8) training, 450 test images
    X, y, X_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test

    # One fitted network for the curves, the confusion matrix, filters and activations.
    clf = CNNClassifier(
        "global_pool_cnn", lr=3e-3, batch_size=64, max_epochs=12, random_state=0, device="cpu"
    ).fit(X, y)
    test_accuracy = clf.score(X_test, y_test)

    save(plot_training_curves(clf, test_point={"accuracy": test_accuracy}), "training_curves")
    save(plot_confusion_matrix(clf, X_test, y_test).figure_, "confusion_matrix")
    save(plot_filters(clf), "filters")
    # China.jpg (scikit-learn's sample photo), averaged to one channel, at 107x160 pixels:
    # global_pool_cnn accepts any size, so the maps are large enough to see.
    save(plot_activations(clf, layer="first", n=7, image_size=(107, 160)), "activations")

    wrong = misclassified(clf, X_test, y_test, limit=16)
    save(
        plot_misclassified(X_test, y_test, clf.predict(X_test), indices=wrong["index"]),
        "misclassified",
    )

    # Experiments on a subset, few epochs: the point is the figure, not the score.
    small = load_digits_images(n_train=600)
    base = CNNClassifier(
        "global_pool_cnn", lr=3e-3, batch_size=64, max_epochs=10, random_state=0, device="cpu"
    )
    table = compare_optimizers(
        base,
        small.X_train,
        small.y_train,
        optimizers=["sgd", "adam", "rmsprop"],
        cv=3,
        random_state=0,
    )
    save(plot_optimizer_comparison(table).figure, "optimizer_comparison")

    folds = cross_validate_estimator(base, small.X_train, small.y_train, cv=5, random_state=0)
    save(plot_cv_results(folds).figure, "cv_results")

    result = lr_find(base, small.X_train, small.y_train, start_lr=1e-5, end_lr=10, num_iter=80)
    save(plot_lr_find(result).figure, "lr_find")

    total = 0
    for path in written:
        size = path.stat().st_size
        total += size
        flag = "  <-- larger than the budget" if size > MAX_BYTES else ""
        shown = path.relative_to(out.parent) if out == HERE else path
        print(f"{shown}  {size / 1000:.1f} kB{flag}")
    print(
        f"{len(written)} figures, {total / 1000:.0f} kB, test accuracy of the fitted network "
        f"{test_accuracy:.3f}, {time.perf_counter() - start:.0f} s"
    )
    return 0 if all(p.stat().st_size <= MAX_BYTES for p in written) else 1


if __name__ == "__main__":
    sys.exit(main())
