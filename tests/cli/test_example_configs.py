"""Every example config in configs/ makes a dataset that pycocotools loads,
each mask exact against the instance image (one small scene each)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .helpers import generate_ok, run_cli

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
SMALL = ["--scenes", "1", "--views-per-scene", "1", "--width", "160", "--height", "120", "--workers", "1",
         "--no-progress"]


def test_every_builder_and_preset_has_an_example_and_the_readme_lists_them_all():
    from dropsynth.presets import PRESETS

    names = {p.stem for p in CONFIGS}
    assert {f"preset_{p}" for p in PRESETS} <= names
    assert {"tabletop", "bin_picking", "shelf", "stacking", "grasp_topdown", "digital_twin_bin",
            "domain_randomization"} <= names
    readme = (REPO / "README.md").read_text()
    for p in CONFIGS:
        assert f"configs/{p.name}" in readme, p.name
        assert p.read_text().startswith("#"), f"{p.name}: starts with a comment saying what it is for"


@pytest.mark.render
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_example_config_makes_a_dataset_pycocotools_loads(config, tmp_path):
    from pycocotools.coco import COCO

    extra = ["--set", "grasps.candidates=32", "--set", "grasps.robust_trials=1"] if "grasp" in config.stem else []
    out = generate_ok(tmp_path / "ds", "--config", str(config), *SMALL, *extra)
    path = out / "annotations" / "instances.json"
    coco = COCO(str(path))
    data = json.loads(path.read_text())
    assert len(data["images"]) == 1 and data["annotations"], config.name
    img = data["images"][0]
    ids = np.asarray(Image.open(out / img["instances_file"]))
    for a in data["annotations"]:
        assert np.array_equal(coco.annToMask(a).astype(bool), ids == a["inst_id"]), (config.name, a["id"])
    assert (out / "annotations" / "instances_train.json").is_file()  # every example splits by scene
    if "grasp" in config.stem:
        assert list((out / "grasps_jacquard").iterdir())
    if "digital_twin" in config.stem:
        # the calibrated camera, scaled from 1280x960 to 160x120
        assert np.allclose(img["K"], [[131.25, 0, 79.5], [0, 131.25, 59.5], [0, 0, 1]])
        assert np.allclose(img["world_T_cam"], np.reshape([1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0.55, 0, 0, 0, 1],
                                                          (4, 4)))


def test_digital_twin_reads_the_calibration_file_at_its_own_size(tmp_path):
    res = run_cli("config", "show", "--config", str(REPO / "configs" / "digital_twin_bin.yaml"))
    assert res.exit_code == 0, res.output
    import yaml

    cam = yaml.safe_load(res.output)["camera"]
    assert (cam["width"], cam["height"]) == (1280, 960)
    assert cam["fixed_K"] == [1050.0, 0.0, 639.5, 0.0, 1050.0, 479.5, 0.0, 0.0, 1.0]
