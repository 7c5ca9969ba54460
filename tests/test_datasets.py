"""Tests of cnn_estimators.datasets: parsers, loaders, subsets, splits.

All data is written to tmp_path; nothing touches the network. The last tests use
the real Fashion-MNIST installed by Debian's ``dataset-fashion-mnist`` package.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from _datasets_files import (
    DEBIAN_TRAIN_IMAGES,
    IDX_CODES,
    REAL_DEBIAN_DIRS,
    REAL_MD5S,
    idx_bytes,
    isolated,  # noqa: F401 (an autouse fixture)
    make_cifar,
    make_idx_dataset,
    raises_naming,
    write_idx,
)

from cnn_estimators.datasets import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    ImageData,
    _loaders,
    _sources,
    get_data_home,
    load_cifar10,
    load_digits_images,
    load_fashion_mnist,
    load_mnist,
    read_cifar_batch,
    read_idx,
    train_valid_split,
)

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
    monkeypatch.setattr(_sources, "DEBIAN_FASHION_MNIST_DIRS", REAL_DEBIAN_DIRS)
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
