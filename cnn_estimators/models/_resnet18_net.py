"""``ResNet18Transfer``: torchvision's ResNet-18 with a preprocessing module inside.

Kept apart from :mod:`cnn_estimators.models.resnet` because subclassing torchvision's
``ResNet`` imports torchvision, which takes about a second: this module is imported when
a ResNet-18 is first built. Use it as ``cnn_estimators.models.resnet.ResNet18Transfer``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models import ResNet
from torchvision.models.resnet import BasicBlock

from ._registry import _check_choice
from .resnet import FREEZE_OPTIONS, ImagePreprocess, resnet18  # noqa: F401 (doctests)

__all__ = ["ResNet18Transfer"]


class ResNet18Transfer(ResNet):
    """torchvision ResNet-18 with a preprocessing module and a new ``fc`` layer.

    It *is* a :class:`torchvision.models.ResNet` (same submodule and parameter
    names, so torchvision state dicts load directly) with an extra ``preprocess``
    submodule (:class:`ImagePreprocess`) applied first. See :func:`resnet18`.

    Parameters
    ----------
    in_channels : {1, 3}
        Number of image channels.
    num_classes : int
        Number of output logits.
    image_size : int, default=224
        Side length the images are resized to.
    normalize : bool, default=True
        Normalise with the ImageNet statistics inside the model.

    Notes
    -----
    Frozen batch normalisation: a BatchNorm layer whose parameters are all frozen
    (``requires_grad=False``) is kept in eval mode by :meth:`train`. Freezing only
    the affine parameters is not enough: in train mode a BatchNorm layer still
    normalises with the statistics of the current batch and overwrites its running
    mean and variance, so the "frozen" backbone would change during training (and
    small batches make these statistics noisy). In eval mode it keeps using the
    pretrained running statistics, so frozen layers really compute the same
    function during training and prediction.

    Examples
    --------
    >>> net = ResNet18Transfer(in_channels=3, num_classes=5, image_size=32)
    >>> net.fc
    Linear(in_features=512, out_features=5, bias=True)
    """

    def __init__(
        self, in_channels: int, num_classes: int, image_size: int = 224, normalize: bool = True
    ) -> None:
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        self.preprocess = ImagePreprocess(in_channels, image_size, normalize)
        self.freeze = "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits for images ``x`` of shape ``(N, in_channels, H, W)`` in [0, 1]."""
        return super().forward(self.preprocess(x))

    # The network as a chain of stages; a frozen leading run of them computes a fixed
    # function of the image, which the estimators can cache (see ``frozen_features``).
    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(self.preprocess(x)))))

    def _layer4_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.layer4(x)), 1)

    def _stages(self) -> list[tuple[list[nn.Module], Any]]:
        stem = [self.conv1, self.bn1]
        return [
            (stem, self._stem),
            ([self.layer1], self.layer1),
            ([self.layer2], self.layer2),
            ([self.layer3], self.layer3),
            ([self.layer4], self._layer4_pool),
            ([self.fc], self.fc),
        ]

    def n_frozen_stages(self) -> int:
        """How many leading stages (stem, layer1, ..., layer4 + pooling, fc) are all frozen.

        A frozen stage computes a fixed function: its parameters do not train and its
        BatchNorm layers stay in eval mode (see :meth:`train`), and ResNet-18 has no
        dropout. The output of the frozen stages can therefore be computed once per
        image and cached; :class:`~cnn_estimators.CNNClassifier` does so with
        ``cache_features``. At most 5 is returned, so that some stage always trains.

        Examples
        --------
        >>> resnet18(num_classes=2, image_size=32, freeze="all_but_layer4").n_frozen_stages()
        4
        >>> resnet18(num_classes=2, image_size=32, freeze="none").n_frozen_stages()
        0
        """
        count = 0
        for modules, _ in self._stages()[:-1]:
            if any(p.requires_grad for m in modules for p in m.parameters()):
                break
            count += 1
        return count

    def frozen_features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the frozen stages for images ``x`` (``x`` itself if none is frozen).

        ``forward_head(frozen_features(x))`` equals ``forward(x)``.

        Examples
        --------
        >>> import torch
        >>> net = resnet18(num_classes=3, image_size=32, freeze="all_but_fc").eval()
        >>> x = torch.rand(2, 3, 32, 32)
        >>> net.frozen_features(x).shape
        torch.Size([2, 512])
        >>> torch.allclose(net.forward_head(net.frozen_features(x)), net(x))
        True
        """
        for _, stage in self._stages()[: self.n_frozen_stages()]:
            x = stage(x)
        return x

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """The logits from the output of :meth:`frozen_features` (the trainable stages)."""
        for _, stage in self._stages()[self.n_frozen_stages() :]:
            features = stage(features)
        return features

    def set_freeze(self, freeze: str) -> ResNet18Transfer:
        """Freeze parameters according to ``freeze`` (see :func:`resnet18`); return self.

        Parameters
        ----------
        freeze : {"all_but_layer4", "all_but_fc", "none"}
            Which part of the network keeps training.

        Returns
        -------
        self : ResNet18Transfer
            The model, with ``requires_grad`` set and the BatchNorm modes updated.

        Examples
        --------
        >>> net = ResNet18Transfer(in_channels=3, num_classes=2, image_size=32)
        >>> net = net.set_freeze("all_but_fc")
        >>> [name for name, p in net.named_parameters() if p.requires_grad]
        ['fc.weight', 'fc.bias']
        """
        freeze = _check_choice(freeze, "freeze", "resnet18", FREEZE_OPTIONS)
        trainable = FREEZE_OPTIONS[freeze]
        for name, param in self.named_parameters():
            param.requires_grad = trainable is None or name.split(".")[0] in trainable
        self.freeze = freeze
        return self.train(self.training)

    def train(self, mode: bool = True) -> ResNet18Transfer:
        """Set train/eval mode, keeping frozen BatchNorm layers in eval mode.

        Parameters
        ----------
        mode : bool, default=True
            ``True`` for training mode, ``False`` for evaluation mode.

        Returns
        -------
        self : ResNet18Transfer
            The model.

        Examples
        --------
        >>> net = resnet18(num_classes=2, image_size=32, freeze="all_but_fc").train()
        >>> net.training, net.bn1.training, net.fc.training
        (True, False, True)
        """
        super().train(mode)
        if mode:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    params = list(module.parameters(recurse=False))
                    if params and not any(p.requires_grad for p in params):
                        module.eval()
        return self
