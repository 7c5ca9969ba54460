"""The declared parameter constraints (cnn_estimators/_params.py) and the checks that
involve several parameters. The messages users see are in tests/test_errors.py; scikit-learn's
check_param_validation runs in tests/test_common.py."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from cnn_estimators import CNNClassifier


def check(**params):
    """Run the parameter checks of fit, and nothing else."""
    CNNClassifier(**{"module": "mlp", "device": "cpu", **params})._check_params()


def test_every_parameter_has_a_constraint():
    assert set(CNNClassifier._parameter_constraints) == set(CNNClassifier().get_params(deep=False))


def test_every_accelerated_parameter_has_a_constraint():
    pytest.importorskip("accelerate")
    from cnn_estimators.accelerated import AcceleratedCNNClassifier

    params = AcceleratedCNNClassifier().get_params(deep=False)
    assert set(AcceleratedCNNClassifier._parameter_constraints) == set(params)
    with pytest.raises(TypeError, match=r"must be None or an accelerate\.Accelerator instance"):
        AcceleratedCNNClassifier(accelerator="cpu").fit(np.zeros((4, 1, 8, 8)), [0, 1, 0, 1])


def test_defaults_and_documented_values_are_valid():
    check()
    check(
        batch_size=-1,
        verbose=True,
        lr=1,  # an int is a float here, as in scikit-learn
        tol=0,
        class_weight={0: 2.0},
        image_shape=[1, 8, 8],
        tta=[np.fliplr],
        lr_schedule="cosine",
        progress_bar=False,
        cache_features=False,
        random_state=np.random.RandomState(0),
        torch_threads=1,
        classes=[0, 1],
        torch_load_kwargs={"weights_only": True},
        optimizer="AdamW",  # names are case-insensitive
    )


@pytest.mark.parametrize("name", ["early_stopping", "keep_best", "resume", "warm_start"])
def test_numpy_bools_are_bools(name):
    params = {"validation_fraction": 0.1, "checkpoint_dir": "runs"} if name == "resume" else {}
    check(**{name: np.False_}, **params)
    check(**{name: np.True_}, **params)


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("lr", True, "a float in the range (0, inf)"),
        ("tol", False, "a float in the range [0, inf)"),
        ("max_epochs", True, "an int in the range [1, inf)"),
        ("torch_threads", True, "None or an int in the range [1, inf)"),
        ("validation_fraction", np.nan, "a float in the range [0, 1)"),
        ("max_epochs", 2.0, "an int in the range [1, inf)"),
        ("batch_size", -2, "an int in the range [1, inf) or -1 (the whole data set)"),
        ("verbose", -1, "an int in the range [0, inf) or a bool"),
        ("use_caching", "yes", "'auto' or a bool"),
        ("predict_nonlinearity", 3, "'auto', None or a callable"),
        ("torch_load_kwargs", [], "None or a dict"),
        ("classes", 3, "None or an array-like"),
        ("iterator_train", 3, "a DataLoader class"),
        ("train_split", 0.2, "None or a split such as cnn_estimators.predefined_split"),
        ("tta", ["flip"], "None, 'flip', 'flip_shift' or a list of callables"),
        ("class_weight", "Balanced", "None, 'balanced' or a dict {label: weight}"),
        ("lr_schedule", 5, "None, one of 'step', 'cosine', 'onecycle', 'plateau' or a"),
        ("optimizer", 5, "one of 'sgd', 'adam', 'adamw', 'rmsprop' or a torch.optim.Optimizer"),
        ("module", 5, "a registered model name (bn_cnn, "),
        ("random_state", -1, "an int in the range [0, 4294967295]"),
    ],
)
def test_invalid_value(name, value, kind):
    """Bools are not numbers here (as before the constraints), nor are NaN or 2.0 ints."""
    with pytest.raises(
        InvalidParameterError,
        match=rf"^The '{name}' parameter of CNNClassifier must be {re.escape(kind)}.*"
        rf"Got {re.escape(repr(value))} instead\.$",
    ):
        check(**{name: value})


def test_hint_follows_the_constraint():
    with pytest.raises(
        InvalidParameterError,
        match=r"must be None or a folder \(str or path; created if missing\)\. Got 5 "
        r"instead\. Give the folder to keep checkpoints in, not a file\.$",
    ):
        check(checkpoint_dir=5)


def test_routed_parameters_are_left_to_their_component():
    check(module__hidden_sizes=object(), optimizer__momentum="x", callbacks__x__y=None)


def test_names_are_looked_up_before_any_work():
    with pytest.raises(ValueError, match=r"Did you mean 'adam'\?"):
        check(optimizer="adamm")
    with pytest.raises(ValueError, match=r"Did you mean 'cosine'\?"):
        check(lr_schedule="cosin")


def test_resume_needs_a_checkpoint_dir():
    with pytest.raises(
        ValueError,
        match=r"^resume=True needs a checkpoint_dir where CNNClassifier keeps the training "
        r"state; set checkpoint_dir='runs/checkpoints' \(any folder\)\.$",
    ):
        check(resume=True)


@pytest.mark.parametrize("flag", ["keep_best", "early_stopping"])
def test_validation_is_needed_with_a_numpy_true(flag):
    with pytest.raises(ValueError, match=r"validation_fraction=0 and no train_split"):
        check(**{flag: np.True_}, validation_fraction=0)
