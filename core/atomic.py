"""Atomic writes: the one temporary-name scheme of the whole package.

A file or folder ``NAME`` is built as ``.NAME.PID.tmp`` beside it
(:func:`temp_path`) and renamed over ``NAME`` only when complete, so an
interrupted run never leaves something that looks whole. The pid keeps two
writers of the same name (a resumed run next to an orphaned worker of the
killed one, two workers filling one cache) from renaming each other's file;
a temporary whose process is gone is stale (:func:`remove_stale`).
``durable`` also fsyncs the file before the rename and its folder after, so
that a power cut cannot leave an empty file under a complete name.

Bottom layer (types): assets, scenes, writers and the utility commands all
write through it; ``writers/files.py`` adds the export folders on top.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

TMP_SUFFIX = ".tmp"


def temp_path(path: str | Path) -> Path:
    """The temporary name ``.NAME.PID.tmp`` beside ``path`` (file or folder)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def temp_pid(name: str, target: str | None = None) -> int | None:
    """The pid in ``name`` when it is a temporary (of ``target``, when given;
    of any name otherwise), else None."""
    if not (name.startswith(".") and name.endswith(TMP_SUFFIX)):
        return None
    stem = name[1:-len(TMP_SUFFIX)]
    base, _, pid = stem.rpartition(".")
    if not base or not pid.isdigit() or (target is not None and base != target):
        return None
    return int(pid)


def is_temporary(name: str) -> bool:
    """Whether a file name is one of our temporaries (``.NAME.PID.tmp``)."""
    return temp_pid(name) is not None


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
        pid = temp_pid(p.name, path.name)
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


def copy_file_atomic(src: str | Path, dst: str | Path) -> Path:
    """Copy the file ``src`` to ``dst`` through ``dst``'s temporary name."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished folder ``tmp`` to ``out`` (same filesystem): a
    folder already at ``out`` is moved aside first (``.NAME.old-PID``) and
    deleted after, an empty one is removed, so ``out`` is never seen
    half-written. The caller decides that ``out`` may be replaced."""
    tmp, out = Path(tmp), Path(out)
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
def atomic_folder(path: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path`` (stale temporaries of
    ``path`` removed first); when the block ends without an error, rename it
    to ``path``. With ``replace`` a folder already there is swapped out
    (:func:`swap_into_place`); without, one already there is kept (another
    process made the same content first) and ours is dropped. On an error
    the temporary folder is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = temp_path(path)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        yield tmp
        if replace:
            swap_into_place(tmp, path)
        else:
            try:
                os.replace(tmp, path)
            except OSError:
                if not path.is_dir():
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
