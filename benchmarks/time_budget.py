"""A fit planned to a time budget: planned epochs, fit time against the budget, accuracy.

For each budget, ``make_fashion_mnist_cnn(recipe=R, time_budget=B)`` (``R`` is
``"accurate"`` unless ``--recipe`` says otherwise) is fitted on the training set (the
probe times a few steps, the plan fits the epochs into the budget, the one-cycle schedule
ends with them) and scored on the test set (with the recipe's test-time augmentation,
whose prediction time is reported).

    python benchmarks/time_budget.py                # 60+120+300+600 s of fits, ~18 minutes
    python benchmarks/time_budget.py --budgets 60   # one budget
    python benchmarks/time_budget.py --tiny         # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import time

from _common import command_line, load_fashion_mnist_or_skip, print_environment


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[60, 120, 300, 600])
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--recipe", default="accurate", help="make_fashion_mnist_cnn's recipe")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.budgets, args.n_train, args.n_test = [3.0], 600, 200
    print(f"command: {command_line()}\n")
    print_environment()
    from cnn_estimators import make_fashion_mnist_cnn

    data = load_fashion_mnist_or_skip(args.n_train, args.n_test)
    print(
        f"make_fashion_mnist_cnn(recipe={args.recipe!r}, time_budget=B, random_state=0) on "
        f"{len(data.X_train)} "
        f"training images, scored on {len(data.X_test)} test images\n"
    )
    print(
        "| time_budget s | planned epochs | epochs run | stopped by the safety net | "
        "fit s | fit s / budget | test accuracy | predict s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for budget in args.budgets:
        est = make_fashion_mnist_cnn(
            recipe=args.recipe, time_budget=budget, random_state=0, progress_bar=False
        )
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train)
        seconds = time.perf_counter() - start
        history = est.history_
        stopped = any(row.get("time_budget_stop", False) for row in history)
        start = time.perf_counter()
        accuracy = est.score(data.X_test, data.y_test)
        predict_s = time.perf_counter() - start
        print(
            f"| {budget:g} | {history[0]['planned_epochs']} | {len(history)} | "
            f"{'yes' if stopped else 'no'} | {seconds:.1f} | {seconds / budget:.3f} | "
            f"{accuracy:.4f} | {predict_s:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
