"""One writer per output folder: ``DIR/.dropsynth.lock``.

The lock is an exclusive ``flock`` on the lock file, held for the whole run;
the file names its holder (pid, host, start time, command) for the refusal
message. The kernel drops a flock when its holder dies, however it dies
(kill -9, out of memory, power cut on a network filesystem whose server
notices), so a lock file left behind by a dead run is stale by construction
and the next run takes it over. Linux NFS clients pass flock to the server as
a POSIX lock, so runs on two nodes of a shared filesystem exclude each other
too; a filesystem without working locks (some FUSE drivers) is covered on the
same host by the pid check below, not across hosts.

Readers of a finished dataset (the exporters, merge, stats, preview) hold the
same file with a *shared* flock (:class:`DatasetReadLock`): a dataset that a
live run still writes is refused, and a run (``generate --overwrite``, a merge
into it) started while it is read is refused in turn. Export folders are held
by a lock file beside them (``.NAME.dropsynth.lock``, :func:`beside_lock`),
since the export swaps its folder in whole. A process holds each lock once:
taking one it already holds (generate running its own exports) is a no-op.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path

from dropsynth.errors import ConfigError

log = logging.getLogger(__name__)

LOCK_NAME = ".dropsynth.lock"
_RECORD_BYTES = 16384  # a reader's record, padded: longer than any holder's (2,000 characters of command, JSON-escaped), so one pwrite replaces it whole
_HELD: dict[tuple[str, int], object] = {}  # (lock file, thread id) -> the lock that thread holds on it


def _key(path: Path) -> tuple[str, int]:
    """A lock is held once per thread: the thread that holds it (a run and its
    own exports) takes it again as a no-op; another thread of the process
    takes it through flock like any other process, and is refused."""
    return str(path.resolve()), threading.get_ident()


def beside_lock(folder: str | Path) -> Path:
    """The lock file of an export folder that is swapped in whole: beside it."""
    folder = Path(folder).resolve()
    return folder.with_name(f".{folder.name}.dropsynth.lock")


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a
    live holder from a new process that reuses its pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive_here(holder: dict) -> bool:
    """Whether ``holder`` names a live process on this host."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    start = _proc_start(holder["pid"])
    return start is not None and start == holder.get("proc_start")


def _describe(holder: dict) -> str:
    started = holder.get("started")
    since = time.strftime(", since %Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) \
        else ""
    cmd = holder.get("command")
    if isinstance(cmd, str) and cmd.strip():
        head, _, rest = cmd.strip().partition(" ")
        cmd = " ".join(filter(None, (os.path.basename(head), rest)))
        since += f": {cmd if len(cmd) <= 120 else cmd[:117] + '...'}"
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}{since}"


def _holder_here(holder: dict) -> bool:
    """Whether ``holder`` may be the live holder (a live process here, or a
    process on another host, which we cannot check)."""
    return bool(holder.get("pid")) and (holder.get("host") != socket.gethostname() or _alive_here(holder))


def _me(role: str) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
            "proc_start": _proc_start(os.getpid()), "role": role,
            "command": " ".join(sys.argv[:1] + sys.argv[1:])[:2000]}


def _read(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 65536, 0).decode("utf-8", "replace") or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _open_flocked(path: Path, shared: bool) -> tuple[int | None, dict]:
    """Open ``path`` and flock it without waiting: ``(fd, {})`` when held,
    ``(None, holder)`` when a live process holds it. The holder may release
    (and delete) the file between our open and flock: then again."""
    import fcntl

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            if not shared:
                raise
            fd = os.open(path, os.O_RDONLY)  # a reader of a folder it may not write: a shared flock still works
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            deadline = time.monotonic() + 0.5
            while not _holder_here(holder) and time.monotonic() < deadline:  # it took the lock a moment
                time.sleep(0.02)  # ago and writes its record next: read who it is, for the message
                holder = _read(fd)
            os.close(fd)
            return None, holder
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, {}
        os.close(fd)


