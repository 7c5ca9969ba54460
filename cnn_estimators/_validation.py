"""Input and parameter validation shared by the estimators.

Everything a user passes is checked here before it reaches torch, so that a bad input
produces a message that names what was expected, what was given and how to fix it.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets, type_of_target

__all__ = [
    "PixelRangeWarning",
    "check_image_container",
    "check_images",
    "check_labels",
    "check_param",
    "check_ragged_images",
    "infer_image_shape",
    "is_ragged",
]


def check_param(
    name: str,
    value: Any,
    owner: str,
    *,
    kind: str,
    ok: bool,
    hint: str = "",
) -> None:
    """Raise ``ValueError`` in scikit-learn's wording when ``ok`` is false.

    Parameters
    ----------
    name : str
        The parameter's name.
    value : object
        The value that was given.
    owner : str
        The class or function the parameter belongs to.
    kind : str
        What the parameter must be, e.g. ``"a float in the range [0, 1)"``.
    ok : bool
        Whether the value is valid.
    hint : str, default=""
        How to fix it, appended to the message.
    """
    if ok:
        return
    msg = f"The '{name}' parameter of {owner} must be {kind}. Got {value!r} instead."
    if hint:
        msg += " " + hint
    raise ValueError(msg)


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (and not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def takes_argument(obj: Any, name: str, *, var_keyword: bool = True, unknown: bool = True) -> bool:
    """Whether calling ``obj`` (a class or function) accepts the keyword ``name``.

    The one answer to "does this class take this argument" in the package. A callable
    that takes ``**kwargs`` answers ``var_keyword``; one whose signature cannot be read
    (some C extensions) answers ``unknown``.

    Examples
    --------
    >>> import torch
    >>> takes_argument(torch.optim.SGD, "momentum"), takes_argument(torch.optim.Adam, "momentum")
    (True, False)
    """
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return unknown
    if name in params and params[name].kind is not inspect.Parameter.VAR_POSITIONAL:
        return True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return var_keyword
    return False


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (and not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_array(X: Any, owner: str) -> np.ndarray:
    """Turn tensors, lists and data frames into a numeric numpy array (no copy if possible)."""
    check_image_container(X, owner)
    if isinstance(X, torch.Tensor):
        X = X.detach()
        if X.device.type != "cpu":
            X = X.cpu()
        if X.dtype == torch.bfloat16 or X.dtype == torch.float16:
            X = X.float()
        return X.numpy()
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{owner} expected images as an array, a torch tensor or a nested list of "
            f"numbers; got a {type(X).__name__} instead."
        )
    if isinstance(X, Sequence) and not isinstance(X, np.ndarray):
        try:
            return np.asarray(X)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(
                f"{owner} expected images of one shape, but X is a ragged nested list "
                "(its images have different sizes). Resize the images to one size first, "
                "for example with torchvision.transforms.Resize."
            ) from exc
    return X


def check_image_container(X: Any, owner: str) -> None:
    """Refuse what cannot hold images (None, generators, tensors without data) up front.

    Examples
    --------
    >>> check_image_container(None, "Est")
    Traceback (most recent call last):
    ...
    TypeError: Est expected images (an array, a torch tensor, a list of images or a dataset); got None instead.
    """  # noqa: E501
    if X is None:
        raise TypeError(
            f"{owner} expected images (an array, a torch tensor, a list of images or a "
            "dataset); got None instead."
        )
    if isinstance(X, Iterator) or inspect.isgenerator(X):
        raise TypeError(
            f"{owner} expected images it can index and count; got a {type(X).__name__} "
            "(an iterator, readable only once). Collect it first, e.g. "
            "np.stack(list(images))."
        )
    if isinstance(X, torch.Tensor) and X.device.type == "meta":
        raise ValueError(
            f"{owner} got a tensor on the 'meta' device, which has a shape but no values. "
            "Create the images on the CPU (or a GPU) instead."
        )


class PixelRangeWarning(UserWarning):
    """Float images with values above 1 and none below 0 (e.g. pixels in [0, 255])."""


def warn_on_pixel_range(images: torch.Tensor, owner: str) -> None:
    """Warn when float images look like unscaled 8-bit pixels; they are never rescaled.

    The networks and their learning rates are tuned for pixels in [0, 1] (what uint8
    images are scaled to) or standardised ones (mean 0). Float images in [0, 255] are
    used as given and train markedly worse, so the user is told how to scale them.

    Examples
    --------
    >>> import torch, warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_on_pixel_range(torch.full((2, 1, 4, 4), 200.0), "Est")
    >>> print(caught[0].message)
    Est got float images with values in [200, 200]: they are used as given, but the networks train best on pixels in [0, 1]. Divide them by their maximum (X / 200 here; X / 255 for 8-bit pixels), or pass uint8 images, which are scaled to [0, 1] per batch.
    """  # noqa: E501
    if not images.is_floating_point() or images.numel() == 0:
        return
    low, high = (float(v) for v in torch.aminmax(images))
    if low < 0 or high <= 1:
        return
    warnings.warn(
        f"{owner} got float images with values in [{low:g}, {high:g}]: they are used as "
        "given, but the networks train best on pixels in [0, 1]. Divide them by their "
        f"maximum (X / {high:g} here; X / 255 for 8-bit pixels), or pass uint8 images, "
        "which are scaled to [0, 1] per batch.",
        PixelRangeWarning,
        stacklevel=6,  # the caller of fit: fit -> _fit -> _input -> _images -> here
    )


def _check_object_values(X: np.ndarray, owner: str) -> None:
    """Reject object arrays holding anything that float() cannot take (dicts, None ...).

    Numbers and strings pass here: scikit-learn converts numeric strings, and a
    non-numeric string fails that conversion with its own message.
    """
    allowed = (str, bytes, numbers.Number, np.generic, np.ndarray, list, tuple)
    for value in X.flat:
        if not isinstance(value, allowed):
            kind = type(value).__name__
            raise TypeError(
                f"{owner} expected numeric pixel values, but X holds {kind} objects (e.g. "
                f"{value!r:.40}); float() argument must be a string or a real number, not "
                f"'{kind}'. Convert the images to a numeric array first."
            )


def infer_image_shape(n_features: int) -> tuple[int, int, int]:
    """Guess the (C, H, W) shape of flat images of ``n_features`` values.

    A perfect square ``s*s`` is read as one channel of ``s x s`` (784 → 1×28×28), three
    times a square as three channels (3072 → 3×32×32; a number cannot be both). Anything
    else is a one-pixel-high strip ``(1, 1, n_features)``, which suits an MLP only.

    Examples
    --------
    >>> infer_image_shape(784)
    (1, 28, 28)
    >>> infer_image_shape(3072)
    (3, 32, 32)
    """
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (1, side, side)
    if n_features % 3 == 0:
        side = math.isqrt(n_features // 3)
        if 3 * side * side == n_features:
            return (3, side, side)
    return (1, 1, n_features)


def check_images(
    X: Any,
    *,
    owner: str,
    image_shape: tuple[int, int, int] | None = None,
    fitted_shape: tuple[int, int, int] | None = None,
    variable_size: bool = True,
) -> tuple[torch.Tensor, bool]:
    """Validate images and return them as a (N, C, H, W) tensor.

    uint8 images stay uint8 (they are scaled to [0, 1] per batch, so that no float copy of
    the whole data set is ever held); other dtypes become float32 (float64 is the only
    copy made) unless they already are float32.

    Parameters
    ----------
    X : array-like or torch.Tensor
        (N, C, H, W), (N, H, W) grayscale, (N, H, W, C) channels-last (detected when the last
        axis is 1 or 3 and the second is not), or flat (N, F).
    owner : str
        Name used in error messages.
    image_shape : tuple of 3 ints, optional
        The user's ``image_shape`` parameter, used to unflatten (N, F) input.
    fitted_shape : tuple of 3 ints, optional
        The (C, H, W) seen at fit; given at predict time to check the new images.
    variable_size : bool, default=True
        Whether images of another height/width than ``fitted_shape`` are accepted.

    Returns
    -------
    images : torch.Tensor
        (N, C, H, W), uint8 or float32.
    was_flat : bool
        Whether the input was given as flat (N, F) rows.
    """
    X = _as_array(X, owner)
    if isinstance(X, np.ndarray) and X.dtype == object:
        _check_object_values(X, owner)
    if isinstance(X, np.ndarray) and X.dtype.kind in "USV":
        raise TypeError(
            f"{owner} expected numeric pixel values, but X holds strings or bytes (dtype "
            f"{X.dtype}). Convert the images to a numeric array first."
        )
    if isinstance(X, np.ndarray) and X.dtype == np.uint8:
        dtype: Any = None  # keep uint8
    else:
        dtype = "numeric"
    ndim = getattr(X, "ndim", None)
    if ndim is not None and ndim not in (2, 3, 4):
        raise ValueError(
            f"{owner} expected images as a 2-D (n_samples, n_features), 3-D (N, H, W), or "
            f"4-D (N, C, H, W) or (N, H, W, C) array; got a {ndim}-D array of shape "
            f"{tuple(X.shape)} instead."
            + (
                " Reshape your data: X.reshape(1, -1) for a single flat image, or X[None] for a "
                "single (C, H, W) image."
                if ndim == 1
                else ""
            )
        )
    try:
        X = check_array(
            X,
            dtype=dtype,
            allow_nd=True,
            ensure_all_finite=True,
            ensure_min_samples=1,
            ensure_min_features=1,
            input_name="X",
            estimator=owner,
        )
    except TypeError as exc:
        raise TypeError(
            f"{owner} expected numeric pixel values, but X holds non-numeric values "
            f"({exc}). Convert the images to a numeric array first."
        ) from exc
    except ValueError as exc:
        if "could not convert" in str(exc):
            raise ValueError(
                f"{owner} expected numeric pixel values, but X holds non-numeric values "
                f"({exc}). Convert the images to a numeric array first."
            ) from exc
        raise
    if X.dtype.kind not in "uifb":
        raise TypeError(f"{owner} expected numeric pixel values; got dtype {X.dtype} instead.")
    X = _integer_pixels(X, owner)
    was_flat = X.ndim == 2
    X = _to_nchw(X, owner=owner, image_shape=image_shape, fitted_shape=fitted_shape)
    if min(X.shape[1:]) < 1:
        raise ValueError(
            f"{owner} got zero-size images of shape {tuple(X.shape[1:])}; every image needs at "
            "least one channel and one pixel."
        )
    if fitted_shape is not None:
        _check_against_fitted(X, fitted_shape, owner=owner, variable_size=variable_size)
    with warnings.catch_warnings():
        # Read-only input (a memmap opened with mode="r") is shared, never written to:
        # batches are gathered with index_select, which copies.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        if X.dtype == np.uint8:
            tensor = torch.from_numpy(np.ascontiguousarray(X))
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    return tensor, was_flat


def _integer_pixels(X: np.ndarray, owner: str) -> np.ndarray:
    """Integer images are 8-bit pixels: checked to lie in [0, 255] and kept as uint8."""
    if X.dtype.kind not in "iu" or X.dtype == np.uint8:
        return X
    low, high = X.min(), X.max()
    if low < 0 or high > 255:
        raise ValueError(
            f"{owner} reads integer images as 8-bit pixels in [0, 255], but X holds values "
            f"from {low} to {high}. Pass the images as float32 to use other values as they "
            "are, or rescale them to 0..255."
        )
    return X.astype(np.uint8)


def _to_nchw(
    X: np.ndarray,
    *,
    owner: str,
    image_shape: tuple[int, int, int] | None,
    fitted_shape: tuple[int, int, int] | None,
) -> np.ndarray:
    target = tuple(image_shape) if image_shape is not None else fitted_shape
    if X.ndim == 2:
        n_features = X.shape[1]
        if target is None:
            target = infer_image_shape(n_features)
        if int(np.prod(target)) != n_features:
            if image_shape is None and fitted_shape is not None:
                raise ValueError(
                    f"X has {n_features} features, but {owner} is expecting "
                    f"{int(np.prod(fitted_shape))} features as input (images of shape "
                    f"{tuple(fitted_shape)})."
                )
            raise ValueError(
                f"The 'image_shape' parameter of {owner} is {tuple(target)}, which holds "
                f"{int(np.prod(target))} values, but X has {n_features} features per row. "
                "Give the (channels, height, width) of the flattened images."
            )
        return X.reshape((X.shape[0], *target))
    if X.ndim == 3:
        return X[:, None, :, :]
    # 4-D: channels-first or channels-last?
    _, a, _, d = X.shape
    if target is not None:
        c = target[0]
        if a == c:
            return X
        if d == c:
            return X.transpose(0, 3, 1, 2)
        return X  # channel mismatch is reported by _check_against_fitted / image_shape check
    if d in (1, 3) and a not in (1, 3):
        return X.transpose(0, 3, 1, 2)
    return X


def _check_against_fitted(
    X: np.ndarray, fitted_shape: tuple[int, int, int], *, owner: str, variable_size: bool
) -> None:
    c, h, w = fitted_shape
    if X.shape[1] != c:
        raise ValueError(
            f"X has images with {X.shape[1]} channel(s) (shape {tuple(X.shape[1:])}), but "
            f"{owner} was fitted on images with {c} channel(s) (shape {tuple(fitted_shape)}). "
            "Convert the images to the same number of channels (for example grayscale to RGB "
            "with X.repeat(3, axis=1))."
        )
    if not variable_size and tuple(X.shape[2:]) != (h, w):
        raise ValueError(
            f"X has images of size {X.shape[2]}x{X.shape[3]}, but {owner} was fitted on "
            f"{h}x{w} images and its network only accepts that size. Resize the images to "
            f"{h}x{w}, or use a network with global pooling such as 'global_pool_cnn'."
        )


def check_labels(y: Any, n_samples: int, *, owner: str) -> np.ndarray:
    """Validate classification labels and return them as a 1-D numpy array.

    A column vector (n, 1) is raveled with a ``DataConversionWarning``, as scikit-learn
    estimators do; any other 2-D ``y`` is an error (multi-output is not supported).
    """
    if y is None:
        raise ValueError(
            f"{owner} requires y to be passed, but the target y is None. Pass the labels "
            "as fit(X, y)."
        )
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"{owner} expected y as a 1-D array of labels of shape (n_samples,); got an array "
            f"of shape {y.shape} instead. For one-hot labels use y.argmax(axis=1)."
        )
    if len(y) != n_samples:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n_samples}, {len(y)}]. X has {n_samples} images but y has {len(y)} labels."
        )
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{owner} got NaN or infinite values in y; labels must be finite.")
    if y.dtype == object:
        kinds = {type(v).__name__ for v in y.flat if not isinstance(v, str)}
        if kinds and any(isinstance(v, str) for v in y.flat):
            raise ValueError(
                f"{owner} got labels of mixed types in y (str and {', '.join(sorted(kinds))}); "
                "labels must all be strings or all numbers. Convert them, e.g. "
                "y.astype(str)."
            )
    check_classification_targets(y)
    target_type = type_of_target(y)
    if target_type not in ("binary", "multiclass"):
        raise ValueError(
            f"{owner} supports binary and multiclass labels; got {target_type!r} labels."
        )
    return y


def check_sample_weight(sample_weight: Any, n_samples: int, *, owner: str) -> np.ndarray | None:
    """Validate ``sample_weight`` (1-D, finite, non-negative, not all zero)."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, torch.Tensor):
        sample_weight = sample_weight.detach().cpu().numpy()
    if is_real(sample_weight):
        return np.full(n_samples, float(sample_weight), dtype=np.float32)
    sw = np.asarray(sample_weight)
    if sw.dtype.kind not in "uif":
        raise ValueError(
            f"The 'sample_weight' of {owner}.fit must be numeric; got dtype {sw.dtype} instead."
        )
    if sw.ndim != 1 or sw.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {sw.shape}, expected ({n_samples},): one weight per image."
        )
    sw = sw.astype(np.float64)
    if not np.all(np.isfinite(sw)):
        raise ValueError(f"The 'sample_weight' of {owner}.fit contains NaN or infinite values.")
    if np.any(sw < 0):
        raise ValueError(f"The 'sample_weight' of {owner}.fit has negative values.")
    if not np.any(sw > 0):
        raise ValueError(
            f"The 'sample_weight' of {owner}.fit are all zero; at least one must be positive."
        )
    return sw.astype(np.float32)


