"""ResNet-18 transfer learning (cnn_estimators.models.resnet): lazy torchvision import,
freezing, preprocessing inside the model, and loading weights from files or the hub cache."""

from __future__ import annotations

import os
import pathlib
import pickle
import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from cnn_estimators.models import get_model
from cnn_estimators.models.resnet import ResNet18Transfer


def _resnet(**kw) -> ResNet18Transfer:
    arguments = {"in_channels": 3, "num_classes": 5, "input_size": (32, 32), "image_size": 32}
    return get_model("resnet18", **{**arguments, **kw})


def _trainable(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_torchvision_is_imported_with_the_first_resnet18_only():
    import subprocess
    import sys

    code = (
        "import sys, cnn_estimators\n"
        "from cnn_estimators.models import get_model, list_models\n"
        "assert 'resnet18' in list_models()\n"
        "assert 'torchvision' not in sys.modules, 'imported with the package'\n"
        "net = get_model('resnet18', in_channels=1, num_classes=2, input_size=(8, 8), "
        "image_size=32)\n"
        "assert 'torchvision' in sys.modules\n"
        "from cnn_estimators.models.resnet import ResNet18Transfer\n"
        "assert type(net) is ResNet18Transfer\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_resnet18_class_found_under_both_module_names():
    # Pickles name the class by module and name: those written before the class moved
    # to its own module name cnn_estimators.models.resnet, which still resolves it.
    ours = pickle.dumps(ResNet18Transfer, protocol=0)
    assert b"cnn_estimators.models._resnet18_net\nResNet18Transfer" in ours
    older = ours.replace(b"models._resnet18_net\n", b"models.resnet\n")
    assert older != ours and pickle.loads(older) is ResNet18Transfer
    net = pickle.loads(pickle.dumps(_resnet(freeze="all_but_fc")))
    assert type(net) is ResNet18Transfer and net.freeze == "all_but_fc"
    import cnn_estimators.models.resnet as resnet_module

    assert "ResNet18Transfer" in dir(resnet_module)
    with pytest.raises(AttributeError, match="has no attribute 'ResNet19'"):
        resnet_module.ResNet19  # noqa: B018


def test_resnet18_freeze_options():
    model = _resnet()  # default: all_but_layer4
    assert model.freeze == "all_but_layer4"
    names = {n for n, _ in model.named_parameters()}
    assert _trainable(model) == {n for n in names if n.startswith(("layer4.", "fc."))}
    assert _trainable(_resnet(freeze="all_but_fc")) == {"fc.weight", "fc.bias"}
    assert _trainable(_resnet(freeze="none")) == names
    with pytest.raises(ValueError, match="'all_but_layer4', 'all_but_fc', 'none'"):
        _resnet(freeze="all")


def test_resnet18_frozen_batchnorm_stays_in_eval_mode():
    model = _resnet().train()
    assert model.training and model.fc.training
    assert not model.bn1.training and not model.layer3[1].bn2.training
    assert model.layer4[0].bn1.training
    frozen_mean = model.bn1.running_mean.clone()
    trained_mean = model.layer4[0].bn1.running_mean.clone()
    model(torch.rand(4, 3, 32, 32))
    assert torch.equal(model.bn1.running_mean, frozen_mean)
    assert not torch.equal(model.layer4[0].bn1.running_mean, trained_mean)
    model.eval()
    assert not any(m.training for m in model.modules())
    full = _resnet(freeze="none").train()
    assert all(m.training for m in full.modules())


def test_resnet18_preprocessing():
    model = _resnet(in_channels=1)
    x = torch.rand(2, 1, 28, 28)
    resized = nn.functional.interpolate(
        x, size=(32, 32), mode="bilinear", align_corners=False, antialias=False
    )
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = (resized.expand(-1, 3, -1, -1) - mean) / std
    torch.testing.assert_close(model.preprocess(x), expected)
    raw = _resnet(normalize=False)
    same_size = torch.rand(2, 3, 32, 32)
    assert torch.equal(raw.preprocess(same_size), same_size)
    # The statistics are buffers (moved by .to()), but not part of the state dict.
    assert model.double().preprocess.mean.dtype == torch.float64
    assert not any(key.startswith("preprocess") for key in model.state_dict())
    with pytest.raises(ValueError, match="The 'in_channels' parameter of resnet18"):
        _resnet(in_channels=2)
    with pytest.raises(ValueError, match=r"Expected images of shape \(N, 1, H, W\)"):
        model(torch.rand(2, 3, 32, 32).double())


def test_resnet18_loads_state_dict_file(tmp_path):
    reference = torchvision.models.resnet18()  # random weights, 1000-class fc
    path = tmp_path / "resnet18.pt"
    torch.save(reference.state_dict(), path)
    for weights in (path, str(path)):
        model = _resnet(weights=weights, freeze="none")
        torch.testing.assert_close(model.conv1.weight, reference.conv1.weight)
        torch.testing.assert_close(
            model.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var
        )
        assert model.fc.weight.shape == (5, 512)
    # A state dict of our own model (another number of classes) loads too; fc stays fresh.
    ours = _resnet(num_classes=7)
    own_path = tmp_path / "ours.pth"
    torch.save(ours.state_dict(), own_path)
    model = _resnet(weights=own_path)
    torch.testing.assert_close(model.layer2[0].conv1.weight, ours.layer2[0].conv1.weight)
    assert model.fc.out_features == 5
    # Not ResNet-18 weights.
    bad = tmp_path / "bad.pt"
    torch.save({"weight": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="do not match ResNet-18"):
        _resnet(weights=bad)


def test_resnet18_missing_weights_file(tmp_path):
    missing = tmp_path / "nowhere" / "weights.pt"
    with pytest.raises(FileNotFoundError, match=r"weights\.pt"):
        _resnet(weights=missing)
    with pytest.raises(FileNotFoundError, match=r"weights\.pth"):
        _resnet(weights="weights.pth")


def test_resnet18_unknown_weights_name():
    with pytest.raises(ValueError, match="'IMAGENET1K_V1'") as excinfo:
        _resnet(weights="IMAGENET1K_V2")
    assert "'DEFAULT'" in str(excinfo.value)


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache; any download attempt fails as it does offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    calls = []

    def offline_download(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline_download)
    return tmp_path, calls


def test_resnet18_offline_weights_error_names_cache_path(empty_torch_home):
    torch_home, calls = empty_torch_home
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    expected = os.path.join(str(torch_home), "hub", "checkpoints", "resnet18-f37072fd.pth")
    assert os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url)) == expected
    for weights in ("DEFAULT", "IMAGENET1K_V1"):
        with pytest.raises(RuntimeError) as excinfo:
            _resnet(weights=weights)
        message = str(excinfo.value)
        assert expected in message and url in message
        assert isinstance(excinfo.value.__cause__, urllib.error.URLError)
    assert calls == [url, url]


def test_resnet18_uses_cached_imagenet_weights(empty_torch_home):
    torch_home, calls = empty_torch_home
    reference = torchvision.models.resnet18()
    cache = pathlib.Path(torch_home, "hub", "checkpoints", "resnet18-f37072fd.pth")
    cache.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cache)
    model = _resnet(weights="IMAGENET1K_V1")
    torch.testing.assert_close(model.conv1.weight, reference.conv1.weight)
    assert calls == []
