"""The private scikit-learn members behind the estimator's parameter validation.

``cnn_estimators/_params.py`` declares the parameters in the vocabulary of
``sklearn.utils._param_validation`` and checks them with its
``validate_parameter_constraints``; ``tests/test_common.py`` runs
``sklearn.utils.estimator_checks.check_param_validation``, which scikit-learn does not list
among its public checks. Neither is public API, so each member is listed here with the
parameters it is called with, and the behaviour the package relies on is checked, so that
an upgrade that changes one fails here, naming it.

The members and their signatures are listed in ``tests/test_private_api.py``
(``SKLEARN_PARAM_VALIDATION``), the one contract test of private members; this module
checks the behaviour behind them.
"""

from __future__ import annotations

import re
from numbers import Integral

import pytest


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
