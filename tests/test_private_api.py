"""The private members of the dependencies that the package overrides, calls or reads.

skorch, scikit-learn, torch, numpy and accelerate may rename or change any private member
in any release. Every one the package relies on is listed here, once, with the parameters
it is called with, so that an upgrade that breaks one fails in this module, naming it,
instead of somewhere deep inside a ``fit``. Two more tests keep the list complete: one
reads the package's source for private names it does not define itself, the other finds
the package's methods that override a dependency's private member (and checks that each
override accepts the calls the dependency makes).

A signature is written without ``self``/``cls``, as ``"a, b=, *, c="`` (``=`` marks a
parameter with a default; ``*`` starts the keyword-only ones). A member matches when it
has these parameters in this order and of this kind, and every other parameter it has
is optional, so a release that adds an optional parameter still passes.

The scikit-learn parameter-validation group: ``cnn_estimators/_params.py`` declares the
parameters in the vocabulary of ``sklearn.utils._param_validation`` and checks them with
its ``validate_parameter_constraints``; ``tests/test_common.py`` runs
``check_param_validation``, which scikit-learn does not list among its public checks. The
behaviour the package relies on (the wording of the messages, ``make_constraint`` handing
the package's own constraint kinds back) is tested at the end of this module.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from numbers import Integral
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import cnn_estimators

PACKAGE_DIR = Path(cnn_estimators.__file__).parent
#: numpy 2 moved ``numpy.core`` to ``numpy._core``; ``datasets/_cifar.py`` tries both.
NUMPY_CORE = "numpy._core" if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else "numpy.core"

PROPERTY = "property"


def attribute(kind: type) -> tuple[str, type]:
    """A data attribute of the owner class (or of its instances) of type ``kind``."""
    return ("attribute", kind)


def base_of(*public: str) -> tuple[str, tuple[str, ...]]:
    """A private class the package tests ``isinstance`` against: a base of ``public``."""
    return ("base_of", public)


# (owner, member, contract). The owner is "module:Class" or a module; a member of an
# instance (set in ``__init__``) is checked on the instance that ``INSTANCES`` makes.
SKORCH = [
    # CNNClassifier.fit runs NeuralNet.partial_fit(..., _routing_method="fit"): skorch
    # >= 1.4 pops it (the routing of fit_params) and passes it on to fit_loop.
    ("skorch.net:NeuralNet", "fit_loop", "X, y=, epochs=, *, _routing_method=, **fit_params"),
    ("skorch.net:NeuralNet", "partial_fit", "X, y=, classes=, **fit_params"),
    ("skorch.net:NeuralNet", "_current_init_context", "name"),
    ("skorch.net:NeuralNet", "_initialize_callbacks", ""),
    ("skorch.net:NeuralNet", "_initialize_module", "reason="),
    ("skorch.net:NeuralNet", "_initialize_optimizer", "reason="),
    ("skorch.net:NeuralNet", "_set_training", "training="),
    ("skorch.net:NeuralNet", "_step_optimizer", "step_fn"),
    ("skorch.net:NeuralNet", "_get_predict_nonlinearity", ""),
    ("skorch.net:NeuralNet", "_get_param_names", ""),
    ("skorch.net:NeuralNet", "_validate_params", ""),
    ("skorch.net:NeuralNet", "_default_callbacks", PROPERTY),
    ("skorch.net:NeuralNet", "_modules", attribute(list)),
    ("skorch.net:NeuralNet", "_criteria", attribute(list)),
    ("skorch.net:NeuralNet", "_optimizers", attribute(list)),
    ("skorch.net:NeuralNet()", "_params_to_validate", attribute(set)),
    ("skorch.classifier:NeuralNetClassifier", "_default_callbacks", PROPERTY),
    ("skorch.callbacks:Checkpoint", "_sink", "text, verbose"),
    ("skorch.callbacks:EarlyStopping", "_is_score_improved", "score"),
    ("skorch.callbacks:EarlyStopping", "_calc_new_threshold", "score"),
    ("skorch.hf:AccelerateMixin", "_initialize_accelerator", ""),
    ("skorch.hf:AccelerateMixin", "_unwrap_accelerator", ""),
    ("skorch.hf:AccelerateMixin", "_initialize_callbacks", ""),
    ("skorch.hf:AccelerateMixin", "_validate_params", ""),
    ("skorch.hf:AccelerateMixin()", "_wrapped_with_accelerator", attribute(bool)),
]

SKLEARN = [
    ("sklearn.utils", "_safe_indexing", "X, indices, *, axis="),
    ("sklearn.base:BaseEstimator", "_get_param_names", ""),
    ("sklearn.base:BaseEstimator", "_validate_params", ""),
]

# _fit_context is not used (it would call skorch's _validate_params, see _params.py); it is
# listed as the obvious candidate, so that its contract is known.
SKLEARN_PARAM_VALIDATION = [
    ("sklearn.base", "_fit_context", "*, prefer_skip_nested_validation"),
    (
        "sklearn.utils._param_validation",
        "validate_parameter_constraints",
        "parameter_constraints, params, caller_name",
    ),
    (
        "sklearn.utils._param_validation",
        "validate_params",
        "parameter_constraints, *, prefer_skip_nested_validation",
    ),
    ("sklearn.utils._param_validation", "make_constraint", "constraint"),
    ("sklearn.utils._param_validation", "Interval", "type, left, right, *, closed"),
    ("sklearn.utils._param_validation", "StrOptions", "options, *, deprecated="),
    ("sklearn.utils._param_validation", "Options", "type, options, *, deprecated="),
    ("sklearn.utils._param_validation", "HasMethods", "methods"),
    ("sklearn.utils._param_validation", "Hidden", "constraint"),
    ("sklearn.utils._param_validation", "InvalidParameterError", base_of()),
    ("sklearn.utils._param_validation", "generate_invalid_param_val", "constraint"),
    ("sklearn.utils.estimator_checks", "check_param_validation", "name, estimator_orig"),
]

TORCH = [
    ("torch.nn:Module()", "_modules", attribute(dict)),
    (
        "torch.nn.modules.conv",
        "_ConvTransposeNd",
        base_of("torch.nn:ConvTranspose1d", "torch.nn:ConvTranspose2d", "torch.nn:ConvTranspose3d"),
    ),
    (
        "torch.nn.modules.batchnorm",
        "_BatchNorm",
        base_of("torch.nn:BatchNorm1d", "torch.nn:BatchNorm2d", "torch.nn:BatchNorm3d"),
    ),
]

# The CIFAR-10 reader unpickles numpy arrays with these two, and nothing else.
NUMPY = [
    (f"{NUMPY_CORE}.multiarray", "_reconstruct", "callable"),
    (f"{NUMPY_CORE}.numeric", "_frombuffer", "buf, dtype, shape, order"),
]

ACCELERATE = [
    ("accelerate.state:PartialState", "_shared_state", attribute(dict)),
    ("accelerate:Accelerator()", "_models", attribute(list)),
    ("accelerate:Accelerator()", "_optimizers", attribute(list)),
    ("accelerate:Accelerator()", "_dataloaders", attribute(list)),
    ("accelerate:Accelerator()", "_schedulers", attribute(list)),
    # tests/test_accelerated.py resets the global state between tests with it.
    ("accelerate.state:AcceleratorState", "_reset_state", "reset_partial_state="),
]

CONTRACT = SKORCH + SKLEARN + SKLEARN_PARAM_VALIDATION + TORCH + NUMPY + ACCELERATE


def _resolve(path: str):
    """The module or class named ``module:Qualname``; the class is imported lazily."""
    module_name, _, qualname = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, qualname.split(".")):
        obj = getattr(obj, part)
    return obj


def _instance(path: str):
    """An instance of ``module:Class`` for ``module:Class()``: attributes set in __init__."""
    cls = _resolve(path.removesuffix("()"))
    if cls.__name__ == "NeuralNet":
        return cls(module=nn.Linear, criterion=nn.MSELoss)
    if cls.__name__ == "AccelerateMixin":
        from skorch import NeuralNet

        net_class = type("AcceleratedNet", (cls, NeuralNet), {})
        return net_class(module=nn.Linear, criterion=nn.MSELoss, accelerator=object())
    if cls.__name__ == "Accelerator":
        from accelerate.state import AcceleratorState

        try:
            return cls(cpu=True)
        finally:
            AcceleratorState._reset_state(reset_partial_state=True)
    return cls()


def _parse(spec: str) -> list[tuple[str, inspect._ParameterKind, bool]]:
    """``"a, b=, *, c="`` as (name, kind, has_default) triples."""
    P = inspect.Parameter
    params, kind = [], P.POSITIONAL_OR_KEYWORD
    for token in filter(None, (t.strip() for t in spec.split(","))):
        if token == "*":
            kind = P.KEYWORD_ONLY
        elif token.startswith("**"):
            params.append((token[2:], P.VAR_KEYWORD, False))
        elif token.startswith("*"):
            params.append((token[1:], P.VAR_POSITIONAL, False))
            kind = P.KEYWORD_ONLY
        else:
            params.append((token.rstrip("="), kind, token.endswith("=")))
    return params


def _signature(owner, name: str) -> inspect.Signature:
    """The signature of ``owner.name`` as callers see it: without ``self`` or ``cls``."""
    raw = inspect.getattr_static(owner, name)
    if isinstance(raw, staticmethod):
        return inspect.signature(raw.__func__)
    function = raw.__func__ if isinstance(raw, classmethod) else raw
    signature = inspect.signature(function)
    if inspect.isclass(owner) or isinstance(raw, classmethod):
        if not inspect.isclass(function):
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return signature


def _mismatch(signature: inspect.Signature, spec: str) -> str | None:
    """Why ``signature`` cannot take the calls written as ``spec`` (None if it can)."""
    P = inspect.Parameter
    expected = _parse(spec)
    actual = list(signature.parameters.values())
    names = [p.name for p in actual]
    for position, (name, kind, has_default) in enumerate(expected):
        if name not in names:
            return f"it has no parameter {name!r}"
        param = actual[names.index(name)]
        if param.kind is not kind:
            return f"{name!r} is {param.kind.description}, expected {kind.description}"
        if kind is P.POSITIONAL_OR_KEYWORD and names.index(name) != position:
            return f"{name!r} is at position {names.index(name)}, expected {position}"
        if has_default != (param.default is not P.empty) and kind not in (
            P.VAR_POSITIONAL,
            P.VAR_KEYWORD,
        ):
            return f"{name!r} {'has no' if has_default else 'has a'} default"
    listed = {name for name, _, _ in expected}
    for param in actual:
        optional = param.default is not P.empty or param.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD)
        if param.name not in listed and not optional:
            return f"it has a new required parameter {param.name!r}"
    return None


def _check(owner_path: str, name: str, contract) -> None:
    if owner_path.endswith("()"):
        owner = _instance(owner_path)
    else:
        owner = _resolve(owner_path)
    where = f"{owner_path.removesuffix('()').replace(':', '.')}.{name}"
    if owner_path.endswith("()"):
        assert name in vars(owner), f"{where} is no longer set on instances"
    assert hasattr(owner, name), f"{where} no longer exists"
    if contract == PROPERTY:
        assert isinstance(inspect.getattr_static(owner, name), property), (
            f"{where} is not a property"
        )
    elif isinstance(contract, tuple) and contract[0] == "attribute":
        value = getattr(owner, name)
        assert isinstance(value, contract[1]), f"{where} is a {type(value).__name__}"
    elif isinstance(contract, tuple) and contract[0] == "base_of":
        cls = getattr(owner, name)
        assert inspect.isclass(cls), f"{where} is not a class"
        for public in contract[1]:
            assert issubclass(_resolve(public), cls), f"{public} no longer derives from {where}"
    elif contract == "callable":
        assert callable(getattr(owner, name)), f"{where} is not callable"
    else:
        problem = _mismatch(_signature(owner, name), contract)
        assert problem is None, (
            f"{where}{_signature(owner, name)} no longer takes ({contract}): {problem}"
        )


def _id(entry) -> str:
    owner, name, _ = entry
    return f"{owner.split(':')[-1].removesuffix('()') or owner}.{name}"


@pytest.mark.parametrize("entry", SKORCH, ids=_id)
def test_skorch_private_member(entry):
    _check(*entry)


@pytest.mark.parametrize("entry", SKLEARN, ids=_id)
def test_sklearn_private_member(entry):
    _check(*entry)


@pytest.mark.parametrize("entry", SKLEARN_PARAM_VALIDATION, ids=_id)
def test_sklearn_parameter_validation_member(entry):
    _check(*entry)


@pytest.mark.parametrize("entry", TORCH, ids=_id)
def test_torch_private_member(entry):
    _check(*entry)


@pytest.mark.parametrize("entry", NUMPY, ids=_id)
def test_numpy_private_member(entry):
    _check(*entry)


@pytest.mark.parametrize("entry", ACCELERATE, ids=_id)
def test_accelerate_private_member(entry):
    pytest.importorskip("accelerate")
    _check(*entry)


def test_partial_fit_routes_routing_method():
    """skorch pops ``_routing_method`` from ``partial_fit``'s fit_params (skorch >= 1.4).

    An older skorch hands it to the module's ``forward``, which raises a TypeError: every
    ``CNNClassifier.fit`` did so with skorch 1.3.1.
    """
    from skorch import NeuralNet

    torch.manual_seed(0)
    net = NeuralNet(
        nn.Linear,
        module__in_features=2,
        module__out_features=1,
        criterion=nn.MSELoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    )
    X = torch.zeros(4, 2)
    y = torch.zeros(4, 1)
    net.partial_fit(X, y, _routing_method="fit")
    assert len(net.history) == 1


# ------------------------------------------------------------------ completeness


def _package_trees() -> dict[str, ast.Module]:
    """The package's source files, parsed: {path relative to the repository: tree}."""
    return {
        str(path.relative_to(PACKAGE_DIR.parent)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
    }


def _defined_names(trees: dict[str, ast.Module]) -> set[str]:
    """Every name the package defines, binds, assigns or spells as a string."""
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Store):
                names.add(node.id if isinstance(node, ast.Name) else node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)  # self.__dict__["_x"], getattr(net, "_x", None)
            elif isinstance(node, ast.ImportFrom) and (
                node.level or "cnn_estimators" in (node.module or "")
            ):
                names.update(alias.asname or alias.name for alias in node.names)
    return names


