"""2-D convolution written as im2col (``unfold``) plus a matrix multiply.

A convolution with ``O`` filters of shape ``(C, kh, kw)`` is a matrix product once the
input patches are laid out as columns. :func:`torch.nn.functional.unfold` ("im2col")
turns an ``(N, C, H, W)`` image batch into ``(N, C*kh*kw, L)`` columns, one per output
position (``L = out_h * out_w``); multiplying by the ``(O, C*kh*kw)`` weight matrix gives
``(N, O, L)``, reshaped to ``(N, O, out_h, out_w)``.

The backward pass is written out by hand in :class:`UnfoldConv2dFunction`:

* ``dL/dW = sum_n dY_n @ cols_n^T`` (a matrix multiply with the saved columns),
* ``dL/db = sum over the batch and the output positions of dY``,
* ``dL/dX = fold(W^T @ dY)``: the gradient of the columns, scattered back and summed
  onto the image by :func:`torch.nn.functional.fold` ("col2im", the adjoint of unfold).

:class:`UnfoldConv2d` is a drop-in replacement of :class:`torch.nn.Conv2d` (same
constructor, parameter names, shapes and initialisation, so state dicts move between
the two) for ``dilation=1``, ``groups=1`` and zero padding. It is meant for teaching
and for checking the mathematics: ``nn.Conv2d`` (oneDNN / cuDNN) is faster and uses
less memory, because the columns hold every input value ``kh*kw`` times.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from cnn_estimators.unfold import UnfoldConv2d
>>> conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
>>> twin = UnfoldConv2d.from_conv(conv)
>>> x = torch.rand(2, 3, 16, 16)
>>> torch.allclose(twin(x), conv(x), atol=1e-5)
True
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.nn import init

__all__ = ["UnfoldConv2d", "UnfoldConv2dFunction", "unfold_conv2d"]


# ---------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _to_pair(value: Any, name: str, owner: str, *, minimum: int) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each ``>= minimum``) as a pair of ints."""
    if _is_int(value):
        pair: tuple[Any, ...] = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(value)
    else:
        pair = ()
    if len(pair) != 2 or not all(_is_int(v) and v >= minimum for v in pair):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be an int >= {minimum} or a pair of "
            f"such ints; got {value!r} instead."
        )
    return (int(pair[0]), int(pair[1]))


