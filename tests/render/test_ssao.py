"""Screen-space ambient occlusion (render.ssao) against geometry: the table
darkens where it meets a cube and nowhere else, the cube's open top stays as
it was, labels are untouched, and the same seed gives the same bytes."""
from __future__ import annotations

import numpy as np
import pytest

from .test_realism import BOX, CAM_TOP, _box_scene, _cfg, _frame, _sun
from .test_render import H, W, camera, catalog, pixel_rays  # noqa: F401

pytestmark = pytest.mark.render


def test_table_darkens_where_it_meets_a_cube_and_nowhere_else(catalog):
    scene = _box_scene(catalog, [_sun()])
    cam = camera(CAM_TOP)
    f0, rgb0 = _frame(_cfg(), scene, cam)
    cfg = _cfg(ssao=True, ao_strength=[0.9, 0.9])
    f1, rgb1 = _frame(cfg, scene, cam)
    _, rgb2 = _frame(cfg, scene, cam)
    np.testing.assert_array_equal(rgb1, rgb2)
    np.testing.assert_array_equal(f0.instance_ids, f1.instance_ids)
    np.testing.assert_array_equal(f0.depth_m, f1.depth_m)
    c, d = pixel_rays(cam.K, cam.world_T_cam, W, H)
    p = c + f0.depth_m[..., None].astype(np.float64) * d
    table = (f0.instance_ids == 0) & (f0.depth_m > 0) & (np.abs(p[..., 2]) < 1e-3)
    half = BOX[0] / 2
    gap = np.hypot(np.maximum(np.abs(p[..., 0]) - half, 0), np.maximum(np.abs(p[..., 1]) - half, 0))
    radius = cfg.render.ssao_radius_m
    # The foot of the face the camera sees (-y: the camera is at y = -0.3); screen space knows no other.
    near, far = table & (gap < radius / 3) & (p[..., 1] < -half), table & (gap > 2.5 * radius)
    assert near.sum() > 20 and far.sum() > 1000, (near.sum(), far.sum())
    l0, l1 = rgb0.astype(float).mean(-1), rgb1.astype(float).mean(-1)
    ratio = l1[near].mean() / l0[near].mean()
    assert ratio < 0.92, f"the table at the cube's foot keeps {ratio:.0%} of its light"
    np.testing.assert_array_equal(rgb1[far], rgb0[far])  # open table: no occlusion at all
    top = (f0.instance_ids == 1) & (np.abs(p[..., 2] - BOX[2]) < 1e-3)
    from scipy import ndimage

    inner = ndimage.binary_erosion(top, iterations=4)
    assert inner.sum() > 50
    assert (rgb1[inner] == rgb0[inner]).all(-1).mean() > 0.95, "a flat open face must not occlude itself"


def test_occlusion_is_zero_on_a_plane_and_where_nothing_was_hit():
    from dropsynth.render import ssao

    K = np.array([[150.0, 0, 79.5], [0, 150.0, 59.5], [0, 0, 1]])
    ys, xs = np.mgrid[0:H, 0:W]
    # A tilted plane z = 0.5 + 0.2 x_cam, sampled along each pixel's ray.
    x_over_z = (xs - K[0, 2]) / K[0, 0]
    depth = (0.5 / (1 - 0.2 * x_over_z)).astype(np.float32)
    depth[:, :20] = 0  # nothing hit
    occ = ssao.occlusion(depth, K, 0.03)
    assert occ.max() < 0.02 and (occ[:, :20] == 0).all()
