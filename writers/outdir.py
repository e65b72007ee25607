"""The output folder: whose it is, what --overwrite replaces, what --resume
keeps, and the temporaries a killed run leaves.

A folder is ours when it holds ``MARKER`` (written first). What a run may
write is derived from the writers (``writers.frame_files.FILE_WRITERS``, the
exporters of ``writers.EXPORTERS``) and the run's own files, never listed by
hand: ``--overwrite`` moves exactly those aside until the new run writes its
first frame, and puts them back when it fails before.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from dropsynth import __version__
from dropsynth.atomic import write_json_atomic, write_text_atomic
from dropsynth.errors import ConfigError
from dropsynth.writers.files import marker_state, refuse_unless_ours

MARKER = ".dropsynth"  # written first: marks a folder as ours (safe to --overwrite, --resume)
RUN_CONFIG = "run_config.json"  # what a resumed run must match
RUN_JSON = "run.json"  # written last: a folder without it is an incomplete run
PREVIEW = "preview.png"
STATS = "stats"  # the statistics report's folder (output.stats)
PARTS = "parts"  # annotations/parts/: one COCO part per complete shard, until the merge
REPLACED = ".dropsynth.replaced"  # --overwrite: the previous output, until this run writes its first frame


def our_entries() -> tuple[str, ...]:
    """Every top-level name a dropsynth run may write (what --overwrite
    replaces): the per-frame writers' entries, the exporters' folders, the
    statistics report and the run's own files."""
    from dropsynth.writers import EXPORTERS
    from dropsynth.writers.frame_files import FILE_WRITERS, CocoPartWriter

    names = [e for w in (*FILE_WRITERS, CocoPartWriter) for e in w.ENTRIES]
    names += [*EXPORTERS, STATS, RUN_JSON, PREVIEW, RUN_CONFIG, MARKER]
    return tuple(dict.fromkeys(names))


def all_temp_dirs() -> tuple[str, ...]:
    """Where any writer may leave temporaries (for a caller that does not say
    which writers it uses)."""
    from dropsynth.writers.frame_files import FILE_WRITERS, CocoPartWriter

    dirs = [e for w in (*FILE_WRITERS, CocoPartWriter) for e in w.ENTRIES]
    return tuple(dict.fromkeys([*dirs, f"annotations/{PARTS}", "grasps/library"]))


