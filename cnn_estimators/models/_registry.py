"""Registry of the network architectures known to ``cnn_estimators``.

A model is registered by decorating its *builder* with :func:`register_model`.
A builder is a function with keyword-only arguments that returns a fresh
:class:`torch.nn.Module` producing logits::

    @register_model("my_cnn", min_input_size=(8, 8), variable_input_size=False,
                    default_input_size=(28, 28), default_in_channels=1,
                    description="My network.")
    def my_cnn(*, in_channels=1, num_classes=10, input_size=(28, 28), dropout=0.0):
        ...

:func:`get_model` is the single entry point used by the estimators: it validates
the common arguments (``in_channels``, ``num_classes``, ``input_size``) and the
model-specific keywords *before* calling the builder, so that users get one clear
error message instead of a shape mismatch deep inside PyTorch.

The design follows ``torchvision.models._api`` (``register_model``,
``list_models``, ``get_model``) with these additions: per-model metadata
(:class:`ModelInfo`), duplicate detection, "did you mean" suggestions, checks of
unknown keywords and of the minimum image size, and ``None`` keywords being
ignored so that unset command-line options never override a model's defaults.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

__all__ = ["ModelInfo", "get_model", "get_model_info", "list_models", "register_model"]

#: Arguments every builder must accept; they are not "config" keywords.
_COMMON_ARGS = ("in_channels", "num_classes", "input_size")

_MODELS: dict[str, ModelInfo] = {}


@dataclass(frozen=True)
class ModelInfo:
    """Metadata stored for a registered model.

    Attributes
    ----------
    name : str
        Registered name, e.g. ``"fashion_cnn"``.
    builder : callable
        Keyword-only function ``builder(*, in_channels, num_classes, input_size,
        **config)`` returning a new :class:`torch.nn.Module` that outputs logits.
    min_input_size : tuple of int
        Smallest ``(height, width)`` for which the network can be built and run.
    variable_input_size : bool
        Whether the network, once built, accepts images of another size than the
        ``input_size`` it was built for (it pools globally before its classifier).
    default_input_size : tuple of int
        ``(height, width)`` the network was designed for.
    default_in_channels : int
        Number of image channels the network was designed for.
    description : str
        One-line human-readable description.

    Examples
    --------
    >>> from cnn_estimators.models import get_model_info
    >>> info = get_model_info("fashion_cnn")
    >>> info.min_input_size
    (10, 10)
    >>> "dropout" in info.config_keywords
    True
    """

    name: str
    builder: Callable[..., nn.Module]
    min_input_size: tuple[int, int]
    variable_input_size: bool
    default_input_size: tuple[int, int]
    default_in_channels: int
    description: str

    @property
    def config_keywords(self) -> tuple[str, ...]:
        """Names of the model-specific keywords accepted by the builder."""
        return tuple(
            name
            for name, param in inspect.signature(self.builder).parameters.items()
            if name not in _COMMON_ARGS
            and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD)
        )

    @property
    def accepts_any_keyword(self) -> bool:
        """Whether the builder takes ``**kwargs`` (then keywords are not checked)."""
        return any(
            p.kind is p.VAR_KEYWORD for p in inspect.signature(self.builder).parameters.values()
        )


# ---------------------------------------------------------------------------
# Validation helpers (shared with the model modules of this package)
# ---------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _param_error(name: str, func: str, expected: str, value: Any) -> ValueError:
    return ValueError(
        f"The {name!r} parameter of {func} must be {expected}; got {value!r} instead."
    )


def _check_int(value: Any, name: str, func: str, *, minimum: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``."""
    if not _is_int(value) or value < minimum:
        raise _param_error(name, func, f"an int >= {minimum}", value)
    return int(value)


def _check_size(value: Any, name: str, func: str) -> tuple[int, int]:
    """Return ``value`` as a ``(height, width)`` tuple of positive ints."""
    ok = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(_is_int(v) and v >= 1 for v in value)
    )
    if not ok:
        raise _param_error(name, func, "a (height, width) tuple of two positive ints", value)
    return (int(value[0]), int(value[1]))


