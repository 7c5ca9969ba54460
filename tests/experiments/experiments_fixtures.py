"""Fixtures of the experiment tests: digits and a fitted MLP.

Each test module of this folder imports them all (``from experiments_fixtures import *``);
a conftest.py here would replace the top-level one as the module ``conftest`` that other
tests import ``make_images`` from."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from experiments_helpers import small

# The fixtures, for the star imports of the test modules.
__all__ = ["digits01", "fitted", "one_torch_thread"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These networks are tiny: one thread is faster, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits01():
    """600 digits scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16).astype(np.float32), y[:600]


@pytest.fixture(scope="module")
def fitted(digits01):
    X, y = digits01
    return small(max_epochs=8, lr=1e-2).fit(X, y)
