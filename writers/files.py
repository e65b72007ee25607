"""File helpers shared by the writers: export folders, links.

The atomic-write primitives (one temporary-name scheme, ``.NAME.PID.tmp``)
live in ``dropsynth.atomic``, the bottom layer, so that assets and scenes
write through them too; they are re-exported here for the writers.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Iterator

from dropsynth.atomic import (TMP_SUFFIX, atomic_folder, atomic_path, fsync_paths, remove_stale,  # noqa: F401
                              swap_into_place, temp_path, write_bytes_atomic, write_json_atomic, write_text_atomic)
from dropsynth.errors import ConfigError, DropsynthError

log = logging.getLogger(__name__)

MARKER_HEAD = '{"tool":"dropsynth"'  # how every marker we write starts (whitespace aside)


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
    refuse_unless_ours(str(out), out, overwrite, marker, f"{kind} export",
                       f"; pass overwrite=True (--overwrite) to replace a previous {kind} export, or choose another "
                       f"folder")
    return True


def refuse_unless_ours(label: str, out: Path, overwrite: bool, marker: str, what: str, not_empty: str) -> None:
    """Refuse to replace the non-empty folder ``out`` without ``overwrite``
    (``"LABEL: folder is not empty" + not_empty``), and without our
    ``marker`` in it ever: never delete what we did not write. Used for run
    folders (writers/outdir.py) and export folders alike."""
    if not overwrite:
        raise ConfigError(f"{label}: folder is not empty{not_empty}")
    path = Path(out) / marker
    state, detail = marker_state(path)
    if state == "missing":
        raise ConfigError(f"{label}: not empty and not a dropsynth {what} (no {marker}); refusing to delete it, "
                          f"choose another folder")
    if state == "damaged":
        log.warning("%s: damaged marker (%s); only dropsynth writes this name, so %s is still replaced as a "
                    "dropsynth %s", path, detail, out, what)


def marker_state(path: Path) -> tuple[str, str]:
    """``("ok", "")`` for a marker file holding our JSON object, ``("missing",
    "")`` without one, else ``("damaged", why)``: empty, zeros or cut off
    (what a crash or a power cut left of the plain write that versions before
    the atomic one made), not a file, unreadable, other content. A damaged
    marker still marks the folder as ours: only dropsynth writes these names
    (first, into a folder that was empty or already ours), and the README's
    contract is the name."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return "missing", ""
    if not path.is_file():
        return "damaged", "not a file"
    try:
        raw = path.read_bytes()[:65536]
    except OSError as e:
        return "damaged", f"cannot be read: {e.strerror or e}"
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("tool") == "dropsynth":
        return "ok", ""
    squeezed = "".join(text.replace("\0", "").split())
    if not squeezed:
        return "damaged", "empty" if not raw else f"{len(raw)} bytes of zeros or blanks"
    if data is None and (MARKER_HEAD.startswith(squeezed) or squeezed.startswith(MARKER_HEAD)):
        return "damaged", f"cut off after {len(raw)} bytes"
    return "damaged", "not the JSON dropsynth writes"


@contextlib.contextmanager
def export_folder(out: Path, kind: str) -> Iterator[Path]:
    """Build an export folder: yield a fresh temporary folder beside ``out``
    and swap it into place when the block ends (:func:`swap_into_place`); on
    any error it is removed, and an ``OSError`` becomes one line naming
    ``out``. Stale temporaries of ``out`` left by a killed export go first."""
    try:
        with atomic_folder(out, replace=True) as tmp:
            yield tmp
    except OSError as e:
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        raise DropsynthError(f"{out}: writing the {kind} export failed ({e.strerror or e}{where})") from None


@contextlib.contextmanager
def dataset_locks(dataset_dir: str | Path, out: str | Path, kind: str, swapped: bool = True) -> Iterator[None]:
    """Hold the dataset in ``dataset_dir`` for reading (refused while a live
    run writes it) and the folder ``out`` (a ``kind``: "YOLO export") for writing (a second
    export there at once is refused), each in one line naming the folder and
    the holder (``dropsynth.outlock``). ``swapped``: ``out`` is built beside
    and swapped in whole (an export), so its lock file lies beside it; else
    (a report written into its folder) inside it, so that only the folder
    itself need be writable."""
    from dropsynth.outlock import DatasetReadLock, OutputLock, beside_lock

    out = Path(out)
    lock = OutputLock(out.resolve().parent, lock_path=beside_lock(out), label=f"{out} ({kind})") if swapped \
        else OutputLock(out, label=f"{out} ({kind})")
    with DatasetReadLock(dataset_dir), lock:
        yield


def holds_dataset(default_folder: str, kind: str, swapped: bool = True):
    """Decorator for ``fn(dataset_dir, out_dir=None, ...)`` that reads a
    dataset and writes ``out_dir`` (default ``dataset_dir/default_folder``):
    runs it under :func:`dataset_locks`."""
    def decorate(fn):
        sig = inspect.signature(fn)
        first = next(iter(sig.parameters))

        @functools.wraps(fn)
        def locked(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            dataset = Path(bound.arguments[first])
            out = bound.arguments.get("out_dir")
            with dataset_locks(dataset, dataset / default_folder if out is None else out, kind, swapped):
                return fn(*args, **kwargs)

        return locked

    return decorate


def reads_dataset(fn):
    """Decorator for ``fn(dataset_dir, ...)`` that only reads the dataset (and
    writes one file atomically): runs it under the dataset's read lock."""
    from dropsynth.outlock import DatasetReadLock

    sig = inspect.signature(fn)
    first = next(iter(sig.parameters))

    @functools.wraps(fn)
    def locked(*args, **kwargs):
        with DatasetReadLock(sig.bind(*args, **kwargs).arguments[first]):
            return fn(*args, **kwargs)

    return locked
