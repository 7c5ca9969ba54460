"""Experiment helpers: optimizer and recipe comparisons, cross-validation tables, the LR
range test and class-aware evaluation.

Every function returns a :class:`pandas.DataFrame` (or an object holding one), ready to be
printed, saved or handed to the plotting helpers. Estimators passed in are never modified:
the functions fit :func:`sklearn.base.clone` copies, or only call ``predict`` /
``predict_proba`` on an already fitted estimator.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import classification_report, confusion_matrix, log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import check_is_fitted

from ._validation import check_labels
from .adapters import ImageDatasetView
from .estimator import OPTIMIZERS, CNNClassifier
from .report import non_default_params

__all__ = [
    "DEFAULT_LRS",
    "LRFindResult",
    "classification_report_df",
    "compare_optimizers",
    "compare_recipes",
    "confusion_pairs",
    "cross_validate_estimator",
    "lr_find",
    "misclassified",
    "top_losses",
]

#: Learning rates tried by :func:`compare_optimizers` when ``lr`` is None: PyTorch's
#: defaults for Adam and AdamW (1e-3), Keras's for RMSprop (1e-3; PyTorch's is 1e-2, too
#: high for these networks) and for SGD (0.01; PyTorch's is 1e-3), which is also tried at 0.1.
DEFAULT_LRS: Mapping[str, tuple[float, ...]] = {
    "sgd": (0.01, 0.1),
    "adam": (1e-3,),
    "adamw": (1e-3,),
    "rmsprop": (1e-3,),
}
#: Extra grid entries per optimizer when ``param_grid`` does not set them.
_DEFAULT_EXTRAS: Mapping[str, Mapping[str, list]] = {"sgd": {"optimizer__momentum": [0.9]}}


# ---------------------------------------------------------------------- helpers
def _stratified_cv(cv: Any, random_state: Any) -> Any:
    """An int becomes a shuffled ``StratifiedKFold``; splitters pass through."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        return StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=random_state)
    return cv


def _take(X: Any, positions: np.ndarray) -> Any:
    """Rows ``positions`` of X (arrays, lists, DataFrames, tensors, dataset views)."""
    if isinstance(X, torch.utils.data.Dataset) and not isinstance(X, ImageDatasetView):
        X = ImageDatasetView(X)
    if isinstance(X, ImageDatasetView):
        return X[positions]
    if isinstance(X, torch.Tensor):
        return X[torch.as_tensor(positions, dtype=torch.long)]
    return _safe_indexing(X, positions)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, type):
        return value.__name__
    return str(value)