def is_ragged(X: Any) -> bool:
    """Whether X is a list (or object array) of images that do not share one shape."""
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
        X = list(X)
    if not isinstance(X, (list, tuple)) or len(X) < 2:
        return False
    shapes = set()
    for item in X:
        shape = getattr(item, "shape", None)
        if shape is None:
            try:
                shape = np.shape(item)
            except ValueError:
                return True  # itself ragged
        if len(shape) < 2:
            return False
        shapes.add(tuple(shape))
        if len(shapes) > 1:
            return True
    return False


def check_ragged_images(
    X: Any, *, owner: str, fitted_channels: int | None = None
) -> list[torch.Tensor]:
    """Validate a list of images of different sizes; return (C, H, W) tensors.

    Each image is (H, W), (C, H, W) or (H, W, C) (channels-last when the last axis is 1 or
    3 and the first is not); all must have the same number of channels. uint8 stays uint8,
    anything else becomes float32.
    """
    images = []
    channels = set()
    for i, item in enumerate(X):
        arr = _as_array(item, owner) if not isinstance(item, np.ndarray) else item
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"{owner} expected each image of a list as (H, W), (C, H, W) or (H, W, C); "
                f"image {i} has shape {arr.shape}."
            )
        if getattr(arr, "dtype", None) is not None and arr.dtype.kind in "iu":
            arr = _integer_pixels(np.asarray(arr), f"{owner} (image {i})")
        keep_uint8 = arr.dtype == np.uint8
        arr = check_array(
            arr,
            dtype=None if keep_uint8 else "numeric",
            allow_nd=True,
            ensure_all_finite=True,
            ensure_min_samples=1,
            ensure_min_features=1,
            input_name=f"X[{i}]",
            estimator=owner,
        )
        if arr.ndim == 2:
            arr = arr[None]
        elif arr.shape[-1] in (1, 3) and arr.shape[0] not in (1, 3):
            arr = arr.transpose(2, 0, 1)
        channels.add(arr.shape[0])
        if keep_uint8:
            images.append(torch.from_numpy(np.ascontiguousarray(arr)))
        else:
            images.append(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)))
    if len(channels) > 1:
        raise ValueError(
            f"{owner} got images with different channel counts {sorted(channels)}; convert "
            "them to one number of channels first."
        )
    if fitted_channels is not None and channels != {fitted_channels}:
        raise ValueError(
            f"X has images with {channels.pop()} channel(s), but {owner} was fitted on "
            f"images with {fitted_channels} channel(s)."
        )
    return images
