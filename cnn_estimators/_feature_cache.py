"""Caching the output of a network's frozen leading layers (``cache_features``).

In transfer learning with a frozen backbone, the backbone computes the same function of
each image in every epoch. A network that can say which leading part of it is frozen
(``n_frozen_stages()``), compute that part (``frozen_features(x)``) and the rest
(``forward_head(features)``) lets :class:`~cnn_estimators.CNNClassifier` run the frozen
part once per image at the start of ``fit`` and train the head on the stored features.
This is exact (the same function is computed) only when the training images are the same
in every epoch, i.e. without a random ``train_transform``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from ._data import ImageTensorDataset, RaggedImageDataset, SequentialBatches, SizeBucketSampler

__all__ = ["AUTO_CACHE_LIMIT_BYTES", "cache_obstacle", "compute_features", "feature_bytes"]

#: ``cache_features="auto"`` caches only when the features take at most this much memory.
AUTO_CACHE_LIMIT_BYTES = 2 * 1024**3


def _frozen_stages(module: nn.Module) -> int:
    count = getattr(module, "n_frozen_stages", None)
    if not callable(count) or not all(
        callable(getattr(module, name, None)) for name in ("frozen_features", "forward_head")
    ):
        return 0
    return int(count())


def cache_obstacle(net: Any, kind: str) -> str | None:
    """Why the frozen features of ``net.module_`` cannot be cached, or None if they can."""
    if not _frozen_stages(net.module_):
        return (
            f"the network {net._module_name()} has no frozen leading layers (it caches "
            "nothing unless it defines n_frozen_stages(), frozen_features() and "
            "forward_head(), as 'resnet18' with freeze='all_but_fc' or 'all_but_layer4' "
            "does)"
        )
    if net.train_transform is not None:
        return "train_transform changes the training images in every epoch"
    if kind == "lazy" and net.get_params_for("iterator_valid").get("shuffle"):
        return "iterator_valid__shuffle=True would mix up the order of the features"
    return None


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """The module in eval mode and without gradients, back in its previous mode after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)


def _prepare(net: Any, batch: Any) -> torch.Tensor:
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    if isinstance(x, Mapping):
        x = x["X"]
    return net._prepare_batch(x, False)


def compute_features(net: Any, dataset: Any) -> torch.Tensor:
    """The frozen part's output for every item of ``dataset``, in order, on the CPU.

    The module is put in eval mode while it runs (frozen stages already are: their
    BatchNorm layers keep eval mode in training), then back in its previous mode.
    """
    batch_size = net.get_params_for("iterator_valid").get("batch_size", net.batch_size)
    if batch_size == -1:
        batch_size = max(1, len(dataset))
    with _eval_mode(net.module_) as module, net._autocast():
        if isinstance(dataset, RaggedImageDataset):
            # Batches share one size; put the features back in the dataset's order.
            rows: list[torch.Tensor | None] = [None] * len(dataset)
            for idx in SizeBucketSampler(dataset.sizes, batch_size, shuffle=False):
                out = module.frozen_features(_prepare(net, dataset[idx.tolist()])).cpu()
                for position, row in zip(idx.tolist(), out, strict=True):
                    rows[position] = row
            return torch.stack(rows)  # type: ignore[arg-type]
        if isinstance(dataset, ImageTensorDataset):
            batches: Any = SequentialBatches(dataset, batch_size)
        else:  # read lazily by a DataLoader, in order
            batches = net.get_iterator(dataset, training=False)
        return torch.cat([module.frozen_features(_prepare(net, b)).cpu() for b in batches])


def feature_bytes(net: Any, probe: torch.Tensor, n_images: int) -> int:
    """Memory the cached features of ``n_images`` images would take."""
    with _eval_mode(net.module_) as module, net._autocast():
        out = module.frozen_features(net._prepare_batch(probe, False))
    return out[0].numel() * out.element_size() * n_images
