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
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from dropsynth.errors import ConfigError

log = logging.getLogger(__name__)

LOCK_NAME = ".dropsynth.lock"


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
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}{since}"


class OutputLock:
    """``with OutputLock(out_dir):`` holds the folder for one run (creating
    the folder when needed; ``created`` says whether it did). Raises
    ConfigError naming the holder when another live run holds it."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self.fd: int | None = None
        self.created = False

    def _read(self, fd: int) -> dict:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            data = json.loads(os.read(fd, 65536).decode("utf-8", "replace") or "{}")
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        import fcntl

        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ConfigError(f"--out {self.out_dir}: exists and is not a folder")
        try:
            self.created = not self.out_dir.exists()
            self.out_dir.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = self._read(fd)
                    os.close(fd)
                    raise ConfigError(f"--out {self.out_dir}: in use by another dropsynth run ({_describe(holder)}; "
                                      f"lock {self.path}); wait for it to finish or stop it, or choose another "
                                      f"folder") from None
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)  # the holder released (and deleted) it between our open and flock: again
            old = self._read(fd)
            if old and _alive_here(old) and old.get("pid") != os.getpid():
                os.close(fd)  # a filesystem whose flock does nothing: the pid says it is taken
                raise ConfigError(f"--out {self.out_dir}: in use by another dropsynth run ({_describe(old)}; "
                                  f"lock {self.path}); wait for it to finish or stop it, or choose another folder")
            if old:
                log.info("%s: taking over the lock of a run that is gone (%s)", self.path, _describe(old))
            me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                  "proc_start": _proc_start(os.getpid()), "command": " ".join(sys.argv[:1] + sys.argv[1:])[:2000]}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
            self.fd = fd
        except OSError as e:
            raise ConfigError(f"--out {self.out_dir}: cannot write there ({e.strerror or e})") from None

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()  # while still holding it: no one can take a file about to vanish
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
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
