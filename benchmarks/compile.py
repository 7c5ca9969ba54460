"""``compile=True`` (skorch's ``torch.compile`` of the module) vs eager, on Fashion-MNIST.

Fits the same network with ``compile=False`` and ``compile=True`` (interleaved), and
prints each epoch's time (the first compiled epoch includes the compilation) and the
``predict_proba`` time, in one run.

    python benchmarks/compile.py             # about 3 minutes on 2 cores
    python benchmarks/compile.py --model default   # make_fashion_mnist_cnn() (bf16 where
                                                   # the CPU has it, its own recipe)
    python benchmarks/compile.py --tiny      # about a minute (it still compiles)
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import command_line, load_fashion_mnist_or_skip, print_environment


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--model",
        default=None,
        help='a registered network (fashion_cnn; mlp with --tiny), or "default": '
        "make_fashion_mnist_cnn()",
    )
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.epochs = 512, 2
    if args.model is None:  # the default network: fashion_cnn, or the mlp in tiny mode
        args.model = "mlp" if args.tiny else "fashion_cnn"
    print(f"command: {command_line()}\n")
    print_environment()
    from cnn_estimators import CNNClassifier, make_fashion_mnist_cnn

    data = load_fashion_mnist_or_skip(args.n_train, 100)
    if args.model == "default":
        print(
            f"make_fashion_mnist_cnn() with its recipe, {args.n_train} images, "
            f"{args.epochs} epochs, no validation\n"
        )
    else:
        print(
            f"{args.model}, {args.n_train} images, {args.epochs} epochs, batch 128, Adam, "
            "no validation\n"
        )
    print("| compile | fit s | first epoch s | later epochs s (median) | predict_proba s |")
    print("|---|---|---|---|---|")
    for compile_ in (False, True):
        common = dict(
            max_epochs=args.epochs,
            validation_fraction=0,
            random_state=0,
            device="cpu",
            progress_bar=False,
            compile=compile_,
        )
        if args.model == "default":
            est = make_fashion_mnist_cnn(**common)
        else:
            est = CNNClassifier(args.model, **common)
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        est.predict_proba(data.X_train)
        predict_s = time.perf_counter() - start
        durations = list(est.history_[:, "dur"])
        print(
            f"| {compile_} | {fit_s:.1f} | {durations[0]:.2f} | "
            f"{statistics.median(durations[1:]):.2f} | {predict_s:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
