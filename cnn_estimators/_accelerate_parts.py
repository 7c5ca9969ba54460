"""The pieces :class:`~cnn_estimators.AcceleratedCNNClassifier` is built from.

Importing Accelerate lazily, process seeds, whole-batch loaders that Accelerate can split
across processes, broadcasting a module from the main process, the checkpoint callback
that only the main process writes, the per-fit state (:class:`AcceleratedFit`), wrapping
and unwrapping the network, criterion and optimizer, and averaging the batch losses of
all processes.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ._data import BatchIndexSampler
from ._io import save_checkpoint
from ._params import PRECISIONS
from ._validation import is_int
from .callbacks import BestCheckpoint

_INSTALL_HINT = "pip install 'cnn-estimators[accelerate]' (or pip install accelerate)"


def _accelerator_class() -> type:
    try:
        from accelerate import Accelerator
    except ImportError as exc:  # pragma: no cover - accelerate is in the test extra
        raise ImportError(
            "AcceleratedCNNClassifier needs Hugging Face Accelerate, which is not installed. "
            f"Install it with: {_INSTALL_HINT}."
        ) from exc
    return Accelerator


def _print_main(*args: Any, **kwargs: Any) -> None:
    """``print`` on the main process only (the sink of the epoch table and messages)."""
    try:
        from accelerate.state import PartialState
    except ImportError:  # pragma: no cover
        print(*args, **kwargs)
        return
    if not PartialState._shared_state or PartialState().is_main_process:
        print(*args, **kwargs)


def _process_seed(seed: int, process_index: int) -> int:
    """The seed of the global generators of one process (the main process keeps ``seed``)."""
    if process_index == 0:
        return int(seed)
    state = np.random.SeedSequence([int(seed), int(process_index)]).generate_state(1)
    return int(state[0] % (2**31 - 1))


def _forget(accelerator: Any, *objects: Any) -> None:
    """Drop the Accelerator's references to ``objects`` (it keeps every prepared object)."""
    ids = {id(o) for o in objects if o is not None}
    for name in ("_models", "_optimizers", "_dataloaders", "_schedulers"):
        items = getattr(accelerator, name, None)
        if isinstance(items, list):
            items[:] = [o for o in items if id(o) not in ids]


def _broadcast_module(module: torch.nn.Module) -> None:
    """Copy the main process's weights and buffers into ``module`` on every process."""
    import torch.distributed as dist

    for tensor in module.state_dict().values():
        if not isinstance(tensor, torch.Tensor):
            continue
        buffer = tensor if tensor.is_contiguous() else tensor.contiguous()
        dist.broadcast(buffer, src=0)
        if buffer is not tensor:
            tensor.copy_(buffer)