def _private_names_used() -> dict[str, str]:
    """Private names the package reads from its dependencies: {name: first file using it}.

    Attribute reads (``x._name``), keyword arguments (``_name=``) and imports of private
    names or from private modules, where the package does not define the name itself.
    """
    trees = _package_trees()
    defined = _defined_names(trees)
    used: dict[str, str] = {}
    for where, tree in trees.items():
        for node in ast.walk(tree):
            found: list[str] = []
            if isinstance(node, ast.Attribute):
                found = [node.attr]
            elif isinstance(node, ast.keyword) and node.arg:
                found = [node.arg]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if not node.module.startswith(("cnn_estimators", "__future__")):
                    private_module = any(p.startswith("_") for p in node.module.split("."))
                    found = [a.name for a in node.names if private_module or a.name.startswith("_")]
                    for name in found:
                        used.setdefault(name, where)
                    continue
            for name in found:
                if name.startswith("_") and not name.startswith("__") and name not in defined:
                    used.setdefault(name, where)
    return used


#: Members that the dependency itself sets on every subclass (not overrides).
SET_BY_THE_DEPENDENCY = {
    "_backward_cls",  # torch.autograd.Function's metaclass
    "_sklearn_auto_wrap_output_keys",  # sklearn's set_output machinery
    "_abc_impl",  # abc
}


