"""Helpers the CLI tests import (``from .helpers import run_cli``): the CLI
run in-process, file hashes, and the small runs' arguments.

They live here, not in ``conftest.py``: a conftest is pytest's to import, and
importing one as a top-level ``conftest`` module picks whichever conftest was
loaded last when several test folders are collected together.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from dropsynth.cli import main

SMALL = ["--scenes", "2", "--views-per-scene", "3", "--width", "320", "--height", "240", "--seed", "3",
         "--set", "scene.num_objects=[8, 12]", "--no-progress", "--workers", "1"]


def run_cli(*args: str):
    """Invoke the CLI in-process; returns click's Result."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def tree_hashes(root: Path, skip=("run.json",)) -> dict[str, str]:
    """sha256 of every file under root (relative path -> hex), except ``skip``
    (run.json holds timings and so differs between runs by design)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in skip:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def generate_ok(out: Path, *args: str) -> Path:
    """``dropsynth generate --out OUT ARGS...``, which must succeed; returns OUT."""
    res = run_cli("generate", "--out", str(out), *args)
    assert res.exit_code == 0, res.output
    return out


AMODAL = ["--scenes", "3", "--views-per-scene", "2", "--width", "240", "--height", "180", "--seed", "11",
          "--set", "scene.num_objects=[10, 14]", "--set", "output.amodal=true", "--no-progress", "--workers", "1"]
