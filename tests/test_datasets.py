"""Tests of cnn_estimators.datasets: parsers, loaders, search order, subsets, splits.

All data is written to tmp_path; nothing touches the network. The last tests use
the real Fashion-MNIST installed by Debian's ``dataset-fashion-mnist`` package.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pickle
import re
import socket
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from cnn_estimators.datasets import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    ImageData,
    _loaders,
    get_data_home,
    load_cifar10,
    load_digits_images,
    load_fashion_mnist,
    load_mnist,
    read_cifar_batch,
    read_idx,
    train_valid_split,
)

REAL_MD5S = _loaders._known_md5s
REAL_DEBIAN_DIRS = list(_loaders.DEBIAN_FASHION_MNIST_DIRS)
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


# --------------------------------------------------------------------------- helpers


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
    monkeypatch.setattr(_loaders, "DEBIAN_FASHION_MNIST_DIRS", [tmp_path / "no-debian"])
    monkeypatch.setattr(_loaders, "_known_md5s", lambda key: {})

    def no_network(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, dtype, gz):
    rng = np.random.default_rng(1)
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    result = read_idx(write_idx(tmp_path / "a-idx3", array, gz=gz))
    assert result.dtype == dtype.newbyteorder("=")
    assert result.dtype.isnative
    np.testing.assert_array_equal(result, array)
    result[0, 0, 0] = 0  # writable


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    gz_without_suffix = write_idx(tmp_path / "labels-idx1-ubyte", labels, gz=True)
    plain_with_suffix = write_idx(tmp_path / "labels-idx1-ubyte.gz", labels, gz=False)
    np.testing.assert_array_equal(read_idx(gz_without_suffix), labels)
    np.testing.assert_array_equal(read_idx(plain_with_suffix), labels)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "zip-idx1-ubyte"
    path.write_bytes(b"PK\x03\x04" + bytes(20))
    message = raises_naming(path, "bad magic", read_idx, path)
    assert "50 4b" in message  # what was found


def test_read_idx_unknown_dtype_and_short_file(tmp_path):
    path = tmp_path / "odd-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    raises_naming(path, "unknown data type code 0x07", read_idx, path)
    path.write_bytes(b"\x00\x00")
    raises_naming(path, "too short", read_idx, path)
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0]))
    raises_naming(path, "truncated IDX header", read_idx, path)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated_data(tmp_path, gz):
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-10]
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if gz else data)
    message = raises_naming(path, "truncated", read_idx, path)
    assert str(4 * 28 * 28) in message and str(4 * 28 * 28 - 10) in message


def test_read_idx_trailing_bytes(tmp_path):
    path = tmp_path / "long-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros(8, np.uint8)) + b"\x00\x01\x02")
    message = raises_naming(path, "trailing bytes", read_idx, path)
    assert "needs 8 data bytes, found 11" in message


def test_read_idx_bad_gzip_crc(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8))))
    data[-8] ^= 0xFF  # the CRC32 field of the gzip trailer
    path = tmp_path / "crc-idx1-ubyte.gz"
    path.write_bytes(bytes(data))
    message = raises_naming(path, "corrupt gzip", read_idx, path)
    assert "CRC" in message


def test_read_idx_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int16)))
    path = tmp_path / "cut-idx1-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    raises_naming(path, "corrupt gzip", read_idx, path)


def test_read_idx_garbled_deflate_stream(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32))))
    data[10:30] = bytes(range(200, 220))  # zlib.error territory
    path = tmp_path / "garbled-idx1-ubyte.gz"
    path.write_bytes(bytes(data))
    raises_naming(path, "corrupt gzip", read_idx, path)


# --------------------------------------------------------------------------- IDX loaders


@pytest.mark.parametrize(
    ("loader", "subdir", "classes", "name"),
    [
        (load_mnist, "MNIST/raw", MNIST_CLASSES, "mnist"),
        (load_fashion_mnist, "FashionMNIST/raw", FASHION_MNIST_CLASSES, "fashion_mnist"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_idx_loader_with_data_home(tmp_path, loader, subdir, classes, name, gz):
    arrays = make_idx_dataset(tmp_path / "data" / subdir, gz=gz)
    data = loader(data_home=tmp_path / "data")
    assert isinstance(data, ImageData)
    assert data.X_train.shape == (60, 1, 28, 28) and data.X_test.shape == (30, 1, 28, 28)
    assert data.X_train.dtype == np.uint8 and data.X_test.dtype == np.uint8
    assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
    np.testing.assert_array_equal(data.X_train[:, 0], arrays["X_train"])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    assert data.class_names == classes
    assert data.name == name
    assert data.source == str(tmp_path / "data" / subdir)
    assert not (tmp_path / "home" / "cnn_estimators_data").exists()


def test_idx_loader_mixed_plain_and_gz(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    make_idx_dataset(folder)
    path = folder / "t10k-images-idx3-ubyte"
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    assert load_mnist(data_home=tmp_path).X_test.shape == (30, 1, 28, 28)


def test_loader_via_environment_variable(tmp_path, monkeypatch):
    make_idx_dataset(tmp_path / "env" / "MNIST" / "raw", n_train=40)
    monkeypatch.setenv("CNN_ESTIMATORS_DATA", str(tmp_path / "env"))
    data = load_mnist()
    assert len(data.y_train) == 40
    assert data.source == str(tmp_path / "env" / "MNIST" / "raw")


def test_search_order(tmp_path, monkeypatch):
    # Four complete copies told apart by their number of training images.
    make_idx_dataset(tmp_path / "arg" / "FashionMNIST" / "raw", n_train=10)
    make_idx_dataset(tmp_path / "env" / "FashionMNIST" / "raw", n_train=20)
    make_idx_dataset(tmp_path / "home" / "cnn_estimators_data" / "FashionMNIST" / "raw", n_train=30)
    make_idx_dataset(tmp_path / "debian", n_train=40, gz=True)
    monkeypatch.setenv("CNN_ESTIMATORS_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(_loaders, "DEBIAN_FASHION_MNIST_DIRS", [tmp_path / "debian"])

    assert len(load_fashion_mnist(data_home=tmp_path / "arg").y_train) == 10  # arg first
    assert len(load_fashion_mnist().y_train) == 20  # then the env var
    monkeypatch.delenv("CNN_ESTIMATORS_DATA")
    assert len(load_fashion_mnist().y_train) == 30  # then the default data home
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    data = load_fashion_mnist()
    assert len(data.y_train) == 40  # then Debian's package
    assert data.source == str(tmp_path / "debian")
    # An absent or incomplete data_home folder falls through to the next place.
    (tmp_path / "partial" / "FashionMNIST" / "raw").mkdir(parents=True)
    (tmp_path / "partial" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"")
    assert len(load_fashion_mnist(data_home=tmp_path / "partial").y_train) == 40
    # MNIST never looks in Debian's Fashion-MNIST folder.
    with pytest.raises(FileNotFoundError):
        load_mnist()


def test_get_data_home(tmp_path, monkeypatch):
    assert get_data_home() == tmp_path / "home" / "cnn_estimators_data"
    monkeypatch.setenv("CNN_ESTIMATORS_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home("~/x") == tmp_path / "home" / "x"
    monkeypatch.setenv("CNN_ESTIMATORS_DATA", "")
    assert get_data_home() == tmp_path / "home" / "cnn_estimators_data"
    assert not (tmp_path / "home").exists()  # nothing is created


def test_label_out_of_range(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    make_idx_dataset(folder)
    labels = np.full(60, 3, np.uint8)
    labels[7] = 10
    path = write_idx(folder / "train-labels-idx1-ubyte", labels)
    message = raises_naming(path, "labels must be in 0..9", load_mnist, data_home=tmp_path)
    assert "to 10" in message


def test_image_label_count_mismatch(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    make_idx_dataset(folder)
    path = write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(29, np.uint8))
    message = raises_naming(path, "count mismatch", load_mnist, data_home=tmp_path)
    assert "t10k-images-idx3-ubyte" in message
    assert "30 images" in message and "29 labels" in message


def test_wrong_image_shape_and_dtype(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    make_idx_dataset(folder)
    path = write_idx(folder / "train-images-idx3-ubyte", np.zeros((60, 28, 27), np.uint8))
    raises_naming(path, "shape (n, 28, 28)", load_mnist, data_home=tmp_path)
    write_idx(path, np.zeros((60, 28, 28), np.int16))
    raises_naming(path, "int16", load_mnist, data_home=tmp_path)


def test_corrupt_file_found_by_loader(tmp_path):
    folder = tmp_path / "FashionMNIST" / "raw"
    make_idx_dataset(folder, gz=True)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    raises_naming(path, "corrupt gzip", load_fashion_mnist, data_home=tmp_path)


# --------------------------------------------------------------------------- MD5 checks


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_md5_mismatch(tmp_path, monkeypatch):
    folder = tmp_path / "MNIST" / "raw"
    make_idx_dataset(folder)
    path = folder / "train-labels-idx1-ubyte"
    monkeypatch.setattr(_loaders, "_known_md5s", lambda key: {path.name: "0" * 32})
    message = raises_naming(path, "MD5 checksum mismatch", load_mnist, data_home=tmp_path)
    assert "0" * 32 in message and md5(path.read_bytes()) in message
    assert "download" in message and "delete" in message


def test_md5_match_and_recompressed_gzip(tmp_path, monkeypatch):
    folder = tmp_path / "FashionMNIST" / "raw"
    make_idx_dataset(folder, gz=True)
    gz_path = folder / "train-images-idx3-ubyte.gz"
    content = gzip.decompress(gz_path.read_bytes())
    table = {"train-images-idx3-ubyte.gz": md5(gz_path.read_bytes())}
    monkeypatch.setattr(_loaders, "_known_md5s", lambda key: table)
    load_fashion_mnist(data_home=tmp_path)  # the original .gz

    # Re-compressed like Debian's copy: the .gz differs, its content is the original.
    gz_path.write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))
    assert md5(gz_path.read_bytes()) != table["train-images-idx3-ubyte.gz"]
    message = raises_naming(gz_path, "MD5", load_fashion_mnist, data_home=tmp_path)
    assert "file: expected" in message
    table["train-images-idx3-ubyte"] = md5(content)
    load_fashion_mnist(data_home=tmp_path)
    # A content MD5 mismatch is reported with both checks.
    table["train-images-idx3-ubyte"] = "f" * 32
    message = raises_naming(gz_path, "MD5", load_fashion_mnist, data_home=tmp_path)
    assert "decompressed content: expected " + "f" * 32 in message


def test_known_md5s_come_from_torchvision():
    import torchvision.datasets as tv_datasets

    mnist = REAL_MD5S("mnist")
    for filename, checksum in tv_datasets.MNIST.resources:
        assert mnist[filename] == checksum
    assert mnist["train-images-idx3-ubyte"] == "6bbc9ace898e44ae57da46a324031adb"
    fashion = REAL_MD5S("fashion_mnist")
    assert (
        fashion["t10k-labels-idx1-ubyte.gz"]
        == dict(tv_datasets.FashionMNIST.resources)["t10k-labels-idx1-ubyte.gz"]
    )
    cifar = REAL_MD5S("cifar10")
    assert set(cifar) == {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch", "batches.meta"}


# --------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_load_cifar10(tmp_path, bytes_keys):
    arrays = make_cifar(tmp_path / "cifar-10-batches-py", bytes_keys=bytes_keys)
    data = load_cifar10(data_home=tmp_path)
    assert data.X_train.shape == (100, 3, 32, 32) and data.X_test.shape == (20, 3, 32, 32)
    assert data.X_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.X_train, arrays["X_train"])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    assert data.class_names == CIFAR10_CLASSES and data.name == "cifar10"
    assert data.source == str(tmp_path / "cifar-10-batches-py")


def test_cifar_rows_are_rgb_planes(tmp_path):
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)])
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": row[None].astype(np.uint8), "labels": [4]}, protocol=2))
    images, labels = read_cifar_batch(path)
    assert images.shape == (1, 3, 32, 32)
    assert [int(images[0, c].min()) for c in range(3)] == [10, 20, 30]
    assert labels.tolist() == [4]


def test_cifar_batch_written_by_old_numpy(tmp_path):
    """Python-2/numpy-1 era pickles name ``numpy.core.multiarray``."""
    batch = {b"data": np.arange(3072 * 2).astype(np.uint8).reshape(2, 3072), b"labels": [1, 9]}
    raw = pickle.dumps(batch, protocol=2)  # numpy >= 2 names numpy._core.multiarray
    raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n" in raw and b"numpy._core" not in raw
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    images, labels = read_cifar_batch(path)
    np.testing.assert_array_equal(images.reshape(2, -1), batch[b"data"])
    assert labels.tolist() == [1, 9]


def py2_style_pickle(rows: np.ndarray, labels: list[int]) -> bytes:
    """Hand-written pickle laid out like the original CIFAR-10 batches (Python 2 cPickle,
    numpy 1.x): ``numpy.core.multiarray._reconstruct`` and the pixels as a py2 ``str``."""

    def short_str(text: str) -> bytes:  # SHORT_BINSTRING
        return b"U" + bytes([len(text)]) + text.encode("latin1")

    def int4(value: int) -> bytes:  # BININT
        return b"J" + struct.pack("<i", value)

    raw = rows.tobytes()
    out = b"\x80\x02}q\x00(" + short_str("data")
    out += b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85"
    out += short_str("b") + b"\x87R"
    out += b"(K\x01" + int4(len(rows)) + int4(3072) + b"\x86"
    out += b"cnumpy\ndtype\nq\x03" + short_str("u1") + b"K\x00K\x01\x87R"
    out += b"(K\x03" + short_str("|") + b"NNN" + int4(-1) + int4(-1) + b"K\x00tb"
    out += b"\x89T" + struct.pack("<I", len(raw)) + raw + b"tb"
    out += short_str("labels") + b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    out += short_str("batch_label") + short_str("training batch 1 of 5") + b"u."
    return out


def test_cifar_python2_style_batch(tmp_path):
    rows = np.random.default_rng(0).integers(0, 256, size=(4, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_style_pickle(rows, [3, 1, 4, 9]))
    assert b"numpy._core" not in path.read_bytes() and b"_codecs" not in path.read_bytes()
    images, labels = read_cifar_batch(path)
    np.testing.assert_array_equal(images.reshape(4, -1), rows)
    assert labels.tolist() == [3, 1, 4, 9]


class _Payload:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_restricted_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder)
    path = folder / "data_batch_3"
    evil = {"data": _Payload(f"touch {marker}"), "labels": [0]}
    path.write_bytes(pickle.dumps(evil, protocol=2))
    assert b"system" in path.read_bytes()
    message = raises_naming(path, "refusing to load global", read_cifar_batch, path)
    assert "system" in message
    raises_naming(path, "unsafe", load_cifar10, data_home=tmp_path)
    assert not marker.exists()


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [Path(".")]}))
    raises_naming(path, "pathlib", read_cifar_batch, path)
    path.write_bytes(b"\x80\x02cbuiltins\neval\nq\x00X\x04\x00\x00\x001+1q\x01\x85q\x02Rq\x03.")
    raises_naming(path, "builtins.eval", read_cifar_batch, path)


@pytest.mark.parametrize(
    ("batch", "phrase"),
    [
        ({"data": np.zeros((2, 3071), np.uint8), "labels": [0, 1]}, "(n, 3072)"),
        ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "uint8"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1, 2]}, "2 images but 3 labels"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, "labels must be in 0..9"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, -1]}, "labels must be in 0..9"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": ["a", "b"]}, "list of ints"),
        ({"data": np.zeros((2, 3072), np.uint8)}, "no 'labels'"),
        ([1, 2, 3], "expected a pickled dict"),
    ],
)
def test_invalid_cifar_batches(tmp_path, batch, phrase):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder)
    path = folder / "data_batch_2"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    raises_naming(path, phrase, load_cifar10, data_home=tmp_path)


def test_truncated_cifar_batch_and_bad_meta(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder)
    path = folder / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    raises_naming(path, "unpickling failed", load_cifar10, data_home=tmp_path)
    make_cifar(folder)
    meta = folder / "batches.meta"
    meta.write_bytes(pickle.dumps({"label_names": ["apple"] * 10}, protocol=2))
    raises_naming(meta, "not the CIFAR-10 classes", load_cifar10, data_home=tmp_path)


def test_cifar_md5_mismatch(tmp_path, monkeypatch):
    make_cifar(tmp_path / "cifar-10-batches-py")
    path = tmp_path / "cifar-10-batches-py" / "data_batch_5"
    monkeypatch.setattr(_loaders, "_known_md5s", lambda key: {"data_batch_5": "1" * 32})
    raises_naming(path, "not the original CIFAR-10 file", load_cifar10, data_home=tmp_path)


# --------------------------------------------------------------------------- not found / download


def test_not_found_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_ESTIMATORS_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(data_home=tmp_path / "arg")
    message = str(info.value)
    for place in (
        tmp_path / "arg" / "FashionMNIST" / "raw",
        tmp_path / "env" / "FashionMNIST" / "raw",
        tmp_path / "home" / "cnn_estimators_data" / "FashionMNIST" / "raw",
        tmp_path / "no-debian",
    ):
        assert str(place) in message
    assert "download=True" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "CNN_ESTIMATORS_DATA" in message and "data_home" in message
    assert "train-images-idx3-ubyte" in message

    with pytest.raises(FileNotFoundError) as info:
        load_cifar10()
    message = str(info.value)
    assert str(tmp_path / "env" / "cifar-10-batches-py") in message
    assert "download=True" in message and "apt-get" not in message
    assert not (tmp_path / "home").exists()


def test_download_failure_mnist(tmp_path, monkeypatch):
    """torchvision's own mirror loop turns the URLError into a RuntimeError."""
    import torchvision.datasets.mnist as tv_mnist

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(ConnectionError) as info:
        load_mnist(data_home=tmp_path / "arg", download=True)
    message = str(info.value)
    assert "failed" in message and "RuntimeError" in message
    assert "Name or service not known" in message
    assert str(tmp_path / "arg" / "MNIST" / "raw") in message  # searched, and where to put files
    assert str(tmp_path / "home" / "cnn_estimators_data" / "MNIST" / "raw") in message
    assert isinstance(info.value.__cause__, RuntimeError)


