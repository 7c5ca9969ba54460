"""Data-parallel training with Hugging Face Accelerate: one model, several processes.

The same script runs in one process or in several (one per GPU, or per machine), each
training on its own share of every epoch with the gradients averaged:

    python examples/accelerate_train.py                    # one process
    accelerate launch --multi_gpu --num_processes 4 examples/accelerate_train.py
    accelerate launch --multi_gpu --num_processes 2 examples/accelerate_train.py --cpu
    python examples/accelerate_train.py --quick            # seconds, for the test suite

``--cpu`` trains on the CPU (needed for several processes on a machine without GPUs).
The main process prints what each process trained on and the test accuracy, and with
``--report FILE`` writes them as JSON. Data: scikit-learn's 8x8 digits (no download).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

from accelerate import Accelerator
from accelerate.utils import gather_object
from skorch.callbacks import Callback

from cnn_estimators import load_digits_images
from cnn_estimators.accelerated import AcceleratedCNNClassifier


class ShardSummary(Callback):
    """Records which training images this process saw in the first epoch (fingerprints)."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.images_: list[str] = []
        self.n_train_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.n_train_ is None and dataset_train is not None:
            self.n_train_ = len(dataset_train)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training and len(net.history) == 1:
            images = batch[0].cpu().numpy()
            self.images_ += [
                hashlib.blake2b(im.tobytes(), digest_size=8).hexdigest() for im in images
            ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--report", default=None, help="write the results here (JSON)")
    args = parser.parse_args(argv)
    epochs = args.epochs or (6 if args.quick else 15)

    # Built before the estimator so that the script knows its process (and can print
    # once); the estimator would otherwise build Accelerator() itself at fit.
    accelerator = Accelerator(cpu=args.cpu)
    start = time.perf_counter()
    data = load_digits_images(random_state=0)  # every process loads the same data
    shards = ShardSummary()
    clf = AcceleratedCNNClassifier(
        "global_pool_cnn",
        accelerator=accelerator,
        max_epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        keep_best=True,
        random_state=0,
        progress_bar=False,
        callbacks=[("shards", shards)],
    )
    clf.fit(data.X_train, data.y_train)  # on every process, with the same data
    seconds = time.perf_counter() - start

    # What each process did, collected on every process (a collective call).
    mine = {
        "process": accelerator.process_index,
        "batches_per_epoch": [int(n) for n in clf.history_[:, "train_batch_count"]],
        "images": shards.images_,
        "checksum": float(sum(p.detach().double().abs().sum() for p in clf.module_.parameters())),
        "history": [
            [row[k] for k in ("train_loss", "valid_loss", "valid_acc")] for row in clf.history_
        ],
    }
    everyone = gather_object([mine])
    if accelerator.is_main_process:
        summarize(clf, data, everyone, accelerator, args, shards, seconds)
    # Every process waits for the main one, then leaves the process group together.
    accelerator.wait_for_everyone()
    accelerator.end_training()


def summarize(clf, data, everyone, accelerator, args, shards, seconds):
    """Print (and write with --report) what the processes did; on the main process."""
    # Predicting needs no other process: the main process scores the test set alone.
    test_accuracy = clf.score(data.X_test, data.y_test)
    n = accelerator.num_processes
    seen = [set(p["images"]) for p in everyone]
    shared = set.intersection(*seen) if n > 1 else set()
    steps = everyone[0]["batches_per_epoch"][0]
    report = {
        "num_processes": n,
        "batch_size": args.batch_size,
        "n_train": shards.n_train_,
        "padding": steps * n * args.batch_size - shards.n_train_ if n > 1 else 0,
        "batches_per_epoch": [p["batches_per_epoch"] for p in everyone],
        "images_epoch_1": [len(p["images"]) for p in everyone],
        "distinct_images_epoch_1": len(set().union(*seen)),
        "shared_images_epoch_1": len(shared),
        "checksums": [p["checksum"] for p in everyone],
        "histories": [p["history"] for p in everyone],
        "best_validation_accuracy": clf.best_validation_score_,
        "test_accuracy": test_accuracy,
        "seconds": seconds,
    }
    print(
        f"{n} process(es) x batch_size {args.batch_size} = {n * args.batch_size} images per "
        f"optimizer step, on {accelerator.device}"
    )
    for p in everyone:
        print(
            f"process {p['process']}: {p['batches_per_epoch'][0]} batches per epoch, "
            f"{len(p['images'])} images in epoch 1"
        )
    print(f"epoch 1: {report['distinct_images_epoch_1']} of {shards.n_train_} training images seen")
    if n > 1:
        print(
            f"{len(shared)} images were seen by every process: Accelerate fills the last round "
            f"of batches with {report['padding']} images from the start of the epoch"
        )
        same = len({round(c, 6) for c in report["checksums"]}) == 1
        print(f"identical weights on every process: {same}")
        same = all(p["history"] == everyone[0]["history"] for p in everyone)
        print(f"identical losses and validation scores on every process: {same}")
    print(f"best validation accuracy: {clf.best_validation_score_:.3f}")
    print(f"test accuracy: {test_accuracy:.3f} ({seconds:.1f} s)")
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
