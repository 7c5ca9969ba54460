"""`AcceleratedCNNClassifier`: one model trained over several GPUs or machines.

:class:`AcceleratedCNNClassifier` is :class:`~cnn_estimators.CNNClassifier` combined with
skorch's :class:`~skorch.hf.AccelerateMixin`: Hugging Face Accelerate runs the training
data-parallel (one process per device, every process on its own share of each epoch,
gradients averaged) and, if asked, in mixed precision. The same script runs on one device
with ``python train.py`` and on several with ``accelerate launch``.

The Accelerate package is imported only when a fit needs it, so that ``import
cnn_estimators`` works without it (``pip install 'cnn-estimators[accelerate]'``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import PrintLog
from skorch.dataset import get_len, unpack_data
from skorch.hf import AccelerateMixin
from torch.utils.data import DataLoader

from ._accelerate_parts import (
    AcceleratedFit,
    _accelerator_class,
    _as_batch_sampler_loader,
    _forget,
    _MainProcessCheckpoint,
    _print_main,
    _process_seed,
    average_batch_losses,
    check_accelerator,
    unwrap_components,
    wrap_components,
)
from ._data import BatchIndexSampler, SizeBucketSampler
from ._params import _Rule
from ._validation import is_int
from .estimator import CNNClassifier, TrainingDivergedError

__all__ = ["AcceleratedCNNClassifier", "make_accelerated"]


class AcceleratedCNNClassifier(AccelerateMixin, CNNClassifier):
    """A :class:`~cnn_estimators.CNNClassifier` trained with Hugging Face Accelerate.

    One model is trained data-parallel over several GPUs or machines (one process per
    device; launch the script with ``accelerate launch``), optionally in mixed precision
    (fp16/bf16). Run without a launcher, it trains in one process on the Accelerator's
    device, with the same results as a :class:`~cnn_estimators.CNNClassifier` (CPU,
    fixed ``random_state``, no mixed precision).

    Accelerate is used only inside :meth:`fit` and :meth:`partial_fit`: every process
    must call them with the same data. Each process then trains on a disjoint share of
    every epoch, and the validation scores of each epoch are computed from all processes'
    predictions, so that every process records the same history and ends with the same
    weights. Predicting is local: each process predicts all of ``X`` with no
    communication, so it may be called on the main process only.

    Parameters
    ----------
    module : str or nn.Module class, default="fashion_cnn"
        As in :class:`~cnn_estimators.CNNClassifier`.
    accelerator : accelerate.Accelerator or None, default=None
        The Accelerator (its ``mixed_precision``, ``gradient_accumulation_steps``,
        ``cpu`` ...). None builds ``Accelerator()`` at the first ``fit``, configured by
        ``accelerate launch`` or ``accelerate config``. Clones share the instance (an
        Accelerator deep-copies to itself); pickling drops it (see Notes).
    device : None or str, default=None
        Leave None: the Accelerator puts the network and each batch on its device
        (``accelerator.device``). A device is accepted only with an Accelerator built
        with ``device_placement=False``.
    **kwargs
        Every other parameter of :class:`~cnn_estimators.CNNClassifier`, with these
        differences:

        - ``batch_size`` is the batch of **one** process: an optimizer step sees
          ``num_processes * batch_size`` images (unless the Accelerator has
          ``split_batches=True``).
        - ``precision``: "float32" (and "auto") trains with the Accelerator's
          ``mixed_precision`` ("no", "fp16", "bf16") and predicts in float32; "bf16" runs
          the network under bfloat16 autocast, in training and prediction, and needs
          ``mixed_precision`` "no" or "bf16"; "float64" needs ``mixed_precision="no"``.
        - ``random_state``: the processes share the seed of the data order, the
          validation split and the initial weights (sent from the main process); dropout
          and augmentation draw from per-process seeds derived from it.
        - ``keep_best`` and ``checkpoint_dir``: only the main process writes, and sends the
          best weights to the others at the end.
        - ``resume=True`` and images of different sizes (a list of images) train in one
          process only; ``cache_features=True`` is not supported ("auto" never caches).
        - ``verbose`` and ``progress_bar`` print on the main process only.

    Attributes
    ----------
    accelerator_ : accelerate.Accelerator or None
        The Accelerator of the last fit (None after unpickling).
    num_processes_ : int
        Number of processes the last fit ran on.
    classes_, n_features_in_, image_shape_, loss_curve_, validation_scores_, \
