"""A corpus of bad run configs: each is one line naming the file and the key
path, exit code != 0, and nothing written."""
from __future__ import annotations

import pytest

from conftest import run_cli

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
