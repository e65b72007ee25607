"""Distractors: drawn and occluding, but never annotated (0 in instances/),
or annotated as one separate class when asked."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from .helpers import generate_ok
from dropsynth import config
from dropsynth.assets.catalog import for_run
from dropsynth.scenes import builders

pytestmark = pytest.mark.render

RUN = ["--scenes", "2", "--views-per-scene", "2", "--width", "160", "--height", "120", "--seed", "2",
       "--no-progress", "--workers", "1", "--set", "output.preview=false", "--set", "scene.num_objects=[4, 6]",
       "--set", "output.min_visible_px=5", "--set", "camera.distance_m=[0.5, 0.7]",
       "--set", "distractors.count=[8, 8]"]


def _load(out):
    run = json.loads((out / "run.json").read_text())
    coco = json.loads((out / "annotations" / "instances.json").read_text())
    return run, coco


def _distractor_ids(run) -> dict[int, set[int]]:
    """Scene -> instance ids of its distractors, from the scene rebuilt with the run's config."""
    cfg = config.from_dict(run["config"])
    catalog = for_run(cfg, run["pack_paths"])
    build = builders.get(cfg.scene.builder)
    return {s: {o.instance_id for o in build(cfg, catalog, run["seed"], s).objects
                if o.asset.pack == "distractors"} for s in range(cfg.scenes)}


def _png(path):
    return np.asarray(Image.open(path))


def test_distractors_are_drawn_but_never_annotated_unless_asked(tmp_path):
    hidden = generate_ok(tmp_path / "hidden", *RUN)
    shown = generate_ok(tmp_path / "shown", *RUN, "--set", "distractors.annotate=true",
                        "--set", "distractors.class_name=clutter")
    run, coco = _load(hidden)
    ids = _distractor_ids(run)
    assert all(len(v) >= 6 for v in ids.values())
    assert not any(a["asset_id"].startswith("distractors/") for a in coco["annotations"])
    assert {c["name"] for c in coco["categories"]} == {c["name"] for c in _load(tmp_path / "shown")[1]["categories"]
                                                       if c["name"] != "clutter"}
    # Annotated: one class of its own, only distractors in it.
    run2, coco2 = _load(shown)
    cats = {c["name"]: c["id"] for c in coco2["categories"]}
    mine = [a for a in coco2["annotations"] if a["category_id"] == cats["clutter"]]
    assert len(mine) >= 4 and all(a["asset_id"].startswith("distractors/") for a in mine)
    assert not any(a["asset_id"].startswith("distractors/") for a in coco2["annotations"] if a not in mine)
    covered = 0
    for img, img2 in zip(coco["images"], coco2["images"]):
        inst, inst2 = _png(hidden / img["instances_file"]), _png(shown / img2["instances_file"])
        assert not set(np.unique(inst).tolist()) & ids[img["scene_id"]], "a distractor in the instance image"
        assert {a["inst_id"] for a in coco["annotations"] if a["image_id"] == img["id"]}.isdisjoint(
            ids[img["scene_id"]])
        # The same scene either way: where the annotated run sees a distractor,
        # the other one has the same surface (depth), drawn but background (0).
        where = np.isin(inst2, list(ids[img["scene_id"]]))
        covered += int(where.sum())
        assert (inst[where] == 0).all()
        assert np.array_equal(_png(hidden / img["depth_file"])[where], _png(shown / img2["depth_file"])[where])
        assert np.array_equal(_png(hidden / img["file_name"]), _png(shown / img2["file_name"]))
    assert covered > 200
