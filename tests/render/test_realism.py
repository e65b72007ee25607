"""Realism effects (render.quality realistic and each effect's own key): a
shadow where geometry says, labels untouched by every effect, each effect
changes the frame and repeats byte for byte."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth import config
from dropsynth.render import post, realism
from dropsynth.types import LightSpec, ObjectSpec, Primitive

from .test_render import (CAM_OBJ, SPHERES, H, W, camera, catalog, look_at, make_scene, mesh_objects,  # noqa: F401
                         pixel_rays, ray_box, sphere_objects)

pytestmark = pytest.mark.render

BOX = (0.12, 0.12, 0.12)  # a cube standing on the table at the origin
SUN_DIR = np.array([0.77, 0.0, 0.64])  # towards the light: 40 degrees up, from +x
CAM_TOP = look_at([-0.1, -0.3, 0.7], [-0.12, 0.0, 0.0])


def _cfg(**render):
    return config.load(None, {"render": render})


def _renderer(cfg):
    from dropsynth.render.pyrender_backend import PyrenderRenderer

    return PyrenderRenderer(W, H, render_cfg=cfg.render)


def _frame(cfg, scene, cam, seed=5, view=0):
    """One view as the pipeline makes it: render (exposure in the shader), then the camera effects."""
    r = _renderer(cfg)
    try:
        r.set_scene(scene, seed=seed)
        lens = realism.view_lens(cfg.render, seed, scene.spec.scene_index, view) if r.effects else None
        f = r.render(cam, lens)
        rgb = post.apply(f.rgb, f.depth_m, cam.K, lens) if lens is not None else f.rgb
        return f, rgb
    finally:
        r.close()


def _box_scene(catalog, lights):
    asset = next(a for a in catalog.assets if a.primitive_kind == "box")
    t = np.eye(4)
    t[2, 3] = BOX[2] / 2
    obj = ObjectSpec(1, asset, t, Primitive("box", BOX), (0.8, 0.8, 0.8, 1.0))
    scene = make_scene([obj], lights=lights)
    import dataclasses

    spec = dataclasses.replace(scene.spec, ambient_rgb=(0.1, 0.1, 0.1))
    return dataclasses.replace(scene, spec=spec)


def _sun():
    from dropsynth.render.shadows import look_at as gl_look_at

    # pyrender lights shine along their -z: the inverse of a GL view matrix from the light to the origin.
    return LightSpec("directional", np.linalg.inv(gl_look_at(SUN_DIR * 2.0, [0, 0, 0])), (1.0, 1.0, 1.0), 3.0)


def test_light_above_an_object_darkens_the_table_where_geometry_says(catalog):
    scene = _box_scene(catalog, [_sun()])
    cam = camera(CAM_TOP)
    f0, rgb0 = _frame(_cfg(), scene, cam)
    f1, rgb1 = _frame(_cfg(shadows=True), scene, cam)
    np.testing.assert_array_equal(f0.instance_ids, f1.instance_ids)
    np.testing.assert_array_equal(f0.depth_m, f1.depth_m)
    # Table pixels whose ray towards the light hits the cube are in its shadow (exact geometry).
    c, d = pixel_rays(cam.K, cam.world_T_cam, W, H)
    p = c + f0.depth_m[..., None].astype(np.float64) * d  # world point of each pixel (depth = camera z)
    table = (f0.instance_ids == 0) & (f0.depth_m > 0) & (np.abs(p[..., 2]) < 1e-3)
    lo, hi = [-BOX[0] / 2, -BOX[1] / 2, 0.0], [BOX[0] / 2, BOX[1] / 2, BOX[2]]
    ray = np.broadcast_to(SUN_DIR, p.shape)
    hit = np.isfinite(ray_box(p + 1e-4 * ray, ray, lo, hi))
    from scipy import ndimage

    umbra = table & ndimage.binary_erosion(hit, iterations=2)
    lit = table & ~ndimage.binary_dilation(hit, iterations=3)
    assert umbra.sum() > 100 and lit.sum() > 1000, (umbra.sum(), lit.sum())
    l0, l1 = rgb0.astype(float).mean(-1), rgb1.astype(float).mean(-1)
    ratio = l1[umbra].mean() / l0[umbra].mean()
    assert ratio < 0.5, f"the shadow keeps {ratio:.0%} of the light"
    assert np.abs(l1[lit] - l0[lit]).mean() < 1.0, "lit table pixels changed"
    # Without the shadow, these pixels are as bright as the rest of the table (one light, a flat top).
    assert abs(l0[umbra].mean() - l0[lit].mean()) < 0.15 * l0[lit].mean()


def _busy_scene(catalog):
    objs = sphere_objects(catalog, SPHERES) + mesh_objects(catalog, 20)
    light = LightSpec("spot", np.linalg.inv(__import__("dropsynth.render.shadows", fromlist=["x"]).look_at(
        [0.3, -0.4, 1.2], [0, 0, 0])), (1.0, 0.9, 0.8), 6.0)
    return make_scene(objs, lights=[_sun(), light])


@pytest.mark.parametrize("effect", realism.EFFECTS)
def test_each_effect_changes_the_frame_repeats_exactly_and_leaves_labels(catalog, effect):
    scene = _busy_scene(catalog)
    cam = camera(CAM_OBJ)
    fast, rgb_fast = _frame(_cfg(), scene, cam)
    # At 160x120 (fx 150 px) the default apertures blur by under a quarter pixel: open the lens.
    cfg = _cfg(**{effect: True, **({"aperture_mm": [8.0, 12.0]} if effect == "defocus" else {}),
                  **({"motion_blur_share": 1.0} if effect == "motion_blur" else {})})
    f1, rgb1 = _frame(cfg, scene, cam)
    f2, rgb2 = _frame(cfg, scene, cam)
    np.testing.assert_array_equal(rgb1, rgb2)  # same seed, new renderer: the same bytes
    np.testing.assert_array_equal(f1.instance_ids, fast.instance_ids)
    np.testing.assert_array_equal(f1.depth_m, fast.depth_m)
    changed = (rgb1 != rgb_fast).any(-1)
    assert changed.mean() > 0.005, f"{effect} changed {changed.mean():.2%} of the pixels"
    # Another seed draws other values (every effect is seeded per scene or view).
    _, rgb3 = _frame(cfg, scene, cam, seed=6)
    assert not np.array_equal(rgb1, rgb3)


def test_effects_resolve_from_the_quality_level():
    assert realism.effects(_cfg().render) == frozenset()
    assert realism.effects(_cfg(quality="realistic").render) == frozenset(realism.EFFECTS)
    assert realism.effects(_cfg(quality="realistic", defocus=False).render) == \
        frozenset(realism.EFFECTS) - {"defocus"}
    assert realism.effects(_cfg(vignette=True).render) == {"vignette"}


def test_turning_one_effect_off_keeps_the_other_draws():
    a = realism.view_lens(_cfg(quality="realistic").render, 3, 2, 1)
    b = realism.view_lens(_cfg(quality="realistic", vignette=False).render, 3, 2, 1)
    assert b.vignette == 0 and a.vignette > 0
    assert (a.exposure, a.wb_gains, a.ca_px, a.aperture_m, a.shake_px) == \
        (b.exposure, b.wb_gains, b.ca_px, b.aperture_m, b.shake_px)


def test_bad_quality_is_one_clear_error():
    from dropsynth.errors import ConfigError

    with pytest.raises(ConfigError, match=r"render\.quality: must be one of fast, realistic"):
        config.load(None, {"render": {"quality": "ultra"}})


def test_circle_of_confusion_is_zero_at_focus_and_grows_off_it():
    depth = np.full((40, 40), 0.8, np.float32)
    depth[:5] = 0.4
    depth[-5:] = 0.0  # background: at infinity
    coc = post.circle_of_confusion(depth, fx=500.0, aperture_m=0.002)
    assert coc[20, 20] == 0
    assert coc[0, 0] == pytest.approx(0.002 * 500 * (1 / 0.4 - 1 / 0.8), rel=1e-5)
    assert coc[-1, 0] == pytest.approx(min(post.MAX_COC_PX, 0.002 * 500 / 0.8), rel=1e-5)


def test_ambient_occlusion_darkens_the_table_where_an_object_stands(catalog):
    """Baked with the shadows: ambient light only (no light source), a cube on the
    table: the table right beside the cube is darker than the table far from it."""
    import dataclasses

    scene = _box_scene(catalog, [])
    scene = dataclasses.replace(scene, spec=dataclasses.replace(scene.spec, ambient_rgb=(0.6, 0.6, 0.6)))
    cam = camera(CAM_TOP)
    f0, rgb0 = _frame(_cfg(), scene, cam)
    f1, rgb1 = _frame(_cfg(ao=True, ao_strength=[1.0, 1.0]), scene, cam)
    np.testing.assert_array_equal(f0.instance_ids, f1.instance_ids)
    c, d = pixel_rays(cam.K, cam.world_T_cam, W, H)
    p = c + f0.depth_m[..., None].astype(np.float64) * d
    table = (f0.instance_ids == 0) & (f0.depth_m > 0) & (np.abs(p[..., 2]) < 1e-3)
    gap = np.maximum(np.abs(p[..., 0]) - BOX[0] / 2, np.abs(p[..., 1]) - BOX[1] / 2)  # distance from the cube
    near, far = table & (gap > 0.002) & (gap < 0.01), table & (gap > 0.06)
    assert near.sum() > 20 and far.sum() > 1000
    l0, l1 = rgb0.astype(float).mean(-1), rgb1.astype(float).mean(-1)
    assert np.abs(l1[far] - l0[far]).max() <= 1, "open table changed"
    assert l1[near].mean() < 0.85 * l0[near].mean(), (l1[near].mean(), l0[near].mean())


@pytest.mark.parametrize("builder", ["tabletop", "bin"])
def test_a_realistic_run_writes_the_labels_of_a_fast_run(tmp_path, builder):
    """Every label file (depth, instances, COCO) byte-identical with all effects on; only rgb/ differs."""
    from dropsynth.pipeline import generate

    base = {"seed": 11, "scenes": 1, "views_per_scene": 2, "camera": {"width": 160, "height": 120},
            "scene": {"builder": builder, "num_objects": [6, 6]}, "output": {"preview": False}}
    out = {}
    for q in ("fast", "realistic"):
        cfg = config.load(None, {**base, "render": {"quality": q}})
        generate(cfg, tmp_path / q)
        out[q] = tmp_path / q
    for sub in ("depth", "instances"):
        names = sorted(p.name for p in (out["fast"] / sub).iterdir())
        assert names and names == sorted(p.name for p in (out["realistic"] / sub).iterdir())
        for n in names:
            assert (out["fast"] / sub / n).read_bytes() == (out["realistic"] / sub / n).read_bytes(), f"{sub}/{n}"
    coco = "annotations/instances.json"
    assert (out["fast"] / coco).read_bytes() == (out["realistic"] / coco).read_bytes()
    rgb = sorted((out["fast"] / "rgb").iterdir())
    assert all(p.read_bytes() != (out["realistic"] / "rgb" / p.name).read_bytes() for p in rgb)
