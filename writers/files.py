"""File helpers shared by the exporters and merge."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from dropsynth.errors import ConfigError, DropsynthError


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