class _WholeBatches(Dataset):
    """A dataset whose ``__getitems__`` fetches a batch of positions with one indexing call.

    Lets a DataLoader with a batch sampler -- the form Accelerate can shard -- keep the
    in-memory path's cost: one ``index_select`` per batch, no per-image collate.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any) -> Any:
        return self.dataset[index]

    def __getitems__(self, positions: list[int]) -> Any:
        return self.dataset[torch.as_tensor(positions, dtype=torch.long)]


class _ListBatches(Sampler):
    """A batch sampler yielding the batches of ``sampler`` as lists of positions."""

    def __init__(self, sampler: Any, batch_size: int | None) -> None:
        self.sampler = sampler  # where Accelerate finds the generator it synchronises
        self.batch_size = batch_size
        self.drop_last = bool(getattr(sampler, "drop_last", False))

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        for batch in self.sampler:
            yield batch.tolist()


_LOADER_ARGS_SET_HERE = {
    "dataset",
    "batch_size",
    "shuffle",
    "sampler",
    "batch_sampler",
    "drop_last",
}


def _as_batch_sampler_loader(loader: DataLoader) -> DataLoader:
    """The same batches, from a DataLoader whose ``batch_sampler`` Accelerate can shard."""
    sampler = loader.sampler
    batch_size = sampler.batch_size if isinstance(sampler, BatchIndexSampler) else None
    kwargs = {}
    for name in inspect.signature(DataLoader.__init__).parameters:
        if name in _LOADER_ARGS_SET_HERE or name == "self" or not hasattr(loader, name):
            continue
        kwargs[name] = getattr(loader, name)
    return DataLoader(
        _WholeBatches(loader.dataset), batch_sampler=_ListBatches(sampler, batch_size), **kwargs
    )


class _MainProcessCheckpoint(BestCheckpoint):
    """:class:`~cnn_estimators.callbacks.BestCheckpoint` under Accelerate.

    Only the main process creates the run directory and writes the weights (of the
    unwrapped module); at the end of training it loads the best weights and sends them to
    the other processes, so that every process ends with the same network even when the
    processes share no file system.
    """

    @staticmethod
    def _accelerator(net: Any) -> Any:
        return net._fit_accelerator() if hasattr(net, "_fit_accelerator") else None

    def _sink(self, text, verbose):
        if verbose:
            _print_main(text)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        accelerator = self._accelerator(net)
        if accelerator is None or accelerator.num_processes == 1:
            return super().on_train_begin(net, X=X, y=y, **kwargs)
        from accelerate.utils import broadcast_object_list

        shared: list[Any] = [None, None, None]
        if accelerator.is_main_process:
            super().on_train_begin(net, X=X, y=y, **kwargs)
            shared = [self.dirname, self.base_dirname_, self.temporary_]
        broadcast_object_list(shared, from_process=0)
        self.dirname, self.base_dirname_, self.temporary_ = shared
        self.run_dir_ = self.dirname
        return None

    def save_model(self, net):
        """Write the unwrapped module's weights, on the main process only."""
        accelerator = self._accelerator(net)
        if accelerator is not None and not accelerator.is_main_process:
            return
        if self.f_params:
            module = net.module_
            if accelerator is not None:
                module = accelerator.unwrap_model(module)
            path = Path(self.dirname, self.f_params)
            save_checkpoint(module.state_dict(), path)
            self._sink(f"A checkpoint was saved to {path}.", net.verbose)

    def load_best_weights(self, net) -> bool:
        """Load the best weights on the main process and broadcast them to the others."""
        accelerator = self._accelerator(net)
        if accelerator is None or accelerator.num_processes == 1:
            return super().load_best_weights(net)
        from accelerate.utils import broadcast_object_list

        found = [super().load_best_weights(net) if accelerator.is_main_process else None]
        broadcast_object_list(found, from_process=0)
        if found[0]:
            _broadcast_module(accelerator.unwrap_model(net.module_))
        return bool(found[0])

    def on_train_end(self, net, **kwargs):
        accelerator = self._accelerator(net)
        if accelerator is None or accelerator.num_processes == 1:
            return super().on_train_end(net, **kwargs)
        try:
            if self.load_best:
                self.load_best_weights(net)
        finally:
            if self.temporary_ and accelerator.is_main_process:
                shutil.rmtree(self.run_dir_, ignore_errors=True)
            self.dirname = self.base_dirname_
        return None


#: The ``precision`` values that go with each ``mixed_precision`` of the Accelerator (any
#: other mixed precision, such as "fp16", needs "float32").
#: "auto" goes with all of them: it leaves the precision to the Accelerator.
_COMPATIBLE_PRECISIONS = {"no": ("float32", "bf16", "float64"), "bf16": ("float32", "bf16")}


def check_accelerator(est: Any, accelerator: Any) -> None:
    """Refuse the parameter combinations that cannot run with ``accelerator``."""
    name = type(est).__name__
    mixed = str(accelerator.mixed_precision)
    n = accelerator.num_processes
    device = est.__dict__.get("device")
    if device is not None and accelerator.device_placement:
        raise ValueError(
            f"The 'device' parameter of {name} must be None when the Accelerator places "
            f"the network and the data (device_placement=True); got {device!r} instead. "
            f"The Accelerator uses {accelerator.device}: choose the devices with "
            "`accelerate launch` (or Accelerator(cpu=True)) and set device=None."
        )
    compatible = _COMPATIBLE_PRECISIONS.get(mixed, ("float32",))
    if est.precision == "fp16":
        raise ValueError(
            f"The 'precision' parameter of {name} must be 'float32' for float16 training: "
            "the Accelerator brings its own autocast and gradient scaler; got 'fp16' "
            "instead. Set precision='float32' and use an Accelerator with "
            "mixed_precision='fp16' (`accelerate launch --mixed_precision fp16`)."
        )
    if est.precision in PRECISIONS and est._precision() not in compatible:
        need = "no" if est.precision == "float64" else "bf16"
        raise ValueError(
            f"The 'precision' parameter of {name} must be "
            f"{' or '.join(map(repr, compatible))} with an Accelerator whose "
            f"mixed_precision is {mixed!r}; got {est.precision!r} instead. Set "
            f"precision='float32' to train in the Accelerator's {mixed} mixed precision, "
            f"or use an Accelerator with mixed_precision={need!r} "
            f"(`accelerate launch --mixed_precision {need}`)."
        )
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > 1 and n == 1:
        raise ValueError(
            f"This process was launched as one of {world} (WORLD_SIZE={world}), but the "
            "Accelerator sees a single process, so every process would train the whole "
            "model on all the data on its own. On machines without GPUs, pass "
            "Accelerator(cpu=True) or set ACCELERATE_USE_CPU=1 before launching."
        )
    if n > 1 and est.resume is True:
        raise ValueError(
            f"resume=True is not supported by {name} across {n} processes (each process "
            "has its own random state to save); set resume=False, or resume in one "
            "process."
        )
    if getattr(est, "cache_features", "auto") is True:
        raise ValueError(
            f"cache_features=True is not supported by {name}: the frozen layers are "
            "part of the network that Accelerate wraps. Set cache_features='auto' or "
            "False (no cache) or use CNNClassifier."
        )
    if (
        n > 1
        and accelerator.split_batches
        and is_int(est.batch_size)
        and est.batch_size > 0
        and est.batch_size % n
    ):
        raise ValueError(
            f"The 'batch_size' parameter of {name} must be a multiple of the {n} "
            "processes with an Accelerator that splits batches (split_batches=True); got "
            f"{est.batch_size} instead. Use e.g. batch_size={est.batch_size // n * n or n}."
        )