# ---------------------------------------------------------------------- optimizers
def _optimizer_name(opt: Any) -> str:
    """The short name of an optimizer given as a name or a torch optimizer class."""
    if isinstance(opt, str):
        key = opt.lower()
        if key not in OPTIMIZERS:
            close = difflib.get_close_matches(key, list(OPTIMIZERS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown optimizer {opt!r}: use one of {', '.join(map(repr, OPTIMIZERS))} or "
                f"a torch.optim.Optimizer class.{hint}"
            )
        return key
    if isinstance(opt, type) and issubclass(opt, torch.optim.Optimizer):
        for key, cls in OPTIMIZERS.items():
            if cls is opt:
                return key
        return opt.__name__
    raise TypeError(
        f"An optimizer must be a name ({', '.join(map(repr, OPTIMIZERS))}) or a "
        f"torch.optim.Optimizer class; got {opt!r}."
    )


def _optimizer_class(opt: Any) -> type:
    return OPTIMIZERS[opt.lower()] if isinstance(opt, str) else opt


def _accepts(cls: type, argument: str) -> bool:
    """Whether the optimizer class takes ``argument`` (unknown signatures: assume yes)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True
    return argument in params


def _as_list(values: Any) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        return [values]
    return list(values)


def _per_optimizer(value: Any, names: dict[str, Any], what: str) -> dict[str, Any]:
    """Re-key a {optimizer: value} mapping by optimizer name; reject unknown keys."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _optimizer_name(key)
        if name not in names:
            raise ValueError(
                f"{what} has an entry for optimizer {name!r}, which is not among the compared "
                f"optimizers {list(names)!r}."
            )
        out[name] = item
    return out


def _net_prefix(params: Mapping[str, Any]) -> str:
    """'' for a network, '<step>__' for a network inside a Pipeline (or other meta-estimator)."""
    if "optimizer" in params and "lr" in params:
        return ""
    prefixes = [
        key[: -len("optimizer")]
        for key in params
        if key.endswith("__optimizer") and key[: -len("optimizer")] + "lr" in params
    ]
    if len(prefixes) != 1:
        raise TypeError(
            "compare_optimizers needs an estimator with 'optimizer' and 'lr' parameters (a "
            "CNNClassifier or skorch net, possibly inside a Pipeline); "
            + ("found several networks." if prefixes else "found none.")
        )
    return prefixes[0]


def _check_single_metric(scoring: Any, func: str) -> None:
    if scoring is not None and not (isinstance(scoring, str) or callable(scoring)):
        raise ValueError(f"{func} takes a single metric: scoring must be a str or a callable.")


def _search(estimator: Any, grid: Any, X: Any, y: Any, **options: Any) -> GridSearchCV:
    """``GridSearchCV`` fitted on X, y; ``cv`` an int means shuffled stratified folds."""
    cv = _stratified_cv(options.pop("cv"), options.pop("random_state"))
    search = GridSearchCV(estimator, grid, cv=cv, error_score="raise", **options)
    return search.fit(X, y)


def _ranked(rows: list[dict[str, Any]], res: Mapping[str, Any]) -> pd.DataFrame:
    """The rows with the scores of ``cv_results_``, best first."""
    for i, row in enumerate(rows):
        row.update(
            mean_test_score=float(res["mean_test_score"][i]),
            std_test_score=float(res["std_test_score"][i]),
            mean_fit_time=float(res["mean_fit_time"][i]),
            rank_test_score=int(res["rank_test_score"][i]),
        )
    return pd.DataFrame(rows).sort_values("rank_test_score", kind="stable").reset_index(drop=True)


def _short_param(key: str, prefix: str) -> str:
    key = key[len(prefix) :] if key.startswith(prefix) else key
    return key[len("optimizer__") :] if key.startswith("optimizer__") else key


def compare_optimizers(
    estimator: Any,
    X: Any,
    y: Any,
    optimizers: Sequence[Any] = ("sgd", "adam", "rmsprop"),
    lr: float | Sequence[float] | Mapping[Any, Sequence[float]] | None = None,
    cv: Any = 3,
    n_jobs: int | None = None,
    param_grid: Mapping[Any, Mapping[str, Any]] | None = None,
    scoring: str | Callable | None = "accuracy",
    random_state: Any = None,
    return_search: bool = False,
    keep_optimizer_args: bool = False,
    verbose: int = 0,
) -> pd.DataFrame | tuple[pd.DataFrame, GridSearchCV]:
    """Cross-validate the estimator's network with several optimizers and learning rates.

    Each optimizer trains with its own learning rates (:data:`DEFAULT_LRS` unless ``lr``
    says otherwise) and PyTorch's defaults for its other arguments: the ``optimizer__*``
    arguments of the estimator (a factory's momentum, Nesterov or weight decay) are not
    carried into the candidates unless ``keep_optimizer_args=True``. Everything else of
    the estimator (network, epochs, batch size, schedule, transforms) is shared. To compare
    whole training recipes instead, use :func:`compare_recipes`.

    The grid is a list of sub-grids, one per optimizer, so that an argument of one
    optimizer (SGD's ``momentum``) is never given to another (``Adam`` would raise a
    ``TypeError``): a single flat grid cannot express "momentum for SGD only".

    Parameters
    ----------
    estimator : CNNClassifier, skorch net or Pipeline ending with one
        The configuration to compare optimizers on. It is cloned, never modified. Its
        ``random_state`` seeds the weights of every candidate: use an int so that all
        optimizers start from the same weights on a given fold.
    X, y : array-like
        Images and labels, in any form the estimator accepts.
    optimizers : sequence of str or torch optimizer classes, default=("sgd", "adam", "rmsprop")
        Names among "sgd", "adam", "adamw", "rmsprop" (case-insensitive), or classes such
        as ``torch.optim.NAdam``.
    lr : float, list of float, dict or None, default=None
        Learning rates: one value or a list for every optimizer, or a dict
        ``{optimizer: [lrs]}``. None, and optimizers missing from the dict, use
        :data:`DEFAULT_LRS` (sgd: 0.01 and 0.1; adam, adamw, rmsprop: 1e-3); another class
        uses the estimator's ``lr``. With an ``lr_schedule`` on the estimator, this is the
        schedule's starting (or, for "onecycle", peak) learning rate.
    cv : int or cross-validation splitter, default=3
        An int means ``StratifiedKFold(cv, shuffle=True, random_state=random_state)``.
    n_jobs : int, default=None
        Parallel fits, as in :class:`~sklearn.model_selection.GridSearchCV`.
    param_grid : dict, default=None
        Extra grid entries per optimizer, ``{optimizer: {param: [values]}}``, e.g.
        ``{"sgd": {"optimizer__momentum": [0.0, 0.9]}}``. SGD gets
        ``optimizer__momentum=[0.9]`` unless set here (or on the estimator, with
        ``keep_optimizer_args=True``). Parameter names are those of the network; inside a
        Pipeline the step prefix is added for you.
    scoring : str or callable, default="accuracy"
        A single metric, as in ``GridSearchCV``.
    random_state : int, RandomState instance or None, default=None
        Shuffles the folds when ``cv`` is an int.
    return_search : bool, default=False
        Also return the fitted ``GridSearchCV``. It is then refitted on all the data with the
        best configuration (``best_estimator_``); otherwise nothing is refitted.
    keep_optimizer_args : bool, default=False
        Carry the estimator's ``optimizer__*`` arguments into the candidates of the
        optimizers whose signature accepts them (``make_cifar_cnn``'s momentum 0.9 then goes
        to SGD and RMSprop, not to Adam).
    verbose : int, default=0
        ``GridSearchCV``'s verbosity: 2 prints one line per fitted fold as it ends, with
        the candidate and the time; 3 adds the fold number and the score.

    Returns
    -------
    results : DataFrame
        One row per configuration, best first: ``optimizer`` (name), ``lr``, ``params``
        (every other argument the candidate's optimizer was given, read back from the
        candidate estimator, e.g. "momentum=0.9"; the rest are PyTorch's defaults),
        ``mean_test_score``, ``std_test_score``, ``mean_fit_time``, ``rank_test_score``.
    search : GridSearchCV
        Only with ``return_search=True``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import compare_optimizers
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> df = compare_optimizers(est, X / 16, y, optimizers=["sgd", "adam"], random_state=0)
    >>> df.columns[:3].tolist()
    ['optimizer', 'lr', 'params']
    >>> sorted(df["optimizer"].unique().tolist())
    ['adam', 'sgd']
    """
    if isinstance(optimizers, (str, type)):
        optimizers = [optimizers]
    if not len(optimizers):
        raise ValueError("optimizers must name at least one optimizer.")
    names: dict[str, Any] = {}
    for opt in optimizers:
        name = _optimizer_name(opt)
        if name in names:
            raise ValueError(f"Optimizer {name!r} is listed twice in optimizers.")
        names[name] = opt
    _check_single_metric(scoring, "compare_optimizers")

    base = clone(estimator)
    params = base.get_params(deep=True)
    prefix = _net_prefix(params)
    net_key = prefix[:-2]
    net = params[net_key] if net_key else base
    # Names are the package's; a plain skorch net needs the optimizer classes themselves.
    use_names = isinstance(net, CNNClassifier)

    # Learning rates per optimizer.
    if lr is None or isinstance(lr, Mapping):
        given = _per_optimizer(lr or {}, names, "lr")
        default_lr = params[prefix + "lr"]
        lrs = {
            name: _as_list(given.get(name, DEFAULT_LRS.get(name, (default_lr,)))) for name in names
        }
    else:
        lrs = dict.fromkeys(names, _as_list(lr))
    for name, values in lrs.items():
        if not values or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 for v in values
        ):
            raise ValueError(
                f"The learning rates for {name!r} must be positive floats; got {values!r}."
            )

    # Extra entries: defaults < the estimator's own optimizer__* values < param_grid.
    if param_grid is not None and not (
        isinstance(param_grid, Mapping) and all(isinstance(v, Mapping) for v in param_grid.values())
    ):
        raise ValueError(
            "param_grid must map optimizers to their extra parameters, e.g. "
            f"{{'sgd': {{'optimizer__momentum': [0.0, 0.9]}}}}; got {param_grid!r}."
        )
    user = _per_optimizer(param_grid or {}, names, "param_grid")
    own = {
        key[len(prefix + "optimizer__") :]: value
        for key, value in params.items()
        if key.startswith(prefix + "optimizer__") and "__" not in key[len(prefix + "optimizer__") :]
    }
    classes = {name: _optimizer_class(opt) for name, opt in names.items()}
    if keep_optimizer_args:
        moved = {arg for arg in own if not all(_accepts(cls, arg) for cls in classes.values())}
    else:  # every optimizer starts from its own defaults
        moved, own = set(own), {}
    if moved:
        drop = {"optimizer__" + arg for arg in moved}
        net = type(net)(**{k: v for k, v in net.get_params(deep=False).items() if k not in drop})
        base = net if not net_key else base.set_params(**{net_key: net})

    grid: list[dict[str, list]] = []
    for name, opt in names.items():
        extras: dict[str, list] = {}
        for key, values in _DEFAULT_EXTRAS.get(name, {}).items():
            if key[len("optimizer__") :] not in own:
                extras[prefix + key] = list(values)
        for arg in moved & set(own):
            if _accepts(classes[name], arg):
                extras[prefix + "optimizer__" + arg] = [own[arg]]
        for key, values in user.get(name, {}).items():
            full = key if key in params or (prefix and key.startswith(prefix)) else prefix + key
            extras[full] = _as_list(values)
        value = opt.lower() if isinstance(opt, str) else opt
        if not use_names:
            value = classes[name]
        grid.append({prefix + "optimizer": [value], prefix + "lr": lrs[name], **extras})

    options = dict(cv=cv, random_state=random_state, n_jobs=n_jobs, scoring=scoring)
    search = _search(base, grid, X, y, refit=bool(return_search), verbose=verbose, **options)
    res = search.cv_results_
    rows = []
    for cand in res["params"]:
        # What the candidate trained with, read back from the estimator GridSearchCV built
        # for it (a clone of ``base`` with the candidate's values set), not from the grid.
        trained = clone(base).set_params(**cand).get_params(deep=True)
        arg_prefix = prefix + "optimizer__"
        extra = ", ".join(
            f"{_short_param(k, prefix)}={_format_value(v)}"
            for k, v in sorted(trained.items())
            if k.startswith(arg_prefix) and "__" not in k[len(arg_prefix) :]
        )
        rows.append(
            {
                "optimizer": _optimizer_name(trained[prefix + "optimizer"]),
                "lr": float(trained[prefix + "lr"]),
                "params": extra,
            }
        )
    df = _ranked(rows, res)
    return (df, search) if return_search else df


