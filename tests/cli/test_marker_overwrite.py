"""--overwrite of a folder whose .dropsynth marker an older version's crash
left empty: still ours (only dropsynth writes that name, first, into a folder
that was empty), replaced with one warning naming the marker, which comes out
whole; the same run's bytes as into an empty folder."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .helpers import run_cli, tree_hashes

pytestmark = pytest.mark.render

TINY = ["--scenes", "1", "--views-per-scene", "1", "--width", "64", "--height", "48", "--seed", "4",
        "--set", "scene.num_objects=[2, 3]", "--no-progress", "--workers", "1"]


def test_overwrite_replaces_a_folder_with_an_empty_marker(tmp_path):
    fresh = tmp_path / "fresh"
    assert run_cli("generate", "--out", str(fresh), *TINY).exit_code == 0
    out = tmp_path / "crashed"
    out.mkdir()
    (out / ".dropsynth").write_bytes(b"")
    (out / "rgb").mkdir()
    (out / "rgb" / "000000.png").write_bytes(b"half a frame")
    res = subprocess.run([sys.executable, "-m", "dropsynth.cli", "generate", "--out", str(out), *TINY, "--overwrite"],
                         capture_output=True, text=True, timeout=120)  # a process of its own: the user's stderr
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings == [f"WARNING {out / '.dropsynth'}: damaged marker (empty); only dropsynth writes this name, "
                        f"so {out} is still replaced as a dropsynth output"]
    assert json.loads((out / ".dropsynth").read_text())["tool"] == "dropsynth"
    assert tree_hashes(out) == tree_hashes(fresh)