def _package_classes() -> list[type]:
    classes = {}
    for info in pkgutil.walk_packages(cnn_estimators.__path__, "cnn_estimators."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency that is not installed
            continue
        for obj in vars(module).values():
            if inspect.isclass(obj) and obj.__module__.startswith("cnn_estimators"):
                classes[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [classes[k] for k in sorted(classes)]


def _owner_path(cls: type) -> str:
    """``module:Class`` as the contract names it (skorch's callbacks by their package)."""
    module = cls.__module__.replace("skorch.callbacks.training", "skorch.callbacks")
    return f"{module}:{cls.__qualname__}"


def _is_ours(cls: type) -> bool:
    return cls.__module__.startswith("cnn_estimators")


def _overrides() -> list[tuple[type, str, str]]:
    """(package class, member, dependency owner) for each private member overridden.

    A mixin of the package overrides what follows it in the MRO of a class that uses it.
    """
    found = {}
    for cls in _package_classes():
        mro = cls.__mro__
        for position, ours in enumerate(mro):
            if not _is_ours(ours):
                continue
            for name in vars(ours):
                if not name.startswith("_") or name.startswith("__"):
                    continue
                if name in SET_BY_THE_DEPENDENCY:
                    continue
                for base in mro[position + 1 :]:
                    if not _is_ours(base) and name in vars(base):
                        found[(ours.__module__, ours.__qualname__, name, _owner_path(base))] = (
                            ours,
                            name,
                            _owner_path(base),
                        )
    return [found[key] for key in sorted(found)]


CONTRACT_BY_MEMBER = {(owner.removesuffix("()"), name): c for owner, name, c in CONTRACT}


def test_every_private_name_the_package_uses_is_listed():
    """A private name is listed as a member, or as a parameter (``_routing_method``)."""
    listed = {name for _, name, _ in CONTRACT}
    for _, _, contract in CONTRACT:
        if isinstance(contract, str) and contract not in (PROPERTY, "callable"):
            listed.update(name.lstrip("*") for name, _, _ in _parse(contract))
    missing = {n: where for n, where in _private_names_used().items() if n not in listed}
    assert not missing, (
        f"The package uses private names of its dependencies that this module does not "
        f"list: {missing}. Add each to the contract above, with its signature."
    )


OVERRIDES = _overrides()


@pytest.mark.parametrize(
    "cls, name, owner",
    OVERRIDES,
    ids=[f"{c.__name__}.{n}-of-{o.split(':')[1]}" for c, n, o in OVERRIDES],
)
def test_override_is_listed_and_compatible(cls, name, owner):
    """Each private member the package overrides is in the contract, and ours fits it."""
    contract = CONTRACT_BY_MEMBER.get((owner, name))
    assert contract is not None, (
        f"{cls.__qualname__}.{name} overrides {owner}.{name}, which this module does not "
        "list. Add it to the contract above, with its signature."
    )
    if contract == PROPERTY:
        assert isinstance(inspect.getattr_static(cls, name), property)
    elif isinstance(contract, str) and contract != "callable":
        problem = _mismatch(_signature(cls, name), contract)
        assert problem is None, (
            f"{cls.__qualname__}.{name}{_signature(cls, name)} cannot take the calls "
            f"{owner}.{name} receives ({contract}): {problem}"
        )


# ------------------------------------------------------------------ parameter validation
# What the package relies on in scikit-learn's parameter validation, beyond signatures.


def test_invalid_parameter_error_is_a_value_and_a_type_error():
    """``tests/test_errors.py`` expects ValueError or TypeError, per case."""
    from sklearn.utils._param_validation import InvalidParameterError

    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


def test_message_wording():
    """The package's messages ("must be A, B or C. Got v instead.") are this wording."""
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        StrOptions,
        validate_parameter_constraints,
    )

    constraints = {"x": [None, StrOptions({"a"}), callable]}
    with pytest.raises(InvalidParameterError) as info:
        validate_parameter_constraints(constraints, {"x": 3}, caller_name="Est")
    assert str(info.value) == (
        "The 'x' parameter of Est must be None, a str among {'a'} or a callable. Got 3 instead."
    )
    # routed parameters (module__*) have no entry: skipped, not an error
    validate_parameter_constraints(constraints, {"x": None, "module__y": 3}, caller_name="Est")


def test_constraint_subclasses_pass_through_make_constraint():
    """The package's own kinds subclass Interval, Options and StrOptions: make_constraint
    must hand them back unchanged (it refuses other ``_Constraint`` subclasses), and use
    their ``is_satisfied_by`` and ``__str__``."""
    from sklearn.utils._param_validation import (
        Interval,
        InvalidParameterError,
        Options,
        StrOptions,
        make_constraint,
        validate_parameter_constraints,
    )

    class Odd(Options):
        def __init__(self):
            super().__init__(object, set())

        def is_satisfied_by(self, val):
            return isinstance(val, int) and val % 2 == 1

        def __str__(self):
            return "an odd int"

    kinds = [Odd(), StrOptions({"a"}), Interval(Integral, 1, None, closed="left")]
    for kind in kinds:
        assert make_constraint(kind) is kind
    validate_parameter_constraints({"x": [Odd()]}, {"x": 3}, caller_name="Est")
    with pytest.raises(InvalidParameterError, match=re.escape("must be an odd int. Got 4")):
        validate_parameter_constraints({"x": [Odd()]}, {"x": 4}, caller_name="Est")


def test_interval_keeps_the_attributes_its_wording_reads():
    """``_params._Range`` words an Interval from its type, left, right and closed."""
    from sklearn.utils._param_validation import Interval

    interval = Interval(Integral, 1, None, closed="left")
    assert (interval.type, interval.left, interval.right, interval.closed) == (
        Integral,
        1,
        None,
        "left",
    )
    assert interval.is_satisfied_by(True)  # why _Range refuses bools itself


def test_check_param_validation_tries_only_a_wrong_type_on_plain_options():
    """``check_param_validation`` makes up a wrong value of the right type for StrOptions
    and Interval, and none for a plain Options (the package's ``_Rule``)."""
    from sklearn.utils._param_validation import (
        Interval,
        Options,
        StrOptions,
        generate_invalid_param_val,
    )

    assert generate_invalid_param_val(StrOptions({"a"})) not in {"a"}
    assert generate_invalid_param_val(Interval(Integral, 1, None, closed="left")) == 0
    with pytest.raises(NotImplementedError):
        generate_invalid_param_val(Options(object, set()))