# ---------------------------------------------------------------------- recipes
class _Recipe(ClassifierMixin, BaseEstimator):
    """One of several named estimators, chosen by the parameter ``name`` (so that a grid
    search over recipes logs and reports names, not estimator reprs)."""

    def __init__(self, recipes: Mapping[str, Any] | None = None, name: str | None = None):
        self.recipes = recipes
        self.name = name

    def fit(self, X: Any, y: Any) -> _Recipe:
        self.estimator_ = clone(self.recipes[self.name]).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(X)


def compare_recipes(
    recipes: Mapping[str, Any],
    X: Any,
    y: Any,
    cv: Any = 3,
    n_jobs: int | None = None,
    scoring: str | Callable | None = "accuracy",
    random_state: Any = None,
    return_search: bool = False,
    verbose: int = 0,
) -> pd.DataFrame | tuple[pd.DataFrame, GridSearchCV]:
    """Cross-validate whole training recipes, each estimator exactly as configured.

    Where :func:`compare_optimizers` varies the optimizer on one network and resets the
    optimizer's other arguments, this compares complete configurations (network,
    optimizer with all its arguments, schedule, loss, epochs) on the same folds, e.g. the
    two recipes of :func:`~cnn_estimators.make_fashion_mnist_cnn`.

    Parameters
    ----------
    recipes : dict
        ``{name: estimator}``; each estimator is cloned, never modified. Give them an int
        ``random_state`` for reproducible scores.
    X, y : array-like
        Images and labels, in any form the estimators accept.
    cv : int or cross-validation splitter, default=3
        An int means ``StratifiedKFold(cv, shuffle=True, random_state=random_state)``;
        every recipe is scored on the same folds.
    n_jobs : int, default=None
        Parallel fits, as in :class:`~sklearn.model_selection.GridSearchCV`.
    scoring : str or callable, default="accuracy"
        A single metric, as in ``GridSearchCV``.
    random_state : int, RandomState instance or None, default=None
        Shuffles the folds when ``cv`` is an int.
    return_search : bool, default=False
        Also return the fitted ``GridSearchCV`` over the recipes' names, refitted on all the
        data with the best recipe: ``search.best_estimator_.estimator_`` is that fitted
        estimator.
    verbose : int, default=0
        ``GridSearchCV``'s verbosity: 2 prints one line per fitted fold as it ends, with
        the recipe and the time; 3 adds the fold number and the score.

    Returns
    -------
    results : DataFrame
        One row per recipe, best first: ``recipe`` (the name), ``optimizer`` and ``lr``
        (empty and NaN for estimators without them), ``params`` (the ``module``, then every
        other parameter that differs from the estimator class's default,
        "name=value, ..."),
        ``mean_test_score``, ``std_test_score``, ``mean_fit_time``, ``rank_test_score``.
    search : GridSearchCV
        Only with ``return_search=True``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import compare_recipes
    >>> X, y = load_digits(return_X_y=True)
    >>> small = dict(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> recipes = {"adam": make_mlp(**small),
    ...            "sgd": make_mlp(optimizer="sgd", lr=0.1, optimizer__momentum=0.9, **small)}
    >>> df = compare_recipes(recipes, X / 16, y, random_state=0)
    >>> sorted(df["recipe"])
    ['adam', 'sgd']
    >>> print(df.set_index("recipe").loc["sgd", "params"])
    module=mlp, max_epochs=2, device=cpu, optimizer__momentum=0.9, module__hidden_sizes=(16,), ...
    """
    if not isinstance(recipes, Mapping) or not recipes:
        raise ValueError(
            "recipes must be a non-empty dict {name: estimator}, e.g. "
            "{'fast': make_fashion_mnist_cnn(), 'course': make_fashion_mnist_cnn("
            f"recipe='course')}}; got {recipes!r}."
        )
    names = [str(name) for name in recipes]
    if len(set(names)) != len(names):
        raise ValueError(f"The names of the recipes must differ; got {names!r}.")
    _check_single_metric(scoring, "compare_recipes")
    named = {name: clone(est) for name, est in zip(names, recipes.values(), strict=True)}
    options = dict(cv=cv, random_state=random_state, n_jobs=n_jobs, scoring=scoring)
    search = _search(
        _Recipe(named, names[0]),
        {"name": names},
        X,
        y,
        refit=bool(return_search),
        verbose=verbose,
        **options,
    )
    res = search.cv_results_
    rows = []
    for cand in res["params"]:
        est = named[cand["name"]]
        own = est.get_params(deep=False)
        # The network is always shown, even where it is the class's default.
        params = {**({"module": own["module"]} if "module" in own else {})}
        params.update(non_default_params(est))
        optimizer = params.pop("optimizer", getattr(est, "optimizer", ""))
        lr = params.pop("lr", getattr(est, "lr", float("nan")))
        rows.append(
            {
                "recipe": cand["name"],
                "optimizer": optimizer if isinstance(optimizer, str) else _format_value(optimizer),
                "lr": float(lr) if isinstance(lr, numbers.Real) else float("nan"),
                "params": ", ".join(f"{k}={_format_value(v)}" for k, v in params.items()),
            }
        )
    df = _ranked(rows, res)
    return (df, search) if return_search else df


