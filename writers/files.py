"""File helpers shared by every writer: atomic writes, export folders, links.

One temporary-name scheme for the whole package: a file or folder ``NAME``
is built as ``.NAME.PID.tmp`` beside it (:func:`temp_path`) and renamed over
``NAME`` only when complete, so an interrupted run never leaves something
that looks whole. The pid keeps two writers of the same name (a resumed run
next to an orphaned worker of the killed one) from renaming each other's
file; a temporary whose process is gone is stale (:func:`remove_stale`).
``durable`` also fsyncs the file before the rename and its folder after, so
that a power cut cannot leave an empty file under a complete name.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

from dropsynth.errors import ConfigError, DropsynthError

TMP_SUFFIX = ".tmp"


def temp_path(path: str | Path) -> Path:
    """The temporary name ``.NAME.PID.tmp`` beside ``path`` (file or folder)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def _temp_pid(name: str, target: str) -> int | None:
    """The pid in ``name`` when it is a temporary of ``target``, else None."""
    head = f".{target}."
    if not (name.startswith(head) and name.endswith(TMP_SUFFIX)):
        return None
    pid = name[len(head):-len(TMP_SUFFIX)]
    return int(pid) if pid.isdigit() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale(path: str | Path) -> None:
    """Delete the temporaries of ``path`` (files or folders) whose process is
    gone: what a killed writer left."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    for p in path.parent.iterdir():
        pid = _temp_pid(p.name, path.name)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _fsync_file(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(d) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def fsync_paths(paths) -> None:
    """Flush files (and then their folders) to disk, so that a power cut
    after a rename cannot leave an empty file under a complete name."""
    dirs = set()
    for p in paths:
        _fsync_file(p)
        dirs.add(os.path.dirname(os.path.abspath(p)))
    for d in sorted(dirs):
        _fsync_dir(d)


@contextlib.contextmanager
def atomic_path(path: str | Path, durable: bool = False) -> Iterator[Path]:
    """Yield the temporary name of the file ``path``; when the block ends
    without an error, rename it to ``path`` (fsynced first when ``durable``),
    else remove it. The folder of ``path`` is created when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        if durable:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_bytes_atomic(path: str | Path, data: bytes, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` through its temporary name; returns ``path``."""
    with atomic_path(path, durable) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str, durable: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``text`` (``\\n`` line ends on every platform) atomically; returns ``path``."""
    return write_bytes_atomic(path, text.encode(encoding), durable)


def write_json_atomic(path: str | Path, data, durable: bool = False, **kw) -> Path:
    """Write JSON atomically (compact separators unless ``kw`` says otherwise,
    e.g. ``indent=2``); returns ``path``."""
    kw.setdefault("separators", (",", ":"))
    # dumps, not dump: only the one-shot path uses the C encoder (5x faster
    # on a shard's polygons); the text is the same.
    return write_text_atomic(path, json.dumps(data, **kw), durable)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (same filesystem), else copy it."""
    if not Path(src).is_file():
        raise DropsynthError(f"{src}: not found")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        try:
            shutil.copy2(src, dst)
        except OSError as e:
            raise DropsynthError(f"{dst}: cannot link or copy {src} ({e.strerror or e})") from None


def check_replaceable(out: Path, overwrite: bool, marker: str, kind: str) -> bool:
    """True when ``out`` holds a previous ``kind`` export to replace; refuses
    a non-empty folder without ``overwrite``, and any folder without our
    ``marker`` (never delete what we did not write)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return False
    if not overwrite:
        raise ConfigError(f"{out}: folder is not empty; pass overwrite=True (--overwrite) to replace a previous "
                          f"{kind} export, or choose another folder")
    if not (out / marker).exists():
        raise ConfigError(f"{out}: not empty and not a dropsynth {kind} export (no {marker}); refusing to delete "
                          f"it, choose another folder")
    return True


def swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished folder ``tmp`` to ``out``: a previous export there
    (checked replaceable by :func:`check_replaceable`) is moved aside first
    and deleted after, an empty folder is removed, so ``out`` is never seen
    half-written."""
    old = None
    if out.is_dir():
        if any(out.iterdir()):
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        else:
            out.rmdir()
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def export_folder(out: Path, kind: str) -> Iterator[Path]:
    """Build an export folder: yield a fresh temporary folder beside ``out``
    and swap it into place when the block ends (:func:`swap_into_place`); on
    any error it is removed, and an ``OSError`` becomes one line naming
    ``out``. Stale temporaries of ``out`` left by a killed export go first."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = temp_path(out)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        yield tmp
        swap_into_place(tmp, out)
    except OSError as e:
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        raise DropsynthError(f"{out}: writing the {kind} export failed ({e.strerror or e}{where})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
