"""Where the data sets come from (cnn_estimators.datasets._sources): the folders searched
and their order, the MD5 checks, the "not found" message and downloading.

All data is written to tmp_path; nothing touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
from pathlib import Path

import pytest
from _datasets_files import (
    REAL_MD5S,
    isolated,  # noqa: F401 (an autouse fixture)
    make_idx_dataset,
    raises_naming,
)

from cnn_estimators.datasets import (
    _loaders,
    _sources,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
)


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
    monkeypatch.setattr(_sources, "DEBIAN_FASHION_MNIST_DIRS", [tmp_path / "debian"])

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
