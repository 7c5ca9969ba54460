"""The checkpoint writer and reader of ``cnn_estimators._io``: atomicity, durability, format."""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path

import pytest
import torch

from cnn_estimators import _io
from cnn_estimators._io import MAGIC, CheckpointError, load_checkpoint, save_checkpoint


def _target_of(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


@pytest.fixture
def events(monkeypatch):
    """Record the fsync and replace calls of a save, in order."""
    log: list[tuple] = []
    fsync, replace = os.fsync, os.replace

    def record_fsync(fd):
        log.append(("fsync", _target_of(fd), os.fstat(fd).st_size))
        return fsync(fd)

    def record_replace(src, dst):
        log.append(("replace", str(src), str(dst), load_checkpoint(src)))
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", record_fsync)
    monkeypatch.setattr(os, "replace", record_replace)
    return log


def test_file_format_is_magic_checksum_payload(tmp_path):
    path = save_checkpoint({"w": torch.arange(3)}, tmp_path / "a.ckpt")
    assert isinstance(path, Path) and path == tmp_path / "a.ckpt"
    data = path.read_bytes()
    header, payload = data[: len(MAGIC) + 65], data[len(MAGIC) + 65 :]
    assert header == MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    assert load_checkpoint(path)["w"].tolist() == [0, 1, 2]
    assert sorted(os.listdir(tmp_path)) == ["a.ckpt"]  # no temporary left


def test_parent_directories_are_created(tmp_path):
    path = save_checkpoint([1, 2], tmp_path / "x" / "y" / "a.ckpt")
    assert load_checkpoint(path) == [1, 2]


@needs_proc
def test_fsync_of_the_complete_temporary_before_the_rename(tmp_path, events):
    target = tmp_path / "a.ckpt"
    save_checkpoint({"w": torch.ones(1000)}, target)
    kinds = [e[0] for e in events]
    assert kinds.count("replace") == 1
    rename = kinds.index("replace")
    _, src, dst, content = events[rename]
    assert dst == str(target) and Path(src).parent == tmp_path
    pattern = rf"\.a\.ckpt\.{re.escape(_io._host())}\.{os.getpid()}\..+\.tmp"
    assert re.fullmatch(pattern, Path(src).name)
    assert torch.equal(content["w"], torch.ones(1000))  # complete when renamed
    synced = [e for e in events[:rename] if e[0] == "fsync" and e[1] == src]
    assert synced and synced[-1][2] == target.stat().st_size  # fsynced, complete
    after = [e for e in events[rename:] if e[0] == "fsync"]
    assert any(e[1] == str(tmp_path) for e in after)  # then the directory entry


def test_a_failed_second_save_leaves_the_first_file_intact(tmp_path, monkeypatch):
    path = save_checkpoint({"epoch": 1}, tmp_path / "state.ckpt")
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint({"epoch": 2, "w": torch.ones(10_000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["state.ckpt"]  # the temporary is removed


def test_a_failed_rename_leaves_the_first_file_intact(tmp_path, monkeypatch):
    path = save_checkpoint({"epoch": 1}, tmp_path / "state.ckpt")

    def refuse(src, dst):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["state.ckpt"]


def test_an_interrupted_serialisation_leaves_no_file(tmp_path, monkeypatch):
    path = save_checkpoint({"epoch": 1}, tmp_path / "state.ckpt")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["state.ckpt"]


def test_directory_fsync_is_skipped_where_unsupported(tmp_path, monkeypatch):
    real_open = os.open

    def no_dirs(path, flags, *args):
        if Path(path).is_dir():
            raise OSError("not supported")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_dirs)
    assert load_checkpoint(save_checkpoint([3], tmp_path / "a.ckpt")) == [3]


def test_directory_fsync_errors_are_ignored(tmp_path, monkeypatch):
    fsync = os.fsync
    closed = []
    close = os.close

    def fail_on_dirs(fd):
        if Path(_target_of(fd)).is_dir():
            raise OSError("EINVAL")
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", fail_on_dirs)
    monkeypatch.setattr(os, "close", lambda fd: (closed.append(fd), close(fd)))
    assert load_checkpoint(save_checkpoint([4], tmp_path / "a.ckpt")) == [4]
    assert closed  # the directory descriptor is closed even then


def test_temporaries_of_the_host_are_named_for_cleanup(tmp_path):
    assert "." not in _io._host() and _io._host()
    assert _io._host() == (socket.gethostname().replace(".", "_") or "localhost")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[: len(d) // 2], "damaged"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "damaged"),
        (lambda d: b"XXXX" + d[4:], "wrong header"),
        (lambda d: d[: len(MAGIC) + 10], "wrong header"),
        (lambda d: b"", "wrong header"),
    ],
)
def test_damaged_files_are_named(tmp_path, damage, message):
    path = save_checkpoint({"w": torch.ones(100)}, tmp_path / "a.ckpt")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=rf"a\.ckpt.*{message}|{message}.*a\.ckpt"):
        load_checkpoint(path)


def test_a_payload_that_is_not_a_zip_archive(tmp_path):
    payload = b"not a zip archive at all"
    path = tmp_path / "a.ckpt"
    path.write_bytes(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    with pytest.raises(CheckpointError, match=r"a\.ckpt cannot be read: .*not a valid zip"):
        load_checkpoint(path)


def test_limits_are_exact(tmp_path):
    path = save_checkpoint({"w": torch.ones(10)}, tmp_path / "a.ckpt")
    size = path.stat().st_size
    assert load_checkpoint(path, max_bytes=size)["w"].shape == (10,)
    with pytest.raises(CheckpointError, match=rf"has {size} bytes, more than the {size - 1}"):
        load_checkpoint(path, max_bytes=size - 1)