# ---------------------------------------------------------------------- cross-validation
def _fold_scores(est: Any, X: Any, y: Any) -> dict[str, float]:
    """Accuracy and log loss of one fold from a single ``predict_proba`` where possible."""
    y = np.asarray(y)
    classes = getattr(est, "classes_", None)
    proba = None
    if hasattr(est, "predict_proba") and classes is not None:
        proba = np.asarray(est.predict_proba(X))
    if proba is not None and isinstance(est, CNNClassifier):
        pred = classes[proba.argmax(axis=1)]  # exactly CNNClassifier.predict
    else:
        pred = np.asarray(est.predict(X))
    loss = np.nan
    if proba is not None:
        loss = float(log_loss(y, proba, labels=classes))
    return {"accuracy": float(np.mean(pred == y)), "loss": loss}


class _SharedList(list):
    """A list that ``copy.deepcopy`` returns as is.

    pandas deep-copies ``DataFrame.attrs`` into every derived frame (``df.head()``,
    ``df[cols]``); the fitted fold estimators are shared instead of copied each time.
    """

    def __deepcopy__(self, memo: dict) -> _SharedList:
        return self


def _epochs(est: Any) -> float:
    """``n_iter_`` of the estimator, or of the last step of a Pipeline; NaN otherwise."""
    n_iter = getattr(est, "n_iter_", None)
    if n_iter is None and hasattr(est, "steps"):
        n_iter = getattr(est.steps[-1][1], "n_iter_", None)
    try:
        return float(n_iter)
    except (TypeError, ValueError):
        return float("nan")


