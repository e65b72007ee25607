"""Image-based lighting in the rasterizer (render.ibl): the .hdr reader, the
prefiltered maps against closed-form integrals, a rotated environment
changing shading and background but no label, the same draws repeating byte
for byte, and one clear error for a folder without environments."""
from __future__ import annotations


import numpy as np
import pytest

from dropsynth import config
from dropsynth.errors import RenderBackendError
from dropsynth.render import environment, realism

from .test_render import CAM_OBJ, SPHERES, H, W, camera, catalog, make_scene, sphere_objects  # noqa: F401



def _rgbe(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) float -> (H, W, 4) uint8 RGBE (Ward's encoding)."""
    m = img.max(-1)
    e = np.where(m > 1e-32, np.floor(np.log2(np.maximum(m, 1e-32))) + 1, -128)
    scale = np.where(m > 1e-32, 256.0 * np.exp2(-np.where(m > 1e-32, e, 0)), 0.0)
    out = np.zeros(img.shape[:2] + (4,), np.uint8)
    out[..., :3] = np.clip(img * scale[..., None], 0, 255).astype(np.uint8)
    out[..., 3] = np.where(m > 1e-32, e + 128, 0).astype(np.uint8)
    return out


def write_hdr(path, img: np.ndarray, rle: bool = True) -> None:
    """A Radiance .hdr file: new-style run-length encoded scanlines (one run per channel
    where it can, literals elsewhere), or flat."""
    h, w = img.shape[:2]
    q = _rgbe(img)
    body = bytearray()
    for y in range(h):
        if not rle:
            body += q[y].tobytes()
            continue
        body += bytes([2, 2, w >> 8, w & 255])
        for c in range(4):
            row = q[y, :, c]
            x = 0
            while x < w:
                n = 1
                while x + n < w and n < 127 and row[x + n] == row[x]:
                    n += 1
                if n > 2:
                    body += bytes([128 + n, row[x]])
                else:
                    n = min(w - x, 128)
                    body += bytes([n]) + row[x:x + n].tobytes()
                x += n
    path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {h} +X {w}\n".encode() + bytes(body))


def _sky(h=64, w=128, spot_deg=(30.0, 40.0)) -> np.ndarray:
    """A dim sky, brighter towards +x, with one bright spot at (azimuth, elevation) in degrees."""
    d = environment._directions(h, w)
    az, el = np.radians(spot_deg)
    c = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    img = np.repeat((0.25 + 0.2 * d[..., :1]).astype(np.float32), 3, -1)
    img += (30.0 * (d @ c > np.cos(np.radians(12))))[..., None] * np.array([1.0, 0.9, 0.7], np.float32)
    return img


@pytest.mark.parametrize("rle", [True, False])
def test_hdr_reader_round_trip(tmp_path, rle):
    img = _sky()
    img[3, :40] = 0.0  # a run of zeros (exponent 0)
    write_hdr(tmp_path / "sky.hdr", img, rle=rle)
    back = environment.read_environment(str(tmp_path / "sky.hdr"))
    assert back.shape == img.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, img, rtol=1 / 64, atol=1e-6)  # RGBE keeps 8 bits of mantissa


def test_hdr_reader_refuses_other_files_in_one_line(tmp_path):
    (tmp_path / "bad.hdr").write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    with pytest.raises(RenderBackendError, match=r"lights\.hdri_folder: .*bad\.hdr: not a Radiance"):
        environment.read_environment(str(tmp_path / "bad.hdr"))
    write_hdr(tmp_path / "cut.hdr", _sky(8, 16))
    (tmp_path / "cut.hdr").write_bytes((tmp_path / "cut.hdr").read_bytes()[:-40])
    with pytest.raises(RenderBackendError, match=r"cut\.hdr: truncated"):
        environment.read_environment(str(tmp_path / "cut.hdr"))


def test_prefiltered_maps_match_closed_forms():
    # A uniform environment of radiance L: irradiance pi L on every normal, every specular layer L.
    env = environment.prefilter(np.full((64, 128, 3), 0.5, np.float32))
    n = environment._directions(8, 16).reshape(-1, 3)
    e = environment._sh_basis(n) @ env.sh
    np.testing.assert_allclose(e, np.pi * 0.5, rtol=0.01)
    np.testing.assert_allclose(env.spec, 0.5, rtol=1e-3)
    # Light from the upper hemisphere only (L on z > 0): E(up) = pi L, E(down) ~ 0, E(side) = pi L / 2.
    d = environment._directions(64, 128)
    env = environment.prefilter(np.where(d[..., 2:3] > 0, 1.0, 0.0).astype(np.float32) * np.ones(3, np.float32))
    up, down, side = environment._sh_basis(np.array([[0, 0, 1.0], [0, 0, -1.0], [1.0, 0, 0]])) @ env.sh
    assert abs(up[0] - np.pi) < 0.1 * np.pi and abs(down[0]) < 0.1 * np.pi and abs(side[0] - np.pi / 2) < 0.05 * np.pi
    # Specular layers: brighter looking up than down, the widest lobe the most blurred.
    assert (env.spec[:, 0].mean() > env.spec[:, -1].mean())


