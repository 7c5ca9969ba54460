"""Layer-by-layer summary of a network, in the spirit of ``torchsummary``.

:func:`summary` runs one forward pass on a blank image and records, for every
layer in execution order, its output shape and number of parameters, returning a
:class:`pandas.DataFrame`; :func:`format_summary` renders it as a text table.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

__all__ = ["format_summary", "summary"]

_COLUMNS = ["layer", "type", "output_shape", "params", "trainable"]


def _check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    ok = (
        isinstance(input_shape, Sequence)
        and not isinstance(input_shape, str)
        and len(input_shape) == 3
        and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
            for v in input_shape
        )
    )
    if not ok:
        raise ValueError(
            "The 'input_shape' parameter of summary must be a tuple of 3 positive ints "
            f"(channels, height, width) for one image; got {input_shape!r} instead."
        )
    return (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))


def _resolve_module(model_or_estimator: Any, input_shape: tuple[int, int, int]) -> nn.Module:
    if isinstance(model_or_estimator, nn.Module):
        return model_or_estimator
    if isinstance(model_or_estimator, str):
        from .models import get_model

        channels, height, width = input_shape
        return get_model(
            model_or_estimator, in_channels=channels, num_classes=10, input_size=(height, width)
        )
    module = getattr(model_or_estimator, "module_", None)
    if isinstance(module, nn.Module):
        return module
    if hasattr(type(model_or_estimator), "fit"):
        raise TypeError(
            f"summary needs a fitted estimator: {type(model_or_estimator).__name__} has no "
            "'module_' network yet. Call fit() (or initialize()) first, or pass a model name."
        )
    raise TypeError(
        "The 'model_or_estimator' parameter of summary must be a torch.nn.Module, a "
        "registered model name or a fitted estimator with a 'module_' attribute; "
        f"got {type(model_or_estimator).__name__} instead."
    )


def _shape_of(output: Any) -> Any:
    """Output shape with the batch dimension written as -1 (nested for tuples/dicts)."""
    if isinstance(output, torch.Tensor):
        return (-1, *output.shape[1:]) if output.ndim > 0 else ()
    if isinstance(output, (list, tuple)):
        return tuple(_shape_of(o) for o in output)
    if isinstance(output, dict):
        return {key: _shape_of(value) for key, value in output.items()}
    return None


def _input_dtype(module: nn.Module) -> torch.dtype:
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def summary(
    model_or_estimator: nn.Module | str | Any,
    input_shape: tuple[int, int, int],
    *,
    device: str | torch.device = "cpu",
    verbose: bool = False,
) -> pd.DataFrame:
    """Summarise the layers of a network: output shapes and parameter counts.

    One forward pass is run under ``torch.no_grad()`` in eval mode on a batch of one
    zero image of shape ``(1, *input_shape)``; the train/eval mode of every submodule
    is restored afterwards. Forward hooks record the leaf layers (modules without
    children), and the modules that own parameters directly while having children.

    Parameters
    ----------
    model_or_estimator : torch.nn.Module, str or fitted estimator
        The network; a registered model name (built with
        ``get_model(name, in_channels=C, num_classes=10, input_size=(H, W))``); or a
        fitted estimator, i.e. any object whose ``module_`` attribute is a module.
    input_shape : tuple of int
        ``(channels, height, width)`` of one image, without the batch dimension.
    device : str or torch.device, default="cpu"
        Device on which the blank input is created; must be the module's device.
    verbose : bool, default=False
        Print the table rendered by :func:`format_summary`.

    Returns
    -------
    summary : pandas.DataFrame
        One row per layer call in execution order, with columns ``layer`` (qualified
        name, e.g. ``"features.0"``), ``type`` (class name), ``output_shape`` (tuple,
        batch dimension written as -1), ``params`` and ``trainable`` (parameters owned
        by the layer, and how many of them require gradients). ``summary.attrs`` holds
        ``total_params``, ``trainable_params``, ``non_trainable_params`` (each
        parameter counted once, even if shared by several layers), ``input_shape`` and
        ``params_size_mb`` (size of the parameters as float32, in MiB).

    Raises
    ------
    ValueError
        If ``input_shape`` is invalid, or the forward pass fails (e.g. the image is
        too small for the network or has the wrong number of channels).
    TypeError
        If ``model_or_estimator`` is not a module, a model name or a fitted estimator.

    Examples
    --------
    >>> from cnn_estimators.summary import summary
    >>> df = summary("fashion_cnn", (1, 28, 28))
    >>> df.loc[0, "output_shape"]
    (-1, 64, 26, 26)
    >>> df.attrs["total_params"]
    716706
    """
    input_shape = _check_input_shape(input_shape)
    module = _resolve_module(model_or_estimator, input_shape)

    named = list(module.named_modules())
    watched = [
        (name, mod)
        for name, mod in named
        if not list(mod.children()) or any(True for _ in mod.parameters(recurse=False))
    ]
    rows: list[dict[str, Any]] = []

    def make_hooks(name: str, mod: nn.Module) -> tuple[Any, Any]:
        # The pre-hook reserves the row, so a parent with its own parameters comes
        # before its children; the forward hook fills in the output shape.
        pending: list[dict[str, Any]] = []

        def pre_hook(_mod: nn.Module, _args: Any) -> None:
            own = list(mod.parameters(recurse=False)) if list(mod.children()) else None
            params = own if own is not None else list(mod.parameters())
            row = {
                "layer": name or type(mod).__name__,
                "type": type(mod).__name__,
                "output_shape": None,
                "params": sum(p.numel() for p in params),
                "trainable": sum(p.numel() for p in params if p.requires_grad),
            }
            rows.append(row)
            pending.append(row)

        def hook(_mod: nn.Module, _args: Any, output: Any) -> None:
            pending.pop()["output_shape"] = _shape_of(output)

        return pre_hook, hook

    modes = {mod: mod.training for _, mod in named}
    handles = []
    try:
        for name, mod in watched:
            pre_hook, hook = make_hooks(name, mod)
            handles.append(mod.register_forward_pre_hook(pre_hook))
            handles.append(mod.register_forward_hook(hook))
        module.eval()
        x = torch.zeros((1, *input_shape), dtype=_input_dtype(module), device=device)
        with torch.no_grad():
            try:
                module(x)
            except (RuntimeError, ValueError, IndexError) as err:
                raise ValueError(
                    f"The forward pass of {type(module).__name__} failed on an input of shape "
                    f"(1, {', '.join(map(str, input_shape))}) (input_shape={input_shape}): "
                    f"{str(err).rstrip('.')}. Check that the number of channels is right and "
                    "that the images are large enough for this model."
                ) from err
    finally:
        for handle in handles:
            handle.remove()
        for mod, training in modes.items():
            mod.training = training

    df = pd.DataFrame(rows, columns=_COLUMNS)
    df["params"] = df["params"].astype("int64")
    df["trainable"] = df["trainable"].astype("int64")
    params = list(module.parameters())  # each shared parameter appears once
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    df.attrs.update(
        total_params=total,
        trainable_params=trainable,
        non_trainable_params=total - trainable,
        input_shape=input_shape,
        params_size_mb=total * 4 / 1024**2,
    )
    if verbose:
        print(format_summary(df))
    return df


def format_summary(df: pd.DataFrame) -> str:
    """Render a :func:`summary` DataFrame as a ``torchsummary``-like text table.

    Parameters
    ----------
    df : pandas.DataFrame
        The result of :func:`summary`. If its ``attrs`` were lost, the totals are
        recomputed from the ``params`` and ``trainable`` columns.

    Returns
    -------
    table : str
        The table: "Layer (type)", "Output Shape" and "Param #" columns, followed by
        the total, trainable and non-trainable parameter counts.

    Examples
    --------
    >>> from cnn_estimators.summary import format_summary, summary
    >>> text = format_summary(summary("mlp", (1, 28, 28)))
    >>> "Total params: 795,010" in text
    True
    """
    labels = [f"{layer} ({kind})" for layer, kind in zip(df["layer"], df["type"], strict=True)]
    shapes = [str(shape) for shape in df["output_shape"]]
    counts = [f"{int(n):,}" for n in df["params"]]
    w1 = max([len("Layer (type)"), *map(len, labels)]) + 2
    w2 = max([len("Output Shape"), *map(len, shapes)]) + 2
    w3 = max([len("Param #"), *map(len, counts)]) + 2
    width = w1 + w2 + w3
    total = int(df.attrs.get("total_params", df["params"].sum()))
    trainable = int(df.attrs.get("trainable_params", df["trainable"].sum()))
    non_trainable = int(df.attrs.get("non_trainable_params", total - trainable))
    lines = [
        "-" * width,
        f"{'Layer (type)':<{w1}}{'Output Shape':>{w2}}{'Param #':>{w3}}",
        "=" * width,
        *(
            f"{label:<{w1}}{shape:>{w2}}{count:>{w3}}"
            for label, shape, count in zip(labels, shapes, counts, strict=True)
        ),
        "=" * width,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {non_trainable:,}",
        "-" * width,
    ]
    if "input_shape" in df.attrs:
        lines.insert(-1, f"Input shape: {tuple(df.attrs['input_shape'])}")
    if "params_size_mb" in df.attrs:
        lines.insert(-1, f"Params size (MB): {df.attrs['params_size_mb']:.2f}")
    return "\n".join(lines)
