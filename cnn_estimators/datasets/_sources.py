"""Where the data sets' files are: checksums, the folders searched, and downloading.

A data set is described by a :class:`_Spec` (its files and torchvision's folder for
them). :func:`_locate` searches the folders in order, :func:`_download` fetches the
files with torchvision, and :func:`_verify_md5` checks each file read against the
MD5 of the original.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ._base import DATA_HOME_ENV, DEFAULT_DATA_DIRNAME, get_data_home
from ._idx import GZIP_MAGIC

__all__ = ["DEBIAN_FASHION_MNIST_DIRS"]

#: Folders where Debian's ``dataset-fashion-mnist`` package installs the four ``.gz``
#: files; searched last, for Fashion-MNIST only.
DEBIAN_FASHION_MNIST_DIRS: list[Path] = [Path("/usr/share/datasets/fashion-mnist")]

#: MD5 of the *decompressed* original IDX files. torchvision only records the MD5 of
#: the ``.gz`` files (read at run time in ``_known_md5s``); these let an uncompressed
#: copy, or a re-compressed one such as Debian's, be verified too.
_IDX_CONTENT_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


@dataclass(frozen=True)
class _Spec:
    key: str  # ImageData.name and key of the md5 tables
    title: str  # for messages
    subdir: str  # torchvision's folder under the data home
    files: tuple[str, ...]
    compressed_ok: bool  # whether "<file>.gz" may stand for "<file>"
    class_names: tuple[str, ...]
    torchvision_class: str


# --------------------------------------------------------------------------- checksums


def _known_md5s(key: str) -> dict[str, str]:
    """File name -> MD5 of the original files of data set ``key``.

    The MD5s of the files torchvision downloads are read from torchvision's
    dataset classes; the decompressed IDX files' MD5s come from ``_IDX_CONTENT_MD5``.
    """
    table: dict[str, str] = {}
    try:
        import torchvision.datasets as tv_datasets

        if key in ("mnist", "fashion_mnist"):
            cls = tv_datasets.MNIST if key == "mnist" else tv_datasets.FashionMNIST
            table.update({str(name): str(md5) for name, md5 in cls.resources})
        elif key == "cifar10":
            cls = tv_datasets.CIFAR10
            table.update({str(name): str(md5) for name, md5 in [*cls.train_list, *cls.test_list]})
            table[str(cls.meta["filename"])] = str(cls.meta["md5"])
    except (ImportError, AttributeError, KeyError, TypeError, ValueError):
        pass  # a torchvision without these attributes: structural checks only
    table.update(_IDX_CONTENT_MD5.get(key, {}))
    return table


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _verify_md5(
    path: Path, name: str, raw: bytes, content: bytes, md5s: dict[str, str], spec: _Spec
) -> None:
    """Check the file against the known MD5s; unknown files are not checked.

    A gzip file passes if the file itself has torchvision's MD5 or if its
    decompressed content has the original's MD5 (a re-compressed copy, as in
    Debian's package). A plain file must match the original's MD5.
    """
    compressed = raw.startswith(GZIP_MAGIC)
    checks: list[tuple[str, str, bytes]] = []
    if compressed:
        if name + ".gz" in md5s:
            checks.append(("file", md5s[name + ".gz"], raw))
        if name in md5s:
            checks.append(("decompressed content", md5s[name], content))
    elif name in md5s:
        checks.append(("file", md5s[name], raw))
    if not checks:
        return
    problems = []
    for what, expected, data in checks:
        actual = _md5(data)
        if actual == expected:
            return
        problems.append(f"{what}: expected {expected}, got {actual}")
    raise ValueError(
        f"{path}: MD5 checksum mismatch ({'; '.join(problems)}). The file is corrupt or is not "
        f"the original {spec.title} file: delete it and download it again (download=True), "
        "or replace it with the original file."
    )


# --------------------------------------------------------------------------- searching


@dataclass
class _Searched:
    label: str
    directory: Path
    missing: list[str]


def _candidate_dirs(spec: _Spec, data_home: str | os.PathLike[str] | None) -> list[_Searched]:
    candidates: list[tuple[str, Path]] = []
    if data_home is not None:
        candidates.append(("data_home argument", Path(data_home).expanduser() / spec.subdir))
    from_env = os.environ.get(DATA_HOME_ENV, "")
    if from_env:
        candidates.append(
            (f"{DATA_HOME_ENV} environment variable", Path(from_env).expanduser() / spec.subdir)
        )
    candidates.append(("default data home", Path.home() / DEFAULT_DATA_DIRNAME / spec.subdir))
    if spec.key == "fashion_mnist":
        for directory in DEBIAN_FASHION_MNIST_DIRS:
            candidates.append(("Debian package dataset-fashion-mnist", Path(directory)))
    result: list[_Searched] = []
    seen: set[Path] = set()
    for label, directory in candidates:
        if directory not in seen:
            seen.add(directory)
            result.append(_Searched(label, directory, []))
    return result


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. permission denied on a parent folder
        return False


def _find_files(directory: Path, spec: _Spec) -> tuple[dict[str, Path], list[str]]:
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in spec.files:
        options = (name, name + ".gz") if spec.compressed_ok else (name,)
        for option in options:
            if _is_file(directory / option):
                found[name] = directory / option
                break
        else:
            missing.append(name)
    return found, missing


def _locate(
    spec: _Spec, data_home: str | os.PathLike[str] | None
) -> tuple[Path | None, dict[str, Path], list[_Searched]]:
    """Return (folder, files) of the first complete local copy, and every place searched."""
    searched = _candidate_dirs(spec, data_home)
    for place in searched:
        found, place.missing = _find_files(place.directory, spec)
        if not place.missing:
            return place.directory, found, searched[: searched.index(place) + 1]
    return None, {}, searched


def _file_list(spec: _Spec) -> str:
    suffix = "[.gz]" if spec.compressed_ok else ""
    return ", ".join(name + suffix for name in spec.files)


def _searched_lines(searched: list[_Searched], spec: _Spec) -> list[str]:
    lines = []
    for place in searched:
        if not place.missing:
            status = "found"
        elif len(place.missing) == len(spec.files):
            status = "not found"
        else:
            status = "incomplete, missing " + ", ".join(place.missing)
        lines.append(f"  - {place.directory}  ({place.label}): {status}")
    if not os.environ.get(DATA_HOME_ENV):
        lines.append(f"  ({DATA_HOME_ENV} is not set)")
    return lines


def _not_found_message(
    spec: _Spec, searched: list[_Searched], data_home: str | os.PathLike[str] | None
) -> str:
    target = get_data_home(data_home)
    lines = [
        f"{spec.title} was not found. Places searched, in order:",
        *_searched_lines(searched, spec),
        "To fix this, do one of:",
        f"  - pass download=True to download it with torchvision into {target}",
        f"  - pass data_home=... or set the {DATA_HOME_ENV} environment variable to a folder "
        f"that contains {spec.subdir}/ with the data",
        f"  - put the files {_file_list(spec)} in {target / spec.subdir}",
    ]
    if spec.key == "fashion_mnist":
        lines.append(
            "  - on Debian/Ubuntu: apt-get install dataset-fashion-mnist "
            f"(installs it in {DEBIAN_FASHION_MNIST_DIRS[0] if DEBIAN_FASHION_MNIST_DIRS else ''})"
        )
    return "\n".join(lines)


def _download(
    spec: _Spec, data_home: str | os.PathLike[str] | None, searched: list[_Searched]
) -> tuple[Path, dict[str, Path]]:
    """Download with torchvision's dataset class into the data home; return (folder, files)."""
    home = get_data_home(data_home)
    directory = home / spec.subdir
    manual = (
        "Places searched before downloading:\n"
        + "\n".join(_searched_lines(searched, spec))
        + f"\nTo install it manually, put the files {_file_list(spec)} in {directory} "
        f"(or in {spec.subdir}/ under the folder given by data_home= or {DATA_HOME_ENV}) "
        "and call again with download=False."
    )
    if spec.key == "fashion_mnist":
        manual += " On Debian/Ubuntu: apt-get install dataset-fashion-mnist."
    home.mkdir(parents=True, exist_ok=True)  # a PermissionError here names the folder
    try:
        import torchvision.datasets as tv_datasets

        dataset_class = getattr(tv_datasets, spec.torchvision_class)
        # torchvision writes exactly the layout searched above and checks the MD5s.
        dataset_class(root=str(home), train=True, download=True)
    except Exception as exc:  # offline: RuntimeError (MNIST), URLError (CIFAR-10), ...
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise ConnectionError(
            f"Downloading {spec.title} with torchvision into {home} failed: {reason}\n{manual}"
        ) from exc
    found, missing = _find_files(directory, spec)
    if missing:
        raise FileNotFoundError(
            f"torchvision downloaded {spec.title} into {home}, but {directory} lacks "
            f"{', '.join(missing)}.\n{manual}"
        )
    return directory, found
