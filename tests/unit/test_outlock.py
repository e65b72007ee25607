"""The output and dataset locks (core/outlock.py) where the kernel's flock
alone does not decide: threads of one process, filesystems whose flock does
nothing or needs write access (NFS), folders a reader or writer may not
write."""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from dropsynth import outlock
from dropsynth.errors import ConfigError
from dropsynth.outlock import LOCK_NAME, DatasetReadLock, OutputLock


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_another_thread_of_the_process_cannot_take_a_held_folder(tmp_path):
    """Two generate() calls into one folder from two threads: the second is
    refused as another process would be (only the holding thread nests)."""
    out = tmp_path / "ds"
    result = {}
    with OutputLock(out):
        def second():
            try:
                with OutputLock(out):
                    result["got"] = True
            except ConfigError as e:
                result["refused"] = str(e)

        t = threading.Thread(target=second)
        t.start()
        t.join()
        with OutputLock(out) as again:  # the holding thread itself: a no-op, as a run's own exports
            assert again.nested
        assert (out / LOCK_NAME).is_file()
    assert "got" not in result and f"--out {out}" in result["refused"] and "\n" not in result["refused"]
    assert not (out / LOCK_NAME).exists()


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _writer_record(pid: int) -> str:
    return json.dumps({"pid": pid, "host": socket.gethostname(), "started": time.time(),
                       "proc_start": outlock._proc_start(pid), "role": "writing", "command": "dropsynth generate"})


def test_without_working_flock_a_reader_is_refused_by_a_live_writers_record(tmp_path, monkeypatch, live_pid):
    """Some FUSE filesystems accept flock and lock nothing: the record then
    says that a live run writes the dataset; the reader is refused and leaves
    the writer's lock file in place."""
    monkeypatch.setattr(fcntl, "flock", lambda fd, op: None)
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / LOCK_NAME).write_text(_writer_record(live_pid) + "\n")
    with pytest.raises(ConfigError) as e:
        DatasetReadLock(ds).acquire()
    assert f"pid {live_pid}" in str(e.value) and "being written" in str(e.value)
    assert json.loads((ds / LOCK_NAME).read_text())["pid"] == live_pid


def test_a_reader_never_removes_a_writers_record(tmp_path, monkeypatch, live_pid):
    """A writer that took the file after the reader (no working flock): the
    reader's release leaves it."""
    ds = tmp_path / "ds"
    ds.mkdir()
    lock = DatasetReadLock(ds)
    lock.acquire()
    monkeypatch.setattr(fcntl, "flock", lambda fd, op: None)
    (ds / LOCK_NAME).write_text(_writer_record(live_pid) + "\n")
    lock.release()
    assert (ds / LOCK_NAME).is_file()


def test_a_reader_release_that_cannot_take_an_exclusive_lock_still_lets_go(tmp_path, monkeypatch):
    """On NFS an exclusive flock needs a handle open for writing: the last
    reader's check fails with EBADF; the release still closes its handle and
    forgets the lock, so later writers in this process are not refused."""
    ds = tmp_path / "ds"
    ds.mkdir()
    fds = _open_fds()
    lock = DatasetReadLock(ds)
    lock.acquire()
    real = fcntl.flock

    def flock(fd, op):
        if op & fcntl.LOCK_EX:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    lock.release()
    monkeypatch.setattr(fcntl, "flock", real)
    assert not outlock._HELD and _open_fds() == fds
    with OutputLock(ds):  # a writer after it
        pass


def test_a_writer_that_may_not_open_the_lock_file_for_writing_is_refused_cleanly(tmp_path, monkeypatch):
    """Another user's lock file in a shared folder: one line naming the lock
    file, and no handle left open (it would hold the lock)."""
    out = tmp_path / "ds"
    out.mkdir()
    (out / LOCK_NAME).write_text("")
    real_open = os.open

    def deny_rw(path, flags, *a):
        if str(path).endswith(LOCK_NAME) and flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", deny_rw)
    fds = _open_fds()
    with pytest.raises(ConfigError) as e:
        OutputLock(out).acquire()
    msg = str(e.value)
    assert "Permission denied" in msg and str(out / LOCK_NAME) in msg and "\n" not in msg, msg
    assert _open_fds() == fds and not outlock._HELD
    with DatasetReadLock(out):  # a reader may still take it through a read-only handle
        pass
