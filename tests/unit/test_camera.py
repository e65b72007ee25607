"""Camera sampling: roll, intrinsics jitter and the fixed calibrated camera."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth import config
from dropsynth.errors import ConfigError
from dropsynth.scenes.samplers import sample_camera


def cam(**over):
    return sample_camera(config.load(None, {"camera": over}).camera, np.random.default_rng(4))


def test_defaults_look_at_the_table_with_the_image_up_along_world_up():
    c = cam()
    z = c.world_T_cam[:3, 2]
    assert z[2] < 0, "looking down at the table"
    assert abs(c.world_T_cam[:3, 0][2]) < 1e-9, "no roll: the x axis stays horizontal"


def test_roll_turns_the_camera_about_its_optical_axis():
    a, b = cam(), cam(roll_deg=[30, 30])
    assert np.allclose(a.world_T_cam[:3, 2], b.world_T_cam[:3, 2]) and np.allclose(a.world_T_cam[:3, 3],
                                                                                  b.world_T_cam[:3, 3])
    cosang = a.world_T_cam[:3, 0] @ b.world_T_cam[:3, 0]
    assert cosang == pytest.approx(np.cos(np.radians(30)))
    assert np.allclose(b.world_T_cam[:3, :3] @ b.world_T_cam[:3, :3].T, np.eye(3))


def test_intrinsics_jitter_stays_in_its_bounds():
    base = cam().K
    for seed in range(20):
        c = sample_camera(config.load(None, {"camera": {"focal_jitter": 0.1, "principal_jitter_px": 5}}).camera,
                          np.random.default_rng(seed))
        assert abs(c.K[0, 0] / base[0, 0] - 1) <= 0.1 and abs(c.K[1, 1] / base[1, 1] - 1) <= 0.1
        assert abs(c.K[0, 2] - base[0, 2]) <= 5 and abs(c.K[1, 2] - base[1, 2]) <= 5
    assert not np.allclose(c.K, base)


def test_fixed_camera_is_used_as_given():
    K = [600.0, 0, 320, 0, 610, 240, 0, 0, 1]
    T = [1, 0, 0, 0.05, 0, -1, 0, 0.0, 0, 0, -1, 1.0, 0, 0, 0, 1]  # looking straight down from 1 m
    c = cam(fixed_K=K, fixed_world_T_cam=T)
    assert np.array_equal(c.K, np.array(K).reshape(3, 3)) and np.array_equal(c.world_T_cam, np.array(T).reshape(4, 4))


@pytest.mark.parametrize("over, words", [
    ({"fixed_K": [1, 0, 0, 0, 1, 0, 0, 0, 1]}, "together"),
    ({"fixed_K": [1, 2, 3], "fixed_world_T_cam": list(np.eye(4).ravel())}, "9 numbers"),
    ({"fixed_K": [600, 0, 320, 0, 600, 240, 0, 0, 1], "fixed_world_T_cam": [2, 0, 0, 0] * 4}, "not a rotation"),
    ({"roll_deg": [40, 10]}, "greater than max"),
])
def test_bad_camera_configs(over, words):
    with pytest.raises(ConfigError) as e:
        config.load(None, {"camera": over})
    assert "camera." in str(e.value) and words in str(e.value)