def cross_validate_estimator(
    estimator: Any,
    X: Any,
    y: Any,
    cv: Any = 5,
    n_jobs: int | None = None,
    random_state: Any = None,
    return_estimators: bool = False,
    verbose: int = 0,
) -> pd.DataFrame:
    """Stratified K-fold cross-validation as a table: one row per fold, then mean and std.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier; it is cloned for every fold.
    X, y : array-like
        Images and labels.
    cv : int or cross-validation splitter, default=5
        An int means ``StratifiedKFold(cv, shuffle=True, random_state=random_state)``.
    n_jobs : int, default=None
        Folds fitted in parallel.
    random_state : int, RandomState instance or None, default=None
        Shuffles the folds. The weights are seeded by the estimator's own ``random_state``:
        with both set, the table is reproducible (apart from the times).
    return_estimators : bool, default=False
        Keep the fitted fold estimators in ``df.attrs["estimators"]`` (a list, in fold
        order, shared by the frames derived from ``df`` rather than copied). They are dropped
        by default to save memory (each holds a network and its optimizer state).
    verbose : int, default=0
        scikit-learn's ``cross_validate`` verbosity: 2 prints one line per fold as it ends,
        with its time; 3 adds its accuracy and loss.

    Returns
    -------
    DataFrame
        Columns ``fold`` (0, 1, ..., then "mean" and "std"), ``accuracy`` (on the test
        fold), ``loss`` (log loss of ``predict_proba`` on the test fold, computed with
        ``labels=est.classes_``; NaN without ``predict_proba``), ``fit_time``,
        ``score_time`` (seconds), ``epochs`` (the fitted ``n_iter_``, NaN when the
        estimator has none). The std row is the population standard deviation (``ddof=0``,
        as ``GridSearchCV``'s ``std_test_score``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import cross_validate_estimator
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> df = cross_validate_estimator(est, X / 16, y, cv=3, random_state=0)
    >>> df["fold"].tolist()
    [0, 1, 2, 'mean', 'std']
    >>> float(df.loc[0, "epochs"])
    2.0
    """
    result = cross_validate(
        estimator,
        X,
        y,
        cv=_stratified_cv(cv, random_state),
        n_jobs=n_jobs,
        scoring=_fold_scores,
        return_train_score=False,
        return_estimator=True,
        error_score="raise",
        verbose=verbose,
    )
    estimators = list(result["estimator"])
    folds = pd.DataFrame(
        {
            "fold": list(range(len(estimators))),
            "accuracy": np.asarray(result["test_accuracy"], dtype=float),
            "loss": np.asarray(result["test_loss"], dtype=float),
            "fit_time": np.asarray(result["fit_time"], dtype=float),
            "score_time": np.asarray(result["score_time"], dtype=float),
            "epochs": [_epochs(est) for est in estimators],
        }
    )
    numeric = folds.drop(columns="fold")
    summary = pd.DataFrame(
        [
            {"fold": "mean", **numeric.mean().to_dict()},
            {"fold": "std", **numeric.std(ddof=0).to_dict()},
        ]
    )
    df = pd.concat([folds.astype({"fold": object}), summary], ignore_index=True)
    if return_estimators:
        df.attrs["estimators"] = _SharedList(estimators)
    return df


# ---------------------------------------------------------------------- LR range test
@dataclass(repr=False)
class LRFindResult:
    """The outcome of :func:`lr_find`.

    Attributes
    ----------
    history : DataFrame
        One row per training step: ``lr``, ``loss`` (of that batch) and ``smoothed_loss``.
    suggested_lr : float
        The learning rate where the smoothed loss falls fastest (see :func:`lr_find`).
    diverged : bool
        Whether the test stopped early because the loss exploded.
    """

    history: pd.DataFrame
    suggested_lr: float
    diverged: bool

    def __repr__(self) -> str:
        return (
            f"LRFindResult(suggested_lr={self.suggested_lr:.3g}, diverged={self.diverged}, "
            f"steps={len(self.history)})"
        )


