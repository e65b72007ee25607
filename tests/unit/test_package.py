"""The built wheel ships every subpackage and the built-in pack data.

The repo maps top-level folders to subpackages with ``package-dir``; a package
missing from ``[tool.setuptools] packages`` or a data file missing from
``package-data`` works in an editable install and breaks in a real one.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [
    "dropsynth",
    "dropsynth.scenes",
    "dropsynth.scenes.builders",
    "dropsynth.assets",
    "dropsynth.render",
    "dropsynth.writers",
    "dropsynth.utility",
]
# Folder of each package in the source tree (pyproject's package-dir).
SOURCE_DIRS = {
    "dropsynth": "core",
    "dropsynth.scenes": "scenes",
    "dropsynth.scenes.builders": "scenes/builders",
    "dropsynth.assets": "assets",
    "dropsynth.render": "render",
    "dropsynth.writers": "writers",
    "dropsynth.utility": "core/utility",
}
SKIP = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "out", "*.egg-info", "__pycache__",
                              ".pytest_cache", "*.pyc", "tests")


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def _can_build_without_isolation() -> bool:
    """pyproject asks for setuptools>=77 (an SPDX license string)."""
    try:
        st = _version_tuple(version("setuptools"))
    except PackageNotFoundError:
        return False
    return st >= (77,)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # Build from a clean copy of the tree: setuptools reuses ./build/lib, and a
    # stale file there would end up in the wheel (and we must not write into
    # the checkout while other tests run).
    src = tmp_path_factory.mktemp("src") / "dropsynth"
    shutil.copytree(REPO, src, ignore=SKIP)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    if _can_build_without_isolation():
        cmd.insert(5, "--no-build-isolation")
    # Otherwise pip fetches the build backend (setuptools>=77) into an isolated
    # environment from the configured index.
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}"
    # A quiet build: what setuptools warns about (a license table, data folders
    # missing from `packages`) is printed by every `bash scripts/setup.sh`.
    assert "Warning" not in res.stderr, res.stderr
    wheels = list(out.glob("dropsynth-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as z:
        yield z


def test_wheel_contains_every_package(wheel):
    names = set(wheel.namelist())
    for pkg in PACKAGES:
        init = pkg.replace(".", "/") + "/__init__.py"
        assert init in names, f"{pkg} missing from the wheel"


def test_wheel_contains_every_module(wheel):
    names = set(wheel.namelist())
    for pkg, folder in SOURCE_DIRS.items():
        for py in (REPO / folder).glob("*.py"):
            arc = pkg.replace(".", "/") + "/" + py.name
            assert arc in names, f"{folder}/{py.name} is not shipped as {arc}"


@pytest.mark.parametrize("pack", ["builtin", "distractors", "thin"])
def test_wheel_contains_builtin_pack(wheel, pack):
    names = set(wheel.namelist())
    assert f"dropsynth/assets/{pack}/pack.yaml" in names
    shipped = wheel.read(f"dropsynth/assets/{pack}/pack.yaml")
    assert shipped == (REPO / "assets" / pack / "pack.yaml").read_bytes()


def test_wheel_contains_the_shipped_decompositions(wheel):
    names = set(wheel.namelist())
    files = sorted((REPO / "assets" / "builtin" / "collision").iterdir())
    assert files
    for f in files:
        assert f"dropsynth/assets/builtin/collision/{f.name}" in names


def test_wheel_contains_the_shaders(wheel):
    names = set(wheel.namelist())
    shaders = sorted((REPO / "render" / "shaders").iterdir())
    assert shaders
    for f in shaders:
        assert f"dropsynth/render/shaders/{f.name}" in names, f"render/shaders/{f.name} is not shipped"


def test_wheel_has_no_tests_or_scripts_and_declares_the_cli(wheel):
    names = wheel.namelist()
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "core/", "scenes/"))]
    eps = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = wheel.read(eps).decode()
    assert "dropsynth = dropsynth.cli:main" in text
