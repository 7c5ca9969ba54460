"""Cross-validated comparisons: optimizers on one network, and whole training recipes."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV

from .._params import resolve_optimizer
from .._validation import takes_argument
from ..estimator import OPTIMIZERS, CNNClassifier
from ..report import non_default_params
from ._common import _format_value, _stratified_cv

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


def _optimizer_name(opt: Any) -> str:
    """The short name of an optimizer given as a name or a torch optimizer class."""
    if not isinstance(opt, str) and not (
        isinstance(opt, type) and issubclass(opt, torch.optim.Optimizer)
    ):
        raise TypeError(
            f"An optimizer must be a name ({', '.join(map(repr, OPTIMIZERS))}) or a "
            f"torch.optim.Optimizer class; got {opt!r}."
        )
    cls = resolve_optimizer(opt, "compare_optimizers")
    return next((key for key, known in OPTIMIZERS.items() if known is cls), cls.__name__)


def _optimizer_class(opt: Any) -> type:
    return resolve_optimizer(opt, "compare_optimizers")


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
        moved = {
            arg for arg in own if not all(takes_argument(cls, arg) for cls in classes.values())
        }
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
            if takes_argument(classes[name], arg):
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
