"""Small datasets generated once per test session through the real CLI.

Tests that only read a dataset take one of these instead of generating
their own (each generate is seconds of physics and rendering); a test that
writes into one writes only a folder of its own (``bop/``, ``stats/``).
They render, so the tests that use them are marked ``render``.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
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


def _generate(out: Path, *extra: str) -> Path:
    return generate_ok(out, *SMALL, *extra)


@pytest.fixture(scope="session")
def poly_dataset(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("poly") / "ds")


@pytest.fixture(scope="session")
def rle_dataset(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("rle") / "ds", "--mask-format", "rle")


@pytest.fixture(scope="session")
def largest_part_dataset(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("largest") / "ds", "--set", "output.largest_part_only=true")


AMODAL = ["--scenes", "3", "--views-per-scene", "2", "--width", "240", "--height", "180", "--seed", "11",
          "--set", "scene.num_objects=[10, 14]", "--set", "output.amodal=true", "--no-progress", "--workers", "1"]


@pytest.fixture(scope="session")
def amodal_dataset(tmp_path_factory) -> Path:
    """3 scenes x 2 views with amodal masks and visib_fract (the BOP export's and the stats report's input)."""
    return generate_ok(tmp_path_factory.mktemp("amodal") / "ds", *AMODAL)
