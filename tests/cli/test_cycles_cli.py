"""Cycles end to end (the [cycles] extra): a mixed run's labels are
byte-identical to the raster run of the same seed, the per-view renderer
choice and the files are the same for 1 and 2 workers, and the same seed
repeats; without bpy, a one-line error that names the extra. Runs are tiny
(64x48, 4 samples)."""
from __future__ import annotations

import json

import pytest

from .helpers import generate_ok, run_cli, tree_hashes
from dropsynth.render.cycles_plan import bpy_available

needs_bpy = pytest.mark.skipif(not bpy_available(), reason="needs the cycles extra (bpy)")


def test_missing_bpy_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bpy" else real(name, *a))
    out = tmp_path / "run"
    res = run_cli("generate", "--out", str(out), "--scenes", "1", "--views-per-scene", "1", "--width", "32",
                  "--height", "24", "--no-progress", "--workers", "1", "--set", "render.backend=cycles")
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert "bpy" in lines[0] and ".[cycles]" in lines[0] and "Python 3.11" in lines[0]
    assert not out.exists() or not any(out.iterdir()), "nothing written before the check"


def test_import_without_bpy_is_the_same_one_line_error(monkeypatch):
    import sys

    from dropsynth.errors import RenderBackendError
    from dropsynth.render import cycles_backend

    monkeypatch.setitem(sys.modules, "bpy", None)  # import bpy raises ImportError
    with pytest.raises(RenderBackendError) as e:
        cycles_backend.import_bpy()
    assert "\n" not in str(e.value) and ".[cycles]" in str(e.value)


# --- end to end ------------------------------------------------------------------------

TINY = ["--scenes", "2", "--views-per-scene", "2", "--width", "64", "--height", "48", "--seed", "11",
        "--set", "scene.num_objects=[4, 6]", "--no-progress"]
# Threads left automatic: 2 per worker with 1 worker, 1 each with 2 (on 2 cores).
MIXED = ["--set", "render.backend=cycles", "--set", "render.cycles_share=0.5", "--set", "render.cycles_samples=4"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cycles_runs")
    return {
        "raster": generate_ok(root / "raster", *TINY, "--workers", "1"),
        "mixed1": generate_ok(root / "mixed1", *TINY, *MIXED, "--workers", "1"),
        "mixed1b": generate_ok(root / "mixed1b", *TINY, *MIXED, "--workers", "1"),
        "mixed2": generate_ok(root / "mixed2", *TINY, *MIXED, "--workers", "2",
                              "--set", "output.shard_scenes=1"),
    }


def _coco(run):
    return json.loads((run / "annotations" / "instances.json").read_text())


@needs_bpy
@pytest.mark.cycles
@pytest.mark.render
def test_mixed_run_labels_are_byte_identical_to_the_raster_run(runs):
    raster, mixed = runs["raster"], runs["mixed1"]
    for sub in ("depth", "instances"):
        for f in sorted((raster / sub).iterdir()):
            assert f.read_bytes() == (mixed / sub / f.name).read_bytes(), f"{sub}/{f.name}"
    a, b = _coco(raster), _coco(mixed)
    assert a["annotations"] == b["annotations"]
    assert "renderer" not in json.dumps(a["images"]), "a run without Cycles keeps its bytes: no renderer key"
    assert [{k: v for k, v in i.items() if k != "renderer"} for i in b["images"]] == a["images"]
    names = [i["renderer"] for i in b["images"]]
    assert set(names) == {"raster", "cycles"}, names
    for i in b["images"]:  # the raster views' RGB is the raster run's; the Cycles views' is not
        same = (raster / i["file_name"]).read_bytes() == (mixed / i["file_name"]).read_bytes()
        assert same == (i["renderer"] == "raster"), i["file_name"]
    counts = json.loads((mixed / "run.json").read_text())["counts"]
    assert counts["renderers"] == {"cycles": names.count("cycles"), "raster": names.count("raster")}
    assert "renderers" not in json.loads((raster / "run.json").read_text())["counts"]


@needs_bpy
@pytest.mark.cycles
@pytest.mark.render
def test_same_seed_same_files_for_one_and_two_workers(runs):
    one, again, two = (tree_hashes(runs[k], skip=("run.json", "run_config.json")) for k in
                       ("mixed1", "mixed1b", "mixed2"))
    assert one == again, "the same seed repeats"
    assert [i["renderer"] for i in _coco(runs["mixed1"])["images"]] == \
           [i["renderer"] for i in _coco(runs["mixed2"])["images"]], "the per-view choice ignores workers"
    assert one == two
