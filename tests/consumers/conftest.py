"""Datasets for the consumer tests, generated once per session through the CLI.

These tests load our output with the packages our users load it with
(FiftyOne, Datumaro, supervision, OpenCV: ``pip install -e '.[consumers]'``)
and skip, naming the package, where one is missing.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dropsynth.cli import main

SMALL = ["--scenes", "3", "--views-per-scene", "2", "--width", "200", "--height", "150", "--seed", "5",
         "--set", "scene.num_objects=[8, 12]", "--no-progress", "--workers", "1"]


def generate_ok(out: Path, *args: str) -> Path:
    res = CliRunner().invoke(main, ["generate", "--out", str(out), *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="session")
def edges_ds(tmp_path_factory) -> Path:
    return generate_ok(tmp_path_factory.mktemp("consumers") / "edges", *SMALL)


OCCLUSION = ["--preset", "occlusion", "--scenes", "2", "--views-per-scene", "1", "--width", "200", "--height", "150",
             "--seed", "2", "--no-progress", "--workers", "1"]


@pytest.fixture(scope="session")
def centers_ds(tmp_path_factory) -> Path:
    """Pixel-centre COCO polygons of bin piles (many objects in several parts)."""
    return generate_ok(tmp_path_factory.mktemp("consumers") / "centers", *OCCLUSION,
                       "--set", "output.polygon_convention=centers")


@pytest.fixture(scope="session")
def rle_ds(tmp_path_factory) -> Path:
    return generate_ok(tmp_path_factory.mktemp("consumers") / "rle", *SMALL, "--mask-format", "rle")


@pytest.fixture(scope="session")
def occlusion_ds(tmp_path_factory) -> Path:
    """Bin piles, heavy occlusion, amodal keys: many multi-part polygons."""
    return generate_ok(tmp_path_factory.mktemp("consumers") / "occlusion", *OCCLUSION)
