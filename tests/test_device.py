"""The GPU data path, tested without a GPU where it is logic (mocks) and with one where not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_images

import cnn_estimators._input as input_module
import cnn_estimators._precision as precision_module
from cnn_estimators import CNNClassifier
from cnn_estimators._data import ImageTensorDataset, SequentialBatches
from cnn_estimators._device import cudnn_benchmark, fits_in_device_memory

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def small(**params):
    kw = dict(max_epochs=2, batch_size=8, random_state=0, progress_bar=False, lr=3e-3)
    return CNNClassifier("global_pool_cnn", **{**kw, **params})


def test_data_fit_on_the_gpu_when_a_quarter_of_its_free_memory_holds_them(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4000, 8000))
    assert fits_in_device_memory(1000, "cuda")
    assert fits_in_device_memory(1000, torch.device("cuda:1"))
    assert not fits_in_device_memory(1001, "cuda:0")
    assert fits_in_device_memory(2000, "cuda", fraction=0.5)
    assert not fits_in_device_memory(1, "cpu")


def test_cudnn_benchmark_is_set_for_the_block_and_restored():
    before = torch.backends.cudnn.benchmark
    with pytest.raises(RuntimeError), cudnn_benchmark("cuda:0"):
        assert torch.backends.cudnn.benchmark is True
        raise RuntimeError
    assert torch.backends.cudnn.benchmark is before
    with cudnn_benchmark("cuda", enabled=False):
        assert torch.backends.cudnn.benchmark is before


def test_a_dataset_moved_to_a_device_gathers_its_batches_there():
    images = torch.arange(5 * 4, dtype=torch.uint8).view(5, 1, 2, 2)
    dataset = ImageTensorDataset(images, torch.arange(5), torch.ones(5)).to("meta")
    assert dataset.images.is_meta and dataset.y.is_meta
    X, y = dataset[torch.tensor([4, 0])]  # positions come from the sampler, on the CPU
    assert X["X"].is_meta and X["X"].shape == (2, 1, 2, 2) and y.is_meta
    part = dataset.subset([1, 3, 4])
    assert len(part) == 3
    assert part[torch.tensor([0, 2])][0]["X"].shape == (2, 1, 2, 2)
    unlabeled = ImageTensorDataset(images).to("meta")
    assert unlabeled[torch.tensor([1])][1].is_meta  # the dummy labels too


def test_batches_are_pinned_for_a_cuda_device_only():
    images = torch.zeros(10, 1, 4, 4)
    dataset = ImageTensorDataset(images, torch.zeros(10, dtype=torch.long))
    for device, pinned in [("cuda:0", True), ("cuda", True), ("cpu", False)]:
        est = small(device=device)
        assert est.get_iterator(dataset, training=True).pin_memory is pinned
        evaluation = est.get_iterator(dataset, training=False)
        if pinned:  # prediction batches go through a pinning DataLoader to the GPU
            assert evaluation.pin_memory is True
        else:  # on the CPU, prediction batches need no DataLoader at all
            assert isinstance(evaluation, SequentialBatches)
    resident = ImageTensorDataset(images.to("meta"), torch.zeros(10, dtype=torch.long))
    assert small(device="cuda").get_iterator(resident, training=True).pin_memory is False
    unpinned = small(device="cuda", iterator_train__pin_memory=False)
    assert unpinned.get_iterator(dataset, training=True).pin_memory is False


# Pretending to be on CUDA pins the validation batches, which torch refuses without one.
@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
def test_fit_keeps_the_data_on_the_device_when_they_fit(monkeypatch):
    X, y = make_images(n=48)
    reference = small(device="cpu").fit(X, y)
    assert reference.data_on_device_ is False
    moves = []
    original = ImageTensorDataset.to

    def record(self, device):
        moves.append(str(device))
        return original(self, device)

    # A CPU stands in for the GPU: the decision and the moves are what is tested here.
    monkeypatch.setattr(CNNClassifier, "_on_cuda", lambda self: True)
    monkeypatch.setattr(input_module, "fits_in_device_memory", lambda n, d: True)
    monkeypatch.setattr(ImageTensorDataset, "to", record)
    resident = small(device="cpu").fit(X, y)
    assert resident.data_on_device_ is True and moves == ["cpu"]  # once per fit
    np.testing.assert_array_equal(resident.predict_proba(X), reference.predict_proba(X))
    monkeypatch.setattr(input_module, "fits_in_device_memory", lambda n, d: False)
    assert small(device="cpu").fit(X, y).data_on_device_ is False
    assert moves == ["cpu"]


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("precision", ["float32", "fp16", "bf16"])
def test_cuda_fit_with_resident_data_and_mixed_precision(precision):
    X, y = make_images(n=64)
    est = small(device="cuda", precision=precision).fit(X, y)
    assert est.data_on_device_ is True
    assert (precision == "fp16") == isinstance(
        est.__dict__.get("grad_scaler_"), torch.amp.GradScaler
    )
    assert est.score(X, y) > 0.5


@pytest.mark.cuda
@needs_cuda
def test_cuda_fit_with_pinned_host_data(monkeypatch):
    monkeypatch.setattr(input_module, "fits_in_device_memory", lambda n, d: False)
    X, y = make_images(n=64)
    est = small(device="cuda").fit(X, y)
    assert est.data_on_device_ is False and est.score(X, y) > 0.5


def test_bf16_supported_asks_onednn_on_the_cpu_and_cuda_only_for_a_cuda_device(monkeypatch):
    import cnn_estimators._device as device_module

    device_module._cpu_bf16_supported.cache_clear()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert device_module.bf16_supported("cpu") is False
    device_module._cpu_bf16_supported.cache_clear()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert device_module.bf16_supported(torch.device("cpu")) is True
    device_module._cpu_bf16_supported.cache_clear()  # leave no mocked answer cached

    asked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: asked.append(1) or True)
    assert device_module.bf16_supported("cuda:0") is True
    assert asked == [1]
    assert device_module.bf16_supported("meta") is False
    assert asked == [1]  # not asked for other devices


@pytest.mark.parametrize("supported", [True, False])
def test_precision_auto_is_bf16_only_where_the_device_computes_in_bf16(monkeypatch, supported):
    monkeypatch.setattr(precision_module, "bf16_supported", lambda device: supported)
    X, y = make_images(n=24, shape=(1, 8, 8))
    est = small(precision="auto", device="cpu", max_epochs=1).fit(X, y)
    expected = "bf16" if supported else "float32"
    assert est.precision == "auto"  # the parameter is kept as given (clone, get_params)
    assert est.precision_ == expected
    with est._autocast():
        out = est.module_(est._prepare_batch(torch.zeros(2, 1, 8, 8), False))
    assert out.dtype == (torch.bfloat16 if supported else torch.float32)
    assert est.predict_proba(X).dtype == np.float32
    assert small(precision="float32").fit(X, y).precision_ == "float32"


@pytest.fixture
def fresh_device_count_cache():
    from cnn_estimators import _device

    _device._cuda_device_count.cache_clear()
    yield _device
    _device._cuda_device_count.cache_clear()  # no made-up count leaks into later tests


def test_cuda_availability_is_asked_once_per_cuda_visible_devices(
    monkeypatch, fresh_device_count_cache
):
    from cnn_estimators._device import cuda_available, resolve_device

    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)  # CPU-only builds too
    asked = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: asked.append(1) or 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    # device="auto" is resolved several times per batch: NVML is asked only once
    assert [resolve_device("auto") for _ in range(5)] == ["cuda"] * 5
    assert cuda_available() and len(asked) == 1
    # a changed CUDA_VISIBLE_DEVICES is asked again, as torch does before CUDA starts
    monkeypatch.setattr(torch.cuda, "device_count", lambda: asked.append(1) or 0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert resolve_device("auto") == "cpu" and len(asked) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert resolve_device("auto") == "cuda" and len(asked) == 2  # cached for "0,1"


def test_invalid_device_strings_are_refused_every_time():
    from cnn_estimators._device import resolve_device

    for _ in range(2):  # the parse is cached; the refusal must be too
        with pytest.raises(ValueError, match="The 'device' parameter must be"):
            resolve_device("gpu")
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("cpu") == "cpu"
