"""The per-view renderer choice and Cycles' per-view draws (no bpy needed),
and the Cycles config keys' checks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dropsynth import config
from dropsynth.errors import ConfigError
from dropsynth.render.cycles_plan import plan_view, uses_cycles
from dropsynth.seeding import STREAMS

HDRIS = ["a.exr", "b.hdr", "c.exr"]


def cfg_with(**render):
    return config.load(None, {"render": {"backend": "cycles", **render}})


def chosen(cfg, seed=3, scenes=40, views=5):
    return [plan_view(cfg, seed, s, v, HDRIS) is not None for s in range(scenes) for v in range(views)]


def test_share_is_the_fraction_of_views_and_raster_never_uses_cycles():
    assert not any(chosen(config.load(None, {"render": {"cycles_share": 1.0}}))), "backend raster: no Cycles"
    assert not uses_cycles(cfg_with(cycles_share=0.0)) and not any(chosen(cfg_with(cycles_share=0.0)))
    assert all(chosen(cfg_with(cycles_share=1.0)))
    frac = np.mean(chosen(cfg_with(cycles_share=0.3)))
    assert 0.22 < frac < 0.38, frac  # 200 views: binomial sd 0.032


def test_choice_is_a_nested_set_and_ignores_the_other_settings():
    """A view chosen at share 0.2 is chosen at 0.5 (one uniform draw per view),
    and samples, light or environment settings never move the choice."""
    low, high = chosen(cfg_with(cycles_share=0.2)), chosen(cfg_with(cycles_share=0.5))
    assert all(h for lo, h in zip(low, high) if lo) and sum(high) > sum(low)
    other = config.load(None, {"render": {"backend": "cycles", "cycles_share": 0.5, "cycles_samples": 7,
                                          "cycles_motion_blur_m": 0.01},
                               "lights": {"hdri_strength": [2.0, 3.0], "hdri": False}})
    assert chosen(other) == high


def test_view_draws_are_in_range_and_depend_only_on_seed_scene_view():
    cfg = config.load(None, {"render": {"backend": "cycles", "cycles_motion_blur_m": 0.02},
                             "lights": {"hdri_strength": [0.5, 0.8], "hdri_rotation_deg": [10.0, 20.0]}})
    views = [plan_view(cfg, 9, s, v, HDRIS) for s in range(10) for v in range(3)]
    assert views == [plan_view(cfg, 9, s, v, HDRIS) for s in range(10) for v in range(3)]
    assert {v.hdri for v in views} == set(HDRIS)
    for v in views:
        assert 0.5 <= v.hdri_strength <= 0.8
        assert math.radians(10) <= v.hdri_rotation_rad <= math.radians(20)
        assert np.linalg.norm(v.motion_m) <= 0.02 + 1e-12
    assert len({v.seed for v in views}) == len(views)
    assert plan_view(cfg, 10, 0, 0, HDRIS) != plan_view(cfg, 9, 0, 0, HDRIS)
    assert plan_view(cfg, 9, 0, 0, []).hdri is None, "no environments: the ambient world"


def test_render_stream_is_new():
    """Its own code: the existing streams' draws (and old datasets' bytes) stay as they were."""
    assert STREAMS["render"] == 9 and len(set(STREAMS.values())) == len(STREAMS)


def test_bad_cycles_keys_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="render.backend"):
        config.load(None, {"render": {"backend": "blender"}})
    with pytest.raises(ConfigError, match="render.cycles_share"):
        config.load(None, {"render": {"cycles_share": 1.5}})
    with pytest.raises(ConfigError, match="lights.hdri_folder: folder not found"):
        config.load(None, {"render": {"backend": "cycles"}, "lights": {"hdri_folder": str(tmp_path / "none")}})
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="lights.hdri_folder: no .hdr or .exr"):
        config.load(None, {"render": {"backend": "cycles"}, "lights": {"hdri_folder": str(tmp_path)}})
    # Not used by the raster backend: not checked then.
    config.load(None, {"lights": {"hdri_folder": str(tmp_path / "none")}})
