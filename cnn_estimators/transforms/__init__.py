"""Batch image transforms that draw their randomness per image.

Every transform here is an :class:`torch.nn.Module` that takes a whole batch of images,
a float tensor ``(B, C, H, W)`` (or a single image ``(C, H, W)``), and returns a tensor of
the same dtype. They are meant for the ``train_transform`` and ``eval_transform``
parameters of :class:`~cnn_estimators.CNNClassifier`, which apply them to each batch on
the training device.

Unlike torchvision's ``v2`` transforms applied to a batch tensor, which make *one* random
draw for the whole batch (every image flipped, or none), the random transforms here draw
independently for each image, with vectorised tensor operations (no Python loop over the
images). Randomness comes from torch's default generator on the input's device, so inside
a fit -- which seeds that generator from ``random_state`` -- augmentation is reproducible.

Examples
--------
>>> import torch
>>> from cnn_estimators.transforms import augmentation, normalize
>>> x = torch.rand(8, 3, 32, 32)
>>> augmentation("cifar10")(x).shape
torch.Size([8, 3, 32, 32])
>>> normalize("cifar10")(x).shape
torch.Size([8, 3, 32, 32])
"""

from ._deterministic import Compose, Normalize, Resize, ToRGB
from ._presets import MEAN_STD, augmentation, normalize
from ._random import (
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
)

__all__ = [
    "MEAN_STD",
    "Compose",
    "Normalize",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "Resize",
    "ToRGB",
    "augmentation",
    "normalize",
]
# The classes and functions live in private submodules but are named
# ``cnn_estimators.transforms.<name>``, as before the split: saved estimators refer to
# them by that name (cnn_estimators.persistence), and pickles do too.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