def _render(catalog, lights_cfg, environment_draws, background=True, seed=5):
    from dropsynth.render.pyrender_backend import PyrenderRenderer

    cfg = config.load(None, {"render": {"ibl": True, "ibl_background": background}})
    r = PyrenderRenderer(W, H, render_cfg=cfg.render, lights_cfg=lights_cfg)
    try:
        r.set_scene(make_scene(sphere_objects(catalog, SPHERES)), seed=seed)
        return r.render(camera(CAM_OBJ), realism.Lens(environment=environment_draws)), r.environment_source
    finally:
        r.close()


@pytest.mark.render
def test_rotated_environment_changes_shading_and_background_not_labels(catalog, tmp_path):
    write_hdr(tmp_path / "sky.hdr", _sky())
    lights = config.LightConfig().model_copy(update=dict(hdri_folder=str(tmp_path), hdri_rotation_deg=(0.0, 360.0),
                                 hdri_strength=(1.0, 1.0)))
    a, source = _render(catalog, lights, (0.0, 0.0, 0.0))
    a2, _ = _render(catalog, lights, (0.0, 0.0, 0.0))
    b, _ = _render(catalog, lights, (0.0, 0.5, 0.0))  # rotated by 180 degrees
    assert source == "folder"
    np.testing.assert_array_equal(a.rgb, a2.rgb)  # same draws, new renderer: the same bytes
    np.testing.assert_array_equal(a.instance_ids, b.instance_ids)
    np.testing.assert_array_equal(a.depth_m, b.depth_m)
    obj, bg = a.instance_ids > 0, a.depth_m == 0
    assert obj.sum() > 150 and bg.sum() > 200
    diff = np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max(-1)
    assert (diff[obj] > 8).mean() > 0.2, "rotating the environment should move the light on the objects"
    assert (diff[bg] > 8).mean() > 0.05, "rotating the environment should move the background"
    # Switched off, the background is the scene's plain colour again (labels still the same).
    c, _ = _render(catalog, lights, (0.0, 0.0, 0.0), background=False)
    np.testing.assert_array_equal(c.instance_ids, a.instance_ids)
    assert len(np.unique(c.rgb[bg].reshape(-1, 3), axis=0)) == 1


def test_environment_sources_and_errors(tmp_path):
    base = config.LightConfig()
    with pytest.raises(RenderBackendError, match=r"lights\.hdri_folder: no \.hdr or \.exr environments in"):
        environment.environment_set(base.model_copy(update=dict(hdri_folder=str(tmp_path))))
    with pytest.raises(RenderBackendError, match=r"lights\.hdri_folder: folder not found"):
        environment.environment_set(base.model_copy(update=dict(hdri_folder=str(tmp_path / "nope"))))
    assert environment.environment_set(base.model_copy(update=dict(hdri=False))) == ([], "none")
    from dropsynth.render import cycles_plan

    if not cycles_plan.bpy_available():  # no built-in set: the procedural studio environments
        assert environment.environment_set(base) == (list(environment.PROCEDURAL), "procedural")


def test_raster_environment_draws_are_cycles_ones():
    from dropsynth.render import cycles_plan

    cfg = config.load(None, {"render": {"backend": "cycles", "cycles_share": 1.0}})
    files = ["a.hdr", "b.hdr", "c.hdr"]
    for view in range(4):
        plan = cycles_plan.plan_view(cfg, 7, 3, view, files)
        assert cycles_plan.environment_draws(cfg.lights, 7, 3, view, files) == \
            (plan.hdri, plan.hdri_rotation_rad, plan.hdri_strength)
        lens = realism.view_lens(config.load(None, {"render": {"ibl": True}}).render, 7, 3, view)
        from dropsynth.render.cycles_plan import _environment

        assert _environment(cfg.lights, *lens.environment, files) == \
            (plan.hdri, plan.hdri_rotation_rad, plan.hdri_strength)
