"""Every randomization knob changes the output when varied, and the same seed
gives byte-identical files with the knob on. One tiny scene per run."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from .helpers import generate_ok, tree_hashes

pytestmark = pytest.mark.render

BASE = ["--scenes", "1", "--views-per-scene", "1", "--width", "96", "--height", "72", "--seed", "4",
        "--no-progress", "--workers", "1", "--set", "output.preview=false", "--set", "scene.num_objects=[5, 5]",
        "--set", "camera.distance_m=[0.6, 0.6]", "--set", "camera.elevation_deg=[50, 50]",
        "--set", "camera.look_at_jitter_m=0"]

KNOBS = {
    "materials": ["materials.randomize=[objects, table, fixtures]", "materials.textures=[plain]",
                  "materials.keep_asset_textures=false"],
    "roughness_metallic": ["materials.randomize=[objects]", "materials.textures=[plain]",
                           "materials.roughness=[0.05, 0.05]", "materials.metallic=[1, 1]"],
    "texture_noise": ["materials.randomize=[table]", "materials.textures=[noise]"],
    "texture_stripes": ["materials.randomize=[table]", "materials.textures=[stripes]"],
    "texture_checker": ["materials.randomize=[table]", "materials.textures=[checker]"],
    "texture_images": ["materials.randomize=[table]", "materials.textures=[image]", "materials.texture_folder={img}"],
    "background_procedural": ["background.kinds=[noise, stripes, checker]"],
    "background_images": ["background.kinds=[image]", "background.image_folder={img}"],
    "light_count_kind": ["lights.count=[3, 3]", "lights.kinds=[spot]"],
    "light_color_intensity": ["lights.color_temperature_k=[1500, 1500]", "lights.directional_intensity=[9, 9]",
                              "lights.point_intensity=[20, 20]"],
    "ambient": ["lights.ambient=[0.9, 0.9]"],
    "camera_shell": ["camera.distance_m=[0.4, 0.4]", "camera.azimuth_deg=[90, 90]"],
    "camera_roll_intrinsics": ["camera.roll_deg=[30, 30]", "camera.focal_jitter=0.2",
                               "camera.principal_jitter_px=8"],
    "distractors": ["distractors.count=[6, 6]"],
    "sensor": ["sensor.gaussian_noise=0.05", "sensor.blur_px=2"],
}


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(d / f"img{i}.png")
    return d


# A low camera, so that the background shows above the table (both runs).
LOW = ["--set", "camera.elevation_deg=[8, 8]"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return generate_ok(tmp_path_factory.mktemp("base") / "ds", *BASE)


@pytest.fixture(scope="module")
def base_low(tmp_path_factory):
    return generate_ok(tmp_path_factory.mktemp("base_low") / "ds", *BASE, *LOW)


def _rgb(out):
    return np.asarray(Image.open(out / "rgb" / "000000.png"))


@pytest.mark.parametrize("knob", list(KNOBS))
def test_knob_changes_the_frame_and_repeats_byte_identically(knob, base, base_low, image_folder, tmp_path):
    sets = [a for s in KNOBS[knob] for a in ("--set", s.format(img=image_folder))]
    if knob.startswith("background"):
        sets, base = LOW + sets, base_low
        assert (np.asarray(Image.open(base / "depth" / "000000.png")) == 0).mean() > 0.2, "no background in view"
    a = generate_ok(tmp_path / "a", *BASE, *sets)
    b = generate_ok(tmp_path / "b", *BASE, *sets)
    assert tree_hashes(a) == tree_hashes(b)
    assert not np.array_equal(_rgb(a), _rgb(base)), f"{knob} left the frame unchanged"
