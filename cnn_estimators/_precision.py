"""Numeric precision: autocast, the fp16 gradient scaler, and batch preparation.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`PrecisionMixin`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from ._device import (
    bf16_supported,
)

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def _checked_batch(x: Any, what: str) -> torch.Tensor:
    """``x`` if it is a tensor; a clear error naming the transform that returned it if not."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{what} must return the transformed batch as a torch.Tensor (B, C, H, W); it "
            f"returned {type(x).__name__} instead. Check that the function ends with "
            "'return x'."
        )
    return x


class _ScaledGradient(torch.autograd.Function):
    """The identity on the loss, whose backward multiplies the gradient by ``factor``."""

    @staticmethod
    def forward(ctx, loss, factor):
        ctx.save_for_backward(factor)
        return loss.clone()

    @staticmethod
    def backward(ctx, grad):
        (factor,) = ctx.saved_tensors
        return grad * factor, None


class PrecisionMixin:
    """Numeric precision: autocast, the fp16 gradient scaler, and batch preparation."""

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

    # fp16 through skorch's own steps: get_loss scales the gradient (not the value),
    # train_step_single unscales the gradients before on_grad_computed, and
    # _step_optimizer steps through the scaler (which skips steps with inf/NaN gradients).
    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The loss; in fp16 training, one whose gradient the scaler multiplies.

        Its value is the true loss (what the history records); only ``backward`` sees the
        scale, so that small float16 gradients do not round to zero.
        """
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        scaler = self._grad_scaler() if training else None
        if scaler is None:
            return loss
        factor = scaler.scale(torch.ones((), device=loss.device, dtype=loss.dtype))
        return _ScaledGradient.apply(loss, factor)

    def train_step_single(self, batch, **fit_params):
        """skorch's step; in fp16 the gradients are then divided back (``unscale_``).

        So the ``on_grad_computed`` callbacks (gradient clipping, norms) see true values.
        """
        step = super().train_step_single(batch, **fit_params)
        scaler = self._grad_scaler()
        if scaler is not None:
            for name in self._optimizers:
                scaler.unscale_(getattr(self, name + "_"))
        return step

    def _step_optimizer(self, step_fn):
        """skorch's; in fp16 the scaler steps (skipping a step whose gradients overflowed)
        and then adjusts its scale. GradScaler takes no closure: the step is computed
        first."""
        scaler = self._grad_scaler()
        if scaler is None:
            return super()._step_optimizer(step_fn)
        step_fn()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()
        return None

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
            x = _checked_batch(self.train_transform(x), "train_transform")
        if view is not None:
            x = _checked_batch(view(x), "a tta view")
        if self.eval_transform is not None:
            x = _checked_batch(self.eval_transform(x), "eval_transform")
        if x.ndim == 4 and x.shape[1] == 1:
            x = _one_channel_as_channels_last(x)
        return x
