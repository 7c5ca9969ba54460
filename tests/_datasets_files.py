"""Shared by the data set tests: tiny IDX and CIFAR-10 files, and an isolated environment.

Imported by tests/test_datasets.py and tests/test_dataset_sources.py (pytest puts this
folder on sys.path); a test module that imports ``isolated`` gets it as an autouse fixture.
"""

from __future__ import annotations

import gzip
import pickle
import re
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from cnn_estimators.datasets import (
    CIFAR10_CLASSES,
    _loaders,
    _sources,
)

REAL_MD5S = _loaders._known_md5s
REAL_DEBIAN_DIRS = list(_sources.DEBIAN_FASHION_MNIST_DIRS)
DEBIAN_TRAIN_IMAGES = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

IDX_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.arange(n) % 10).astype(np.uint8)


def make_idx_dataset(
    folder: Path, *, n_train: int = 60, n_test: int = 30, gz: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write the four IDX files of a tiny MNIST-like data set into ``folder``."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = balanced_labels(n, rng)
        images_name, labels_name = IDX_NAMES[split]
        suffix = ".gz" if gz else ""
        write_idx(folder / (images_name + suffix), images, gz=gz)
        write_idx(folder / (labels_name + suffix), labels, gz=gz)
        arrays[f"X_{split}"], arrays[f"y_{split}"] = images, labels
    return arrays


def make_cifar(
    folder: Path, *, n_per_batch: int = 20, bytes_keys: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write fake CIFAR-10 python batches (pickle protocol 2) into ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def key(k: str) -> str | bytes:
        return k.encode() if bytes_keys else k

    data, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in balanced_labels(n_per_batch, rng)]
        batch = {
            key("batch_label"): key(f"fake {name}"),
            key("labels"): y,
            key("data"): rows,
            key("filenames"): [key(f"img_{i}.png") for i in range(n_per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        data.append(rows)
        labels.append(y)
    meta = {key("label_names"): [key(c) for c in CIFAR10_CLASSES], key("num_vis"): 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return {
        "X_train": np.concatenate(data[:5]).reshape(-1, 3, 32, 32),
        "y_train": np.concatenate(labels[:5]),
        "X_test": data[5].reshape(-1, 3, 32, 32),
        "y_test": np.asarray(labels[5]),
    }


def raises_naming(path: Path, phrase: str, func, *args, **kwargs) -> str:
    """Assert ``func`` raises a ValueError naming ``path`` and containing ``phrase``."""
    with pytest.raises(ValueError, match=re.escape(path.name)) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert str(path) in message
    assert phrase.lower() in message.lower(), message
    return message


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No env var, a fresh HOME, no Debian copy, no MD5 table, no network."""
    monkeypatch.delenv("CNN_ESTIMATORS_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_sources, "DEBIAN_FASHION_MNIST_DIRS", [tmp_path / "no-debian"])
    monkeypatch.setattr(_loaders, "_known_md5s", lambda key: {})

    def no_network(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
