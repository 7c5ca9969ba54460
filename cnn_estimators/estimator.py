"""`CNNClassifier`: skorch's ``NeuralNetClassifier`` made a correct scikit-learn classifier."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import inspect
import json
import os
import random
import re
import signal
import sys
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import EpochScoring, EpochTimer, PassthroughScoring, PrintLog
from skorch.dataset import Dataset as SkorchDataset
from skorch.dataset import get_len, unpack_data
from skorch.history import History
from skorch.utils import TeeGenerator
from torch import nn
from torch.utils.data import DataLoader

from ._data import (
    BatchIndexSampler,
    ImageTensorDataset,
    RaggedImageDataset,
    SequentialBatches,
    SizeBucketSampler,
)
from ._device import bf16_supported, cudnn_benchmark, fits_in_device_memory, resolve_device
from ._feature_cache import (
    AUTO_CACHE_LIMIT_BYTES,
    cache_obstacle,
    compute_features,
    feature_bytes,
)
from ._io import load_checkpoint
from ._schema import check_training_state
from ._validation import (
    check_images,
    check_labels,
    check_param,
    check_ragged_images,
    check_sample_weight,
    is_int,
    is_ragged,
    is_real,
)
from .adapters import ImageDatasetView, LazyImageDataset, PredefinedSplit
from .callbacks import (
    STATE_FILE,
    BestCheckpoint,
    ResumableEarlyStopping,
    TqdmProgressBar,
    make_early_stopping,
    make_lr_scheduler,
)
from .models import get_model, get_model_info, list_models

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "TTA_VIEWS",
    "CNNClassifier",
    "TrainingDivergedError",
    "TrainingInterrupted",
]

#: DataLoader workers for datasets read from files (ImageFolder ...): half the cores.
#: In-memory data uses none (workers only add copying there). Override with
#: ``iterator_train__num_workers``.
LAZY_NUM_WORKERS = max(1, (os.cpu_count() or 2) // 2)

#: Optimizer names accepted by the ``optimizer`` parameter (case-insensitive).
OPTIMIZERS = MappingProxyType(
    {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
    }
)
#: Optimizers whose fused implementation runs on the CPU and CUDA (used when named).
_FUSED_OPTIMIZERS = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)
#: Values accepted by the ``precision`` parameter.
PRECISIONS = ("float32", "float64", "bf16", "fp16", "auto")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

_SHAPE_ERROR = re.compile(
    r"shapes cannot be multiplied|Kernel size can't be greater|Output size is too small|"
    r"expected input\[.*\] to have \d+ channels|size mismatch|must match the size|"
    r"input image .* is smaller|non-positive|Expected .*dimensional input"
)


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(UserWarning):
    """Training was stopped by a KeyboardInterrupt (Ctrl-C); the estimator stays usable."""


def _hflip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


class _Shift:
    """Shift a batch by (dy, dx) pixels, filling with zeros (picklable)."""

    def __init__(self, dy: int, dx: int) -> None:
        self.dy, self.dx = dy, dx

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad = (max(self.dx, 0), max(-self.dx, 0), max(self.dy, 0), max(-self.dy, 0))
        padded = torch.nn.functional.pad(x, pad)
        top, left = max(-self.dy, 0), max(-self.dx, 0)
        return padded[..., top : top + h, left : left + w]


#: Named test-time augmentations (None is the image itself).
TTA_VIEWS = MappingProxyType(
    {
        "flip": (None, _hflip),
        "flip_shift": (None, _hflip, _Shift(2, 0), _Shift(-2, 0), _Shift(0, 2), _Shift(0, -2)),
    }
)


def _versions() -> dict[str, str]:
    """Versions that a saved training state records (and checks when loaded)."""
    import skorch

    from . import __version__

    return {
        "torch": str(torch.__version__),
        "skorch": str(skorch.__version__),
        "cnn_estimators": __version__,
    }


def _stable_repr(value: Any) -> str:
    """A repr that is the same in every process (no memory addresses)."""
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', value)}"
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


def _python_rng_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _python_rng_tuple(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def _one_channel_as_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Give a (B, 1, H, W) batch channels-last strides: the same bytes, a free view.

    With one channel, NCHW and NHWC are the same memory, but oneDNN picks its kernels from
    the strides: (H*W, 1, W, 1) selects the channels-last ones, several times faster for
    convolutions and pooling on CPU (``benchmarks/RESULTS.md``, "Framework overhead").
    ``x.contiguous(memory_format=torch.channels_last)`` is a no-op here, hence the view.
    """
    x = x.contiguous()
    h, w = x.shape[2], x.shape[3]
    return x.as_strided(x.shape, (h * w, 1, w, 1))


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=-1)


