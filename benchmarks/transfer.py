"""Transfer learning with a frozen ResNet-18: cached backbone features vs recomputing them.

For each ``freeze`` option, fits ``make_resnet18_classifier`` twice on the same
Fashion-MNIST images, with ``cache_features=False`` (the frozen backbone runs on every
batch of every epoch) and ``cache_features=True`` (it runs once per image at the start of
``fit``), side by side in one process, and prints the time per epoch after the first,
the whole fit, the time spent before the first epoch (set-up, and with the cache the
features of every image) and the test accuracy of both (they train the same function).

The ImageNet weights cannot be downloaded on every machine: the backbone is randomly
initialised (``weights=None``), which costs exactly the same time; accuracies are
therefore low and only compared with each other.

    python benchmarks/transfer.py               # about 5 minutes on 2 cores
    python benchmarks/transfer.py --tiny        # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import command_line, load_fashion_mnist_or_skip, print_environment


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.n_test, args.epochs, args.image_size = 100, 50, 2, 32
    print(f"command: {command_line()}\n")
    print_environment()
    from cnn_estimators import make_resnet18_classifier

    data = load_fashion_mnist_or_skip(args.n_train, args.n_test)
    print(
        f"{args.n_train} training images resized to {args.image_size} px inside the model, "
        f"{args.epochs} epochs, batch 32, validation 10% (also cached)\n"
    )
    print(
        "| freeze | cache | fit s | before epochs s | later epochs s (median) | "
        "later-epoch speed-up | fit speed-up | test accuracy |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for freeze in ("all_but_fc", "all_but_layer4"):
        rows = {}
        for cache in (False, True):
            est = make_resnet18_classifier(
                weights=None,
                freeze=freeze,
                image_size=args.image_size,
                max_epochs=args.epochs,
                cache_features=cache,
                random_state=0,
                progress_bar=False,
            )
            start = time.perf_counter()
            est.fit(data.X_train, data.y_train)
            fit_s = time.perf_counter() - start
            durations = list(est.history_[:, "dur"])
            later = statistics.median(durations[1:]) if len(durations) > 1 else durations[0]
            accuracy = est.score(data.X_test, data.y_test)
            rows[cache] = (fit_s, fit_s - sum(durations), later, accuracy)
        base_fit, _, base_later, _ = rows[False]
        for cache, (fit_s, features_s, later, acc) in rows.items():
            print(
                f"| {freeze} | {cache} | {fit_s:.1f} | {features_s:.1f} | "
                f"{later:.3f} | {base_later / later:.1f}x | {base_fit / fit_s:.2f}x | {acc:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
