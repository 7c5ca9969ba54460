"""Tests of cnn_estimators.summary."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnn_estimators.models import get_model
from cnn_estimators.summary import format_summary, summary


@pytest.fixture(autouse=True)
def _seeded_rng():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def _fashion() -> nn.Module:
    return get_model("fashion_cnn", in_channels=1, num_classes=10, input_size=(28, 28))


def test_fashion_cnn_rows():
    model = _fashion()
    df = summary(model, (1, 28, 28))
    assert list(df.columns) == ["layer", "type", "output_shape", "params", "trainable"]
    assert list(df["type"]) == [
        "Conv2d", "MaxPool2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU",
        "Flatten", "Linear", "ReLU", "Linear",
    ]  # fmt: skip
    assert list(df["layer"][:2]) == ["features.0", "features.1"]
    assert df["layer"].iloc[-1] == "classifier.3"
    assert list(df["output_shape"]) == [
        (-1, 64, 26, 26),
        (-1, 64, 13, 13),
        (-1, 64, 13, 13),
        (-1, 128, 11, 11),
        (-1, 128, 5, 5),
        (-1, 128, 5, 5),
        (-1, 3200),
        (-1, 200),
        (-1, 200),
        (-1, 10),
    ]
    assert list(df["params"]) == [640, 0, 0, 73_856, 0, 0, 0, 640_200, 0, 2_010]
    assert list(df["trainable"]) == list(df["params"])
    total = sum(p.numel() for p in model.parameters())
    assert df.attrs["total_params"] == total == 716_706 == df["params"].sum()
    assert df.attrs["trainable_params"] == total
    assert df.attrs["non_trainable_params"] == 0
    assert df.attrs["input_shape"] == (1, 28, 28)
    assert df.attrs["params_size_mb"] == pytest.approx(total * 4 / 1024**2)


def test_trainable_and_frozen_parameters():
    model = get_model("resnet18", in_channels=3, num_classes=10, input_size=(32, 32), image_size=32)
    df = summary(model, (3, 32, 32))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert df.attrs["trainable_params"] == trainable == 8_398_858  # layer4 + fc
    assert df.attrs["non_trainable_params"] == total - trainable
    rows = df.set_index("layer")
    assert rows.loc["conv1", "trainable"] == 0 and rows.loc["conv1", "params"] == 9_408
    assert rows.loc["fc", "trainable"] == 5_130
    assert rows.loc["preprocess", "output_shape"] == (-1, 3, 32, 32)
    assert rows.loc["avgpool", "output_shape"] == (-1, 512, 1, 1)


def test_summary_by_name():
    df = summary("cifar_cnn", (3, 32, 32))
    assert df.attrs["total_params"] == 100_872
    assert df["output_shape"].iloc[-1] == (-1, 10)
    with pytest.raises(ValueError, match="Did you mean 'cifar_cnn'"):
        summary("cifar_cn", (3, 32, 32))


def test_summary_of_fitted_estimator_like_object():
    class FittedEstimator:
        def fit(self, X, y):
            return self

    estimator = FittedEstimator()
    estimator.module_ = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    df = summary(estimator, (3, 2, 2))
    assert list(df["type"]) == ["Flatten", "Linear"]
    assert df.attrs["total_params"] == 39

    with pytest.raises(TypeError, match="fitted"):
        summary(FittedEstimator(), (3, 2, 2))
    with pytest.raises(TypeError, match=r"must be a torch\.nn\.Module"):
        summary(object(), (3, 2, 2))


def test_format_summary_and_verbose(capsys):
    df = summary(_fashion(), (1, 28, 28))
    text = format_summary(df)
    for part in ["Layer (type)", "Output Shape", "Param #", "features.0 (Conv2d)",
                 "(-1, 64, 26, 26)", "640,200", "Total params: 716,706",
                 "Trainable params: 716,706", "Non-trainable params: 0"]:  # fmt: skip
        assert part in text
    assert capsys.readouterr().out == ""
    summary(_fashion(), (1, 28, 28), verbose=True)
    assert capsys.readouterr().out.strip() == text.strip()


@pytest.mark.parametrize(
    "bad_shape", [(1, 28), (1, 28, 28, 1), (0, 28, 28), (1, 28, -3), (1, 28.0, 28), "1x28x28", 28]
)
def test_bad_input_shape(bad_shape):
    with pytest.raises(ValueError, match="The 'input_shape' parameter of summary must be"):
        summary(_fashion(), bad_shape)


def test_forward_failure_is_explained():
    with pytest.raises(ValueError) as excinfo:
        summary(_fashion(), (1, 8, 8))
    message = str(excinfo.value)
    assert "FashionCNN" in message and "(1, 8, 8)" in message
    assert "too small" in message  # torch's own message
    assert isinstance(excinfo.value.__cause__, RuntimeError)
    with pytest.raises(ValueError, match="channels"):
        summary(_fashion(), (3, 28, 28))
    # By name, get_model's size check answers first.
    with pytest.raises(ValueError, match="at least 10x10"):
        summary("fashion_cnn", (1, 8, 8))


def test_training_mode_is_restored():
    model = _fashion().train()
    summary(model, (1, 28, 28))
    assert all(m.training for m in model.modules())
    model.eval()
    summary(model, (1, 28, 28))
    assert not any(m.training for m in model.modules())
    # Mixed modes (frozen BatchNorm layers in eval mode) are restored exactly.
    resnet = get_model(
        "resnet18", in_channels=1, num_classes=2, input_size=(28, 28), image_size=32
    ).train()
    before = [m.training for m in resnet.modules()]
    summary(resnet, (1, 28, 28))
    assert [m.training for m in resnet.modules()] == before
    # Also when the forward pass fails.
    model.train()
    with pytest.raises(ValueError):
        summary(model, (1, 8, 8))
    assert all(m.training for m in model.modules())


def test_shared_parameters_counted_once_and_parent_with_parameters():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.linear = nn.Linear(4, 4)

        def forward(self, x):
            return self.linear(x) * self.scale

    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared, Scaled())
    df = summary(model, (1, 1, 4))
    assert list(df["layer"]) == ["0", "1", "0", "3", "3.linear"]
    assert list(df["params"]) == [20, 0, 20, 1, 20]
    assert df.attrs["total_params"] == 41 == sum(p.numel() for p in model.parameters())
    assert df["output_shape"].iloc[3] == (-1, 1, 1, 4)


def test_non_tensor_outputs_and_leaf_root():
    class TupleOut(nn.Module):
        def forward(self, x):
            return x, x.sum(dim=1)

    df = summary(nn.Sequential(TupleOut()), (2, 3, 3))
    assert df["output_shape"].iloc[0] == ((-1, 2, 3, 3), (-1, 3, 3))
    root = summary(nn.Conv2d(1, 2, 3), (1, 5, 5))
    assert list(root["layer"]) == ["Conv2d"] and root.attrs["total_params"] == 20
