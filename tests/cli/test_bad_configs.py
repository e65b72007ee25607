"""A corpus of bad run configs: each is one line naming the file and the key
path, exit code != 0, and nothing written."""
from __future__ import annotations

import pytest

from .helpers import run_cli

TINY = ["--scenes", "1", "--views-per-scene", "1", "--width", "64", "--height", "48", "--no-progress", "--workers", "1"]

CORPUS = {
    "wrong_type": ("camera:\n  fov_y_deg: wide\n", ["camera.fov_y_deg", "must be a number"]),
    "wrong_type_nested": ("scene:\n  category_instances:\n    mug: 3\n", ["scene.category_instances.mug", "list of 2"]),
    "wrong_type_list": ("materials:\n  randomize: table\n", ["materials.randomize", "must be a list"]),
    "out_of_range": ("materials:\n  roughness: [0.2, 1.5]\n", ["materials.roughness[1]", "<= 1.0"]),
    "range_reversed": ("distractors:\n  count: [5, 2]\n", ["distractors.count", "greater than max"]),
    "share_out_of_range": ("scene:\n  class_shares: {ball: 2}\n", ["scene.class_shares.ball", "<= 1.0"]),
    "unknown_key": ("background:\n  kind: [noise]\n", ["background.kind", "unknown key", "'kinds'"]),
    "unknown_section": ("materials:\n  textures: [plain]\nmaterial:\n  roughness: [0, 1]\n",
                        ["material", "unknown key", "'materials'"]),
    "unknown_choice": ("materials:\n  textures: [wood]\n", ["materials.textures[0]", "noise"]),
    "unknown_builder": ("scene:\n  builder: bins\n", ["scene.builder", "unknown builder", "'bin'"]),
    "bad_preset": ("preset: tinny\n", ["preset", "'tiny'"]),
    "missing_texture_folder": ("materials:\n  randomize: [table]\n  textures: [image]\n  texture_folder: nowhere\n",
                               ["materials.texture_folder", "not found"]),
    "image_kind_without_folder": ("background:\n  kinds: [image]\n", ["background.image_folder", "needed"]),
    "unknown_category_share": ("scene:\n  class_shares: {balll: 0.3}\n",
                               ["scene.class_shares.balll", "unknown category", "'ball'"]),
    "shares_above_one": ("scene:\n  class_shares: {ball: 0.6, mug: 0.6}\n", ["scene.class_shares", "more than 1"]),
    "unknown_distractor_pack": ("distractors:\n  count: [1, 2]\n  packs: ['builtin:nope']\n",
                                ["distractors.packs", "builtin:nope"]),
    "clutter_area_too_big": ("scene:\n  builder: clutter\n  clutter_area_m: [3, 1]\n", ["scene.clutter_area_m"]),
    "distractor_class_empty": ("distractors:\n  count: [1, 2]\n  annotate: true\n  class_name: ''\n",
                               ["distractors.class_name", "empty"]),
    "distractor_class_taken": ("distractors:\n  count: [1, 2]\n  annotate: true\n  class_name: mug\n",
                               ["distractors.class_name", "already an object category"]),
    "minimums_too_many": ("scene:\n  category_instances: {mug: [150, 150], duck: [100, 100]}\n",
                          ["scene.category_instances", "250"]),
    "bad_gripper": ("grasps:\n  enabled: true\n  approach_offset_m: 0.03\n", ["grasps.finger_depth_m"]),
    "switch_as_integer": ("render:\n  msaa: false\n", ["render.msaa", "must be an integer, got False"]),
    "weight_as_word": ("scene:\n  category_weights: {mug: heavy}\n",
                       ["scene.category_weights.mug", "must be a number, got 'heavy'"]),
    "section_as_list": ("lights: [1, 2]\n", ["lights", "mapping of keys to values"]),
    "unknown_key_in_a_late_section": ("grasps:\n  enabled: true\n  max_opening: 0.1\n",
                                      ["grasps.max_opening", "unknown key", "'max_opening_m'"]),
    "unknown_category_in_thin_preset_packs": ("preset: thin\nscene:\n  categories: [cardd]\n",
                                              ["scene.categories", "unknown category 'cardd'", "'card'"]),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_bad_config_is_one_clear_line(name, tmp_path):
    text, words = CORPUS[name]
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    res = run_cli("generate", "--out", str(out), "--config", str(cfg), *TINY)
    assert res.exit_code != 0
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for w in [str(cfg)] + words:
        assert w in lines[0], (w, lines[0])
    assert not out.exists(), "nothing is written for a bad config"


def test_broken_image_in_a_folder_is_a_config_error(tmp_path):
    folder = tmp_path / "bg"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png at all")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"background:\n  kinds: [image]\n  image_folder: {folder}\n")
    res = run_cli("generate", "--out", str(tmp_path / "out"), "--config", str(cfg), *TINY)
    assert res.exit_code != 0
    assert "background.image_folder" in res.output and "a.png" in res.output and "not a readable image" in res.output
    assert not (tmp_path / "out").exists()