def test_download_failure_cifar_and_fashion(tmp_path, monkeypatch):
    import torchvision.datasets as tv_datasets
    import torchvision.datasets.cifar as tv_cifar

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    with pytest.raises(ConnectionError, match=r"Downloading CIFAR-10 .* failed: URLError"):
        load_cifar10(download=True)

    monkeypatch.setattr(tv_datasets.FashionMNIST, "download", offline)
    with pytest.raises(OSError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(download=True)


def test_download_uses_torchvision_layout(tmp_path, monkeypatch):
    import torchvision.datasets as tv_datasets

    calls = []

    def fake_download(self):
        calls.append(self.root)
        make_idx_dataset(Path(self.raw_folder), n_train=50, n_test=20)

    monkeypatch.setattr(tv_datasets.MNIST, "download", fake_download)
    data = load_mnist(data_home=tmp_path / "new", download=True, n_train=20)
    assert calls == [str(tmp_path / "new")]
    assert data.source == str(tmp_path / "new" / "MNIST" / "raw")
    assert len(data.y_train) == 20 and len(data.y_test) == 20
    load_mnist(data_home=tmp_path / "new", download=True)  # found: no second download
    assert len(calls) == 1


# --------------------------------------------------------------------------- subsets


def test_subsets_are_stratified_seeded_and_ordered(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    rng = np.random.default_rng(3)
    # Unbalanced classes: class k has 10 * (k + 1) training images.
    labels = rng.permutation(np.repeat(np.arange(10), 10 * np.arange(1, 11))).astype(np.uint8)
    n = len(labels)  # 550
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256  # sample id
    write_idx(folder / "train-images-idx3-ubyte", images)
    write_idx(folder / "train-labels-idx1-ubyte", labels)
    write_idx(folder / "t10k-images-idx3-ubyte", images[:100])
    write_idx(folder / "t10k-labels-idx1-ubyte", labels[:100])

    data = load_mnist(data_home=tmp_path, n_train=110, n_test=50)
    assert data.X_train.shape == (110, 1, 28, 28) and data.X_test.shape == (50, 1, 28, 28)
    counts = np.bincount(data.y_train, minlength=10)
    np.testing.assert_allclose(counts, 2 * np.arange(1, 11), atol=1)  # proportions kept
    ids = data.X_train[:, 0, 0, 0].astype(int) * 256 + data.X_train[:, 0, 0, 1]
    assert np.all(np.diff(ids) > 0)  # original order
    np.testing.assert_array_equal(labels[ids], data.y_train)

    again = load_mnist(data_home=tmp_path, n_train=110, n_test=50)
    np.testing.assert_array_equal(again.X_train, data.X_train)
    np.testing.assert_array_equal(again.y_test, data.y_test)
    other = load_mnist(data_home=tmp_path, n_train=110, n_test=50, random_state=1)
    assert not np.array_equal(other.X_train, data.X_train)

    full = load_mnist(data_home=tmp_path, n_train=n)
    assert len(full.y_train) == n and len(full.y_test) == 100
    # the whole set and any subset have the plain strides of a fresh (N, 1, 28, 28) array
    # (torch picks its kernels from the strides: a size-1 axis of stride 0 or 1 changed them)
    for X in (full.X_train, full.X_test, data.X_train, data.X_test):
        assert X.strides == np.empty_like(X, order="C").strides == (784, 784, 28, 1)
    with pytest.raises(ValueError, match="n_train=551 is larger than the 550"):
        load_mnist(data_home=tmp_path, n_train=n + 1)
    with pytest.raises(ValueError, match="n_test"):
        load_mnist(data_home=tmp_path, n_test=0)
    with pytest.raises(TypeError, match="n_train"):
        load_mnist(data_home=tmp_path, n_train=1.5)


# --------------------------------------------------------------------------- digits, container


def test_load_digits_images():
    from sklearn.datasets import load_digits

    data = load_digits_images()
    assert data.X_train.shape == (1347, 1, 8, 8) and data.X_test.shape == (450, 1, 8, 8)
    assert data.X_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.X_train.min() == 0 and data.X_train.max() == 255
    assert data.class_names == [str(i) for i in range(10)] and data.name == "digits"
    assert set(np.unique(data.X_test)) <= {round(v * 255 / 16) for v in range(17)}
    # Stratified split: class proportions equal within one sample.
    full = np.bincount(load_digits().target) / 1797
    np.testing.assert_allclose(np.bincount(data.y_test) / 450, full, atol=1.5 / 450)
    # Same images as sklearn's, scaled.
    digits = load_digits()
    scaled = np.round(digits.images * 255 / 16).astype(np.uint8)
    assert {x.tobytes() for x in data.X_test[:, 0]} <= {x.tobytes() for x in scaled}

    small = load_digits_images(n_train=100, n_test=50, test_size=0.5, random_state=5)
    assert small.X_train.shape == (100, 1, 8, 8) and small.X_test.shape == (50, 1, 8, 8)
    for X in (data.X_train, data.X_test, small.X_train, small.X_test):
        assert X.strides == (64, 64, 8, 1)  # plain C order, whichever subset
    assert np.bincount(small.y_train).min() >= 9
    same = load_digits_images(n_train=100, n_test=50, test_size=0.5, random_state=5)
    np.testing.assert_array_equal(same.X_train, small.X_train)
    with pytest.raises(ValueError, match="larger than"):
        load_digits_images(n_train=2000)


def test_image_data_container():
    data = load_digits_images(n_train=30, n_test=20)
    text = repr(data)
    assert "(30, 1, 8, 8) uint8" in text and "(20,) int64" in text and "digits" in text
    assert data.n_classes == 10 and data.image_shape == (1, 8, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.X_train = None
    with pytest.raises(ValueError, match=r"3 images but .* 2 labels"):
        ImageData(np.zeros((3, 1, 2, 2)), np.zeros(2), np.zeros((1, 1, 2, 2)), np.zeros(1))


# --------------------------------------------------------------------------- train_valid_split


def test_train_valid_split():
    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat(np.arange(10), np.arange(10, 110, 10)))  # 550, unbalanced
    X = np.arange(len(y))[:, None]
    X_tr, X_va, _, y_va = train_valid_split(X, y, valid_size=110)
    assert len(X_va) == 110 and len(X_tr) == 440
    np.testing.assert_allclose(np.bincount(y_va), np.arange(2, 22, 2), atol=1)
    assert sorted(np.concatenate([X_tr, X_va]).ravel().tolist()) == list(range(len(y)))
    np.testing.assert_array_equal(y[X_va.ravel()], y_va)

    again = train_valid_split(X, y, valid_size=110)
    np.testing.assert_array_equal(again[1], X_va)
    other = train_valid_split(X, y, valid_size=110, random_state=1)
    assert not np.array_equal(other[1], X_va)

    _, X_va, _, _ = train_valid_split(X, y, valid_size=0.2, stratify=False)
    assert len(X_va) == 110
    for bad in (0, 550, 1.0, 0.0):
        with pytest.raises(ValueError, match="valid_size"):
            train_valid_split(X, y, valid_size=bad)
    with pytest.raises(TypeError):
        train_valid_split(X, y, valid_size="10")


def test_train_valid_split_default_is_50k_10k_scheme():
    y = np.arange(60000) % 10
    X_tr, X_va, _, y_va = train_valid_split(np.zeros((60000, 1), np.uint8), y)
    assert len(X_tr) == 50000 and len(X_va) == 10000
    np.testing.assert_array_equal(np.bincount(y_va), np.full(10, 1000))


# --------------------------------------------------------------------------- real data


@pytest.fixture
def debian_fashion(monkeypatch):
    monkeypatch.setattr(_loaders, "DEBIAN_FASHION_MNIST_DIRS", REAL_DEBIAN_DIRS)
    monkeypatch.setattr(_loaders, "_known_md5s", REAL_MD5S)  # real MD5 checks


needs_debian = pytest.mark.skipif(
    not DEBIAN_TRAIN_IMAGES.exists(),
    reason=f"{DEBIAN_TRAIN_IMAGES} is absent (apt-get install dataset-fashion-mnist)",
)


@needs_debian
def test_real_fashion_mnist_subset(debian_fashion):
    data = load_fashion_mnist(n_train=2000, n_test=500)
    assert data.source == str(DEBIAN_TRAIN_IMAGES.parent)
    assert data.X_train.shape == (2000, 1, 28, 28) and data.X_test.shape == (500, 1, 28, 28)
    assert data.X_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data.y_train), np.full(10, 200))
    np.testing.assert_array_equal(np.bincount(data.y_test), np.full(10, 50))
    assert data.class_names == FASHION_MNIST_CLASSES
    assert data.X_train.max() == 255 and data.X_train.min() == 0


@needs_debian
def test_real_fashion_mnist_full(debian_fashion):
    data = load_fashion_mnist()
    assert data.X_train.shape == (60000, 1, 28, 28) and data.X_test.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(data.y_test), np.full(10, 1000))
    np.testing.assert_array_equal(np.bincount(data.y_train), np.full(10, 6000))