def _check_dropout(value: Any, func: str, name: str = "dropout") -> float:
    """Return ``value`` as a ``float`` if it is a probability in ``[0, 1)``."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not 0.0 <= float(value) < 1.0
    ):
        raise _param_error(name, func, "a float in the range [0, 1)", value)
    return float(value)


def _check_choice(value: Any, name: str, func: str, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options``."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        expected = "one of " + ", ".join(repr(o) for o in options)
        raise _param_error(name, func, expected, value)
    return value


def _check_common(
    func: str, in_channels: int, num_classes: int, input_size: tuple[int, int]
) -> tuple[int, int, tuple[int, int]]:
    """Validate the arguments every builder takes; return them normalised."""
    return (
        _check_int(in_channels, "in_channels", func, minimum=1),
        _check_int(num_classes, "num_classes", func, minimum=2),
        _check_size(input_size, "input_size", func),
    )


def _format_size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def register_model(
    name: str,
    *,
    min_input_size: tuple[int, int],
    variable_input_size: bool,
    default_input_size: tuple[int, int],
    default_in_channels: int,
    description: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model builder under ``name`` (decorator).

    Parameters
    ----------
    name : str
        Name used with :func:`get_model`. Must not be registered yet.
    min_input_size : tuple of int
        Smallest ``(height, width)`` for which the network builds and runs.
    variable_input_size : bool
        ``True`` if a built network accepts images of other sizes at predict time.
    default_input_size : tuple of int
        ``(height, width)`` the network was designed for.
    default_in_channels : int
        Number of image channels the network was designed for.
    description : str, default=""
        One-line description; by default the first line of the builder's docstring.

    Returns
    -------
    decorator : callable
        Decorator that stores a :class:`ModelInfo` and returns the builder unchanged.

    Raises
    ------
    ValueError
        If ``name`` is already registered or the metadata is invalid.
    TypeError
        If the builder does not accept keyword arguments ``in_channels``,
        ``num_classes`` and ``input_size``.

    Examples
    --------
    >>> from torch import nn
    >>> from cnn_estimators.models import register_model, list_models
    >>> @register_model("tiny_linear_doc_example", min_input_size=(1, 1),
    ...                 variable_input_size=False, default_input_size=(8, 8),
    ...                 default_in_channels=1, description="A linear model.")
    ... def tiny_linear(*, in_channels=1, num_classes=10, input_size=(8, 8)):
    ...     n_inputs = in_channels * input_size[0] * input_size[1]
    ...     return nn.Sequential(nn.Flatten(), nn.Linear(n_inputs, num_classes))
    >>> "tiny_linear_doc_example" in list_models()
    True
    """
    func = "register_model"
    if not isinstance(name, str) or not name:
        raise _param_error("name", func, "a non-empty str", name)
    min_size = _check_size(min_input_size, "min_input_size", func)
    default_size = _check_size(default_input_size, "default_input_size", func)
    if not isinstance(variable_input_size, bool):
        raise _param_error("variable_input_size", func, "a bool", variable_input_size)
    channels = _check_int(default_in_channels, "default_in_channels", func, minimum=1)
    if default_size[0] < min_size[0] or default_size[1] < min_size[1]:
        raise ValueError(
            f"The default_input_size {default_size} of model {name!r} is smaller than its "
            f"min_input_size {min_size}."
        )

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(
                f"A model named {name!r} is already registered "
                f"(builder {_MODELS[name].builder.__module__}.{_MODELS[name].builder.__name__})."
                " Choose another name."
            )
        if not callable(builder):
            raise TypeError(f"register_model expects a callable builder; got {builder!r}.")
        params = inspect.signature(builder).parameters
        missing = [
            arg
            for arg in _COMMON_ARGS
            if arg not in params
            or params[arg].kind
            not in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        if missing:
            raise TypeError(
                f"The builder of model {name!r} must accept the keyword arguments "
                f"{', '.join(_COMMON_ARGS)}; missing: {', '.join(missing)}."
            )
        doc_line = (inspect.getdoc(builder) or "").strip().split("\n")[0]
        _MODELS[name] = ModelInfo(
            name=name,
            builder=builder,
            min_input_size=min_size,
            variable_input_size=variable_input_size,
            default_input_size=default_size,
            default_in_channels=channels,
            description=description or doc_line,
        )
        return builder

    return decorator


def list_models(
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
) -> list[str]:
    """Return the sorted names of the registered models.

    Parameters
    ----------
    include : str or list of str, optional
        Unix shell-style pattern(s) (:mod:`fnmatch`); keep names matching any of them.
    exclude : str or list of str, optional
        Pattern(s); drop names matching any of them (applied after ``include``).

    Returns
    -------
    names : list of str
        Sorted model names.

    Examples
    --------
    >>> from cnn_estimators.models import list_models
    >>> "fashion_cnn" in list_models()
    True
    >>> list_models(include="resnet*")
    ['resnet18']
    >>> "mlp" in list_models(exclude=["*cnn", "resnet*"])
    True
    """
    names = set(_MODELS)
    if include is not None:
        patterns = [include] if isinstance(include, str) else list(include)
        names = {n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)}
    if exclude is not None:
        patterns = [exclude] if isinstance(exclude, str) else list(exclude)
        names = {n for n in names if not any(fnmatch.fnmatch(n, p) for p in patterns)}
    return sorted(names)


