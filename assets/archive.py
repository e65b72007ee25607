"""Pack archives (.tar.gz, .tgz, .zip): safe listing and extraction.

A member is refused when its name is absolute, climbs out with ``..``, or is
a link (symbolic or hard) or a device; nothing is extracted from an archive
with any such member, nor from one over the limits below (sizes as the
archive declares them, which is what extraction writes: tarfile reads exactly
a member's size, zipfile stops at it). Extracted packs are cached by the
archive's content hash, so a second run reuses them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from dropsynth.atomic import atomic_folder
from dropsynth.errors import AssetError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
# A pack is meshes, textures and a manifest: far below these. An archive over
# them is refused before anything is extracted (an 18 MB archive can hold a
# 4 GiB file of zeros).
MAX_MEMBERS = 10_000
MAX_FILE_BYTES = 512 * 2**20
MAX_TOTAL_BYTES = 2 * 2**30


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n:,} bytes"


class _Limits:
    """Counts members and declared sizes; the first limit passed is the error."""

    def __init__(self, path: Path):
        self.path, self.members, self.total = path, 0, 0

    def add(self, name: str, size: int) -> None:
        self.members += 1
        self.total += max(0, size)
        if self.members > MAX_MEMBERS:
            raise AssetError(f"{self.path}: more than {MAX_MEMBERS:,} members (the limit for a pack); nothing "
                             f"was extracted")
        if size > MAX_FILE_BYTES:
            raise AssetError(f"{self.path}: {name}: {_mib(size)} unpacked, over the limit of "
                             f"{_mib(MAX_FILE_BYTES)} per file; nothing was extracted")
        if self.total > MAX_TOTAL_BYTES:
            raise AssetError(f"{self.path}: over {_mib(MAX_TOTAL_BYTES)} unpacked in all (the limit for a pack, "
                             f"reached at {name}); nothing was extracted")


def is_archive(path: str | Path) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def cache_dir() -> Path:
    """$DROPSYNTH_CACHE, default ~/.cache/dropsynth."""
    base = os.environ.get("DROPSYNTH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dropsynth")
    return Path(base)


def _unsafe_name(name: str) -> str | None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in p.parts:
        return "path climbs out of the pack with '..'"
    return None


def check_members(path: Path) -> list[tuple[str, str]]:
    """(member, reason) for every unsafe member of an archive. Raises
    AssetError (one line) for an archive that cannot be read or is over the
    limits on member count, file size and total size."""
    bad = []
    limits = _Limits(path)
    try:
        if str(path).lower().endswith(".zip"):
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    limits.add(info.filename, info.file_size)
                    reason = _unsafe_name(info.filename)
                    mode = info.external_attr >> 16
                    if reason is None and stat.S_ISLNK(mode):
                        reason = "symbolic link"
                    if reason:
                        bad.append((info.filename, reason))
        else:
            with tarfile.open(path, "r:*") as t:
                for m in t:  # one header at a time: stops at the first limit passed
                    limits.add(m.name, m.size if m.isfile() else 0)
                    reason = _unsafe_name(m.name)
                    if reason is None and m.issym():
                        reason = "symbolic link"
                    elif reason is None and m.islnk():
                        reason = "hard link"
                    elif reason is None and not (m.isfile() or m.isdir()):
                        reason = "not a regular file or folder"
                    if reason:
                        bad.append((m.name, reason))
    except tarfile.ReadError as e:
        # tarfile lists every method it tried, one per line: say it once
        what = "not a tar archive" if "could not be opened" in str(e) or "gzip" in str(e) else str(e).splitlines()[0]
        raise AssetError(f"{path}: cannot read archive: {what} (a pack archive is a .tar.gz/.tgz or .zip of the "
                         f"pack folder)") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        raise AssetError(f"{path}: cannot read archive: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                         ) from None
    return bad


def extract(path: Path, dest: Path) -> None:
    """Extract a checked archive into ``dest`` (regular files and folders only)."""
    bad = check_members(path)
    if bad:
        name, reason = bad[0]
        raise AssetError(f"{path}: {name}: unsafe archive member ({reason}); nothing was extracted")
    dest.mkdir(parents=True, exist_ok=True)
    if str(path).lower().endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            z.extractall(dest)
    else:
        with tarfile.open(path, "r:*") as t:
            # Members were checked above; the "data" filter re-checks where Python has it.
            if hasattr(tarfile, "data_filter"):
                t.extractall(dest, filter="data")
            else:
                t.extractall(dest)


def pack_root(folder: Path) -> Path:
    """The folder holding pack.yaml: ``folder`` itself or its single subfolder."""
    if (folder / "pack.yaml").is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(subs) == 1 and (subs[0] / "pack.yaml").is_file():
        return subs[0]
    raise AssetError(f"{folder}: no pack.yaml at the top of the archive or in its single top folder")


def open_pack(path: str | Path) -> Path:
    """A pack folder (or manifest path) as is; an archive extracted into the
    cache (once per content hash). Returns the folder holding pack.yaml."""
    path = Path(path)
    if not path.exists():
        raise AssetError(f"{path}: asset pack not found")
    if path.is_dir() or path.name.endswith((".yaml", ".yml")):
        return path
    if not is_archive(path):
        raise AssetError(f"{path}: not a pack folder or a .tar.gz/.tgz/.zip archive")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
    dest = cache_dir() / "packs" / digest
    if not (dest / ".complete").exists():
        # replace=False: when another process (another worker on this node)
        # finished first, its complete copy is the same content; never delete it.
        with atomic_folder(dest, replace=False) as tmp:
            extract(path, tmp)
            (tmp / ".complete").write_text("")
            if dest.exists() and not (dest / ".complete").exists():
                shutil.rmtree(dest, ignore_errors=True)  # a half-extracted leftover
    return pack_root(dest)
