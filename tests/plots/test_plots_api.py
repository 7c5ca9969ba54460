"""cnn_estimators.plots: the public names of the package."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from torch import nn


def test_public_api():
    from cnn_estimators import plots

    assert sorted(plots.__all__) == sorted(name for name in dir(plots) if name.startswith("plot_"))
    assert isinstance(plots.ACTIVATIONS[0](), nn.Module)