def _flag(value: Any) -> bool:
    """True only for a true bool (robust to arbitrary values set through set_params)."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _encoded_accuracy(net: Any, X: Any, y: Any) -> float:
    """Validation accuracy on encoded labels (``y`` holds 0..K-1, not the user's labels)."""
    proba = net.predict_proba(X)
    return float(np.mean(proba.argmax(axis=1) == np.asarray(y)))


class CNNClassifier(NeuralNetClassifier):
    """An image classifier that is a scikit-learn estimator and a skorch net.

    It keeps skorch's routed parameters (``module__*``, ``optimizer__*``,
    ``iterator_train__*``, ``callbacks__<name>__*``) and adds what scikit-learn users
    expect: any labels, image arrays in any common layout, shapes inferred from the data,
    ``random_state``, ``MLPClassifier``-style validation and early stopping,
    ``sample_weight`` and ``class_weight``.

    Parameters
    ----------
    module : str or nn.Module class, default="fashion_cnn"
        A registered model name (see :func:`~cnn_estimators.list_models`) or an
        ``nn.Module`` subclass returning logits. Pass the class, never an instance, and its
        arguments as ``module__<name>=value``. ``in_channels``, ``num_classes`` and
        ``input_size`` are taken from the data at ``fit`` unless given as ``module__*``.
    criterion : loss class, default=nn.CrossEntropyLoss
        Applied to the logits. Arguments as ``criterion__<name>``, e.g.
        ``criterion__label_smoothing=0.1``.
    optimizer : {"sgd", "adam", "adamw", "rmsprop"} or torch optimizer class, default="adam"
        Arguments as ``optimizer__<name>``, e.g. ``optimizer__momentum=0.9``. An optimizer
        given by name runs PyTorch's fused implementation (``fused=True``: the same update,
        one pass over each parameter's memory instead of several) where PyTorch has one for
        it and the training device (SGD, Adam and AdamW on the CPU and CUDA); give
        ``optimizer__fused=False`` (or ``optimizer__foreach``) to choose otherwise.
    lr : float, default=1e-3
        Learning rate.
    max_epochs : int, default=10
        Number of passes over the training data.
    batch_size : int, default=128
        Images per batch; -1 means the whole training set.
    image_shape : tuple (C, H, W), default=None
        Shape of flat (n_samples, n_features) rows. When None it is inferred: a square
        number is one channel (784 → 1×28×28), three times a square is RGB (3072 → 3×32×32).
    validation_fraction : float in [0, 1), default=0.1
        Share of the training data held out (stratified, seeded by ``random_state``) to
        compute ``valid_loss`` and ``valid_acc`` every epoch; 0 trains on all of it.
    early_stopping : bool, default=False
        Stop when the validation accuracy has not improved by ``tol`` for
        ``n_iter_no_change`` epochs.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Minimum improvement of the validation accuracy that resets the patience.
    class_weight : None, "balanced" or dict, default=None
        Weights of the classes in the loss, keyed by the user's labels; "balanced" uses
        ``n_samples / (n_classes * count(class))``.
    lr_schedule : {"step", "cosine", "onecycle", "plateau"}, scheduler class or None
        Learning-rate schedule (see :func:`~cnn_estimators.callbacks.make_lr_scheduler`);
        its arguments as ``callbacks__lr_scheduler__<name>``.
    keep_best : bool, default=False
        Restore, at the end of ``fit``, the weights of the epoch with the best validation
        accuracy (written only when it improves).
    checkpoint_dir : str or path, default=None
        Directory where the best checkpoint is kept, in a fresh ``run-<id>`` subdirectory per
        fit (``checkpoint_path_``). Implies ``keep_best``. None uses a temporary directory.
    resume : bool, default=False
        With ``checkpoint_dir``: write the whole training state (weights, optimizer, LR
        schedule, history, random generators) after every epoch, atomically, into a run
        directory named after the parameters and the data; a ``fit`` with the same
        arguments later (after a crash or ``kill -9``) continues from the last completed
        epoch and ends with the same weights as an uninterrupted run (CPU, fixed
        ``random_state``). A run that had finished is loaded without training.
    train_transform : callable, default=None
        Applied to each training batch (a float tensor (B, C, H, W) in [0, 1] for uint8
        images) on the training device, never to validation or prediction batches.
    eval_transform : callable, default=None
        Applied to every batch, training included, after ``train_transform`` (for example
        normalisation).
    precision : {"float32", "float64", "bf16", "fp16", "auto"}, default="float32"
        "bf16" runs the forward pass under bfloat16 autocast; "fp16" under float16
        autocast with a gradient scaler (``torch.amp.GradScaler``, kept as
        ``grad_scaler_``) that keeps small gradients from vanishing in float16: the mixed
        precision of CUDA GPUs without bfloat16 (it also runs on the CPU, slowly); "float64"
        converts the module and the data to double precision. "auto" is "bf16" on a device
        that computes in bfloat16 natively (:func:`~cnn_estimators.bf16_supported`: CPUs
        with oneDNN bf16 kernels, CUDA GPUs of compute capability 8.0 and later) and
        "float32" elsewhere, decided for the device in use at each ``fit`` and
        ``predict``; ``precision_`` tells what the last ``fit`` used.
    tta : None, "flip", "flip_shift" or list of callables, default=None
        Test-time augmentation: ``predict_proba`` averages the class probabilities over
        views of each image: "flip" = the image and its mirror; "flip_shift" adds 2-pixel
        shifts in the four directions (zero filled); or callables mapping a float batch to
        a batch (applied before ``eval_transform``). Not used during ``fit`` (validation
        scores are of the plain images).
    cache_features : "auto" or bool, default="auto"
        For networks with frozen leading layers (``"resnet18"`` with
        ``module__freeze="all_but_fc"`` or ``"all_but_layer4"``): compute the output of
        the frozen part once per image at the start of ``fit`` and train the rest on the
        stored features, so that later epochs cost only the trainable part. The result is
        the same function as without the cache. "auto" caches when the network supports it,
        no ``train_transform`` is set (random augmentation changes the images every
        epoch) and the features take at most 2 GiB of host memory; True caches whenever
        possible and raises a ValueError saying why otherwise; False never caches.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, the data order and the validation split of
        every ``fit``, without touching the global random state. None draws a seed from
        numpy's global generator.
    torch_threads : int or None, default=None
        Number of torch CPU threads while this estimator fits and predicts (restored
        afterwards); None leaves torch's setting. Floating-point sums depend on the thread
        count, so bitwise-identical results between ``n_jobs=1`` and ``n_jobs=2`` in
        scikit-learn's parallel tools (whose workers run one torch thread) need
        ``torch_threads=1``; with None they agree in their predicted labels.
    device : str, default="auto"
        "auto" picks CUDA, then MPS, then CPU; or any torch device string.
    progress_bar : "auto" or bool, default="auto"
        tqdm bars for epochs and batches; "auto" shows them when stderr is a terminal.
    classes : array-like, default=None
        All labels, if some may be missing from the data given to ``fit``.
    train_split : callable, default=None
        A fixed validation set, ``cnn_estimators.predefined_split(X_valid, y_valid)`` (labels
        of any type), or any skorch split; overrides ``validation_fraction``.
    callbacks : list, default=None
        Extra skorch callbacks, as ``(name, callback)`` pairs.
    iterator_train, iterator_valid : DataLoader class, default=DataLoader
        Arguments as ``iterator_train__<name>``. Training batches are shuffled unless
        ``iterator_train__shuffle=False``.
    dataset : class, default=skorch.dataset.Dataset
        Used only for inputs that are not image arrays.
    predict_nonlinearity, warm_start, verbose, compile, use_caching, torch_load_kwargs
        As in :class:`skorch.NeuralNet`. ``verbose=1`` prints skorch's epoch table.
    **kwargs
        Routed parameters (``module__*``, ``optimizer__*``, ``criterion__*``,
        ``iterator_*__*``, ``callbacks__*``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen at fit (or ``classes``).
    n_features_in_ : int
        Values per image (C*H*W).
    image_shape_ : tuple (C, H, W)
        Shape of the training images.
    loss_curve_ : list of float
        Training loss per epoch.
    validation_scores_ : list of float or None
        Validation accuracy per epoch (None without validation).
    best_validation_score_ : float or None
        Best validation accuracy.
    features_cached_ : bool
        Whether the last ``fit`` trained on cached features of the frozen layers
        (``cache_features``).
    data_on_device_ : bool
        Whether the last ``fit`` kept the training images in GPU memory: on CUDA, in-memory
        images that take at most a quarter of the free GPU memory are copied there once,
        and batches are gathered (and augmented) on the GPU; otherwise each batch is
        copied from page-locked host memory (``pin_memory``) without blocking.
    precision_ : str
        The precision the network was built and trained with: ``precision``, with
        "auto" resolved to "bf16" or "float32" for the training device.
    n_iter_ : int
        Number of epochs run.
    history_ : skorch.History
        Everything recorded per epoch and per batch.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import CNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier("global_pool_cnn", max_epochs=2, random_state=0).fit(X, y)
    >>> clf.image_shape_
    (1, 8, 8)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    # Class-level defaults, so that __init__ sets nothing but parameters.
    initialized_ = False
    history_ = None
    virtual_params_ = MappingProxyType({})

    def __init__(
        self,
        module: Any = "fashion_cnn",
        *,
        criterion: Any = nn.CrossEntropyLoss,
        optimizer: Any = "adam",
        lr: float = 1e-3,
        max_epochs: int = 10,
        batch_size: int = 128,
        image_shape: Any = None,
        validation_fraction: float = 0.1,
        early_stopping: bool = False,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        class_weight: Any = None,
        lr_schedule: Any = None,
        keep_best: bool = False,
        checkpoint_dir: Any = None,
        resume: bool = False,
        train_transform: Any = None,
        eval_transform: Any = None,
        precision: str = "float32",
        tta: Any = None,
        cache_features: Any = "auto",
        random_state: Any = None,
        torch_threads: Any = None,
        device: Any = "auto",
        progress_bar: Any = "auto",
        classes: Any = None,
        train_split: Any = None,
        callbacks: Any = None,
        iterator_train: Any = DataLoader,
        iterator_valid: Any = DataLoader,
        dataset: Any = SkorchDataset,
        predict_nonlinearity: Any = "auto",
        warm_start: bool = False,
        verbose: int = 0,
        compile: bool = False,
        use_caching: Any = "auto",
        torch_load_kwargs: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            classes=classes,
            callbacks=callbacks,
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            dataset=dataset,
            predict_nonlinearity=predict_nonlinearity,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            compile=compile,
            use_caching=use_caching,
            torch_load_kwargs=torch_load_kwargs,
            **kwargs,
        )
        self.image_shape = image_shape
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.lr_schedule = lr_schedule
        self.keep_best = keep_best
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.train_transform = train_transform
        self.eval_transform = eval_transform
        self.precision = precision
        self.tta = tta
        self.cache_features = cache_features
        self.random_state = random_state
        self.torch_threads = torch_threads
        self.progress_bar = progress_bar
        # skorch's __init__ stores state besides parameters; scikit-learn's contract says
        # __init__ sets parameters only, so fall back to the class-level defaults.
        for name in ("history_", "initialized_", "virtual_params_"):
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------------ parameters
    def __setattr__(self, name: str, value: Any) -> None:
        # skorch registers torch objects set on the net as components, and refuses them
        # outside its initialize methods. A parameter (no trailing underscore) holding a
        # module -- a torchvision transform, or a module instance that fit then rejects
        # with a clear message -- is a plain value.
        if not name.endswith("_") and isinstance(value, (nn.Module, torch.optim.Optimizer)):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @property
    def device(self) -> str | None:
        """The concrete device ("auto" resolved on this machine).

        An invalid value is returned unchanged here and reported by ``fit``.
        """
        raw = self.__dict__.get("device", "auto")
        try:
            return resolve_device(raw)
        except ValueError:
            return raw

    @device.setter
    def device(self, value: Any) -> None:
        self.__dict__["device"] = value

    _COMPONENTS = ("module", "criterion", "optimizer", "callbacks")

    def set_params(self, **params: Any) -> CNNClassifier:
        """Set parameters; they take effect at the next ``fit`` (scikit-learn's convention).

        Unlike skorch, nothing is re-initialised here and nothing is validated: an invalid
        value is reported by ``fit``. On a fitted estimator, ``lr`` and ``optimizer__<name>``
        are also applied to the live optimizer, so that ``partial_fit`` or a warm-started
        ``fit`` continue with them; a new module, criterion, optimizer or callback setting
        rebuilds that part at the next ``fit``.
        """
        routed = [
            k
            for k in params
            if "__" in k
            or k in self._COMPONENTS
            or (self.initialized_ and any(k.startswith(p) for p in self.prefixes_))
        ]
        if not self.initialized_:
            routed = [k for k in routed if k.startswith("callbacks")]
        stale = self.__dict__.setdefault("_stale", set()) if self.initialized_ else set()
        for key in routed:
            value = params.pop(key)
            self.__dict__[key] = value
            component = key.split("__", 1)[0]
            if "__" in key or self.initialized_:
                self._params_to_validate.add(key)
            if self.initialized_ and component == "optimizer" and "__" in key:
                if not self._set_live_optimizer_param(key.split("__", 1)[1], value):
                    stale.add("optimizer")
            elif component in self._COMPONENTS:
                stale.add(component)
            elif self.initialized_:
                stale.add("validate")
        if "lr" in params and self.initialized_:
            self.__dict__["lr"] = params.pop("lr")
            self._set_live_optimizer_param("lr", self.lr)
        return super().set_params(**params)

    def _set_live_optimizer_param(self, name: str, value: Any) -> bool:
        """Set ``name`` in every param group of the live optimizer, if it has it."""
        optimizer = self.__dict__.get("optimizer_")
        groups = getattr(optimizer, "param_groups", None)
        if not groups or "__" in name or not all(name in g for g in groups):
            return False
        for group in groups:
            group[name] = value
        return True

    def _get_param_names(self) -> list[str]:
        return [k for k in self.__dict__ if not k.endswith("_") and not k.startswith("_")]

    def get_params(self, deep: bool = True, **kwargs: Any) -> dict[str, Any]:
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device", "auto")
        return params

    def _check_params(self) -> None:
        name = type(self).__name__
        check_param(
            "lr",
            self.lr,
            name,
            kind="a float in the range (0, inf)",
            ok=is_real(self.lr) and self.lr > 0,
        )
        check_param(
            "max_epochs",
            self.max_epochs,
            name,
            kind="an int in the range [1, inf)",
            ok=is_int(self.max_epochs) and self.max_epochs >= 1,
        )
        check_param(
            "batch_size",
            self.batch_size,
            name,
            kind="an int in the range [1, inf) or -1 (the whole data set)",
            ok=is_int(self.batch_size) and (self.batch_size >= 1 or self.batch_size == -1),
        )
        vf = self.validation_fraction
        check_param(
            "validation_fraction",
            vf,
            name,
            kind="a float in the range [0, 1)",
            ok=is_real(vf) and 0 <= vf < 1,
        )
        check_param(
            "early_stopping",
            self.early_stopping,
            name,
            kind="a bool",
            ok=isinstance(self.early_stopping, (bool, np.bool_)),
        )
        check_param(
            "n_iter_no_change",
            self.n_iter_no_change,
            name,
            kind="an int in the range [1, inf)",
            ok=is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1,
        )
        check_param(
            "tol",
            self.tol,
            name,
            kind="a float in the range [0, inf)",
            ok=is_real(self.tol) and self.tol >= 0,
        )
        check_param(
            "keep_best",
            self.keep_best,
            name,
            kind="a bool",
            ok=isinstance(self.keep_best, (bool, np.bool_)),
        )
        check_param(
            "precision",
            self.precision,
            name,
            kind=f"one of {', '.join(map(repr, PRECISIONS))}",
            ok=self.precision in PRECISIONS,
        )
        check_param(
            "progress_bar",
            self.progress_bar,
            name,
            kind="'auto' or a bool",
            ok=self.progress_bar == "auto" or isinstance(self.progress_bar, bool),
        )
        cw = self.class_weight
        check_param(
            "class_weight",
            cw,
            name,
            kind="None, 'balanced' or a dict {label: weight}",
            ok=cw is None or cw == "balanced" or isinstance(cw, Mapping),
        )
        if self.image_shape is not None:
            shape = self.image_shape
            ok = (
                isinstance(shape, (tuple, list))
                and len(shape) == 3
                and all(is_int(v) and v >= 1 for v in shape)
            )
            check_param(
                "image_shape",
                shape,
                name,
                kind="None or a tuple (channels, height, width) of positive ints",
                ok=ok,
            )
        if self.lr_schedule is not None and isinstance(self.lr_schedule, str):
            make_lr_scheduler(
                self.lr_schedule, lr=1.0, max_epochs=1, steps_per_epoch=1, has_validation=False
            )  # raises on an unknown name
        if (
            self.keep_best is True or self.checkpoint_dir is not None
        ) and not self._has_validation():
            raise ValueError(
                f"keep_best=True and checkpoint_dir keep the epoch with the best validation "
                f"accuracy, but {name} has validation_fraction=0 and no train_split. Set "
                "validation_fraction to a value in (0, 1), e.g. 0.1."
            )
        check_param(
            "resume", self.resume, name, kind="a bool", ok=isinstance(self.resume, (bool, np.bool_))
        )
        check_param(
            "torch_threads",
            self.torch_threads,
            name,
            kind="None or an int in the range [1, inf)",
            ok=self.torch_threads is None
            or (is_int(self.torch_threads) and self.torch_threads >= 1),
        )
        if self.resume and self.checkpoint_dir is None:
            raise ValueError(
                f"resume=True needs a checkpoint_dir where {name} keeps the training state; "
                "set checkpoint_dir='runs/checkpoints' (any folder)."
            )
        if self.tta is not None and not (
            (isinstance(self.tta, str) and self.tta in TTA_VIEWS)
            or (isinstance(self.tta, (list, tuple)) and all(callable(v) for v in self.tta))
        ):
            raise ValueError(
                f"The 'tta' parameter of {name} must be None, "
                f"{', '.join(map(repr, TTA_VIEWS))} or a list of callables. Got {self.tta!r} "
                "instead."
            )
        check_param(
            "cache_features",
            self.cache_features,
            name,
            kind='"auto" or a bool',
            ok=isinstance(self.cache_features, (bool, np.bool_)) or self.cache_features == "auto",
        )
        if self.early_stopping and not self._has_validation():
            raise ValueError(
                f"early_stopping=True needs validation data, but {name} has "
                "validation_fraction=0 and no train_split. Set validation_fraction to a value "
                "in (0, 1), e.g. 0.1."
            )
        resolve_device(self.__dict__.get("device", "auto"))
        check_param(
            "callbacks",
            self.callbacks,
            name,
            kind="None or a list of skorch callbacks or (name, callback) pairs",
            ok=self.callbacks is None or isinstance(self.callbacks, (list, tuple)),
        )
        if isinstance(self.module, nn.Module):
            raise TypeError(
                f"The 'module' parameter of {name} must be a registered model name or an "
                f"nn.Module class; got an instance of {type(self.module).__name__} instead. "
                "Pass the class and its arguments (module=MyNet, module__width=64): an instance "
                "is never re-initialised, so every cross-validation fold and grid-search "
                "candidate would keep training the same weights."
            )
        if isinstance(self.criterion, nn.Module):
            raise TypeError(
                f"The 'criterion' parameter of {name} must be a loss class; got an instance "
                f"of {type(self.criterion).__name__} instead. Pass the class and its "
                "arguments as criterion__<name>, e.g. criterion=nn.CrossEntropyLoss, "
                "criterion__label_smoothing=0.1."
            )
        if isinstance(self.module, str):
            get_model_info(self.module)  # raises with the valid names and a suggestion
        elif not (isinstance(self.module, type) and issubclass(self.module, nn.Module)):
            if not callable(self.module):
                raise TypeError(
                    f"The 'module' parameter of {name} must be a registered model name "
                    f"({', '.join(list_models())}) or an nn.Module class; got "
                    f"{self.module!r} instead."
                )

    def _has_validation(self) -> bool:
        return self.train_split is not None or (
            is_real(self.validation_fraction) and self.validation_fraction > 0
        )

    # ------------------------------------------------------------------ fitted state
    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the order of ``predict_proba``'s columns."""
        try:
            return self.__dict__["_classes"]
        except KeyError:
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted yet: it has no "
                "'classes_'. Call 'fit' with appropriate arguments first."
            ) from None

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.initialized_) and "_classes" in self.__dict__

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_class = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ components
    def _module_is_variable_size(self) -> bool:
        if isinstance(self.module, str):
            return get_model_info(self.module).variable_input_size
        return True  # unknown: let the network decide, errors are translated

    def _inferred_module_kwargs(self) -> dict[str, Any]:
        shape = self.__dict__.get("_net_shape")
        inferred: dict[str, Any] = {}
        if shape is not None:
            inferred["in_channels"] = shape[0]
            inferred["input_size"] = (shape[1], shape[2])
        if "_classes" in self.__dict__:
            inferred["num_classes"] = len(self.__dict__["_classes"])
        elif self.classes is not None:
            inferred["num_classes"] = len(self.classes)
        return inferred

    def initialize_module(self):
        """Build the module from the registry name or class, sized from the data."""
        user = self.get_params_for("module")
        kwargs = {**self._inferred_module_kwargs(), **user}
        n_classes = len(self.__dict__["_classes"]) if "_classes" in self.__dict__ else None
        if n_classes is not None and kwargs.get("num_classes") != n_classes:
            raise ValueError(
                f"module__num_classes={kwargs.get('num_classes')!r} does not match the "
                f"{n_classes} classes found in y; remove module__num_classes to infer it."
            )
        if isinstance(self.module, str):
            module = get_model(self.module, **kwargs)
        else:
            module = self.module(**self._accepted_kwargs(self.module, kwargs, user))
        self.precision_ = self._precision()
        if self.precision_ == "float64":
            module = module.double()
        self.module_ = module
        return self

    @staticmethod
    def _accepted_kwargs(cls: Any, kwargs: dict, user: dict) -> dict:
        """Drop the inferred arguments that a user's module class does not accept."""
        try:
            params = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            return user
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return kwargs
        return {k: v for k, v in kwargs.items() if k in params or k in user}

    def initialize_criterion(self):
        """Build the criterion with per-sample losses, reduced in :meth:`get_loss`."""
        kwargs = self.get_params_for("criterion")
        criterion = self.criterion
        if isinstance(criterion, type) and "reduction" not in kwargs:
            try:
                accepts = "reduction" in inspect.signature(criterion).parameters
            except (TypeError, ValueError):
                accepts = False
            if accepts:
                kwargs["reduction"] = "none"
        self.criterion_ = self.initialized_instance(criterion, kwargs)
        return self

    def _optimizer_class(self) -> Any:
        opt = self.optimizer
        if isinstance(opt, str):
            key = opt.lower()
            if key not in OPTIMIZERS:
                close = difflib.get_close_matches(key, OPTIMIZERS, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"The 'optimizer' parameter of {type(self).__name__} must be one of "
                    f"{', '.join(map(repr, OPTIMIZERS))} or a torch.optim.Optimizer class. "
                    f"Got {opt!r} instead.{hint}"
                )
            return OPTIMIZERS[key]
        return opt

    def _fuse_optimizer(self, kwargs: dict) -> bool:
        """Whether to ask for the fused implementation of an optimizer given by name."""
        if not isinstance(self.optimizer, str) or {"fused", "foreach", "differentiable"} & set(
            kwargs
        ):
            return False
        cls = self._optimizer_class()
        if cls not in _FUSED_OPTIMIZERS:
            return False
        params = [p for _, p in self.get_all_learnable_params()]
        return bool(params) and all(
            p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params
        )

    def initialize_optimizer(self, triggered_directly=None):
        """Build the optimizer from a name or class, over the trainable parameters only."""
        self.__dict__.pop("grad_scaler_", None)  # a new optimizer starts a new scale
        named = self.get_all_learnable_params()
        args, kwargs = self.get_params_for_optimizer("optimizer", named)
        if self._fuse_optimizer(kwargs):
            kwargs["fused"] = True
        try:
            self.optimizer_ = self._optimizer_class()(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(
                f"{exc}. Check the optimizer__* parameters of {type(self).__name__} against "
                f"the arguments of {getattr(self._optimizer_class(), '__name__', 'the optimizer')}"
                "; to compare optimizers with different arguments in a grid search, give "
                "GridSearchCV a list of sub-grids, one per optimizer."
            ) from exc
        return self

    def get_all_learnable_params(self):
        """Yield the (name, parameter) pairs that require gradients."""
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    @property
    def _default_callbacks(self):
        n_train = self.__dict__.get("_n_train", 1)
        batch = self.batch_size if is_int(self.batch_size) and self.batch_size > 0 else n_train
        steps = max(1, -(-n_train // max(1, batch)))
        epochs = self.max_epochs if is_int(self.max_epochs) else 1
        scheduler = None
        if self.lr_schedule is not None:
            # get_params() reads this property: an invalid value must not raise here,
            # fit() reports it (scikit-learn validates in fit, never in set_params).
            with contextlib.suppress(ValueError, TypeError):
                scheduler = make_lr_scheduler(
                    self.lr_schedule,
                    lr=self.lr,
                    max_epochs=epochs,
                    steps_per_epoch=steps,
                    has_validation=self._has_validation(),
                )
        checkpoint = None
        if _flag(self.keep_best) or isinstance(self.checkpoint_dir, (str, os.PathLike)):
            checkpoint = BestCheckpoint(dirname=str(self.checkpoint_dir or ""))
        early = None
        if _flag(self.early_stopping):
            early = make_early_stopping(
                patience=self.n_iter_no_change, tol=self.tol, verbose=self.verbose
            )
        show_bar = self.progress_bar
        if isinstance(show_bar, str) and show_bar == "auto":
            show_bar = bool(getattr(sys.stderr, "isatty", lambda: False)())
        verbose = is_int(self.verbose) and self.verbose > 0
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_acc", EpochScoring(_encoded_accuracy, name="valid_acc", lower_is_better=False)),
            ("lr_scheduler", scheduler),
            # Before early stopping, which ends the epoch by raising: the last epoch's
            # checkpoint and training state must be written first.
            ("checkpoint", checkpoint),
            ("early_stopping", early),
            ("progress_bar", TqdmProgressBar() if _flag(show_bar) else None),
            ("print_log", PrintLog() if verbose else None),
        ]

    # ------------------------------------------------------------------ data
    def _images(self, X: Any, *, fitting: bool) -> tuple[torch.Tensor, bool]:
        name = type(self).__name__
        if fitting:
            return check_images(X, owner=name, image_shape=self.image_shape)
        return check_images(
            X,
            owner=name,
            image_shape=None,
            fitted_shape=self.image_shape_,
            variable_size=self._module_is_variable_size(),
        )

    def _split_indices(self, y_enc: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(y_enc)
        n_valid = int(np.ceil(self.validation_fraction * n))
        n_classes = len(np.unique(y_enc))
        stratify = y_enc
        counts = np.bincount(y_enc)
        if n_valid < n_classes or (n - n_valid) < n_classes or counts[counts > 0].min() < 2:
            stratify = None
        if n_valid < 1 or n - n_valid < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {n - n_valid} "
                f"training and {n_valid} validation images out of {n}; give more data or set "
                "validation_fraction=0."
            )
        idx = np.arange(n)
        train_idx, valid_idx = train_test_split(
            idx, test_size=n_valid, random_state=seed, stratify=stratify
        )
        return np.sort(train_idx), np.sort(valid_idx)

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split off the validation set: ``train_split`` if given, else ``validation_fraction``."""
        if isinstance(self.train_split, PredefinedSplit):
            valid = self._dataset(*self._validation_input(self.train_split), None)
            if self.__dict__.get("_features_cached"):
                valid = ImageTensorDataset(compute_features(self, valid), valid.targets)
            return X, valid
        if self.train_split or not hasattr(X, "subset"):
            return super().get_split_datasets(X, y, **fit_params)
        if not self.validation_fraction:
            return X, None
        train_idx, valid_idx = self.__dict__["_split"]
        return X.subset(train_idx), X.subset(valid_idx)

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
        generator = (
            self.__dict__.get("_generator") if training else torch.Generator().manual_seed(0)
        )
        if (
            isinstance(dataset, ImageTensorDataset)
            and iterator is DataLoader
            and not training
            and not shuffle
            and not kwargs
            and not self.__dict__.get("_fitting")
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
                loss = step["loss"].detach()
                losses.append(loss)
                history.record_batch(prefix + "_loss", loss)
                X_batch = batch[0] if isinstance(batch, (tuple, list)) else batch
                history.record_batch(prefix + "_batch_size", get_len(X_batch))
                self.notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
                if self.__dict__.get("_stop_requested"):
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
                self.__dict__["_interrupted"] = True
            raise

    @contextlib.contextmanager
    def _threads(self):
        """Run with ``torch_threads`` torch threads, restoring the caller's count."""
        if self.torch_threads is None:
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(int(self.torch_threads))
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    @contextlib.contextmanager
    def _stop_after_batch_on_ctrl_c(self):
        """During fit, a first Ctrl-C stops training after the current batch; a second one
        interrupts at once. Only in the main thread (where Python delivers signals)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            yield  # someone else handles Ctrl-C (a notebook kernel, a test runner...)
            return

        def request_stop(signum, frame):
            self.__dict__["_stop_requested"] = True
            signal.signal(signal.SIGINT, previous)  # a second Ctrl-C interrupts at once

        signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _keeps_best(self) -> bool:
        return self.keep_best is True or self.checkpoint_dir is not None

    def check_data(self, X, y=None):
        """Data are validated in :meth:`fit`; nothing left to check here."""

    # ------------------------------------------------------------------ forward
    def _precision(self) -> str:
        """The ``precision`` parameter with "auto" resolved for the current device."""
        if self.precision != "auto":
            return self.precision
        return "bf16" if bf16_supported(self.device or "cpu") else "float32"

    def _autocast(self):
        dtype = _AUTOCAST_DTYPES.get(self._precision())
        if dtype is None:
            return contextlib.nullcontext()
        device_type = torch.device(self.device or "cpu").type
        return torch.autocast(device_type=device_type, dtype=dtype)

    def _grad_scaler(self) -> torch.amp.GradScaler | None:
        """The fp16 gradient scaler of this fit (made on first use), or None."""
        if self._precision() != "fp16":
            return None
        scaler = self.__dict__.get("grad_scaler_")
        if scaler is None:
            scaler = torch.amp.GradScaler(torch.device(self.device or "cpu").type)
            self.grad_scaler_ = scaler
        return scaler

    def train_step(self, batch, **fit_params):
        """One optimisation step; with ``precision="fp16"`` through the gradient scaler.

        The scaler multiplies the loss before ``backward`` so that small float16 gradients
        do not round to zero, divides the gradients back (``unscale_``) before the
        ``on_grad_computed`` callbacks see them (so gradient clipping works on true
        values), and skips the step when a gradient overflowed, lowering the scale.
        """
        scaler = self._grad_scaler()
        if scaler is None:
            return super().train_step(batch, **fit_params)
        optimizer = self.optimizer_
        optimizer.zero_grad()
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
        )
        scaler.step(optimizer)
        scaler.update()
        return {"loss": loss, "y_pred": y_pred}

    def _prepare_batch(self, x: torch.Tensor, training: bool, view: Any = None) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True) if self.device is not None else x
        # "auto" never means float64: no need to resolve it for every batch here
        target = torch.float64 if self.precision == "float64" else torch.float32
        if x.dtype == torch.uint8 and target == torch.get_default_dtype():
            x = torch.div(x, 255.0)  # one pass: promoted to the float dtype while dividing
        elif x.dtype == torch.uint8:
            x = x.to(target).div_(255.0)
        elif x.dtype != target:
            x = x.to(target)
        if training and self.train_transform is not None:
            x = self.train_transform(x)
        if view is not None:
            x = view(x)
        if self.eval_transform is not None:
            x = self.eval_transform(x)
        if x.ndim == 4 and x.shape[1] == 1:
            x = _one_channel_as_channels_last(x)
        return x

    def _set_training(self, training=True):
        """skorch's train/eval switch, skipped when the network is in that mode already.

        skorch calls it for every batch, and it walks every submodule of the network and
        the criterion; the mode only changes between passes (training, validation,
        prediction), so checking the top-level modules first saves that walk.
        """
        module = self.__dict__.get("module_")
        criterion = self.__dict__.get("criterion_")
        if getattr(module, "training", None) is training and getattr(
            criterion, "training", training
        ) is training:
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
        if self.__dict__.get("_features_cached"):  # inside fit: the frozen part's output
            x = x.to(self.device, non_blocking=True) if self.device is not None else x
            return self._forward(x, self.module_.forward_head, **fit_params)
        training = self.module_.training
        if not training and self.tta is not None and not self.__dict__.get("_fitting"):
            return self._infer_tta(x, **fit_params)
        x = self._prepare_batch(x, training)
        return self._forward(x, **fit_params)

    def _tta_views(self) -> list:
        if isinstance(self.tta, str):
            return list(TTA_VIEWS[self.tta])
        return [None, *self.tta]

    def _infer_tta(self, x, **fit_params):
        """log of the class probabilities averaged over the views (softmax gives them back)."""
        log_probs = []
        for view in self._tta_views():
            out = self._forward(self._prepare_batch(x, False, view=view), **fit_params)
            log_probs.append(torch.log_softmax(out.float(), dim=1))
        return torch.logsumexp(torch.stack(log_probs), dim=0) - float(np.log(len(log_probs)))

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

    def _get_predict_nonlinearity(self):
        """``"auto"``: softmax over the classes.

        The modules return logits (or log-probabilities, whose softmax is the same
        distribution). skorch infers this from the criterion, which
        ``trim_for_prediction`` removes; then ``predict_proba`` would return raw logits.
        """
        if self.predict_nonlinearity == "auto":
            return _softmax
        return super()._get_predict_nonlinearity()

    def _module_name(self) -> str:
        return repr(self.module) if isinstance(self.module, str) else self.module.__name__

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

    # ------------------------------------------------------------------ fit
    def _fit_seed(self) -> int:
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    @contextlib.contextmanager
    def _seeded(self, seed: int):
        """Seed torch, numpy and ``random`` for the fit, then restore the caller's state.

        Code run during training (dropout, augmentation, DataLoader workers, a user's
        transform drawing from numpy) is reproducible, and nothing outside the fit sees a
        changed global generator.
        """
        device = torch.device(self.device or "cpu")
        cuda = [device.index or 0] if device.type == "cuda" else []
        np_state = np.random.get_state()  # noqa: NPY002 -- the legacy global generator
        py_state = random.getstate()
        try:
            with torch.random.fork_rng(devices=cuda), self._threads():
                torch.default_generator.manual_seed(seed)
                if cuda:
                    torch.cuda.manual_seed(seed)
                np.random.seed(seed)  # noqa: NPY002 -- restored below
                random.seed(seed)
                yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)

    def _encode(self, y: np.ndarray, classes: Any) -> tuple[np.ndarray, np.ndarray]:
        if classes is not None:
            classes = np.asarray(classes)
            if len(np.unique(classes)) != len(classes):
                raise ValueError(f"The 'classes' parameter has duplicates: {classes!r}.")
            unseen = np.setdiff1d(np.unique(y), classes)
            if len(unseen):
                raise ValueError(
                    f"y contains labels {unseen.tolist()!r} that are not in the 'classes' "
                    f"parameter {classes.tolist()!r}."
                )
            order = np.argsort(classes, kind="stable")
            y_enc = order[np.searchsorted(classes, y, sorter=order)]
            return classes, y_enc.astype(np.int64)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                f"the data contain only one class: {classes.tolist()[0]!r}."
            )
        return classes, y_enc.astype(np.int64)

    def _sample_weights(self, sample_weight: Any, y_enc: np.ndarray, classes: np.ndarray):
        n = len(y_enc)
        sw = check_sample_weight(sample_weight, n, owner=type(self).__name__)
        cw = self.class_weight
        if cw is None:
            return sw
        if cw == "balanced":
            present = np.unique(y_enc)
            per_class = np.ones(len(classes))
            per_class[present] = compute_class_weight("balanced", classes=present, y=y_enc)
        else:
            unknown = [k for k in cw if k not in set(classes.tolist())]
            if unknown:
                raise ValueError(
                    f"The 'class_weight' dict has labels {unknown!r} that are not among the "
                    f"classes {classes.tolist()!r}."
                )
            per_class = np.array([float(cw.get(c, 1.0)) for c in classes.tolist()])
            if not np.all(np.isfinite(per_class)) or np.any(per_class < 0):
                raise ValueError("The 'class_weight' values must be finite and non-negative.")
        weights = per_class[y_enc].astype(np.float32)
        return weights if sw is None else (weights * sw).astype(np.float32)

    @staticmethod
    def _check_weighted_classes(weights: np.ndarray | None, y_enc: np.ndarray) -> None:
        if weights is None:
            return
        if len(np.unique(y_enc[weights > 0])) < 2:
            raise ValueError(
                "Only one class has images with a non-zero weight (sample_weight x "
                "class_weight); the classifier needs at least 2 classes to learn from."
            )

    def fit(self, X, y=None, sample_weight=None, **fit_params):
        """Fit the network on images ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like, torch.Tensor, list of images or dataset
            Images (N, C, H, W), (N, H, W), (N, H, W, C) or flat (N, F). Integer images
            (uint8, or other integers in [0, 255]) are 8-bit pixels: kept as uint8 and
            scaled to [0, 1] per batch; floats are used as given (float64 becomes float32).
            Also a list of images of different sizes (networks with global pooling), or a
            torch/torchvision dataset or
            :class:`~cnn_estimators.ImageDatasetView` (read lazily unless it holds its
            images in memory).
        y : array-like of shape (N,), optional
            Labels of any type (ints, strings, bools); read from the dataset when X is one.
        sample_weight : array-like of shape (N,), default=None
            Per-image weights in the loss.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self

        Notes
        -----
        A first Ctrl-C stops training after the batch in progress (a second one at once);
        the estimator stays usable and a ``TrainingInterrupted`` warning says so. A NaN or
        infinite training loss raises ``TrainingDivergedError``.
        """
        resume = bool(self.warm_start) and self.__sklearn_is_fitted__()
        return self._fit(
            X, y, sample_weight, resume=resume, classes=self.classes, fit_params=fit_params
        )

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising (skorch semantics).

        The first call initialises the network; ``classes`` (or the ``classes`` parameter)
        must then list every label that later calls may bring.
        """
        resume = self.__sklearn_is_fitted__()
        if classes is None:
            classes = self.classes
        return self._fit(X, y, sample_weight, resume=resume, classes=classes, fit_params=fit_params)

    def _fit(self, X, y, sample_weight, *, resume: bool, classes: Any, fit_params: dict):
        self._check_params()
        stale = self.__dict__.pop("_stale", set())
        if resume and stale & {"module", "criterion"}:
            resume = False  # a new network cannot continue from the old weights
        if resume:
            self._validate_params()
        name = type(self).__name__
        if isinstance(X, torch.utils.data.Dataset):
            X = ImageDatasetView(X)
        if isinstance(X, ImageDatasetView) and y is None:
            y = X.targets
        kind, images = self._input(X, fitting=not resume)
        y = check_labels(y, len(images), owner=name)
        if resume:
            classes = self.classes_
            unseen = np.setdiff1d(np.unique(y), classes)
            if len(unseen):
                raise ValueError(
                    f"y contains labels {unseen.tolist()!r} that were not seen at the first "
                    f"fit (classes_ = {classes.tolist()!r}). Give all labels with the "
                    "'classes' parameter or partial_fit(..., classes=...)."
                )
            y_enc = np.searchsorted(classes, y).astype(np.int64)
        else:
            classes, y_enc = self._encode(y, classes)
        weights = self._sample_weights(sample_weight, y_enc, classes)
        self._check_weighted_classes(weights, y_enc)
        probe = self._probe(kind, images)
        if not resume:
            self._set_input_attributes(kind, images, probe, X, classes)
        self._check_module_input(probe)

        # Continued training draws new, still reproducible, randomness for each call.
        seed = self._fit_seed() + (len(self.history_) if resume else 0)
        self.__dict__["_generator"] = torch.Generator().manual_seed(seed + 1)
        dataset = self._dataset(kind, images, y_enc, weights)
        self.__dict__.pop("run_name_", None)
        if self.resume is True and not resume:
            self.run_name_ = "run-" + self._fingerprint(kind, images, y_enc, weights, seed)
        if not self.train_split and self.validation_fraction:
            split = self._split_indices(y_enc, seed)
            self.__dict__["_split"] = split
            self.__dict__["_n_train"] = len(split[0])
        else:
            self.__dict__["_n_train"] = len(images)
        self.__dict__["_fitting"] = True
        self.features_cached_ = False
        self.data_on_device_ = False
        try:
            with (
                self._seeded(seed),
                self._stop_after_batch_on_ctrl_c(),
                cudnn_benchmark(self.device or "cpu", enabled=kind == "tensor"),
            ):
                if not resume:
                    self.initialize()
                    epochs = self._restore_training_state()
                    if epochs is not None and self.__dict__["_resume_state"]["complete"]:
                        self._set_training_attributes()  # a finished run: its result
                        return self
                    if epochs is not None:  # 0 epochs still end the fit (best weights)
                        fit_params = {**fit_params, "epochs": epochs}
                else:
                    if "callbacks" in stale:
                        self._initialize_callbacks()
                    if "optimizer" in stale:
                        self._initialize_optimizer()
                dataset = self._maybe_cache_features(kind, dataset, probe, y_enc, weights)
                dataset = self._keep_on_device(dataset)
                try:
                    NeuralNet.partial_fit(self, dataset, y_enc, _routing_method="fit", **fit_params)
                except TrainingDivergedError as exc:
                    # Let the callbacks finish (the best weights are restored, temporary
                    # files removed) before reporting.
                    checkpoint = dict(self.callbacks_).get("checkpoint")
                    restored = checkpoint is not None and checkpoint._has_checkpoint()
                    self.notify("on_train_end", X=dataset, y=y_enc)
                    self._set_training_attributes()
                    if restored:
                        exc.args = (
                            exc.args[0] + " The weights of the best epoch so far were restored.",
                        )
                    raise
        finally:
            for key in (
                "_generator",
                "_split",
                "_fitting",
                "_resume_state",
                "_stop_requested",
                "_features_cached",
            ):
                self.__dict__.pop(key, None)
        self._set_training_attributes()
        return self

    def _on_cuda(self) -> bool:
        return self.device is not None and torch.device(self.device).type == "cuda"

    def _keep_on_device(self, dataset: Any) -> Any:
        """In-memory training data that fit in a quarter of the free GPU memory move there once."""
        if not (isinstance(dataset, ImageTensorDataset) and self._on_cuda()):
            return dataset
        tensors = (dataset.images, dataset.y, dataset.sample_weight)
        nbytes = sum(t.numel() * t.element_size() for t in tensors if t is not None)
        if not fits_in_device_memory(nbytes, self.device):
            return dataset
        self.data_on_device_ = True
        return dataset.to(self.device)

    def _maybe_cache_features(
        self, kind: str, dataset: Any, probe: torch.Tensor, y_enc: Any, weights: Any
    ) -> Any:
        """The training data as features of the frozen layers, if ``cache_features`` says so."""
        self.features_cached_ = False
        if self.cache_features is False:
            return dataset
        obstacle = cache_obstacle(self, kind)
        if obstacle is not None:
            if self.cache_features is True:
                raise ValueError(
                    f"cache_features=True, but {type(self).__name__} cannot cache features: "
                    f"{obstacle}. Set cache_features='auto' (caches when it can) or False."
                )
            return dataset
        if self.cache_features == "auto":
            size = feature_bytes(self, probe, len(dataset))
            if size > AUTO_CACHE_LIMIT_BYTES:
                return dataset
        features = compute_features(self, dataset)
        self.__dict__["_features_cached"] = True
        self.features_cached_ = True
        return self._dataset("tensor", features, y_enc, weights)

    def _input(self, X: Any, *, fitting: bool) -> tuple[str, Any]:
        """Classify and validate X: ("tensor", images), ("ragged", list) or ("lazy", view)."""
        if isinstance(X, torch.utils.data.Dataset):
            X = ImageDatasetView(X)
        if isinstance(X, ImageDatasetView):
            in_memory = X.in_memory_images()
            if in_memory is None:
                if len(X) == 0:
                    raise ValueError(f"{type(self).__name__} got an empty dataset.")
                return "lazy", X
            X = in_memory
        if is_ragged(X):
            fitted = None if fitting else self.image_shape_
            return "ragged", check_ragged_images(
                X, owner=type(self).__name__, fitted_channels=fitted and fitted[0]
            )
        images, _ = self._images(X, fitting=fitting)
        return "tensor", images

    @staticmethod
    def _probe(kind: str, images: Any) -> torch.Tensor:
        """One image per distinct size class, for the network-input checks."""
        if kind == "tensor":
            return images[:1]
        if kind == "lazy":
            return images[0][None]
        c = images[0].shape[0]
        h = min(int(img.shape[1]) for img in images)
        w = min(int(img.shape[2]) for img in images)
        return torch.zeros((1, c, h, w), dtype=images[0].dtype)

    def _dataset(self, kind: str, images: Any, y_enc: Any, weights: Any) -> Any:
        y_t = None if y_enc is None else torch.from_numpy(np.asarray(y_enc, dtype=np.int64))
        w_t = None if weights is None else torch.from_numpy(weights)
        if kind == "tensor":
            return ImageTensorDataset(images, y_t, w_t)
        if kind == "ragged":
            return RaggedImageDataset(images, y_t, w_t)
        return LazyImageDataset(images, y_enc, weights)

    def _set_input_attributes(
        self, kind: str, images: Any, probe: torch.Tensor, X: Any, classes: np.ndarray
    ) -> None:
        self.__dict__.pop("_net_shape", None)
        self.__dict__["_classes"] = classes
        if kind == "ragged":
            sizes = {tuple(img.shape[1:]) for img in images}
            if not self._module_is_variable_size():
                raise ValueError(
                    f"X holds images of {len(sizes)} different sizes, but model "
                    f"{self.module!r} needs one size. Resize them first, e.g. with "
                    "cnn_estimators.preprocessing.ResizeImages('smallest') in a Pipeline, or "
                    "use a model with global pooling such as 'global_pool_cnn'."
                )
            self.image_shape_ = (int(images[0].shape[0]), None, None)
            self.__dict__.pop("n_features_in_", None)
            self.__dict__.pop("feature_names_in_", None)
            return
        shape = tuple(int(v) for v in probe.shape[1:])
        self.image_shape_ = shape
        self.n_features_in_ = int(np.prod(shape))
        names = getattr(X, "columns", None)
        if names is not None and all(isinstance(c, str) for c in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        else:
            self.__dict__.pop("feature_names_in_", None)

    def _check_module_input(self, images: torch.Tensor) -> None:
        """Find the shape the network receives (after ``eval_transform``) and check it."""
        with torch.no_grad():
            sample = self._prepare_batch(images[:1], training=False)
        shape = tuple(int(v) for v in sample.shape[1:])
        if len(shape) != 3:
            raise ValueError(
                f"eval_transform must return image batches (B, C, H, W); it returned a "
                f"tensor of shape {tuple(sample.shape)}."
            )
        fitted = self.__dict__.get("_net_shape")
        if fitted is not None and fitted[0] != shape[0]:
            raise ValueError(
                f"X has images with {shape[0]} channel(s) after eval_transform, but the "
                f"network was fitted on {fitted[0]}."
            )
        if fitted is None:
            self.__dict__["_net_shape"] = shape
        if not isinstance(self.module, str):
            return
        info = get_model_info(self.module)
        h, w = shape[1], shape[2]
        mh, mw = info.min_input_size
        if h < mh or w < mw:
            raise ValueError(
                f"Model {self.module!r} needs images of at least {mh}x{mw} pixels; got "
                f"{h}x{w}. Resize the images (e.g. eval_transform=torchvision.transforms.v2"
                f".Resize(({mh}, {mw}))) or choose a model that accepts smaller images, such "
                "as 'mlp'."
            )

    def _validation_input(self, split: PredefinedSplit) -> tuple[str, Any, np.ndarray]:
        """Validate and encode a predefined validation set like the training data."""
        kind, images = self._input(split.X, fitting=False)
        y = split.y
        if y is None and isinstance(split.X, (ImageDatasetView, torch.utils.data.Dataset)):
            y = ImageDatasetView(split.X).targets
        y = check_labels(y, len(images), owner=type(self).__name__)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(
                f"The validation labels {unseen.tolist()!r} are not among the training "
                f"classes {self.classes_.tolist()!r}."
            )
        order = np.argsort(self.classes_, kind="stable")
        y_enc = order[np.searchsorted(self.classes_, y, sorter=order)]
        return kind, images, y_enc

    # ------------------------------------------------------------------ resume
    _NOT_FINGERPRINTED = frozenset(
        {"resume", "verbose", "progress_bar", "checkpoint_dir", "device", "warm_start"}
    )

    def _fingerprint(self, kind: str, images: Any, y_enc: Any, weights: Any, seed: int) -> str:
        """A digest of the parameters and the data naming a resumable run directory."""
        digest = hashlib.sha256()
        for key, value in sorted(self.get_params(deep=False).items()):
            if key not in self._NOT_FINGERPRINTED:
                digest.update(f"{key}={_stable_repr(value)};".encode())
        digest.update(f"seed={seed};kind={kind};".encode())
        if kind == "tensor":
            digest.update(memoryview(np.ascontiguousarray(images.numpy())).cast("B"))
        elif kind == "ragged":
            for image in images:
                digest.update(memoryview(np.ascontiguousarray(image.numpy())).cast("B"))
        else:
            digest.update(f"{type(images.dataset).__name__}{images.indices.tobytes()}".encode())
        digest.update(np.ascontiguousarray(y_enc).tobytes())
        if weights is not None:
            digest.update(np.ascontiguousarray(weights).tobytes())
        return digest.hexdigest()[:16]

    def training_state(self, *, complete: bool = False) -> dict[str, Any]:
        """Everything needed to continue training exactly where it stands.

        Weights, optimizer and LR-scheduler states, the history, and the states of the
        random generators (torch, numpy, ``random`` and the data order); only tensors,
        numbers, strings and lists, so it loads with ``torch.load(weights_only=True)``.
        """
        scheduler = dict(self.callbacks_).get("lr_scheduler")
        np_state = np.random.get_state()  # noqa: NPY002 -- the generator of this fit
        generator = self.__dict__.get("_generator")
        return {
            "format": 1,
            "versions": _versions(),
            "complete": complete,
            "epochs_done": sum(1 for row in self.history_ if "dur" in row),
            "module": self.module_.state_dict(),
            "optimizer": self.optimizer_.state_dict(),
            "scheduler": (
                scheduler.lr_scheduler_.state_dict()
                if scheduler is not None and scheduler.lr_scheduler_ is not None
                else None
            ),
            "grad_scaler": (
                self.grad_scaler_.state_dict()
                if self.__dict__.get("grad_scaler_") is not None
                else None
            ),
            "history": json.dumps(list(self.history_), default=float),
            "rng_torch": torch.get_rng_state(),
            "rng_numpy": [
                torch.from_numpy(np_state[1].astype(np.int64)),
                int(np_state[2]),
                int(np_state[3]),
                float(np_state[4]),
            ],
            "rng_python": _python_rng_state(),
            "rng_data": generator.get_state() if generator is not None else None,
        }

    def _restore_training_state(self) -> int | None:
        """Load a resumable run's state; the number of epochs left, or None for a new run."""
        run_name = self.__dict__.get("run_name_")
        if not run_name:
            return None
        path = Path(self.checkpoint_dir) / run_name / STATE_FILE
        if not path.exists():
            return None
        state = load_checkpoint(path, map_location=torch.device(self.device or "cpu"))
        check_training_state(state, path)  # fields and types, before any is used
        found = state.get("versions", {})
        if found != _versions():
            warnings.warn(
                f"The training state {path} was written with {found}; running with "
                f"{_versions()}. Continuing, but results may differ from an uninterrupted "
                "run.",
                UserWarning,
                stacklevel=4,
            )
        try:
            self.module_.load_state_dict(state["module"])
        except RuntimeError as exc:
            raise ValueError(
                f"{path} holds weights for another architecture than "
                f"{self._module_name()}: {str(exc).splitlines()[0]}. Delete it to start over."
            ) from exc
        self.optimizer_.load_state_dict(state["optimizer"])
        scaler = self._grad_scaler()
        if scaler is not None and state.get("grad_scaler") is not None:
            scaler.load_state_dict(state["grad_scaler"])
        self.history_ = History(json.loads(state["history"]))
        torch.set_rng_state(state["rng_torch"])
        keys, pos, has_gauss, cached = state["rng_numpy"]
        np.random.set_state(  # noqa: NPY002 -- restored after the fit by _seeded
            ("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached)
        )
        random.setstate(_python_rng_tuple(state["rng_python"]))
        if state["rng_data"] is not None and "_generator" in self.__dict__:
            self.__dict__["_generator"].set_state(state["rng_data"])
        self.__dict__["_resume_state"] = state
        if state["complete"]:
            return 0
        early = dict(self.callbacks_).get("early_stopping")
        if isinstance(early, ResumableEarlyStopping):
            early.replay(self.history_)
            if early.has_stopped():  # killed after the last epoch, before the end of fit
                return 0
        return max(0, self.max_epochs - int(state["epochs_done"]))

    def _set_training_attributes(self) -> None:
        history = self.history_
        self.n_iter_ = len(history)
        # An epoch cut short (divergence, Ctrl-C) has no epoch-level scores.
        self.loss_curve_ = [float(row["train_loss"]) for row in history if "train_loss" in row]
        scores = [row["valid_acc"] for row in history if "valid_acc" in row]
        if scores:
            self.validation_scores_ = [float(v) for v in scores]
            self.best_validation_score_ = float(max(scores))
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        checkpoint = dict(self.callbacks_).get("checkpoint")
        if checkpoint is not None and not getattr(checkpoint, "temporary_", True):
            self.checkpoint_path_ = checkpoint.run_dir_

    # ------------------------------------------------------------------ predict
    def _as_dataset(self, X: Any) -> Any:
        if isinstance(X, (ImageTensorDataset, RaggedImageDataset, LazyImageDataset)):
            return X
        self._check_fitted()
        kind, images = self._input(X, fitting=False)
        if kind == "tensor":
            self._check_feature_names(X)
        return self._dataset(kind, images, None, None)

    def _check_feature_names(self, X: Any) -> None:
        if not hasattr(self, "feature_names_in_"):
            return
        names = getattr(X, "columns", None)
        if names is not None and list(names) != list(self.feature_names_in_):
            raise ValueError("The feature names should match those that were passed during fit.")
        if names is None:
            warnings.warn(
                f"X does not have valid feature names, but {type(self).__name__} was "
                "fitted with feature names",
                UserWarning,
                stacklevel=4,
            )

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images in any layout accepted by :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        self._check_fitted()
        dataset = self._as_dataset(X)
        with self._threads():
            if isinstance(dataset, RaggedImageDataset) and dataset.y is None:
                return self._predict_proba_by_size(dataset)
            batches = self._lean_batches(dataset)
            if batches is not None:
                return self._predict_proba_batches(batches)
            return NeuralNet.predict_proba(self, dataset)

    def _lean_batches(self, dataset: Any) -> SequentialBatches | None:
        """The in-memory prediction batches, when skorch's per-batch loop can be skipped.

        Only for :class:`SequentialBatches` (in-memory images, no iterator_valid__*
        arguments) and only where no subclass changes the per-batch steps.
        """
        cls = type(self)
        if (
            cls.evaluation_step is not CNNClassifier.evaluation_step
            or cls.forward_iter is not NeuralNet.forward_iter
        ):
            return None
        batches = self.get_iterator(dataset, training=False)
        return batches if isinstance(batches, SequentialBatches) else None

    def _predict_proba_batches(self, batches: SequentialBatches) -> np.ndarray:
        """skorch's predict_proba over ``batches``, with one concatenation at the end."""
        nonlin = self._get_predict_nonlinearity()
        self._set_training(False)
        outputs = []
        with torch.no_grad():
            for Xi in batches.inputs():
                out = self.infer(Xi)
                out = out[0] if isinstance(out, tuple) else out
                outputs.append(nonlin(out).cpu())
        return torch.cat(outputs).numpy()

    def _predict_proba_by_size(self, dataset: RaggedImageDataset) -> np.ndarray:
        """Predict each size group as one stacked tensor; rows in the input's order."""
        groups: dict[tuple, list[int]] = {}
        for position, size in enumerate(dataset.sizes):
            groups.setdefault(size, []).append(position)
        out = None
        for positions in groups.values():
            stacked = torch.stack([dataset.images[int(dataset.indices[p])] for p in positions])
            proba = NeuralNet.predict_proba(self, ImageTensorDataset(stacked))
            if out is None:
                out = np.empty((len(dataset), proba.shape[1]), dtype=proba.dtype)
            out[positions] = proba
        return out

    def predict(self, X):
        """Predicted labels (the user's labels, from ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy on ``X``, ``y``; labels never seen at fit are an error."""
        self._check_fitted()
        y_arr = check_labels(y, len(y) if hasattr(y, "__len__") else -1, owner=type(self).__name__)
        unseen = np.setdiff1d(np.unique(y_arr), self.classes_)
        if len(unseen):
            raise ValueError(
                f"y contains labels {unseen.tolist()!r} that were not seen at fit "
                f"(classes_ = {self.classes_.tolist()!r}); the classifier can never predict "
                "them. Pass all labels at fit with the 'classes' parameter."
            )
        return super().score(X, y_arr, sample_weight=sample_weight)

    # ------------------------------------------------------------------ persistence
    def __setstate__(self, state):
        raw = state.get("device", "auto")
        state = dict(state)
        state["device"] = resolve_device(raw) or "cpu"
        super().__setstate__(state)
        if raw == "auto":
            self.__dict__["device"] = raw

    def save(self, path: Any) -> str:
        """Save the fitted estimator to one safe file (see ``cnn_estimators.persistence``)."""
        from .persistence import save

        return save(self, path)

    @classmethod
    def load(cls, path: Any, *, device: str | None = None) -> CNNClassifier:
        """Load an estimator saved with :meth:`save` (no pickle: the file runs no code)."""
        from .persistence import load

        est = load(path, device=device)
        if not isinstance(est, cls):
            raise TypeError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}.")
        return est

    def to_device(self, device: str) -> CNNClassifier:
        """Move the fitted module and optimizer state to ``device``; see :func:`to_device`."""
        from ._device import to_device

        return to_device(self, device)
