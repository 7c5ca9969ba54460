"""The checkpoint writer and reader of ``cnn_estimators._io``: atomicity, durability, format."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import time
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


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [("node1.cluster.local", "node1_cluster_local"), ("gpu-7", "gpu-7"), ("", "localhost")],
)
def test_host_names_without_dots_name_the_temporaries(monkeypatch, hostname, expected):
    monkeypatch.setattr(socket, "gethostname", lambda: hostname)
    assert _io._host() == expected


def test_a_failed_save_raises_its_own_error_when_the_temporary_is_gone(tmp_path, monkeypatch):
    def vanish_then_fail(src, dst):
        os.unlink(src)  # e.g. removed by hand while the save ran
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", vanish_then_fail)
    with pytest.raises(OSError, match="Input/output error"):
        save_checkpoint({"epoch": 2}, tmp_path / "a.ckpt")


def test_cleanup_goes_on_past_files_it_keeps(tmp_path, monkeypatch):
    """Every temporary is considered, whatever the order of the directory listing."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, pid = _io._host(), dead.pid
    names = [
        ".notes.txt.tmp",  # not named by save_checkpoint
        f".{host}.{pid}.tmp",  # three parts: not named by save_checkpoint either
        f".a.ckpt.other-host.{pid}.x4.tmp",  # another machine's
        f".a.ckpt.{host}.{os.getpid()}.x5.tmp",  # this process's
        f".a.ckpt.{host}.{pid}.gone.tmp",  # removed by someone else meanwhile
        f".a.ckpt.{host}.{pid}.x6.tmp",  # stale
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    monkeypatch.setattr(Path, "glob", lambda self, pattern: [self / n for n in names])
    unlink = Path.unlink

    def racing_unlink(self, missing_ok=False):
        if ".gone." in self.name:
            unlink(self)
            raise FileNotFoundError(self)
        return unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", racing_unlink)
    assert _io.remove_stale_temporaries(tmp_path) == [tmp_path / names[-1]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[:4])


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


def test_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    stale = tmp_path / f".a.ckpt.{_io._host()}.{dead.pid}.x1.tmp"
    stale.write_bytes(b"partial")
    assert _io.remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists()


def test_temporaries_of_live_writers_are_kept_and_not_signalled(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".a.ckpt.{_io._host()}.{child.pid}.x2.tmp"
        live.write_bytes(b"partial")
        assert _io.remove_stale_temporaries(tmp_path) == []
        assert live.exists()
        time.sleep(0.2)
        assert child.poll() is None  # still running: only signal 0 was sent to it
    finally:
        child.kill()
        child.wait()


def test_temporaries_of_other_users_processes_are_kept(tmp_path, monkeypatch):
    def not_yours(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", not_yours)
    other = tmp_path / f".a.ckpt.{_io._host()}.{os.getpid() + 1}.x3.tmp"
    other.write_bytes(b"partial")
    assert _io.remove_stale_temporaries(tmp_path) == []
    assert other.exists()


def test_a_file_growing_while_read_is_refused(tmp_path, monkeypatch):
    path = save_checkpoint({"w": torch.ones(10)}, tmp_path / "a.ckpt")
    fstat = os.fstat

    def smaller(fd):  # the size seen before a writer appended to the file
        info = fstat(fd)
        return os.stat_result((*info[:6], info.st_size - 10, *info[7:]))

    monkeypatch.setattr(os, "fstat", smaller)
    with pytest.raises(CheckpointError, match=r"a\.ckpt changed while it was read"):
        load_checkpoint(path)


def test_archives_with_too_many_members_are_refused(tmp_path, monkeypatch):
    path = save_checkpoint({"w": torch.ones(10)}, tmp_path / "a.ckpt")
    monkeypatch.setattr(_io, "MAX_ARCHIVE_MEMBERS", 3)
    with pytest.raises(
        CheckpointError, match=r"a\.ckpt cannot be read: its archive has \d+ members, more than 3"
    ):
        load_checkpoint(path)


def test_encrypted_members_are_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(10)}, buffer)
    payload = bytearray(buffer.getvalue())
    header = payload.rindex(b"PK\x03\x04")  # the last member's local header
    payload[header + 6] |= 0x1  # its "encrypted" flag
    path = tmp_path / "a.ckpt"
    raw = bytes(payload)
    path.write_bytes(MAGIC + hashlib.sha256(raw).hexdigest().encode() + b"\n" + raw)
    with pytest.raises(CheckpointError, match=r"a\.ckpt cannot be read: .*compressed or encrypted"):
        load_checkpoint(path)