best_validation_score_, n_iter_, history_
        As in :class:`~cnn_estimators.CNNClassifier`. The per-batch ``train_loss`` and
        ``train_batch_size`` (and ``valid_*``) of the history are those of all processes
        together; ``train_batch_count`` counts the batches of one process.

    See Also
    --------
    make_accelerated : The same estimator from the parameters of a CNNClassifier.

    Notes
    -----
    How skorch's ``AccelerateMixin`` and ``CNNClassifier`` are reconciled:

    - The in-memory batch sampler becomes a batch sampler that Accelerate shards across
      processes (each batch is still one ``index_select``). Accelerate pads the last
      round of batches with images from the start of the epoch so that every process
      runs the same number of steps.
    - Validation predictions, targets and losses are gathered with
      ``accelerator.gather_for_metrics`` (which drops the padding) and the training
      losses are averaged over the processes once per epoch, so every process makes the
      same decisions (early stopping, best checkpoint, LR plateaus, divergence).
    - After training the network and optimizer are unwrapped (no
      ``DistributedDataParallel``, no mixed-precision wrapper); a warm-started ``fit``
      or ``partial_fit`` wraps them again.
    - Pickling and :meth:`save` keep the fitted network and drop the Accelerator, which
      is a handle on the processes of one run: the loaded estimator predicts without
      Accelerate, and a new fit builds ``Accelerator()`` unless ``accelerator`` is set
      again. :meth:`save` writes on the main process only.

    Examples
    --------
    >>> from accelerate import Accelerator
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators.accelerated import AcceleratedCNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = AcceleratedCNNClassifier(
    ...     "global_pool_cnn", accelerator=Accelerator(cpu=True), max_epochs=2,
    ...     random_state=0, progress_bar=False,
    ... ).fit(X, y)
    >>> clf.num_processes_
    1
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    # Class-level defaults, so that __init__ sets nothing but parameters.
    accelerator_ = None
    _wrapped_with_accelerator = False
    _accelerated_fit: AcceleratedFit | None = None  # the fit in progress
    #: Always unwrap after training (skorch's parameter, fixed): see Notes.
    unwrap_after_train = True
    #: CNNClassifier's, and the Accelerator's (``_resolve_accelerator`` checks it first).
    _parameter_constraints: dict = {
        **CNNClassifier._parameter_constraints,
        "accelerator": [
            None,
            _Rule(
                "an accelerate.Accelerator instance", lambda v: isinstance(v, _accelerator_class())
            ),
        ],
    }

    def __init__(
        self,
        module: Any = "fashion_cnn",
        *,
        accelerator: Any = None,
        device: Any = None,
        **kwargs: Any,
    ) -> None:
        # AccelerateMixin.__init__ is skipped: it adds a parameter, the print sink, which
        # it overwrites at fit (a scikit-learn estimator never changes its parameters).
        CNNClassifier.__init__(self, module, device=device, **kwargs)
        self.accelerator = accelerator

    # ------------------------------------------------------------------ parameters
    @property
    def accelerator(self) -> Any:
        """The ``accelerator`` parameter, or else the Accelerator built by the last fit."""
        given = self.__dict__.get("accelerator")
        return given if given is not None else self.__dict__.get("accelerator_")

    @accelerator.setter
    def accelerator(self, value: Any) -> None:
        self.__dict__["accelerator"] = value

    def get_params(self, deep: bool = True, **kwargs: Any) -> dict[str, Any]:
        params = super().get_params(deep=deep, **kwargs)
        params["accelerator"] = self.__dict__.get("accelerator")
        return params

    def _resolve_accelerator(self) -> Any:
        """The parameter, the Accelerator of an earlier fit, or a new ``Accelerator()``."""
        name = type(self).__name__
        given = self.__dict__.get("accelerator")
        if given is None:
            accelerator = self.__dict__.get("accelerator_") or _accelerator_class()()
        else:
            accelerator = given
            if not isinstance(given, _accelerator_class()):
                raise TypeError(
                    f"The 'accelerator' parameter of {name} must be None or an "
                    f"accelerate.Accelerator instance; got {given!r} instead. Pass "
                    "accelerator=Accelerator(...) or leave it None."
                )
        return accelerator

    def _check_accelerator(self, accelerator: Any) -> None:
        check_accelerator(self, accelerator)

    # ------------------------------------------------------------------ state of a fit
    def _fit_accelerator(self) -> Any:
        """The Accelerator while ``fit`` runs; None outside of it."""
        return None if self._accelerated_fit is None else self._accelerated_fit.accelerator

    def _distributed(self) -> bool:
        accelerator = self._fit_accelerator()
        return accelerator is not None and accelerator.num_processes > 1

    def _is_main_process(self) -> bool:
        accelerator = self._fit_accelerator()
        return accelerator is None or bool(accelerator.is_main_process)

    def _fit(self, X, y, sample_weight, *, resume: bool, classes: Any, fit_params: dict):
        accelerator = self._resolve_accelerator()
        self._check_accelerator(accelerator)
        self.__dict__["accelerator_"] = accelerator
        self._accelerated_fit = AcceleratedFit(accelerator)
        try:
            with warnings.catch_warnings():
                # One-channel batches are channels-last (a free view, see CNNClassifier):
                # the first convolution's weight gradient then has strides that differ from
                # DistributedDataParallel's bucket only along its size-1 channel dimension,
                # the same memory. DDP copies that small gradient and warns once.
                warnings.filterwarnings("ignore", message="Grad strides do not match bucket")
                super()._fit(
                    X, y, sample_weight, resume=resume, classes=classes, fit_params=fit_params
                )
        finally:
            self._accelerated_fit.close()
            self._accelerated_fit = None
            if self._wrapped_with_accelerator:  # training failed before on_train_end
                self._unwrap_accelerator()
        self.num_processes_ = int(accelerator.num_processes)
        return self

    def _maybe_cache_features(self, kind: str, dataset: Any, *args: Any, **kwargs: Any) -> Any:
        """No cache of frozen-layer features under Accelerate (see ``_check_accelerator``)."""
        self.features_cached_ = False
        return dataset

    def _fit_seed(self) -> int:
        """The seed of the fit, the main process's on every process."""
        seed = super()._fit_seed()
        if self._distributed():
            from accelerate.utils import broadcast_object_list

            shared = [seed]
            broadcast_object_list(shared, from_process=0)
            seed = int(shared[0])
        return seed

    @contextlib.contextmanager
    def _seeded(self, seed: int):
        """Seed this process's generators (CUDA's of the Accelerator's device too)."""
        accelerator = self._fit_accelerator()
        if accelerator is None:
            with super()._seeded(seed):
                yield
            return
        local = _process_seed(seed, accelerator.process_index)
        device = torch.device(accelerator.device)
        cuda = []
        if device.type == "cuda":
            cuda = [device.index if device.index is not None else torch.cuda.current_device()]
        with super()._seeded(local), torch.random.fork_rng(devices=cuda, enabled=bool(cuda)):
            if cuda:
                torch.cuda.manual_seed(local)
            yield

    def _dataset(self, kind: str, images: Any, y_enc: Any, weights: Any) -> Any:
        if kind == "ragged" and self._distributed():
            raise ValueError(
                f"{type(self).__name__} cannot train on images of different sizes across "
                f"{self.accelerator.num_processes} processes (the batches of one size do "
                "not split evenly). Resize them first, e.g. with "
                "cnn_estimators.preprocessing.ResizeImages('smallest') in a Pipeline."
            )
        return super()._dataset(kind, images, y_enc, weights)

    # ------------------------------------------------------------------ components
    @property
    def _default_callbacks(self):
        accelerator = self._fit_accelerator()
        run = self.current_fit()
        n_train = run.n_train if run is not None else None
        per_process = (
            accelerator is not None
            and accelerator.num_processes > 1
            and not accelerator.split_batches
            and n_train
            and is_int(self.batch_size)
            and self.batch_size > 0
        )
        if per_process:  # the LR schedules count the steps of one process
            batches = -(-n_train // self.batch_size)
            steps = -(-batches // accelerator.num_processes)
            run.n_train = steps * self.batch_size
        try:
            callbacks = super()._default_callbacks
        finally:
            if per_process:
                run.n_train = n_train
        main = self._is_main_process()
        out = []
        for name, callback in callbacks:
            if name == "checkpoint" and callback is not None:
                callback = _MainProcessCheckpoint(dirname=callback.dirname)
            elif name == "progress_bar" and not main:
                callback = None
            elif name == "print_log" and callback is not None:
                callback = PrintLog(sink=_print_main)
            elif name == "early_stopping" and callback is not None and callback.sink is print:
                callback.sink = _print_main
            out.append((name, callback))
        return out

    def _initialize_callbacks(self):
        # Skip AccelerateMixin's: it resolves a print-sink parameter this class has not.
        return super(AccelerateMixin, self)._initialize_callbacks()

    def _validate_params(self):
        # The device is checked against the Accelerator by fit (_check_accelerator).
        return super(AccelerateMixin, self)._validate_params()

    def _initialize_accelerator(self):
        """Prepare the network, the criterion (if it learns) and the optimizer; in fit only."""
        accelerator = self._fit_accelerator()
        if not self._wrapped_with_accelerator and accelerator is not None:
            wrap_components(self, accelerator)
            self._wrapped_with_accelerator = True
        return self

    def _unwrap_accelerator(self):
        """Give back the plain network, criterion and optimizer (no DDP, no AMP wrapper)."""
        if self._wrapped_with_accelerator:
            unwrap_components(self, self.accelerator)
            self._wrapped_with_accelerator = False

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # A warm-started fit or partial_fit continues with the unwrapped network.
        self._initialize_accelerator()
        return super().on_train_begin(net, X=X, y=y, **kwargs)

    # ------------------------------------------------------------------ data
    def get_iterator(self, dataset, training=False):
        """In ``fit``: a DataLoader prepared by the Accelerator (sharded over processes).

        Outside ``fit`` (prediction): :class:`~cnn_estimators.CNNClassifier`'s, local.
        """
        iterator = CNNClassifier.get_iterator(self, dataset, training=training)
        accelerator = self._fit_accelerator()
        if accelerator is None:
            return iterator
        if (
            isinstance(iterator, DataLoader)
            and iterator.batch_size is None
            and isinstance(iterator.sampler, (BatchIndexSampler, SizeBucketSampler))
        ):
            iterator = _as_batch_sampler_loader(iterator)
        prepared = accelerator.prepare(iterator)
        _forget(accelerator, prepared)  # one loader per epoch: do not keep them all
        self._accelerated_fit.loaders.add(prepared)
        return prepared

    def _module_device(self) -> torch.device | None:
        module = self.__dict__.get("module_")
        if not isinstance(module, torch.nn.Module):
            return None
        for tensor in module.parameters():
            return tensor.device
        for tensor in module.buffers():
            return tensor.device
        return None

    def _prepare_batch(self, x: torch.Tensor, training: bool, view: Any = None) -> torch.Tensor:
        # device=None: the batch goes where the network is (Accelerate's device in fit,
        # wherever the network was loaded otherwise).
        if self.device is None:
            target = self._module_device()
            if target is not None and x.device != target:
                x = x.to(target, non_blocking=True)
        return super()._prepare_batch(x, training, view)

    def _precision(self) -> str:
        """ "auto" leaves the precision to the Accelerator's ``mixed_precision``: "float32"."""
        return "float32" if self.precision == "auto" else self.precision

    def _autocast(self):
        if self._precision() != "bf16":
            return contextlib.nullcontext()
        device = self._module_device() or torch.device(self.device or "cpu")
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    # ------------------------------------------------------------------ training
    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One pass over this process's share; its scores are those of all processes.

        In one process, :class:`~cnn_estimators.CNNClassifier`'s pass. Across processes,
        the training losses of each step are averaged over the processes after the pass
        (one exchange per epoch), and validation predictions, targets and losses are
        gathered at every step.
        """
        if iterator is None or not self._distributed() or not training:
            return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        first = len(self.history[-1]["batches"])
        try:
            super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        except TrainingDivergedError:
            pass  # decided below, on the losses of all processes, by every process
        values = average_batch_losses(self.history[-1]["batches"][first:], prefix)
        if not all(np.isfinite(values)):
            self._raise_diverged(values)

    def _batch_for_callbacks(self, batch: Any, step: dict) -> tuple[Any, int]:
        """Across processes, validation callbacks see the labels of all processes' batches
        (gathered by :meth:`validation_step`), and the batch size counts them all."""
        y_all = step.pop("y_true", None)
        if y_all is None:
            return super()._batch_for_callbacks(batch, step)
        X_local = batch[0] if isinstance(batch, (tuple, list)) else batch
        return (X_local, y_all), get_len(step["y_pred"])

    def validation_step(self, batch, **fit_params):
        """Across processes: the predictions, targets and loss of all processes' batches."""
        if not self._distributed():
            return super().validation_step(batch, **fit_params)
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            parts = {"y_pred": y_pred, "y": yi.to(y_pred.device)}
            if isinstance(Xi, Mapping) and "sample_weight" in Xi:
                parts["w"] = Xi["sample_weight"].to(y_pred.device)
            gathered = self.accelerator.gather_for_metrics(parts)
            weights = {"sample_weight": gathered["w"]} if "w" in gathered else None
            loss = self.get_loss(gathered["y_pred"], gathered["y"], X=weights, training=False)
        return {"loss": loss, "y_pred": gathered["y_pred"], "y_true": gathered["y"]}

    def evaluation_step(self, batch, training=False):
        """Predictions of one batch; gathered from all processes only inside ``fit``."""
        output = super(AccelerateMixin, self).evaluation_step(batch, training=training)
        if self._distributed():
            output = self.accelerator.gather_for_metrics(output)
        return output

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        state = super().__getstate__()
        state["accelerator"] = None
        state.pop("accelerator_", None)
        return state

    def __setstate__(self, state):
        raw = state.get("device")
        state = dict(state)
        if raw is None:
            state["device"] = "auto"  # load the network on the best device here
        super().__setstate__(state)
        if raw is None:
            self.__dict__["device"] = None

    def __deepcopy__(self, memo):
        # Pickling drops the Accelerator; a deep copy keeps it (Accelerate deep-copies an
        # Accelerator to itself).
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        state = copy.deepcopy(self.__getstate__(), memo)
        new.__setstate__(state)
        new.__dict__["accelerator"] = self.__dict__.get("accelerator")
        if "accelerator_" in self.__dict__:
            new.__dict__["accelerator_"] = self.__dict__["accelerator_"]
        return new

    def save(self, path: Any) -> str:
        """Save the fitted estimator to one file (written by the main process only).

        As :meth:`CNNClassifier.save <cnn_estimators.CNNClassifier.save>`, without the
        Accelerator (:meth:`load` gives ``accelerator=None``). The other processes write
        nothing and return the same path: call ``accelerator.wait_for_everyone()`` before
        they read it.
        """
        accelerator = self.accelerator
        if accelerator is not None and not accelerator.is_main_process:
            return os.fspath(path)
        given = self.__dict__.get("accelerator")
        self.__dict__["accelerator"] = None
        try:
            return super().save(path)
        finally:
            self.__dict__["accelerator"] = given

    def save_params(self, *args: Any, **kwargs: Any) -> None:
        """skorch's ``save_params``; outside ``fit`` it writes on the main process only."""
        if self._wrapped_with_accelerator:
            return super().save_params(*args, **kwargs)
        accelerator = self.accelerator
        if accelerator is None or accelerator.is_main_process:
            NeuralNet.save_params(self, *args, **kwargs)
        return None

    def load_params(self, *args: Any, **kwargs: Any) -> None:
        """skorch's ``load_params``; outside ``fit`` it needs no other process."""
        if self._wrapped_with_accelerator:
            return super().load_params(*args, **kwargs)
        given = self.__dict__.get("device")
        if given is None:
            self.__dict__["device"] = str(self._module_device() or "cpu")
        try:
            NeuralNet.load_params(self, *args, **kwargs)
        finally:
            self.__dict__["device"] = given
        return None


def make_accelerated(estimator: CNNClassifier, accelerator: Any = None) -> AcceleratedCNNClassifier:
    """An :class:`AcceleratedCNNClassifier` with the parameters of ``estimator``.

    Like :func:`sklearn.base.clone`, only the parameters are taken (not a fitted
    network); ``device`` is left to the Accelerator.

    Parameters
    ----------
    estimator : CNNClassifier
        For example one made by a factory such as
        :func:`~cnn_estimators.make_mnist_cnn`.
    accelerator : accelerate.Accelerator or None, default=None
        The ``accelerator`` parameter of the result.

    Returns
    -------
    AcceleratedCNNClassifier

    Examples
    --------
    >>> from cnn_estimators import make_fast_cnn
    >>> from cnn_estimators.accelerated import make_accelerated
    >>> clf = make_accelerated(make_fast_cnn(max_epochs=3))
    >>> type(clf).__name__, clf.max_epochs, clf.device
    ('AcceleratedCNNClassifier', 3, None)
    """
    if not isinstance(estimator, CNNClassifier):
        raise TypeError(
            "make_accelerated needs a CNNClassifier (for example from make_mnist_cnn()); got "
            f"{type(estimator).__name__} instead."
        )
    params = estimator.get_params(deep=False)
    params.pop("device", None)
    params["accelerator"] = accelerator
    return AcceleratedCNNClassifier(**params)
