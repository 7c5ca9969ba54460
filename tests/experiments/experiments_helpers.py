"""Helpers of the experiment tests (imported by name)."""

from __future__ import annotations

from cnn_estimators import make_mlp

SCORES = ["mean_test_score", "std_test_score", "mean_fit_time", "rank_test_score"]


def small(**params):
    """A fast digits MLP for tests."""
    defaults = dict(
        module__hidden_sizes=(16,),
        max_epochs=2,
        batch_size=32,
        validation_fraction=0,
        random_state=0,
        device="cpu",
    )
    defaults.update(params)
    return make_mlp(**defaults)