def _suggest_lr(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    """The lr of the steepest descent of the smoothed loss against log10(lr)."""
    finite = np.isfinite(smoothed)
    lrs, smoothed = lrs[finite], smoothed[finite]
    if len(lrs) == 0:
        return float("nan")
    lowest = int(np.argmin(smoothed))
    if len(lrs) < 3 or lowest == 0:
        return float(lrs[lowest])
    slope = np.gradient(smoothed, np.log10(lrs))
    return float(lrs[int(np.argmin(slope[: lowest + 1]))])


def _check_positive(name: str, value: Any, *, integer: bool = False, low: float = 0.0) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if integer:
        ok = ok and isinstance(value, numbers.Integral)
    if not ok or value <= low:
        kind = "an int" if integer else "a finite number"
        raise ValueError(f"lr_find: {name} must be {kind} greater than {low:g}; got {value!r}.")


def lr_find(
    estimator: CNNClassifier,
    X: Any,
    y: Any = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    smooth: float = 0.05,
    diverge_factor: float = 4.0,
    batch_size: int | None = None,
    random_state: Any = None,
) -> LRFindResult:
    """The learning-rate range test (Leslie Smith, 2015; popularised by fastai).

    A fresh copy of the network trains for ``num_iter`` mini-batches while the learning
    rate grows exponentially from ``start_lr`` to ``end_lr``; the loss of every step is
    recorded. Good learning rates lie where the loss falls fastest, well before it explodes.

    How it works: a clone of ``estimator`` is fitted for one epoch on one batch of ``X``,
    only to build the network, optimizer and callbacks with the shapes and classes of the
    data (they are inferred at ``fit``). Then ``initialize()`` is called again under the
    same seeding as ``fit`` uses, which re-creates the module with fresh weights (exactly
    those ``fit`` would start from) and a fresh optimizer. The test then runs the
    estimator's own training step (``get_iterator(..., training=True)`` and ``train_step``,
    so transforms, precision, ``class_weight`` and gradient callbacks apply) on shuffled
    batches of all of ``X``, cycling over it as often as needed, after setting the learning
    rate of every optimizer param group.

    Parameters
    ----------
    estimator : CNNClassifier
        Left untouched (fitted or not): the test runs on a clone.
    X, y : array-like
        Training images and labels (``y`` may be omitted for a torch dataset with labels).
    start_lr, end_lr : float, default=1e-7, 10.0
        The learning rates of the first and the last step.
    num_iter : int, default=100
        Steps (mini-batches) of the test.
    smooth : float in (0, 1], default=0.05
        Weight of the newest loss in the exponentially smoothed loss
        (``s_t = smooth * loss_t + (1 - smooth) * s_{t-1}``, ``s_0 = loss_0``); 1 means no
        smoothing.
    diverge_factor : float, default=4.0
        Stop once the smoothed loss exceeds ``diverge_factor`` times the lowest smoothed
        loss so far (or is not finite).
    batch_size : int, default=None
        Images per step; None uses the estimator's ``batch_size``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights and the batch order; None uses the estimator's ``random_state``.
        The global torch, numpy and ``random`` generators are left as they were.

    Returns
    -------
    LRFindResult
        ``history`` (``lr``, ``loss``, ``smoothed_loss``), ``suggested_lr`` and
        ``diverged``.

    Notes
    -----
    ``suggested_lr`` is the learning rate at the most negative slope of the smoothed loss
    against ``log10(lr)``, searched up to the lowest smoothed loss (the "steepest"
    heuristic of fastai and torch-lr-finder). It is a starting point, not a tuned value:
    look at the curve, and prefer a rate somewhat below the point of divergence. When the
    loss never decreases, it is the rate of the lowest loss.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import lr_find
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), random_state=0, device="cpu")
    >>> result = lr_find(est, X / 16, y, num_iter=30)
    >>> result.history.columns.tolist()
    ['lr', 'loss', 'smoothed_loss']
    >>> 1e-7 <= result.suggested_lr <= 10.0
    True
    """
    if not isinstance(estimator, CNNClassifier):
        raise TypeError(
            f"lr_find needs a CNNClassifier; got {type(estimator).__name__}. For a Pipeline, "
            "transform X first and pass the network step."
        )
    _check_positive("start_lr", start_lr)
    _check_positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(
            f"lr_find: end_lr ({end_lr!r}) must be greater than start_lr ({start_lr!r})."
        )
    _check_positive("num_iter", num_iter, integer=True, low=1)
    _check_positive("smooth", smooth)
    if smooth > 1:
        raise ValueError(f"lr_find: smooth must be in (0, 1]; got {smooth!r}.")
    _check_positive("diverge_factor", diverge_factor, low=1.0)
    if batch_size is not None and batch_size != -1:
        _check_positive("batch_size", batch_size, integer=True)

    if isinstance(X, torch.utils.data.Dataset) and not isinstance(X, ImageDatasetView):
        X = ImageDatasetView(X)
    if isinstance(X, ImageDatasetView) and y is None:
        y = X.targets
    n = len(X)
    y = check_labels(y, n, owner="lr_find")
    classes = np.unique(y) if estimator.classes is None else np.asarray(estimator.classes)
    if len(classes) < 2:
        raise ValueError("lr_find needs labels of at least 2 classes.")

    est = clone(estimator)  # also copies a RandomState parameter: the caller's is not drawn from
    rs = est.random_state if random_state is None else random_state
    if not (isinstance(rs, numbers.Integral) and not isinstance(rs, bool)):
        rs = int(check_random_state(rs).randint(0, 2**31 - 1))
    est.set_params(
        max_epochs=1,
        validation_fraction=0.0,
        train_split=None,
        early_stopping=False,
        keep_best=False,
        checkpoint_dir=None,
        lr_schedule=None,
        warm_start=False,
        progress_bar=False,
        verbose=0,
        classes=classes,
        random_state=int(rs),
    )
    if batch_size is not None:
        est.set_params(batch_size=batch_size)
    batch = est.batch_size if est.batch_size != -1 else n
    seed = est._fit_seed()  # what fit() seeds with, for this random_state

    device = torch.device(est.device or "cpu")
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        # 1. Build module, criterion, optimizer and callbacks sized from one batch.
        small = np.sort(np.random.default_rng(seed).permutation(n)[: min(n, batch)])
        est.fit(_take(X, small), y[small])
        # 2. Fresh weights and optimizer state, seeded as fit() seeds them.
        with est._seeded(seed):
            est.initialize()
        # 3. The whole data set, through the estimator's own data path.
        kind, images = est._input(X, fitting=False)
        y_enc = _positions(est.classes_, y).astype(np.int64)
        weights = est._sample_weights(None, y_enc, est.classes_)
        dataset = est._dataset(kind, images, y_enc, weights)

        lrs = np.geomspace(start_lr, end_lr, int(num_iter))
        records: list[tuple[float, float, float]] = []
        diverged = False
        best = np.inf
        smoothed = np.nan
        with est._seeded(seed + 1):
            batches = iter(est.get_iterator(dataset, training=True))
            for step, rate in enumerate(lrs):
                try:
                    data = next(batches)
                except StopIteration:
                    batches = iter(est.get_iterator(dataset, training=True))
                    data = next(batches)
                for group in est.optimizer_.param_groups:
                    group["lr"] = float(rate)
                loss = float(est.train_step(data)["loss"].detach().float().cpu())
                smoothed = loss if step == 0 else smooth * loss + (1 - smooth) * smoothed
                records.append((float(rate), loss, float(smoothed)))
                if not np.isfinite(smoothed) or smoothed > diverge_factor * best:
                    diverged = True
                    break
                best = min(best, smoothed)

    history = pd.DataFrame(records, columns=["lr", "loss", "smoothed_loss"])
    used = history.iloc[:-1] if diverged else history
    suggested = _suggest_lr(used["lr"].to_numpy(), used["smoothed_loss"].to_numpy())
    return LRFindResult(history=history, suggested_lr=suggested, diverged=diverged)


# ---------------------------------------------------------------------- evaluation
def _names(classes: np.ndarray, class_names: Any) -> list[str]:
    """Display names of ``classes``: from a list aligned with classes_, or a dict."""
    if class_names is None:
        return [str(c) for c in classes]
    if isinstance(class_names, Mapping):
        return [str(class_names.get(c, c)) for c in classes.tolist()]
    names = list(class_names)
    if len(names) != len(classes):
        raise ValueError(
            f"class_names has {len(names)} names but the estimator has {len(classes)} classes "
            f"({classes.tolist()!r}); give one name per class, in the order of classes_, or a "
            "dict {label: name}."
        )
    return [str(v) for v in names]


def _label_map(classes: np.ndarray, class_names: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Map an array of labels to display names (labels unchanged when no names)."""
    if class_names is None:
        return lambda labels: labels
    lookup = dict(zip(classes.tolist(), _names(classes, class_names), strict=True))
    return lambda labels: np.asarray([lookup.get(v, str(v)) for v in labels.tolist()], dtype=object)


def _labels(estimator: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    check_is_fitted(estimator)
    classes = np.asarray(estimator.classes_)
    y = check_labels(y, len(X), owner="The evaluation helper")
    return classes, y


def _positions(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Column of each label in ``classes`` (ValueError for unknown labels)."""
    order = np.argsort(classes, kind="stable")
    found = np.clip(np.searchsorted(classes, labels, sorter=order), 0, len(classes) - 1)
    pos = order[found]
    if not np.array_equal(classes[pos], labels):
        unseen = np.setdiff1d(np.unique(labels), classes)
        raise ValueError(
            f"y contains labels {unseen.tolist()!r} that the estimator never saw "
            f"(classes_ = {classes.tolist()!r})."
        )
    return pos


def _predict(estimator: Any, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted labels and probabilities (None without ``predict_proba``)."""
    if hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(X))
        if isinstance(estimator, CNNClassifier):
            return np.asarray(estimator.classes_)[proba.argmax(axis=1)], proba
        return np.asarray(estimator.predict(X)), proba
    return np.asarray(estimator.predict(X)), None


def classification_report_df(
    estimator: Any, X: Any, y: Any, class_names: Any = None
) -> pd.DataFrame:
    """``sklearn.metrics.classification_report`` as a DataFrame.

    Parameters
    ----------
    estimator : fitted classifier
    X, y : array-like
        Test images and labels.
    class_names : list or dict, default=None
        Row names of the classes: a list aligned with ``estimator.classes_`` or a dict
        ``{label: name}`` (labels missing from it keep their own name).

    Returns
    -------
    DataFrame
        One row per class of ``classes_`` (in that order), then "accuracy" (or "micro avg"
        when ``y`` misses some classes), "macro avg" and "weighted avg"; columns
        ``precision``, ``recall``, ``f1-score``, ``support``. The accuracy row holds the
        accuracy in ``precision``, ``recall`` and ``f1-score`` (for single-label
        classification all three micro averages equal the accuracy) and the number of
        images in ``support``; no cell is NaN. Undefined precisions (a class never
        predicted) are 0.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import classification_report_df
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> est = est.fit(X / 16, y)
    >>> report = classification_report_df(est, X / 16, y)
    >>> report.shape
    (13, 4)
    >>> report.index[-3:].tolist()
    ['accuracy', 'macro avg', 'weighted avg']
    """
    classes, y = _labels(estimator, X, y)
    y_pred, _ = _predict(estimator, X)
    names = _names(classes, class_names)
    report = classification_report(
        y, y_pred, labels=classes, target_names=names, output_dict=True, zero_division=0
    )
    rows = {}
    for key, value in report.items():
        if isinstance(value, Mapping):
            rows[key] = dict(value)
        else:  # "accuracy" is a bare float, equal to the micro-averaged P, R and F1
            rows[key] = {
                "precision": value,
                "recall": value,
                "f1-score": value,
                "support": len(y),
            }
    df = pd.DataFrame.from_dict(rows, orient="index")[
        ["precision", "recall", "f1-score", "support"]
    ]
    df["support"] = df["support"].astype(int)
    return df


def confusion_pairs(
    estimator: Any,
    X: Any,
    y: Any,
    class_names: Any = None,
    top: int | None = 10,
    normalize: bool = False,
) -> pd.DataFrame:
    """The most frequent confusions: (true, predicted) pairs off the diagonal.

    Parameters
    ----------
    estimator : fitted classifier
    X, y : array-like
        Test images and labels.
    class_names : list or dict, default=None
        Names shown instead of the labels (see :func:`classification_report_df`).
    top : int or None, default=10
        Number of pairs returned; None returns every pair that occurs.
    normalize : bool, default=False
        Sort by ``rate`` (the share of the true class that goes to the predicted class)
        instead of ``count``; this favours mistakes on small classes.

    Returns
    -------
    DataFrame
        Columns ``true``, ``predicted``, ``count``, ``rate`` (``count`` / number of images of
        the true class), only pairs that occur, sorted by ``count`` (or ``rate``)
        descending, ties in the order of ``classes_``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import confusion_pairs
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> pairs = confusion_pairs(est.fit(X / 16, y), X / 16, y, top=3)
    >>> pairs.columns.tolist()
    ['true', 'predicted', 'count', 'rate']
    >>> len(pairs) <= 3
    True
    """
    classes, y = _labels(estimator, X, y)
    y_pred, _ = _predict(estimator, X)
    cm = confusion_matrix(y, y_pred, labels=classes)
    support = cm.sum(axis=1)
    true_idx, pred_idx = np.nonzero(cm * (1 - np.eye(len(classes), dtype=cm.dtype)))
    counts = cm[true_idx, pred_idx]
    rates = counts / np.maximum(support[true_idx], 1)
    names = (
        np.asarray(_names(classes, class_names), dtype=object)
        if class_names is not None
        else classes
    )
    df = pd.DataFrame(
        {
            "true": names[true_idx],
            "predicted": names[pred_idx],
            "count": counts.astype(int),
            "rate": rates.astype(float),
        }
    )
    keys = ["rate", "count"] if normalize else ["count", "rate"]
    df = df.sort_values(keys, ascending=False, kind="stable").reset_index(drop=True)
    return df if top is None else df.head(int(top))


def top_losses(
    estimator: Any, X: Any, y: Any, k: int | None = 16, class_names: Any = None
) -> pd.DataFrame:
    """The ``k`` images with the largest cross-entropy loss.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba``
    X, y : array-like
        Images and labels.
    k : int or None, default=16
        Number of rows; None returns every image.
    class_names : list or dict, default=None
        Names shown in ``true`` / ``predicted`` instead of the labels.

    Returns
    -------
    DataFrame
        Columns ``index`` (position in ``X``), ``true``, ``predicted``, ``loss``
        (``-log p_true``, probabilities clipped at 1e-12), ``p_true``, ``p_predicted``,
        sorted by ``loss`` descending.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import top_losses
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> worst = top_losses(est.fit(X / 16, y), X / 16, y, k=4)
    >>> worst.columns.tolist()
    ['index', 'true', 'predicted', 'loss', 'p_true', 'p_predicted']
    >>> bool(worst["loss"].is_monotonic_decreasing)
    True
    """
    classes, y = _labels(estimator, X, y)
    y_pred, proba = _predict(estimator, X)
    if proba is None:
        raise TypeError(f"top_losses needs predict_proba; {type(estimator).__name__} has none.")
    rows = np.arange(len(y))
    p_true = proba[rows, _positions(classes, y)]
    p_pred = proba[rows, _positions(classes, y_pred)]
    loss = -np.log(np.clip(p_true, 1e-12, 1.0))
    order = np.argsort(-loss, kind="stable")
    if k is not None:
        order = order[: int(k)]
    show = _label_map(classes, class_names)
    return pd.DataFrame(
        {
            "index": order,
            "true": show(y[order]),
            "predicted": show(y_pred[order]),
            "loss": loss[order].astype(float),
            "p_true": p_true[order].astype(float),
            "p_predicted": p_pred[order].astype(float),
        }
    )


def misclassified(
    estimator: Any, X: Any, y: Any, limit: int | None = None, class_names: Any = None
) -> pd.DataFrame:
    """The wrongly classified images, in the order of ``X``.

    Parameters
    ----------
    estimator : fitted classifier
    X, y : array-like
        Images and labels.
    limit : int or None, default=None
        Return at most this many rows (the first ones).
    class_names : list or dict, default=None
        Names shown in ``true`` / ``predicted`` instead of the labels.

    Returns
    -------
    DataFrame
        Columns ``index`` (position in ``X``), ``true``, ``predicted``, ``p_predicted`` (the
        probability of the predicted class; NaN without ``predict_proba``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cnn_estimators import make_mlp
    >>> from cnn_estimators.experiments import misclassified
    >>> X, y = load_digits(return_X_y=True)
    >>> est = make_mlp(module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    >>> est = est.fit(X / 16, y)
    >>> wrong = misclassified(est, X / 16, y)
    >>> len(wrong) == int((est.predict(X / 16) != y).sum())
    True
    """
    classes, y = _labels(estimator, X, y)
    y_pred, proba = _predict(estimator, X)
    wrong = np.flatnonzero(y_pred != y)
    if limit is not None:
        wrong = wrong[: int(limit)]
    if proba is None:
        p_pred = np.full(len(wrong), np.nan)
    else:
        p_pred = proba[wrong, _positions(classes, y_pred[wrong])].astype(float)
    show = _label_map(classes, class_names)
    return pd.DataFrame(
        {
            "index": wrong,
            "true": show(y[wrong]),
            "predicted": show(y_pred[wrong]),
            "p_predicted": p_pred,
        }
    )
