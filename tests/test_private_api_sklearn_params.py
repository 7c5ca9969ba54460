"""The private scikit-learn members behind the estimator's parameter validation.

``cnn_estimators/_params.py`` declares the parameters in the vocabulary of
``sklearn.utils._param_validation`` and checks them with its
``validate_parameter_constraints``; ``tests/test_common.py`` runs
``sklearn.utils.estimator_checks.check_param_validation``, which scikit-learn does not list
among its public checks. Neither is public API, so each member is listed here with the
parameters it is called with, and the behaviour the package relies on is checked, so that
an upgrade that changes one fails here, naming it.

Entries are ``(module, member, parameters)`` with the parameters written as
``"a, b=, *, c="`` (``=``: has a default; ``*``: keyword-only from there): the member must
take them in this order and of this kind, and any other parameter must be optional. (The
format of ``tests/test_private_api.py``, so that the lead can fold them in.)
"""

from __future__ import annotations

import inspect
import re
from numbers import Integral

import pytest

PARAM_VALIDATION = "sklearn.utils._param_validation"

SKLEARN_PARAMS = [
    (
        PARAM_VALIDATION,
        "validate_parameter_constraints",
        "parameter_constraints, params, caller_name",
    ),
    (PARAM_VALIDATION, "make_constraint", "constraint"),
    (PARAM_VALIDATION, "Interval", "type, left, right, *, closed"),
    (PARAM_VALIDATION, "Options", "type, options, *, deprecated="),
    (PARAM_VALIDATION, "StrOptions", "options, *, deprecated="),
    (PARAM_VALIDATION, "generate_invalid_param_val", "constraint"),
    ("sklearn.utils.estimator_checks", "check_param_validation", "name, estimator_orig"),
]


def _parse(spec: str) -> list[tuple[str, inspect._ParameterKind, bool]]:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = []
    for token in filter(None, (t.strip() for t in spec.split(","))):
        if token == "*":
            kind = inspect.Parameter.KEYWORD_ONLY
        else:
            params.append((token.rstrip("="), kind, token.endswith("=")))
    return params


@pytest.mark.parametrize(("module", "name", "spec"), SKLEARN_PARAMS, ids=lambda v: v)
def test_member_takes_the_calls_the_package_makes(module, name, spec):
    member = getattr(pytest.importorskip(module), name, None)
    assert member is not None, f"{module}.{name} no longer exists"
    actual = list(inspect.signature(member).parameters.values())
    names = [p.name for p in actual]
    expected = _parse(spec)
    for position, (param, kind, has_default) in enumerate(expected):
        assert param in names, f"{module}.{name} has no parameter {param!r}"
        found = actual[names.index(param)]
        assert found.kind is kind, f"{module}.{name}: {param!r} is {found.kind.description}"
        if kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            assert names.index(param) == position, f"{module}.{name}: {param!r} moved"
        assert (found.default is not inspect.Parameter.empty) == has_default, (
            f"{module}.{name}: {param!r} {'lost its' if has_default else 'gained a'} default"
        )
    listed = {param for param, _, _ in expected}
    for param in actual:
        assert param.name in listed or param.default is not inspect.Parameter.empty, (
            f"{module}.{name} has a new required parameter {param.name!r}"
        )


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