class AcceleratedFit:
    """What one fit of :class:`~cnn_estimators.AcceleratedCNNClassifier` holds: the
    Accelerator it trains with and the data loaders it prepared (created when the fit
    starts, closed when it ends, however it ends)."""

    def __init__(self, accelerator: Any) -> None:
        self.accelerator = accelerator
        self.loaders: weakref.WeakSet = weakref.WeakSet()

    def close(self) -> None:
        """Unregister the loaders: a pass cut short (Ctrl-C, an error) leaves its loader
        registered as active in Accelerate's process-wide gradient state."""
        for loader in list(self.loaders):
            with contextlib.suppress(Exception):
                loader.end()
        self.loaders = weakref.WeakSet()


def wrap_components(est: Any, accelerator: Any) -> None:
    """Prepare ``est``'s network, criterion (if it learns) and optimizer with ``accelerator``."""
    with est._current_init_context("criterion"):
        for name in est._criteria:
            criterion = getattr(est, name + "_")
            # DistributedDataParallel refuses a module with nothing to learn.
            if isinstance(criterion, torch.nn.Module) and any(
                p.requires_grad for p in criterion.parameters()
            ):
                setattr(est, name + "_", accelerator.prepare(criterion))
    with est._current_init_context("module"):
        for name in est._modules:
            module = getattr(est, name + "_")
            if isinstance(module, torch.nn.Module):
                setattr(est, name + "_", accelerator.prepare(module))
    with est._current_init_context("optimizer"):
        for name in est._optimizers:
            optimizer = getattr(est, name + "_")
            if isinstance(optimizer, torch.optim.Optimizer):
                setattr(est, name + "_", accelerator.prepare(optimizer))


def unwrap_components(est: Any, accelerator: Any) -> None:
    """Give ``est`` back its plain network, criterion and optimizer (no DDP, no AMP wrapper)."""
    wrapped = []
    for name in est._modules + est._criteria:
        component = getattr(est, name + "_", None)
        if isinstance(component, torch.nn.Module):
            plain = accelerator.unwrap_model(component, keep_fp32_wrapper=False)
            plain.__dict__.pop("_is_accelerate_prepared", None)  # so a new fit re-wraps
            forward = plain.__dict__.get("forward")  # left by Accelerate's AMP unwrapping
            if getattr(forward, "__func__", None) is getattr(type(plain), "forward", None):
                del plain.__dict__["forward"]
            wrapped += [component, plain]
            setattr(est, name + "_", plain)
    for name in est._optimizers:
        optimizer = getattr(est, name + "_", None)
        inner = getattr(optimizer, "optimizer", None)
        if isinstance(inner, torch.optim.Optimizer):
            if getattr(optimizer, "scaler", None) is not None:
                inner.__dict__.pop("step", None)  # Accelerate's fp16 patch of step()
            wrapped.append(optimizer)
            setattr(est, name + "_", inner)
    _forget(accelerator, *wrapped)


def average_batch_losses(rows: list[dict], prefix: str) -> list[float]:
    """Replace each batch row's loss and size by those of all processes (size-weighted).

    ``rows`` are this process's batch rows of one pass, in step order; every process
    calls this once per pass (one exchange). Returns the averaged losses.
    """
    from accelerate.utils import gather_object

    key_loss, key_size = prefix + "_loss", prefix + "_batch_size"
    local = [(float(row.get(key_loss, np.nan)), int(row.get(key_size, 0))) for row in rows]
    everyone = gather_object([local])
    values = []
    for i, row in enumerate(rows):
        steps = [process[i] for process in everyone if i < len(process)]
        count = sum(size for _, size in steps)
        total = sum(loss * size for loss, size in steps)
        row[key_loss] = total / count if count else float("nan")
        row[key_size] = count
        values.append(row[key_loss])
    return values