def get_model_info(name: str) -> ModelInfo:
    """Return the :class:`ModelInfo` of a registered model.

    Parameters
    ----------
    name : str
        Registered model name.

    Returns
    -------
    info : ModelInfo
        The model's metadata and builder.

    Raises
    ------
    ValueError
        If no model is registered under ``name``; the message suggests the closest name.

    Examples
    --------
    >>> from cnn_estimators.models import get_model_info
    >>> info = get_model_info("cifar_cnn")
    >>> info.variable_input_size, info.default_in_channels
    (True, 3)
    """
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        pass
    names = list_models()
    hint = ""
    if isinstance(name, str):
        close = difflib.get_close_matches(name.lower().replace("-", "_"), names, n=1)
        if close:
            hint = f" Did you mean {close[0]!r}?"
    valid = ", ".join(repr(n) for n in names)
    raise ValueError(f"Unknown model {name!r}.{hint} Valid models: {valid}.")


def get_model(
    name: str,
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    **config: Any,
) -> nn.Module:
    """Build a new, randomly initialised (or pretrained) network by name.

    Parameters
    ----------
    name : str
        Registered model name, see :func:`list_models`.
    in_channels : int
        Number of image channels (1 for grayscale, 3 for RGB).
    num_classes : int
        Number of classes; the network outputs this many logits (no softmax).
    input_size : tuple of int
        ``(height, width)`` of the training images. Fully connected layers are
        sized from it.
    **config
        Model-specific keywords (see ``get_model_info(name).config_keywords``).
        Keywords whose value is ``None`` are ignored, so the model default applies.

    Returns
    -------
    model : torch.nn.Module
        A fresh module mapping ``(N, in_channels, H, W)`` float images to
        ``(N, num_classes)`` logits.

    Raises
    ------
    ValueError
        If ``name`` is unknown, an argument is invalid, or ``input_size`` is smaller
        than the model's ``min_input_size``.
    TypeError
        If ``config`` contains a keyword the model does not accept.

    Examples
    --------
    >>> import torch
    >>> from cnn_estimators.models import get_model
    >>> net = get_model("fashion_cnn", in_channels=1, num_classes=10, input_size=(28, 28),
    ...                 dropout=0.2)
    >>> net(torch.zeros(4, 1, 28, 28)).shape
    torch.Size([4, 10])
    """
    info = get_model_info(name)
    in_channels, num_classes, size = _check_common(
        "get_model", in_channels, num_classes, input_size
    )

    config = {key: value for key, value in config.items() if value is not None}
    if not info.accepts_any_keyword:
        accepted = info.config_keywords
        unknown = sorted(set(config) - set(accepted))
        if unknown:
            listed = ", ".join(repr(k) for k in accepted) if accepted else "none"
            raise TypeError(
                f"Model {name!r} got unexpected keyword argument(s) "
                f"{', '.join(repr(k) for k in unknown)}. Accepted keywords: {listed}."
            )

    min_h, min_w = info.min_input_size
    if size[0] < min_h or size[1] < min_w:
        smaller = [
            repr(other.name)
            for other in (_MODELS[n] for n in list_models())
            if other.min_input_size[0] <= size[0] and other.min_input_size[1] <= size[1]
        ]
        suggestion = f", such as {', '.join(smaller)}" if smaller else ""
        raise ValueError(
            f"Model {name!r} needs images of at least {_format_size(info.min_input_size)} "
            f"pixels (height x width); got {_format_size(size)}. Resize the images (e.g. with "
            f"torchvision.transforms.Resize) or choose a model that accepts smaller "
            f"inputs{suggestion}."
        )

    return info.builder(in_channels=in_channels, num_classes=num_classes, input_size=size, **config)
