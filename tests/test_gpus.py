"""Which GPU each worker gets: cnn_estimators.distributed's visible_gpus and
worker_gpu_assignment (module cnn_estimators._gpus); no dask needed."""

from __future__ import annotations

import re

import pytest
import torch

from cnn_estimators.distributed import visible_gpus, worker_gpu_assignment


@pytest.mark.parametrize(
    ("n_workers", "visible", "expected"),
    [
        (2, "2,5", ["2", "5"]),  # a parent limited to GPUs 2 and 5 hands out those
        (1, "2,5", ["2"]),  # extra GPUs stay idle
        (2, 2, ["0", "1"]),
        (2, [3, "1"], ["3", "1"]),
        (2, " 4, 07", ["4", "7"]),
        (2, "GPU-1a2b,GPU-3c4d", ["GPU-1a2b", "GPU-3c4d"]),
        (1, "MIG-9f", ["MIG-9f"]),
        (1, "3,-1,4", ["3"]),  # CUDA stops reading at the first invalid item
        (2, None, [None, None]),  # no GPU: CUDA_VISIBLE_DEVICES is left alone
        (2, 0, [None, None]),
        (2, "", [None, None]),
        (2, "-1", [None, None]),
        (2, [], [None, None]),
    ],
)
def test_worker_gpu_assignment(n_workers, visible, expected):
    assert worker_gpu_assignment(n_workers, visible) == expected


def test_worker_gpu_assignment_shares_gpus_only_when_asked():
    assert worker_gpu_assignment(5, "2,5", share_gpus=True) == ["2", "5", "2", "5", "2"]
    with pytest.raises(
        ValueError,
        match=r"3 workers cannot have one GPU each: 2 GPU\(s\) are visible \(2,5\)\. "
        r"Start one worker per GPU \(n_workers=2\), pass share_gpus=True",
    ):
        worker_gpu_assignment(3, "2,5")


@pytest.mark.parametrize("n_workers", [0, -1, True, 1.0, "2", None])
def test_worker_gpu_assignment_rejects_bad_n_workers(n_workers):
    with pytest.raises(
        ValueError, match=r"The 'n_workers' parameter of worker_gpu_assignment must be an int >= 1"
    ):
        worker_gpu_assignment(n_workers, "0")


@pytest.mark.parametrize(
    "visible", [-1, 1.5, [0, -2], ["0", ""], [True], ["1", "1"], "0,0", "cuda:0", "auto", "1,,2"]
)
def test_worker_gpu_assignment_rejects_bad_devices(visible):
    with pytest.raises(ValueError, match=r"'visible_devices' parameter of worker_gpu_assignment"):
        worker_gpu_assignment(2, visible)


@pytest.mark.parametrize(
    ("env", "count", "expected"),
    [
        (None, 2, ["0", "1"]),
        ("2,5", 2, ["2", "5"]),
        ("7,3,9", 2, ["7", "3"]),  # NVML found only two of them
        ("GPU-aa,GPU-bb", 2, ["GPU-aa", "GPU-bb"]),
        ("2,5", 0, []),
        (None, 0, []),
    ],
)
def test_visible_gpus_reads_cuda_visible_devices(monkeypatch, env, count, expected):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    if env is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    assert visible_gpus() == expected


def test_visible_gpus_does_not_initialise_cuda():
    if torch.cuda.is_initialized():
        pytest.skip("an earlier test of this process initialised CUDA")
    gpus = visible_gpus()
    assert all(isinstance(gpu, str) for gpu in gpus)
    assert len(gpus) == torch.cuda.device_count()
    assert not torch.cuda.is_initialized()


@pytest.mark.parametrize(
    ("visible", "shown"),
    [("2,02", "'2,02'"), ([1, "1"], "['1', '1']"), (["GPU-a", " GPU-a"], "['GPU-a', 'GPU-a']")],
)
def test_worker_gpu_assignment_rejects_a_gpu_named_twice(visible, shown):
    # CUDA hides every GPU when one is listed twice: say so, naming the value as given
    message = (
        f"The 'visible_devices' parameter of worker_gpu_assignment lists a GPU twice: {shown}."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        worker_gpu_assignment(2, visible)
