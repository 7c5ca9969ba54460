"""The rungs of skorch's training loop that this package changes, and nothing else.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`LoopMixin`.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from skorch.dataset import get_len, unpack_data
from torch.utils.data import DataLoader

from ._data import (
    BatchIndexSampler,
    ImageTensorDataset,
    RaggedImageDataset,
    SequentialBatches,
    SizeBucketSampler,
)
from .adapters import LazyImageDataset


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(UserWarning):
    """Training was stopped by a KeyboardInterrupt (Ctrl-C); the estimator stays usable."""


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=-1)


#: DataLoader workers for datasets read from files (ImageFolder ...): half the cores.
#: In-memory data uses none (workers only add copying there). Override with
#: ``iterator_train__num_workers``.
LAZY_NUM_WORKERS = max(1, (os.cpu_count() or 2) // 2)


_SHAPE_ERROR = re.compile(
    r"shapes cannot be multiplied|Kernel size can't be greater|Output size is too small|"
    r"expected input\[.*\] to have \d+ channels|size mismatch|must match the size|"
    r"input image .* is smaller|non-positive|Expected .*dimensional input"
)


class LoopMixin:
    """The rungs of skorch's training loop that this package changes, and nothing else."""

    def get_iterator(self, dataset, training=False):
        """Batches of whole index tensors for in-memory images; a DataLoader otherwise."""
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        iterator = self.iterator_train if training else self.iterator_valid
        batch_size = kwargs.pop("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = max(1, len(dataset))
        shuffle = kwargs.pop("shuffle", training)
        # A DataLoader draws its workers' base seed from its generator, or from torch's
        # global one: evaluation uses a private generator, so predict leaves it untouched.
        run = self.current_fit()
        generator = (
            run.generator if training and run is not None else torch.Generator().manual_seed(0)
        )
        if (
            isinstance(dataset, ImageTensorDataset)
            and iterator is DataLoader
            and not training
            and not shuffle
            and not kwargs
            and run is None
            and not (dataset.images.device.type == "cpu" and self._on_cuda())
        ):
            # Prediction on in-memory images: no DataLoader needed (and none wanted: its
            # per-batch machinery is a measurable share for small networks).
            return SequentialBatches(dataset, batch_size)
        if isinstance(dataset, ImageTensorDataset) and iterator is DataLoader:
            if dataset.images.device.type == "cpu" and self._on_cuda():
                kwargs.setdefault("pin_memory", True)  # page-locked: async copies to the GPU
            sampler = BatchIndexSampler(
                len(dataset),
                batch_size,
                shuffle=shuffle,
                drop_last=kwargs.pop("drop_last", False),
                generator=generator,
            )
            kwargs.pop("sampler", None)
            kwargs.setdefault("generator", generator)
            return DataLoader(dataset, batch_size=None, sampler=sampler, **kwargs)
        if isinstance(dataset, RaggedImageDataset) and iterator is DataLoader:
            sampler = SizeBucketSampler(
                dataset.sizes, batch_size, shuffle=shuffle, generator=generator
            )
            kwargs.pop("sampler", None)
            kwargs.pop("drop_last", None)
            kwargs.setdefault("generator", generator)
            return DataLoader(dataset, batch_size=None, sampler=sampler, **kwargs)
        if isinstance(dataset, LazyImageDataset) and "num_workers" not in kwargs:
            kwargs["num_workers"] = LAZY_NUM_WORKERS
        if iterator is DataLoader and "generator" not in kwargs:
            kwargs["generator"] = generator
        return iterator(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One pass over ``iterator``; like skorch's, without a host sync per batch.

        The one copy of skorch's per-batch loop in this package (``NeuralNet.
        run_single_epoch`` of skorch 1.4: notify, step, record loss and batch size,
        notify), kept because skorch reads each loss with ``loss.item()`` inline, with no
        smaller step to override. Subclasses change it through
        :meth:`_batch_for_callbacks`.

        skorch reads every batch loss with ``loss.item()``, which waits for the device each
        batch. Here the losses stay on the device and are written into the history as
        floats once, at the end of the pass (before the ``on_epoch_end`` callbacks read
        them). During the pass, ``history[-1, "batches", -1, prefix + "_loss"]`` is a
        0-d tensor.
        """
        if iterator is None:
            return
        history = self.history
        first = len(history[-1]["batches"])
        losses = []
        batch_count = 0
        values: list[float] = []
        try:
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                batch, size = self._batch_for_callbacks(batch, step)
                loss = step["loss"].detach()
                losses.append(loss)
                history.record_batch(prefix + "_loss", loss)
                history.record_batch(prefix + "_batch_size", size)
                self.notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
                if self._stop_requested():
                    raise KeyboardInterrupt  # Ctrl-C arrived during this batch; it completed
        finally:  # also when interrupted: the history holds floats, never tensors
            if losses:
                values = torch.stack(losses).float().cpu().tolist()
                rows = history[-1]["batches"]
                for row, value in zip(rows[first : first + len(values)], values, strict=False):
                    row[prefix + "_loss"] = value
        if training and not all(np.isfinite(values)):
            self._raise_diverged(values)
        history.record(prefix + "_batch_count", batch_count)

    def _batch_for_callbacks(self, batch: Any, step: dict) -> tuple[Any, int]:
        """The batch that ``on_batch_end`` sees, and its size in the history.

        The batch as it came, sized by its images. A hook: the Accelerate variant gives
        the callbacks the labels gathered from every process instead.
        """
        X_batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        return batch, get_len(X_batch)

    def _raise_diverged(self, values: list[float]) -> None:
        bad = next(i for i, v in enumerate(values) if not np.isfinite(v))
        finite = [v for v in values[:bad] if np.isfinite(v)]
        if not finite:
            previous = [e.get("train_loss") for e in self.history[:-1]]
            finite = [v for v in previous if v is not None and np.isfinite(v)]
        last = f"{finite[-1]:.4g}" if finite else "none"
        lr = self.optimizer_.param_groups[0].get("lr", self.lr)
        raise TrainingDivergedError(
            f"The training loss became {values[bad]} at epoch {len(self.history)}, batch "
            f"{bad + 1} (last finite loss: {last}). The learning rate ({lr:g}) is probably "
            f"too high: lower it (e.g. lr={lr / 10:g}) or use lr_schedule='onecycle'. Non-finite "
            "pixels or labels can cause it too."
        )

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop; a Ctrl-C (KeyboardInterrupt) ends training with a notice."""
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            early = dict(getattr(self, "callbacks_", [])).get("early_stopping")
            stopped_early = early is not None and getattr(early, "misses_", 0) >= early.patience
            stopped_early |= self._fit_run is not None and self._fit_run.budget_stopped
            if not stopped_early:
                done = sum(1 for row in self.history if "dur" in row)
                warnings.warn(
                    f"Training was interrupted (KeyboardInterrupt) after {done} complete "
                    f"epoch(s); the estimator is usable"
                    + (" with the best weights kept so far." if self._keeps_best() else ".")
                    + " Call fit again to retrain, or partial_fit to continue.",
                    TrainingInterrupted,
                    stacklevel=2,
                )
                if self._fit_run is not None:
                    self._fit_run.interrupted = True
            raise

    def _set_training(self, training=True):
        """skorch's train/eval switch, skipped when the network is in that mode already.

        skorch calls it for every batch, and it walks every submodule of the network and
        the criterion; the mode only changes between passes (training, validation,
        prediction), so checking the top-level modules first saves that walk.
        """
        module = self.__dict__.get("module_")
        criterion = self.__dict__.get("criterion_")
        if (
            getattr(module, "training", None) is training
            and getattr(criterion, "training", training) is training
        ):
            return
        super()._set_training(training)

    def evaluation_step(self, batch, training=False):
        """The module's output for one batch, without gradients unless ``training``.

        skorch's, lighter per batch: the fitted check is skipped once the estimator is
        initialised (and :meth:`_set_training` only walks the modules when the mode
        changes): a measurable share of the prediction time of small networks
        (``benchmarks/overhead.py``).
        """
        if not self.initialized_:
            self.check_is_fitted()
        Xi, _ = unpack_data(batch)
        self._set_training(training)
        with torch.set_grad_enabled(training):
            return self.infer(Xi)

    def infer(self, x, **fit_params):
        """Scale, transform and run one batch through the module (see ``precision``)."""
        if isinstance(x, Mapping):
            x = x["X"]
        run = self._fit_run
        if run is not None and run.features_cached:  # inside fit: the frozen part's output
            x = x.to(self.device, non_blocking=True) if self.device is not None else x
            return self._forward(x, self.module_.forward_head, **fit_params)
        training = self.module_.training
        if not training and self.tta is not None and run is None:
            return self._infer_tta(x, **fit_params)
        x = self._prepare_batch(x, training)
        return self._forward(x, **fit_params)

    def _forward(self, x, forward=None, **fit_params):
        try:
            with self._autocast():
                out = (forward or self.module_)(x, **fit_params)
        except torch.OutOfMemoryError as exc:
            raise torch.OutOfMemoryError(
                f"The device ran out of memory on a batch of {len(x)} images of shape "
                f"{tuple(x.shape[1:])} (batch_size={self.batch_size}). Lower batch_size, e.g. "
                f"batch_size={max(1, len(x) // 2)}, or use precision='bf16'. ({exc})"
            ) from exc
        except RuntimeError as exc:
            if not _SHAPE_ERROR.search(str(exc)):
                raise
            raise ValueError(
                f"The network {self._module_name()} cannot process images of shape "
                f"{tuple(x.shape[1:])}: {exc}. Check that the images have the channels and "
                "size the network was built for, or resize them."
            ) from exc
        if out.dtype in (torch.bfloat16, torch.float16):
            out = out.float()
        return out

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Mean loss, weighted by ``sample_weight`` x ``class_weight`` when given."""
        y_true = y_true.to(y_pred.device)
        loss = self.criterion_(y_pred, y_true)
        if loss.ndim == 0:
            return loss
        if isinstance(X, Mapping) and "sample_weight" in X:
            w = X["sample_weight"].to(device=loss.device, dtype=loss.dtype)
            return (loss * w).sum() / w.sum().clamp_min(torch.finfo(loss.dtype).tiny)
        return loss.mean()

    def _get_predict_nonlinearity(self):
        """``"auto"``: softmax over the classes.

        The modules return logits (or log-probabilities, whose softmax is the same
        distribution). skorch infers this from the criterion, which
        ``trim_for_prediction`` removes; then ``predict_proba`` would return raw logits.
        """
        if self.predict_nonlinearity == "auto":
            return _softmax
        return super()._get_predict_nonlinearity()

    def _request_stop(self) -> None:
        """Ask the fit in progress to stop after its current batch (the first Ctrl-C)."""
        if self._fit_run is not None:
            self._fit_run.stop_requested = True

    def _stop_requested(self) -> bool:
        run = self._fit_run
        return run is not None and run.stop_requested
