"""Edge-case presets: each produces its edge case in a real run; the run's
own keys win over the preset's."""
from __future__ import annotations

import json

import numpy as np
import pytest

from .helpers import generate_ok
from dropsynth import config

W, H = 320, 240
pytestmark = pytest.mark.render

RUN = ["--scenes", "2", "--views-per-scene", "2", "--width", str(W), "--height", str(H), "--seed", "1",
       "--no-progress", "--workers", "1", "--set", "output.preview=false"]


def _run(tmp_path, preset):
    out = generate_ok(tmp_path / preset, *RUN, "--preset", preset)
    coco = json.loads((out / "annotations" / "instances.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["preset"] == preset and coco["annotations"]
    names = {c["id"]: c["name"] for c in coco["categories"]}
    return coco["annotations"], names, run


def _touches_border(a) -> bool:
    x, y, w, h = a["bbox"]
    return x == 0 or y == 0 or x + w == W or y + h == H


def test_occlusion(tmp_path):
    anns, _, _ = _run(tmp_path, "occlusion")
    fract = np.array([a["visib_fract"] for a in anns])
    assert (fract >= 0.05).all()
    assert np.mean(fract < 0.5) >= 0.25, "a quarter or more of the objects at least half hidden"


def test_tiny(tmp_path):
    anns, _, _ = _run(tmp_path, "tiny")
    # COCO "small" is below 32 x 32 at 640 x 480; the same scale at 320 x 240 is 16 x 16.
    assert np.median([a["bbox"][2] * a["bbox"][3] for a in anns]) < 16 * 16


def test_truncation(tmp_path):
    anns, _, _ = _run(tmp_path, "truncation")
    assert np.mean([_touches_border(a) for a in anns]) >= 0.3


def test_thin(tmp_path):
    anns, names, run = _run(tmp_path, "thin")
    assert {names[a["category_id"]] for a in anns} <= {"card", "thin_plate", "thin_rod", "jenga_block"}
    assert {"card", "thin_plate", "thin_rod"} & {names[a["category_id"]] for a in anns}
    assert run["counts"]["scenes_not_at_rest"] == 0


def test_crowd(tmp_path):
    anns, names, _ = _run(tmp_path, "crowd")
    per_image: dict[int, set] = {}
    for a in anns:
        per_image.setdefault(a["image_id"], set()).add(names[a["category_id"]])
    assert all(len(c) == 1 for c in per_image.values())
    assert len(anns) / len(per_image) >= 10


def test_own_keys_win_over_the_preset():
    cfg = config.load(None, {"preset": "tiny", "camera": {"distance_m": [1.0, 1.5]}})
    assert cfg.camera.distance_m == (1.0, 1.5)
    assert cfg.output.min_visible_px == 4  # from the preset
    assert config.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()  # a resolved config re-applies to itself


def test_unknown_preset_suggests_the_nearest():
    with pytest.raises(Exception) as e:
        config.load(None, {"preset": "tinny"})
    assert "preset" in str(e.value) and "'tiny'" in str(e.value)