def _resolve_padding(
    padding: Any, kernel_size: tuple[int, int], stride: tuple[int, int], owner: str
) -> tuple[int, int]:
    """Numeric ``(pad_h, pad_w)`` of ``padding`` (ints, pairs, ``"valid"`` or ``"same"``)."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(
                f"padding='same' is not supported for strided convolutions in {owner}; "
                f"got stride={stride}."
            )
        if any(k % 2 == 0 for k in kernel_size):
            raise ValueError(
                f"{owner} supports padding='same' only for odd kernel sizes (even kernels "
                f"need asymmetric padding); got kernel_size={kernel_size}. Pad explicitly "
                "with torch.nn.functional.pad, or use torch.nn.Conv2d."
            )
        return (kernel_size[0] // 2, kernel_size[1] // 2)
    if isinstance(padding, str):
        raise ValueError(
            f"The 'padding' parameter of {owner} must be an int >= 0, a pair of such ints, "
            f"'valid' or 'same'; got {padding!r} instead."
        )
    return _to_pair(padding, "padding", owner, minimum=0)


def _check_input(x: Tensor, weight: Tensor, padding: tuple[int, int]) -> None:
    """Raise the ``RuntimeError`` :func:`torch.nn.functional.conv2d` raises for bad input.

    The messages are those of PyTorch, so that code recognising them (e.g. the
    estimator's shape-error hints) works for both implementations.
    """
    if x.dim() != 4:
        raise RuntimeError(
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of "
            f"size: {list(x.shape)}"
        )
    if x.shape[1] != weight.shape[1]:
        raise RuntimeError(
            f"Given groups=1, weight of size {list(weight.shape)}, expected input"
            f"{list(x.shape)} to have {weight.shape[1]} channels, but got {x.shape[1]} "
            "channels instead"
        )
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    kernel = (weight.shape[2], weight.shape[3])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise RuntimeError(
            f"Calculated padded input size per channel: ({padded[0]} x {padded[1]}). "
            f"Kernel size: ({kernel[0]} x {kernel[1]}). Kernel size can't be greater than "
            "actual input size"
        )


def _output_size(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
) -> tuple[int, int]:
    """Spatial output size of a convolution or pooling window over ``size`` (H, W).

    The one copy of this arithmetic (``models/_conv.py`` sizes networks with it); a
    negative span (window larger than the padded input) gives 0.
    """
    out = []
    for n, k, s, p, d in zip(size, kernel, stride, padding, dilation, strict=True):
        span = n + 2 * p - d * (k - 1) - 1
        if span < 0:
            return (0, 0)
        out.append((-(-span // s) if ceil_mode else span // s) + 1)
    return (out[0], out[1])


# ---------------------------------------------------------------------------
# The autograd function
# ---------------------------------------------------------------------------


class UnfoldConv2dFunction(torch.autograd.Function):
    """Convolution by ``unfold`` + matmul, with a hand-written backward pass.

    Call it as ``UnfoldConv2dFunction.apply(input, weight, bias, stride, padding)``
    with ``input`` of shape ``(N, C, H, W)``, ``weight`` ``(O, C, kh, kw)``, ``bias``
    ``(O,)`` or ``None``, and ``stride`` and ``padding`` pairs of ints. It computes
    the same as ``torch.nn.functional.conv2d(input, weight, bias, stride, padding)``
    with ``dilation=1`` and ``groups=1`` (the only supported values). Inputs are not
    validated here: use :func:`unfold_conv2d` or :class:`UnfoldConv2d`.

    The forward pass saves the unfolded input (only if ``weight`` needs a gradient)
    and the weight (only if ``input`` needs one). The backward pass computes, for the
    inputs that require it (``ctx.needs_input_grad``):

    * the weight gradient ``sum_n dY_n @ cols_n^T``, with ``dY_n`` the
      ``(O, L)`` output gradient of image ``n`` and ``cols_n`` its ``(C*kh*kw, L)``
      unfolded input;
    * the bias gradient, the sum of ``dY`` over the batch and the ``L`` positions;
    * the input gradient ``fold(W^T @ dY)``: ``fold`` adds each column's gradient back
      onto the pixels the patch was read from.

    The backward pass is not itself differentiable (no double backward).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    >>> w = torch.rand(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    >>> b = torch.rand(4, dtype=torch.float64, requires_grad=True)
    >>> y = UnfoldConv2dFunction.apply(x, w, b, (1, 1), (1, 1))
    >>> y.shape
    torch.Size([2, 4, 8, 8])
    >>> torch.allclose(y, torch.nn.functional.conv2d(x, w, b, padding=1))
    True
    >>> torch.autograd.gradcheck(
    ...     lambda x, w, b: UnfoldConv2dFunction.apply(x, w, b, (2, 1), (0, 1)), (x, w, b)
    ... )
    True
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        input: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> Tensor:
        """Return the convolution of ``input`` with ``weight`` (plus ``bias``)."""
        n, _, h, w = input.shape
        out_channels, _, kh, kw = weight.shape
        out_h, out_w = _output_size((h, w), (kh, kw), stride, padding)
        # (N, C, H, W) -> (N, C*kh*kw, L): one column per output position.
        cols = F.unfold(input, (kh, kw), padding=padding, stride=stride)
        # (O, C*kh*kw) @ (N, C*kh*kw, L) -> (N, O, L)
        out = torch.matmul(weight.reshape(out_channels, -1), cols)
        if bias is not None:
            out = out + bias.reshape(1, out_channels, 1)

        ctx.save_for_backward(
            cols if ctx.needs_input_grad[1] else None,
            weight if ctx.needs_input_grad[0] else None,
        )
        ctx.input_size = (h, w)  # type: ignore[attr-defined]
        ctx.kernel_size = (kh, kw)  # type: ignore[attr-defined]
        ctx.stride = stride  # type: ignore[attr-defined]
        ctx.padding = padding  # type: ignore[attr-defined]
        return out.reshape(n, out_channels, out_h, out_w)

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_output: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None, None]:
        """Gradients with respect to ``input``, ``weight`` and ``bias``."""
        cols, weight = ctx.saved_tensors
        n, out_channels = grad_output.shape[:2]
        # (N, O, out_h, out_w) -> (N, O, L); a view when grad_output is contiguous.
        grad = grad_output.reshape(n, out_channels, -1)
        grad_input = grad_weight = grad_bias = None

        if ctx.needs_input_grad[0]:
            # (C*kh*kw, O) @ (N, O, L) -> (N, C*kh*kw, L), then col2im sums the
            # overlapping patches back onto the (padded, then cropped) image.
            grad_cols = torch.matmul(weight.reshape(out_channels, -1).t(), grad)
            grad_input = F.fold(
                grad_cols,
                ctx.input_size,
                ctx.kernel_size,
                padding=ctx.padding,
                stride=ctx.stride,
            )
        if ctx.needs_input_grad[1]:
            # sum_n (O, L) @ (L, C*kh*kw): one batched matmul, summed over the batch.
            grad_weight = torch.matmul(grad, cols.transpose(1, 2)).sum(0)
            grad_weight = grad_weight.reshape(out_channels, -1, *ctx.kernel_size)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum((0, 2))
        return grad_input, grad_weight, grad_bias, None, None


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The autocast dtype active for ``device_type``, or None when autocast is off."""
    try:
        enabled = torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        return None
    return torch.get_autocast_dtype(device_type) if enabled else None


def unfold_conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
) -> Tensor:
    """Functional 2-D convolution by ``unfold`` + matmul (see :class:`UnfoldConv2dFunction`).

    Same result as :func:`torch.nn.functional.conv2d` with ``dilation=1`` and
    ``groups=1``. Under :func:`torch.autocast`, floating-point inputs other than
    float64 are cast to the autocast dtype first, as ``conv2d`` does.

    Parameters
    ----------
    input : Tensor of shape (N, C, H, W) or (C, H, W)
        Images (a 3-D tensor is one unbatched image).
    weight : Tensor of shape (O, C, kh, kw)
        Filters.
    bias : Tensor of shape (O,), optional
        Added to every output position of each channel.
    stride : int or tuple of int, default=1
        Step between patches, ``(sh, sw)``.
    padding : int, tuple of int, "valid" or "same", default=0
        Zeros added on both sides of each spatial dimension. "same" needs stride 1
        and odd kernel sizes.

    Returns
    -------
    output : Tensor of shape (N, O, out_h, out_w) or (O, out_h, out_w)
        ``out_h = (H + 2 * pad_h - kh) // sh + 1`` and likewise for the width.

    Raises
    ------
    ValueError
        If ``stride`` or ``padding`` is invalid.
    RuntimeError
        If ``input`` does not fit ``weight`` (with PyTorch's own messages).

    Examples
    --------
    >>> import torch
    >>> x, w = torch.rand(2, 3, 9, 7), torch.rand(5, 3, 3, 2)
    >>> y = unfold_conv2d(x, w, stride=2, padding=(1, 0))
    >>> y.shape
    torch.Size([2, 5, 5, 3])
    >>> torch.allclose(y, torch.nn.functional.conv2d(x, w, stride=2, padding=(1, 0)),
    ...                atol=1e-5)
    True
    """
    owner = "unfold_conv2d"
    if weight.dim() != 4:
        raise ValueError(
            f"The 'weight' parameter of {owner} must be a 4-D tensor (O, C, kh, kw); got "
            f"shape {tuple(weight.shape)} instead."
        )
    kernel = (int(weight.shape[2]), int(weight.shape[3]))
    stride_ = _to_pair(stride, "stride", owner, minimum=1)
    padding_ = _resolve_padding(padding, kernel, stride_, owner)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"The 'bias' parameter of {owner} must have shape ({weight.shape[0]},); got "
            f"shape {tuple(bias.shape)} instead."
        )

    unbatched = input.dim() == 3
    if unbatched:
        input = input.unsqueeze(0)
    _check_input(input, weight, padding_)

    dtype = _autocast_dtype(input.device.type)
    if dtype is not None:
        # Mirror autocast's rule for conv2d: cast floating tensors except float64.
        def cast(t: Tensor) -> Tensor:
            return t.to(dtype) if t.is_floating_point() and t.dtype != torch.float64 else t

        input, weight = cast(input), cast(weight)
        bias = None if bias is None else cast(bias)
        with torch.autocast(input.device.type, enabled=False):
            out = UnfoldConv2dFunction.apply(input, weight, bias, stride_, padding_)
    else:
        out = UnfoldConv2dFunction.apply(input, weight, bias, stride_, padding_)
    return out.squeeze(0) if unbatched else out


# ---------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------


class UnfoldConv2d(nn.Module):
    """Drop-in replacement of :class:`torch.nn.Conv2d` computed by ``unfold`` + matmul.

    Same constructor, attributes, parameters and initialisation as ``nn.Conv2d``, so a
    state dict of one loads into the other and, from the same random seed, both are
    initialised identically. The forward and backward passes are those of
    :class:`UnfoldConv2dFunction`.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    out_channels : int
        Number of filters (output channels).
    kernel_size : int or tuple of int
        ``(kh, kw)`` of the filters.
    stride : int or tuple of int, default=1
        Step between patches.
    padding : int, tuple of int, "valid" or "same", default=0
        Zeros added on both sides of each spatial dimension. "same" needs stride 1 and
        odd kernel sizes.
    dilation : int or tuple of int, default=1
        Only 1 is supported (``unfold`` would support it, the rest of the code does not).
    groups : int, default=1
        Only 1 is supported (grouped convolutions are not a single matrix product).
    bias : bool, default=True
        Whether to learn an additive bias per output channel.
    padding_mode : {"zeros"}, default="zeros"
        Only zero padding is supported.
    device, dtype : optional
        Where and in which dtype to create the parameters.

    Attributes
    ----------
    weight : Parameter of shape (out_channels, in_channels, kh, kw)
        Initialised with ``kaiming_uniform_(a=sqrt(5))``, as in ``nn.Conv2d``.
    bias : Parameter of shape (out_channels,) or None
        Initialised uniformly in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``.
    kernel_size, stride, dilation : tuple of int
        As in ``nn.Conv2d``; ``dilation`` is always ``(1, 1)``.
    padding : tuple of int or str
        As given (a pair of ints, "valid" or "same"), as in ``nn.Conv2d``.
    groups : int
        Always 1.
    padding_mode : str
        Always "zeros".

    Raises
    ------
    ValueError
        For invalid or unsupported arguments (dilation other than 1, groups other than
        1, a padding mode other than "zeros" ...).

    Examples
    --------
    >>> import torch
    >>> conv = UnfoldConv2d(1, 4, kernel_size=3, stride=2, padding=1)
    >>> conv
    UnfoldConv2d(1, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
    >>> conv(torch.rand(8, 1, 28, 28)).shape
    torch.Size([8, 4, 14, 14])
    >>> reference = torch.nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=1)
    >>> reference.load_state_dict(conv.state_dict())
    <All keys matched successfully>
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not _is_int(value) or value < 1:
                raise ValueError(
                    f"The {name!r} parameter of {owner} must be an int >= 1; got {value!r} instead."
                )
        kernel_size_ = _to_pair(kernel_size, "kernel_size", owner, minimum=1)
        stride_ = _to_pair(stride, "stride", owner, minimum=1)
        dilation_ = _to_pair(dilation, "dilation", owner, minimum=1)
        if dilation_ != (1, 1):
            raise ValueError(
                f"{owner} supports only dilation=1; got dilation={dilation!r}. Use "
                "torch.nn.Conv2d for dilated convolutions."
            )
        if not _is_int(groups) or groups != 1:
            raise ValueError(
                f"{owner} supports only groups=1; got groups={groups!r}. Use torch.nn.Conv2d "
                "for grouped or depthwise convolutions."
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"{owner} supports only padding_mode='zeros'; got padding_mode="
                f"{padding_mode!r}. Use torch.nn.Conv2d for other padding modes."
            )
        if not isinstance(bias, (bool, int)):
            raise ValueError(f"The 'bias' parameter of {owner} must be a bool; got {bias!r}.")
        # Validates the padding; the numeric pair is what the forward pass uses.
        self._padding = _resolve_padding(padding, kernel_size_, stride_, owner)

        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = kernel_size_
        self.stride = stride_
        self.padding: tuple[int, int] | str = (
            padding if isinstance(padding, str) else _to_pair(padding, "padding", owner, minimum=0)
        )
        self.dilation = dilation_
        self.groups = 1
        self.padding_mode = "zeros"
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty((self.out_channels, self.in_channels, *kernel_size_), **factory)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new parameters exactly as :meth:`torch.nn.Conv2d.reset_parameters` does.

        ``weight`` from ``kaiming_uniform_(a=sqrt(5))`` and ``bias`` uniformly in
        ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` with ``fan_in = in_channels * kh * kw``.
        The same random draws in the same order, so both modules get the same values
        from the same seed.
        """
        with torch.no_grad():
            init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            if self.bias is not None:
                fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        """Convolve ``input`` of shape ``(N, C, H, W)`` or ``(C, H, W)``."""
        return unfold_conv2d(input, self.weight, self.bias, self.stride, self._padding)

    def extra_repr(self) -> str:
        """The arguments, formatted as :class:`torch.nn.Conv2d` formats them."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> UnfoldConv2d:
        """A new :class:`UnfoldConv2d` with the settings and a copy of the weights of ``conv``.

        The result lives on the device and in the dtype of ``conv``, in the same
        training mode, with the same ``requires_grad`` flags; the global random state is
        not consumed.

        Parameters
        ----------
        conv : torch.nn.Conv2d
            The convolution to copy; ``dilation=1``, ``groups=1`` and
            ``padding_mode="zeros"``.

        Returns
        -------
        module : UnfoldConv2d
            Computes the same function as ``conv`` (up to rounding).

        Raises
        ------
        TypeError
            If ``conv`` is not an ``nn.Conv2d``.
        ValueError
            If ``conv`` uses dilation, groups or a padding mode that is not supported.

        Examples
        --------
        >>> import torch
        >>> conv = torch.nn.Conv2d(3, 6, kernel_size=(3, 5), padding=(1, 2), bias=False)
        >>> twin = UnfoldConv2d.from_conv(conv)
        >>> twin
        UnfoldConv2d(3, 6, kernel_size=(3, 5), stride=(1, 1), padding=(1, 2), bias=False)
        >>> torch.equal(twin.weight, conv.weight) and twin.weight is not conv.weight
        True
        """
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(
                f"{cls.__name__}.from_conv expects a torch.nn.Conv2d; got "
                f"{type(conv).__name__} instead."
            )
        # skip_init builds the module without drawing random initial values.
        module = nn.utils.skip_init(
            cls,
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
        )
        with torch.no_grad():
            module.weight.copy_(conv.weight)
            module.weight.requires_grad_(conv.weight.requires_grad)
            if conv.bias is not None:
                module.bias.copy_(conv.bias)
                module.bias.requires_grad_(conv.bias.requires_grad)
        return module.train(conv.training)
