"""Shared fixtures: tiny synthetic images and scikit-learn's bundled digits."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

matplotlib.use("Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per xdist worker: two workers with two threads each would
    # oversubscribe the 2-core machine, and torch's OpenMP threads slow down sharply then.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """Real 8x8 handwritten digits: X (1797, 64) float in [0, 16], y (1797,) ints."""
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def digit_images(digits):
    """Digits as uint8 images (N, 1, 8, 8) in [0, 255]."""
    X, y = digits
    return np.round(X * 255 / 16).astype(np.uint8).reshape(-1, 1, 8, 8), y


def make_images(n=40, shape=(1, 8, 8), n_classes=2, seed=0, dtype=np.float32):
    """Separable synthetic images: class k has a bright k-th horizontal band."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.random((n, *shape)).astype(np.float32) * 0.2
    h = shape[1]
    band = max(1, h // n_classes)
    for k in range(n_classes):
        X[y == k, :, (k * band) % h : (k * band) % h + band, :] += 0.8
    if dtype == np.uint8:
        return (np.clip(X, 0, 1) * 255).astype(np.uint8), y
    return X.astype(dtype), y


@pytest.fixture
def images():
    return make_images()
