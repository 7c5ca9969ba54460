"""Framework overhead: CNNClassifier vs a hand-written PyTorch loop vs plain skorch.

Same model, data, batch size (128) and optimizer (Adam, lr 1e-3); no augmentation, no
validation. Each configuration trains ``--epochs`` epochs; runs are interleaved
(hand, CNNClassifier, skorch, hand, ...) and the medians of the per-epoch times are
compared in one run. Also inference: ``predict_proba`` vs a hand-written no_grad loop.

- CNNClassifier runs Adam's fused implementation (its default for optimizers given by
  name; the same update as PyTorch's default Adam of the hand loop, computed in one
  pass); the "unfused" column is CNNClassifier with ``optimizer__fused=False``, i.e.
  exactly the hand loop's optimizer code, so that column is the framework's own overhead.
- The hand loops get one-channel images with channels-last strides
  (``channels_last_view``), as CNNClassifier gives its batches, so that both run the same
  oneDNN kernels and the ratios measure the framework, not a memory layout. Plain skorch
  gets the float32 array as a user would pass it (its DataLoader stacks plain batches).
- For the predictions, the hand loop's network gets the estimator's trained weights (the
  speed of a network depends a little on its weights), so the two loops run the same
  function, and both start from the same input: uint8 images (the hand loop scales each
  batch to [0, 1] inside its timer, as ``predict_proba`` must), or the same images as a
  float32 array in [0, 1] (``predict_proba`` then checks them for NaN and infinity and
  copies each batch, so that a module writing into its input cannot change the caller's
  array). The last column compares ``predict_proba`` on uint8 images with the hand loop
  on the float32 array (a stricter reference: the scaling was done before its timer).
  The four loops run in rounds, in a shuffled order: a loop's position in a fixed order
  changed its time by several percent.

Targets (performance issue): fit ratio <= 1.05 for fashion_cnn and <= 1.10 for mlp;
predict_proba throughput >= 0.95x the hand loop.

    python benchmarks/overhead.py            # about 10 minutes on 2 cores
    python benchmarks/overhead.py --tiny     # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import command_line, load_fashion_mnist_or_skip, print_environment
from torch import nn

BATCH = 128


def build(name):
    from cnn_estimators.models import get_model

    kwargs = {"hidden_sizes": (1000,)} if name == "mlp" else {}
    return get_model(name, in_channels=1, num_classes=10, input_size=(28, 28), **kwargs)


def channels_last_view(x: torch.Tensor) -> torch.Tensor:
    """A contiguous (N, 1, H, W) tensor with channels-last strides: the same bytes.

    With one channel both layouts are the same memory, but oneDNN picks its kernels from
    the strides, and its channels-last ones are faster on the CPU. CNNClassifier gives
    one-channel batches these strides; hand loops that should run the same kernels
    (this benchmark's, which measure the framework's overhead) get them here.
    """
    from cnn_estimators.estimator import _one_channel_as_channels_last

    assert x.shape[1] == 1
    return _one_channel_as_channels_last(x)  # the estimator's own view, for the same kernels


def hand_fit(name, X_u8, y, epochs, channels_last=True):
    """The loop a student writes: float tensors prepared once, shuffled batches.

    ``channels_last=False`` leaves the plain (N, 1, H, W) strides a student's array has.
    """
    torch.manual_seed(0)
    X = torch.from_numpy(np.ascontiguousarray(X_u8)).float().div_(255)
    X = channels_last_view(X) if channels_last else X.clone(memory_format=torch.contiguous_format)
    Y = torch.from_numpy(y)
    model = build(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(X))
        for i in range(0, len(X), BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            loss.item()  # what a student prints or accumulates
    return (time.perf_counter() - start) / epochs, model


def ours_fit(name, X_u8, y, epochs, **params):
    from cnn_estimators import CNNClassifier

    if name == "mlp":
        params["module__hidden_sizes"] = (1000,)
    est = CNNClassifier(
        name,
        optimizer="adam",
        lr=1e-3,
        batch_size=BATCH,
        max_epochs=epochs,
        validation_fraction=0,
        random_state=0,
        device="cpu",
        progress_bar=False,
        **params,
    )
    start = time.perf_counter()
    est.fit(X_u8, y)
    return (time.perf_counter() - start) / epochs, est


def skorch_fit(name, X_u8, y, epochs):
    from skorch import NeuralNetClassifier

    from cnn_estimators.models import get_model

    torch.manual_seed(0)
    kwargs = {"module__hidden_sizes": (1000,)} if name == "mlp" else {}
    net = NeuralNetClassifier(
        get_model,
        module__name=name,
        module__in_channels=1,
        module__num_classes=10,
        module__input_size=(28, 28),
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=BATCH,
        max_epochs=epochs,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        **kwargs,
    )
    X = X_u8.astype(np.float32) / 255
    start = time.perf_counter()
    net.fit(X, y)
    return (time.perf_counter() - start) / epochs, net


def hand_predict(model, X_u8):
    """The hand loop from the same uint8 images as ``predict_proba``: each batch is
    scaled to [0, 1] inside the loop (the cheapest way measured: converting the whole
    array first costs more, for the memory it allocates)."""
    X = channels_last_view(torch.from_numpy(np.ascontiguousarray(X_u8)))
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        out = [
            torch.softmax(model(torch.div(X[i : i + BATCH], 255.0)), 1)
            for i in range(0, len(X), BATCH)
        ]
    torch.cat(out).numpy()
    return time.perf_counter() - start


def hand_predict_float(model, X_float):
    """The hand loop given float32 images in [0, 1] (scaled before its timer started)."""
    X = channels_last_view(torch.from_numpy(X_float))
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        out = [torch.softmax(model(X[i : i + BATCH]), 1) for i in range(0, len(X), BATCH)]
    torch.cat(out).numpy()
    return time.perf_counter() - start


def ours_predict(est, X):
    start = time.perf_counter()
    est.predict_proba(X)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument(
        "--epochs",
        type=int,
        default=2,
        help="epochs per fit; the per-epoch time is the fit time / epochs",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--predict-repeats",
        type=int,
        default=5,
        help="interleaved predictions per repeat (default: 5)",
    )
    parser.add_argument("--models", nargs="+", default=["mlp", "fashion_cnn"])
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.repeats, args.epochs, args.predict_repeats = 512, 1, 1, 1
    print(f"command: {command_line()}\n")
    print_environment()
    data = load_fashion_mnist_or_skip(args.n_train, 100)
    X, y = data.X_train, data.y_train
    print(
        "| model | hand s/epoch | CNNClassifier s/epoch | skorch s/epoch | "
        "CNNClassifier / hand | CNNClassifier unfused / hand | skorch / hand | "
        "predict_proba throughput / hand | on float32 input: predict_proba throughput / "
        "hand | predict_proba(uint8) throughput / hand on float32 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    X_float = X.astype(np.float32) / 255  # the same images in [0, 1], C-ordered
    order = np.random.default_rng(0)  # the order of the prediction loops in each round
    for name in args.models:
        hand_fit(name, X[:512], y[:512], 1)  # warm-up
        times = {"hand": [], "ours": [], "unfused": [], "skorch": []}
        pred = {"hand": [], "ours": [], "hand_float": [], "ours_float": []}
        for _ in range(args.repeats):
            t, model = hand_fit(name, X, y, args.epochs)
            times["hand"].append(t)
            t, est = ours_fit(name, X, y, args.epochs)
            times["ours"].append(t)
            times["unfused"].append(ours_fit(name, X, y, args.epochs, optimizer__fused=False)[0])
            t, _ = skorch_fit(name, X, y, args.epochs)
            times["skorch"].append(t)
            # Both loops predict with the same weights (the estimator's), so that only the
            # loops differ: trained weights alone change the speed by a few percent.
            model.load_state_dict(est.module_.state_dict())
            loops = {
                "hand": lambda m=model: hand_predict(m, X),
                "ours": lambda e=est: ours_predict(e, X),
                "hand_float": lambda m=model: hand_predict_float(m, X_float),
                "ours_float": lambda e=est: ours_predict(e, X_float),
            }
            for _ in range(args.predict_repeats):  # a prediction is short: time it often
                # in a shuffled order: a loop's position in the round changed its time
                for key in order.permutation(list(loops)):
                    pred[key].append(loops[key]())
        m = {k: statistics.median(v) for k, v in times.items()}
        p = {k: statistics.median(v) for k, v in pred.items()}
        print(
            f"| {name} | {m['hand']:.2f} | {m['ours']:.2f} | {m['skorch']:.2f} | "
            f"{m['ours'] / m['hand']:.3f} | {m['unfused'] / m['hand']:.3f} | "
            f"{m['skorch'] / m['hand']:.3f} | "
            f"{p['hand'] / p['ours']:.3f} | {p['hand_float'] / p['ours_float']:.3f} | "
            f"{p['hand_float'] / p['ours']:.3f} |",
            flush=True,
        )
    print(
        f"\n{args.n_train} Fashion-MNIST images, {args.epochs} epoch(s) per fit (fit time / "
        f"epochs), medians of {args.repeats} interleaved repeats; predictions: medians of "
        f"{args.repeats} x {args.predict_repeats} rounds of the four loops in shuffled "
        "order; both loops of a column get the same input (uint8 images, or the same "
        "images as float32 in [0, 1]), except the last column: predict_proba from uint8 "
        "against the hand loop given float32 images scaled before its timer; throughput "
        "ratio > 1 means faster than hand"
    )


if __name__ == "__main__":
    main()
