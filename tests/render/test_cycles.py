"""Cycles backend (the [cycles] extra): its own object-index and depth passes
agree with the raster labels on every test frame, and the same seed repeats.
Skipped without bpy. End-to-end runs: tests/cli/test_cycles_cli.py.

Test renders are tiny (160x120, 8 samples): the CPU is shared.
"""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth.render.cycles_plan import bpy_available

pytestmark = [pytest.mark.render, pytest.mark.cycles,
              pytest.mark.skipif(not bpy_available(), reason="needs the cycles extra (bpy)")]

W, H = 160, 120
# Jittered focal lengths (fx != fy) and principal points: an axis or half-pixel mix-up shows.
CONFIG = {"camera": {"width": W, "height": H, "focal_jitter": 0.06, "principal_jitter_px": 8.0},
          "scene": {"num_objects": [6, 10]}, "materials": {"randomize": ["objects", "table"]},
          "render": {"backend": "cycles"}}
SCENES, SEED = 2, 5


def silhouette(ids: np.ndarray, r: int = 1) -> np.ndarray:
    """Pixels with another id within ``r`` pixels (r = 1: the 8-neighbourhood,
    where anti-aliasing may pick a neighbour)."""
    p = np.pad(ids, r, mode="edge")
    out = np.zeros(ids.shape, bool)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= p[r + dy:r + dy + ids.shape[0], r + dx:r + dx + ids.shape[1]] != ids
    return out


@pytest.fixture(scope="module")
def frames():
    """(raster frame, Cycles frame, Cycles frame rendered again) for every view of SCENES scenes."""
    from dropsynth import config
    from dropsynth.pipeline import selected_catalog
    from dropsynth.render import cycles_plan
    from dropsynth.render.cycles_backend import CyclesRenderer, CyclesSettings
    from dropsynth.render.pyrender_backend import PyrenderRenderer
    from dropsynth.scenes import builders
    from dropsynth.scenes.physics import PhysicsWorld

    cfg = config.load(None, CONFIG)
    _, catalog = selected_catalog(cfg)
    world = PhysicsWorld()
    raster = PyrenderRenderer(W, H)
    cyc = CyclesRenderer(W, H, CyclesSettings(samples=8, denoise=True, threads=2))
    hdris = cycles_plan.hdri_set(cfg)
    out = []
    try:
        for s in range(SCENES):
            spec = builders.get(cfg.scene.builder)(cfg, catalog, SEED, s)
            settled = world.settle(spec, cfg.physics)
            raster.set_scene(settled)
            cyc.set_scene(settled)
            for v, cam in enumerate(spec.cameras[:2]):
                view = cycles_plan.plan_view(cfg, SEED, s, v, hdris)
                out.append([raster.render(cam), cyc.render(cam, view), None])
        cyc.close()
        # The last scene's first view again, from a fresh renderer: nothing of the
        # scenes before may show (textures, meshes, lights, environments).
        cyc = CyclesRenderer(W, H, CyclesSettings(samples=8, denoise=True, threads=2))
        cyc.set_scene(settled)
        out[-2][2] = cyc.render(spec.cameras[0], cycles_plan.plan_view(cfg, SEED, SCENES - 1, 0, hdris))
    finally:
        world.close()
        raster.close()
        cyc.close()
    return out


def test_object_index_pass_equals_our_ids_except_on_silhouettes(frames):
    differ = object_px = 0
    for raster, cyc, _ in frames:
        ours, theirs = raster.instance_ids, cyc.instance_ids
        assert (ours > 0).sum() > 200, "every test frame shows objects"
        bad = ours != theirs
        assert not (bad & ~silhouette(ours)).any(), "ids differ only on anti-aliased silhouette pixels"
        differ += int(bad.sum())
        object_px += int(((ours > 0) | (theirs > 0)).sum())
    # Measured: 2 of 4,950 object pixels (0.04%; Cycles writes its index pass from the
    # first sample, near the pixel centre, where our raster pass samples too).
    assert differ / object_px < 0.01, f"{differ} of {object_px} object pixels differ"


