"""Fixtures of the plotting tests: small fitted networks and images.

Each test module of this folder imports them all (``from plots_fixtures import *``);
a conftest.py here would replace the top-level one as the module ``conftest`` that other
tests import ``make_images`` from."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnn_estimators import CNNClassifier

__all__ = [
    "_close_figures",
    "fashion",
    "fashion_no_valid",
    "global_pool",
    "gray_data",
    "resnet",
    "rgb_data",
]  # the fixtures


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(shape, n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)).astype(np.float32), np.arange(n) % 2


@pytest.fixture(scope="module")
def gray_data():
    return _images((1, 12, 12))


@pytest.fixture(scope="module")
def fashion(gray_data):
    """fashion_cnn on 40 gray 12x12 images, batches of 8 (36 train / 4 validation)."""
    X, y = gray_data
    clf = CNNClassifier(
        "fashion_cnn", max_epochs=2, batch_size=8, random_state=0, device="cpu", progress_bar=False
    )
    return clf.fit(X, y)


@pytest.fixture(scope="module")
def fashion_no_valid(gray_data):
    X, y = gray_data
    clf = CNNClassifier(
        "fashion_cnn",
        max_epochs=2,
        validation_fraction=0.0,
        random_state=0,
        device="cpu",
        progress_bar=False,
    )
    return clf.fit(X, y)


@pytest.fixture(scope="module")
def rgb_data():
    return _images((3, 16, 16), seed=1)


@pytest.fixture(scope="module")
def global_pool(rgb_data):
    X, y = rgb_data
    clf = CNNClassifier(
        "global_pool_cnn", max_epochs=2, random_state=0, device="cpu", progress_bar=False
    )
    return clf.fit(X, y)


@pytest.fixture(scope="module")
def resnet(rgb_data):
    X, y = rgb_data
    clf = CNNClassifier(
        "resnet18",
        max_epochs=1,
        random_state=0,
        device="cpu",
        progress_bar=False,
        module__image_size=32,
    )
    return clf.fit(X, y)