class OutputLock:
    """``with OutputLock(out_dir):`` holds the folder for one run (creating
    the folder when needed; ``created`` says whether it did). Raises
    ConfigError naming the holder when another live run holds it, or when
    dropsynth commands read it (a dataset being exported). ``lock_path``:
    another lock file (an export folder's, :func:`beside_lock`); ``label``
    starts the error (default ``--out DIR``)."""

    def __init__(self, out_dir: str | Path, *, lock_path: str | Path | None = None, label: str | None = None):
        self.out_dir = Path(out_dir)
        self.path = Path(lock_path) if lock_path is not None else self.out_dir / LOCK_NAME
        self.label = label or f"--out {self.out_dir}"
        self.fd: int | None = None
        self.created = False
        self.nested = False

    def _refused(self, holder: dict) -> ConfigError:
        if not _holder_here(holder):  # a record not written yet, or left by a holder that is gone
            return ConfigError(f"{self.label}: in use by another dropsynth command (lock {self.path}); wait for it "
                               f"to finish, or choose another folder")
        if holder.get("role") == "reading":
            return ConfigError(f"{self.label}: being read by another dropsynth command ({_describe(holder)}; lock "
                               f"{self.path}); wait for it to finish, or choose another folder")
        return ConfigError(f"{self.label}: in use by another dropsynth run ({_describe(holder)}; lock {self.path}); "
                           f"wait for it to finish or stop it, or choose another folder")

    def acquire(self) -> None:
        key = _key(self.path)
        if key in _HELD:  # this thread holds it already (a run's own exports): nothing to take or release
            self.nested = True
            return
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ConfigError(f"{self.label}: exists and is not a folder")
        fd = None
        try:
            self.created = not self.out_dir.exists()
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, holder = _open_flocked(self.path, shared=False)
            if fd is None:
                raise self._refused(holder) from None
            old = _read(fd)
            if old and old.get("role") != "reading" and _alive_here(old) and old.get("pid") != os.getpid():
                raise self._refused(old)  # a filesystem whose flock does nothing: the pid says it is taken
            if old:
                log.info("%s: taking over the lock of a run that is gone (%s)", self.path, _describe(old))
            record = (json.dumps(_me("writing")) + "\n").encode()
            os.pwrite(fd, record, 0)  # then cut what a longer old record left: never an empty file between
            os.ftruncate(fd, len(record))
            self.fd, fd = fd, None
            self._held_key = key
            _HELD[key] = self
        except OSError as e:
            where = e.filename if getattr(e, "filename", None) else self.path
            raise ConfigError(f"{self.label}: cannot write there ({e.strerror or e}: {where})") from None
        finally:
            if fd is not None:  # refused or failed after opening it: let go of it
                os.close(fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()  # while still holding it: no one can take a file about to vanish
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        _HELD.pop(self._held_key, None)
        if self.created:
            try:
                self.out_dir.rmdir()  # a folder this run made and left empty (it failed early) goes too
            except OSError:
                pass

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class DatasetReadLock:
    """``with DatasetReadLock(root):`` holds the dataset in ``root`` for
    reading: a shared flock on its ``LOCK_NAME``, so that any number of
    readers share it and a run that writes the folder is refused meanwhile.
    Raises ConfigError naming the folder and the holder when a live run holds
    it. A reader that cannot open or create the file (a read-only mount, or a
    folder it may not write) reads without a lock, and then does not keep
    out a run that its owner starts there meanwhile."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.path = self.root.resolve() / LOCK_NAME
        self.fd: int | None = None

    def _refused(self, holder: dict) -> ConfigError:
        return ConfigError(f"{self.root}: being written by a dropsynth run ({_describe(holder)}; lock "
                           f"{self.path}); wait for it to finish, then run this again")

    def acquire(self) -> None:
        key = _key(self.path)
        if key in _HELD or not self.root.is_dir():  # held already; or no folder: the reader says it is missing
            return
        try:
            fd, holder = _open_flocked(self.path, shared=True)
        except OSError:
            return
        if fd is None:
            raise self._refused(holder)
        record = _read(fd)
        if record.get("role") == "writing" and _alive_here(record) and record.get("pid") != os.getpid():
            os.close(fd)  # a filesystem whose flock does nothing: the record says a live run writes it
            raise self._refused(record)
        if not _holder_here(record):  # say who reads it, for a run refused meanwhile
            try:
                os.pwrite(fd, (json.dumps(_me("reading")) + "\n").encode().ljust(_RECORD_BYTES), 0)
            except OSError:
                pass
        self.fd = fd
        self._held_key = key
        _HELD[key] = self

    def release(self) -> None:
        import fcntl

        if self.fd is None:
            return
        try:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last reader: no one else holds it
            except OSError:  # others still read (the last of them removes the file), or a handle that
                pass  # cannot take an exclusive lock (read-only, on NFS): leave the file
            else:
                if _read(self.fd).get("role") in (None, "reading"):  # never a writer's record (no working flock)
                    try:
                        self.path.unlink()
                    except OSError:
                        pass
        finally:
            os.close(self.fd)
            self.fd = None
            _HELD.pop(self._held_key, None)

    def __enter__(self) -> "DatasetReadLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
