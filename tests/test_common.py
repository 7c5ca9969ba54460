"""scikit-learn's estimator checks on every estimator the package exposes, and every
registered model trained through the estimator (new models are tested automatically)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_images
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks
from torchvision.transforms import v2

from cnn_estimators import CNNClassifier, get_model_info, list_models, make_mlp

# The checks compare predictions at rtol=1e-7, so these instances train in float64 with
# full batches (as scikit-learn itself checks MLPClassifier with the deterministic lbfgs).
CHECKED = [
    make_mlp(
        max_epochs=20,
        batch_size=-1,
        validation_fraction=0.0,
        precision="float64",
        lr=0.01,
        random_state=0,
        device="cpu",
    ),
    # The checks feed tabular rows such as (n, 2); read as 1x2 strips, they are resized
    # to 8x8 images so that the convolutional network is checked on every one of them.
    CNNClassifier(
        "global_pool_cnn",
        max_epochs=20,
        validation_fraction=0.0,
        precision="float64",
        lr=0.01,
        random_state=0,
        device="cpu",
        eval_transform=v2.Resize((8, 8)),
    ),
]


@parametrize_with_checks(CHECKED, expected_failed_checks=lambda est: {})
def test_sklearn_compatible(estimator, check):
    check(estimator)


# scikit-learn runs check_param_validation on its own estimators only (it is not among the
# checks parametrize_with_checks yields): every parameter must have an entry in
# _parameter_constraints, and fit and partial_fit must refuse a value of no valid type, and
# a value of a valid type outside every constraint, with an InvalidParameterError reading
# "The '<param>' parameter of CNNClassifier must be ... Got ... instead."
@pytest.mark.parametrize("estimator", CHECKED, ids=lambda est: est.module)
def test_parameter_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


def _valid_size(name):
    info = get_model_info(name)
    return max(info.min_input_size[0], 8), max(info.min_input_size[1], 8)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_trains_and_predicts(name):
    channels = 3 if name == "resnet18" else 1
    h, w = _valid_size(name)
    X, y = make_images(n=24, shape=(channels, h, w), n_classes=3)
    params = {"module__image_size": 32} if name == "resnet18" else {}
    est = CNNClassifier(
        name, max_epochs=1, batch_size=8, random_state=0, device="cpu", **params
    ).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (24, 3)
    assert np.isfinite(proba).all()
    assert np.isfinite(est.loss_curve_).all()
    if get_model_info(name).variable_input_size:
        X2, _ = make_images(n=2, shape=(channels, h + 4, w + 2))
        assert est.predict(X2).shape == (2,)
