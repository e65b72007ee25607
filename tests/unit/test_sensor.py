"""Sensor effects: every knob changes the output, the same seed repeats it,
and the clean inputs are never modified."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth.config import SensorConfig
from dropsynth.sensor import depth_effects, enabled, rgb_effects

RGB_KNOBS = {"gaussian_noise": 0.03, "shot_noise": 0.02, "blur_px": 2.0, "color_jitter": 0.3,
             "jpeg_quality": (20, 40)}
DEPTH_KNOBS = {"depth_noise": 5.0, "depth_edge_dropout": 0.8, "depth_holes": 4.0}


@pytest.fixture()
def rgb():
    rng = np.random.default_rng(0)
    img = np.zeros((60, 80, 3), np.uint8)
    img[10:50, 20:60] = (200, 80, 40)
    return img + rng.integers(0, 30, img.shape).astype(np.uint8)


@pytest.fixture()
def depth():
    d = np.full((60, 80), 1.0, np.float32)
    d[20:40, 30:50] = 0.7  # an object in front: a discontinuity around it
    d[:5] = 0.0  # no surface
    return d


def test_no_knob_is_no_effect(rgb, depth):
    assert enabled(SensorConfig()) == (False, False)
    cfg = SensorConfig()
    assert np.array_equal(rgb_effects(rgb, cfg, np.random.default_rng(1)), rgb)
    assert np.array_equal(depth_effects(depth, cfg, np.random.default_rng(1)), depth)


@pytest.mark.parametrize("knob", list(RGB_KNOBS))
def test_each_rgb_knob_changes_the_image_and_repeats_with_the_seed(knob, rgb):
    cfg = SensorConfig().model_copy(update={knob: RGB_KNOBS[knob]})
    before = rgb.copy()
    a = rgb_effects(rgb, cfg, np.random.default_rng(5))
    b = rgb_effects(rgb, cfg, np.random.default_rng(5))
    c = rgb_effects(rgb, cfg, np.random.default_rng(6))
    assert a.dtype == np.uint8 and a.shape == rgb.shape
    assert np.array_equal(rgb, before), "the clean image is untouched"
    assert np.array_equal(a, b)
    assert not np.array_equal(a, rgb)
    if knob != "jpeg_quality":  # a fixed quality range can repeat across seeds
        assert not np.array_equal(a, c)


@pytest.mark.parametrize("knob", list(DEPTH_KNOBS))
def test_each_depth_knob_changes_the_depth_and_repeats_with_the_seed(knob, depth):
    cfg = SensorConfig().model_copy(update={knob: DEPTH_KNOBS[knob]})
    before = depth.copy()
    a = depth_effects(depth, cfg, np.random.default_rng(5))
    assert np.array_equal(depth, before)
    assert np.array_equal(a, depth_effects(depth, cfg, np.random.default_rng(5)))
    assert not np.array_equal(a, depth)
    assert not a[depth == 0].any(), "no depth appears where there was none"


def test_depth_noise_follows_the_kinect_model():
    z = np.full((400, 400), 2.0, np.float32)
    noisy = depth_effects(z, SensorConfig(depth_noise=1.0), np.random.default_rng(2))
    expected = 0.0012 + 0.0019 * (2.0 - 0.4) ** 2
    assert np.std(noisy - z) == pytest.approx(expected, rel=0.05)
    assert abs(np.mean(noisy - z)) < expected / 20


def test_edge_dropout_only_near_discontinuities(depth):
    out = depth_effects(depth, SensorConfig(depth_edge_dropout=1.0), np.random.default_rng(3))
    lost = (depth > 0) & (out == 0)
    assert lost.any()
    ys, xs = np.nonzero(lost)
    near_object = (ys >= 17) & (ys <= 42) & (xs >= 27) & (xs <= 52)
    near_void = ys <= 7
    assert (near_object | near_void).all()