def first_difference(a, b, path="") -> str | None:
    """The first key path where two JSON values differ, said in words."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            d = first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
            if d:
                return d
        return None
    if a != b:
        return f"{path} is {json.dumps(a)} there, {json.dumps(b)} now"
    return None


def prepare_output(out_dir: Path, overwrite: bool, resume: bool = False, fingerprint: dict | None = None, *,
                   temp_dirs=None) -> bool:
    """Create ``out_dir``, or check it for --resume. Returns True when resuming.

    A non-empty folder needs ``overwrite`` (only a previous dropsynth output
    is ever deleted) or ``resume`` (only into a run made with the same config,
    seed and assets: ``fingerprint``, saved as ``RUN_CONFIG``). On resume the
    temporaries in ``temp_dirs`` (default: every writer's) are deleted.
    """
    from dropsynth.outlock import LOCK_NAME

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    if (out_dir / REPLACED).is_dir():  # left by a run killed before its first frame: ours
        shutil.rmtree(out_dir / REPLACED)
    entries = [p for p in out_dir.iterdir() if p.name != LOCK_NAME] if out_dir.is_dir() else []
    if entries and resume:
        saved = out_dir / RUN_CONFIG
        if not saved.is_file():
            if marker_state(out_dir / MARKER)[0] != "missing" and not (out_dir / RUN_JSON).exists():
                raise ConfigError(f"--resume: {saved}: not found: the run in {out_dir} stopped before it saved its "
                                  f"config, so it wrote no frames; start it again with --overwrite")
            raise ConfigError(f"--resume: {out_dir} has no {RUN_CONFIG}; it is not a dropsynth run to resume")
        try:
            old = json.loads(saved.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"--resume: {saved}: damaged, cannot read the config to match "
                              f"({getattr(e, 'strerror', None) or e}); start again with --overwrite") from None
        diff = first_difference(old, fingerprint)
        if diff:
            raise ConfigError(f"--resume: {out_dir} was made with a different config: {diff}; "
                              f"use another --out, or --overwrite to start again")
        remove_temporaries(out_dir, all_temp_dirs() if temp_dirs is None else temp_dirs)
        if marker_state(out_dir / MARKER)[0] != "ok":  # torn by a crash of an older version: made whole
            _write_marker(out_dir)
        return True
    if entries:
        refuse_unless_ours(f"--out {out_dir}", out_dir, overwrite, MARKER, "output",
                           f" ({len(entries)} entries); pass --resume to finish an interrupted run or --overwrite "
                           f"to replace a previous dropsynth output")
        # Moved aside, not deleted: a failure before the first frame puts them back.
        (out_dir / REPLACED).mkdir()
        for name in our_entries():
            p = out_dir / name
            if p.exists() or p.is_symlink():
                os.replace(p, out_dir / REPLACED / name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_marker(out_dir)
        if fingerprint is not None:
            write_json_atomic(out_dir / RUN_CONFIG, fingerprint)
    except OSError as e:
        raise ConfigError(f"--out {out_dir}: cannot write there ({e.strerror or e})") from None
    return False


def _write_marker(out_dir: Path) -> None:
    """``MARKER``, through its temporary name and fsynced: neither a kill nor
    a power cut leaves it empty or cut off."""
    write_text_atomic(out_dir / MARKER, json.dumps({"tool": "dropsynth", "version": __version__}) + "\n",
                      durable=True)


class Snapshot:
    """What ``out_dir`` held before a run, to put it back when the run fails
    before its first frame: what the run added is removed, and what
    --overwrite moved aside (``REPLACED``) comes back."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.names = {p.name for p in out_dir.iterdir()} if out_dir.is_dir() else set()

    def restore(self) -> bool:
        from dropsynth.outlock import LOCK_NAME

        d = self.out_dir
        if not d.is_dir():
            return True
        aside = d / REPLACED
        back = set(os.listdir(aside)) if aside.is_dir() else set()
        for p in d.iterdir():
            if p.name in (LOCK_NAME, REPLACED) or (p.name in self.names and p.name not in back):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        for name in back:
            os.replace(aside / name, d / name)
        if aside.is_dir():
            aside.rmdir()
        return True

    def discard(self) -> None:
        shutil.rmtree(self.out_dir / REPLACED, ignore_errors=True)


def wrote_frames(out_dir: Path, frame_dirs) -> bool:
    """Whether any frame file (or temporary) is in ``frame_dirs``, or any
    shard part is on disk: a Ray actor may have written some before the
    driver heard of it."""
    parts = out_dir / "annotations" / PARTS
    if parts.is_dir() and any(True for _ in os.scandir(parts)):
        return True
    for sub in frame_dirs:  # files only: grasps/library/ is made before the first frame
        d = out_dir / sub
        if d.is_dir() and any(e.is_file() for e in os.scandir(d)):
            return True
    return False


def complete_shards(out_dir: Path, n_shards: int) -> set:
    """Indices of the shards whose COCO part is complete, from a listing of
    annotations/parts/ (not a look-up per shard of the run)."""
    from dropsynth.writers.coco import part_is_complete

    d = Path(out_dir) / "annotations" / PARTS
    out = set()
    if d.is_dir():
        for name in os.listdir(d):
            if name.startswith("shard_") and name.endswith(".json") and name[6:-5].isdigit():
                k = int(name[6:-5])
                if k < n_shards and part_is_complete(d / name):
                    out.add(k)
    return out


def remove_temporaries(root: Path, temp_dirs) -> None:
    """Delete temporary files (``.NAME.PID.tmp``, ``dropsynth.atomic``) that
    a killed run left in ``temp_dirs`` and in ``root`` itself."""
    from dropsynth.atomic import is_temporary

    for sub in (*temp_dirs, "."):
        d = root / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and is_temporary(p.name):
                    p.unlink()