def test_depth_pass_within_1mm_of_ours(frames):
    for raster, cyc, _ in frames:
        hit = raster.depth_m > 0
        # Away from silhouettes, the table's outline against the background included.
        same = (raster.instance_ids == cyc.instance_ids) & ~silhouette(raster.instance_ids * 2 + hit)
        assert np.array_equal(hit[same], cyc.depth_m[same] > 0), "Cycles hits a surface where we do"
        both = same & hit
        assert both.sum() > 0.5 * W * H
        err = np.abs(raster.depth_m[both].astype(np.float64) - cyc.depth_m[both])
        assert err.max() < 1e-3, f"depth differs by up to {err.max() * 1000:.2f} mm"


def test_colours_follow_the_raster_look_and_the_same_seed_repeats(frames):
    for raster, cyc, again in frames:
        assert cyc.rgb.shape == (H, W, 3) and cyc.rgb.dtype == np.uint8
        bg = raster.depth_m == 0
        clear = bg & ~silhouette(bg, 2)  # Cycles' pixel filter is 1.5 px wide
        if clear.any():  # the raster background is composited under Cycles' transparent film
            assert np.abs(cyc.rgb[clear].astype(int) - raster.rgb[clear]).max() <= 1
        assert not np.array_equal(cyc.rgb, raster.rgb), "a path-traced image, not the raster one"
        if again is not None:
            assert np.array_equal(cyc.rgb, again.rgb), "same scene, view and seed: same bytes, whatever came before"


def test_depth_of_field_and_motion_blur_soften_the_image():
    """Optional effects: a wide aperture and a camera moving 2 cm during the exposure
    blur the frame (less detail than the sharp render of the same view and seed)."""
    from dropsynth import config
    from dropsynth.pipeline import selected_catalog
    from dropsynth.render import cycles_plan
    from dropsynth.render.cycles_backend import CyclesRenderer, CyclesSettings
    from dropsynth.scenes import builders
    from dropsynth.scenes.physics import PhysicsWorld

    cfg = config.load(None, {**CONFIG, "render": {"backend": "cycles", "cycles_motion_blur_m": 0.02},
                             "lights": {"hdri": False}})
    _, catalog = selected_catalog(cfg)
    world = PhysicsWorld()
    settled = world.settle(builders.get(cfg.scene.builder)(cfg, catalog, SEED, 0), cfg.physics)
    world.close()
    cam = settled.spec.cameras[0]
    view = cycles_plan.plan_view(cfg, SEED, 0, 0, [])
    assert np.linalg.norm(view.motion_m) > 0.002

    def detail(settings):
        r = CyclesRenderer(W, H, settings)
        try:
            r.set_scene(settled)
            img = r.render(cam, view).rgb.astype(np.float64).mean(axis=2)
        finally:
            r.close()
        return np.abs(np.diff(img, axis=1)).mean() + np.abs(np.diff(img, axis=0)).mean()

    base = dict(samples=8, denoise=True, threads=2)
    sharp = detail(CyclesSettings(**base))
    assert detail(CyclesSettings(**base, dof_fstop=0.2)) < 0.9 * sharp
    assert detail(CyclesSettings(**base, motion_blur_m=0.02)) < 0.9 * sharp


def test_gpu_devices_fall_back_to_the_cpu_when_absent():
    import shutil

    from dropsynth.render.cycles_backend import CyclesRenderer, CyclesSettings

    for want in ("auto", "cuda", "optix", "cpu"):
        r = CyclesRenderer(16, 12, CyclesSettings(device=want, samples=1))
        try:
            assert r.device in ("CPU", "CUDA", "OPTIX")
            if want == "cpu" or shutil.which("nvidia-smi") is None:
                assert r.device == "CPU", want
            assert (r.bpy.context.scene.cycles.device == "CPU") == (r.device == "CPU")
        finally:
            r.close()
