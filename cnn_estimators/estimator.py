"""`CNNClassifier`: skorch's ``NeuralNetClassifier`` made a correct scikit-learn classifier."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from skorch import NeuralNet, NeuralNetClassifier
from skorch.dataset import Dataset as SkorchDataset
from torch import nn
from torch.utils.data import DataLoader

from ._components import ComponentsMixin
from ._device import (
    cudnn_benchmark,
)
from ._input import InputMixin
from ._labels import check_weighted_classes, encode, fit_classes, sample_weights
from ._loop import (
    LAZY_NUM_WORKERS,
    LoopMixin,
    TrainingDivergedError,
    TrainingInterrupted,
)
from ._params import OPTIMIZERS, PRECISIONS, ParamsMixin
from ._plan import PlanMixin
from ._precision import PrecisionMixin
from ._precision import _one_channel_as_channels_last as _one_channel_as_channels_last
from ._predict import PredictMixin
from ._run import FitRun, RunFolderLock
from ._runtime import (
    fit_seed,
    seeded,
    stop_after_batch_on_ctrl_c,
    torch_threads,
)
from ._sklearn_compat import SklearnCompatMixin
from ._split import SplitMixin
from ._state import TrainingStateMixin
from ._state import _versions as _versions
from ._tta import TTA_VIEWS, TTAMixin
from ._validation import (
    PixelRangeWarning,
    check_labels,
)
from .adapters import ImageDatasetView
from .callbacks import (
    BestCheckpoint,
)

__all__ = [
    "LAZY_NUM_WORKERS",
    "OPTIMIZERS",
    "PRECISIONS",
    "TTA_VIEWS",
    "CNNClassifier",
    "PixelRangeWarning",
    "TrainingDivergedError",
    "TrainingInterrupted",
]


class CNNClassifier(
    SklearnCompatMixin,
    ParamsMixin,
    PlanMixin,
    ComponentsMixin,
    InputMixin,
    SplitMixin,
    PrecisionMixin,
    LoopMixin,
    TTAMixin,
    TrainingStateMixin,
    PredictMixin,
    NeuralNetClassifier,
):
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
        Number of passes over the training data (see ``min_steps`` and ``time_budget``).
    batch_size : int, default=128
        Images per batch; -1 means the whole training set.
    min_steps : int or None, default=None
        The fewest optimizer steps to train: when ``max_epochs`` epochs of the training
        part make fewer, the fit trains ``ceil(min_steps / steps_per_epoch)`` epochs, so
        that a recipe tuned on a large data set keeps its number of steps on a subset.
    time_budget : float or None, default=None
        Seconds the whole ``fit`` may take (counted from the start of training
        preparation, after the input checks). Before training, a few training and
        validation steps are timed on copies of the network (the result of a seeded fit
        does not change), and the fit trains as many epochs (at least one) as fit in 95% of
        the time left; ``max_epochs`` and ``min_steps`` are then ignored. Should the
        machine slow down, training stops at the end of an epoch when less than half of
        the next one would fit (``time_budget_stop`` in its ``history_`` row). Each
        ``partial_fit`` call gets its own budget; a resumed run keeps its plan. Each
        epoch row of ``history_`` records ``planned_epochs`` and ``planned_by``.
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
    _fit_run: FitRun | None = None  # the fit in progress (see current_fit)

    def __init__(
        self,
        module: Any = "fashion_cnn",
        *,
        criterion: Any = nn.CrossEntropyLoss,
        optimizer: Any = "adam",
        lr: float = 1e-3,
        max_epochs: int = 10,
        batch_size: int = 128,
        min_steps: Any = None,
        time_budget: Any = None,
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
        self.min_steps = min_steps
        self.time_budget = time_budget
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

    # ------------------------------------------------------------------ data

    def _threads(self):
        """Run with ``torch_threads`` torch threads, restoring the caller's count."""
        return torch_threads(self.torch_threads)

    # ------------------------------------------------------------------ fit
    def _fit_seed(self) -> int:
        return fit_seed(self.random_state)

    def _seeded(self, seed: int):
        """Seed torch, numpy and ``random`` for the fit; see :func:`._runtime.seeded`."""
        return seeded(seed, self.device, self.torch_threads)

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
        """Train more epochs without re-initialising (skorch semantics).

        Each call plans its own epochs: ``max_epochs``, raised to ``min_steps``, or as
        many as fit in ``time_budget``.

        The first call initialises the network; ``classes`` (or the ``classes`` parameter)
        must then list every label that later calls may bring.
        """
        resume = self.__sklearn_is_fitted__()
        if classes is None:
            classes = self.classes
        return self._fit(X, y, sample_weight, resume=resume, classes=classes, fit_params=fit_params)

    def _fit(self, X, y, sample_weight, *, resume: bool, classes: Any, fit_params: dict):
        # 1. validate the parameters; a changed network cannot continue from old weights
        self._check_params()
        stale = self._take_stale()
        resume = resume and not stale & {"module", "criterion"}
        if resume:
            self._validate_params()
        # 2. prepare the data: images, encoded labels, weights, the network's input
        if isinstance(X, torch.utils.data.Dataset):
            X = ImageDatasetView(X)
        if isinstance(X, ImageDatasetView) and y is None:
            y = X.targets
        kind, images = self._input(X, fitting=not resume)
        classes, y_enc, weights = self._encode_targets(
            y, len(images), sample_weight, resume, classes
        )
        probe = self._probe(kind, images)
        if not resume:
            self._set_input_attributes(kind, images, probe, X, classes)
        self._check_module_input(probe)
        dataset = self._dataset(kind, images, y_enc, weights)
        # 3. open the run: its seed, split, lock and flags live in one FitRun
        run = self._open_run(kind, images, y_enc, weights, resume)
        try:
            with (
                self._seeded(run.seed),
                stop_after_batch_on_ctrl_c(self._request_stop),
                cudnn_benchmark(self.device or "cpu", enabled=kind == "tensor"),
            ):
                # 4. initialise (or continue) and 5. train
                if not resume:
                    self.initialize()
                    epochs = self._restore_training_state()
                    if epochs is not None and run.resume_state["complete"]:
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
                fit_params = self._plan_fit(dataset, y_enc, fit_params)  # epochs, schedule
                self._train(dataset, y_enc, fit_params)
        finally:
            self._close_run(run)
        # 6. the fitted attributes
        self._set_training_attributes()
        return self

    def _encode_targets(self, y, n_images: int, sample_weight, resume: bool, classes: Any):
        """The classes, the labels as indices into them, and the per-image weights."""
        name = type(self).__name__
        y = check_labels(y, n_images, owner=name)
        if resume:
            classes = self.classes_
            y_enc = encode(
                y,
                classes,
                unseen="y contains labels {labels} that were not seen at the first fit "
                "(classes_ = {classes}). Give all labels with the 'classes' parameter or "
                "partial_fit(..., classes=...).",
            )
        else:
            classes, y_enc = fit_classes(y, classes, owner=name)
        weights = sample_weights(sample_weight, self.class_weight, y_enc, classes, owner=name)
        check_weighted_classes(weights, y_enc)
        return classes, y_enc, weights

    def _open_run(self, kind: str, images: Any, y_enc, weights, resume: bool) -> FitRun:
        """Start the per-fit state: seed, data-order generator, split, run-folder lock."""
        # Continued training draws new, still reproducible, randomness for each call.
        seed = self._fit_seed() + (len(self.history_) if resume else 0)
        split = None
        if not self.train_split and self.validation_fraction:
            split = self._split_indices(y_enc, seed)
        run = FitRun(
            seed=seed,
            generator=torch.Generator().manual_seed(seed + 1),
            n_train=len(images) if split is None else len(split[0]),
            split=split,
        )
        self.__dict__.pop("run_name_", None)
        self.features_cached_ = False
        self.data_on_device_ = False
        self._fit_run = run
        if self.resume is True and not resume:
            self.run_name_ = "run-" + self._fingerprint(kind, images, y_enc, weights, seed)
            try:
                run.lock = RunFolderLock(
                    Path(self.checkpoint_dir) / self.run_name_, self.checkpoint_dir
                ).acquire()
            except BaseException:
                self._close_run(run)
                raise
        return run

    def _close_run(self, run: FitRun) -> None:
        """However the fit ended: no temporary folder, lock or per-fit state is left."""
        checkpoint = dict(getattr(self, "callbacks_", None) or []).get("checkpoint")
        if isinstance(checkpoint, BestCheckpoint):
            checkpoint.end_fit()
        run.close()
        self._fit_run = None

    def _train(self, dataset: Any, y_enc: Any, fit_params: dict) -> None:
        """skorch's training loop; a diverged loss ends it with the best weights kept."""
        try:
            NeuralNet.partial_fit(self, dataset, y_enc, _routing_method="fit", **fit_params)
        except TrainingDivergedError as exc:
            # Let the callbacks finish (the best weights are restored, temporary files
            # removed) before reporting.
            checkpoint = dict(self.callbacks_).get("checkpoint")
            restored = checkpoint is not None and checkpoint._has_checkpoint()
            self.notify("on_train_end", X=dataset, y=y_enc)
            self._set_training_attributes()
            if restored:
                exc.args = (exc.args[0] + " The weights of the best epoch so far were restored.",)
            raise

    def current_fit(self) -> FitRun | None:
        """The state of the fit in progress (for callbacks), or None outside ``fit``.

        Examples
        --------
        >>> from cnn_estimators import CNNClassifier
        >>> CNNClassifier().current_fit() is None
        True
        """
        return self._fit_run

    # ------------------------------------------------------------------ resume

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

    # ------------------------------------------------------------------ persistence

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
