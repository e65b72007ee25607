"""Small datasets generated once per test session through the real CLI.

Tests that only read a dataset take one of these instead of generating
their own (each generate is seconds of physics and rendering); a test that
writes into one writes only a folder of its own (``bop/``, ``stats/``).
They render, so the tests that use them are marked ``render``.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import AMODAL, SMALL, generate_ok


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


@pytest.fixture(scope="session")
def amodal_dataset(tmp_path_factory) -> Path:
    """3 scenes x 2 views with amodal masks and visib_fract (the BOP export's and the stats report's input)."""
    return generate_ok(tmp_path_factory.mktemp("amodal") / "ds", *AMODAL)
