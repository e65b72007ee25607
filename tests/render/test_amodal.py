"""Amodal masks: each object rendered alone gives its whole silhouette; the
visible fraction of a partly hidden sphere is what ray casting says."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth.annotate import annotate_frame
from .test_render import (H, W, K, camera, catalog, look_at, make_scene, pixel_rays, ray_sphere,  # noqa: F401
                         renderer, sphere_objects)

pytestmark = pytest.mark.render

CAM = look_at([0.0, -0.6, 0.35], [0.0, 0.0, 0.04])
# sphere 2 sits behind sphere 1 (seen from CAM), shifted sideways so it is partly hidden
SPHERES = {1: ((0.0, -0.3, 0.2), 0.03, (0.9, 0.1, 0.1, 1.0)),  # in the air, between camera and sphere 2
           2: ((0.035, 0.0, 0.05), 0.05, (0.1, 0.9, 0.1, 1.0))}


@pytest.fixture(scope="module")
def occluded(renderer, catalog):
    scene = make_scene(sphere_objects(catalog, SPHERES))
    renderer.set_scene(scene)
    cam = camera(CAM)
    frame = renderer.render(cam)
    return scene, cam, frame, renderer.amodal_masks()


def test_amodal_contains_visible_and_equals_it_when_unoccluded(occluded):
    _, _, frame, amodal = occluded
    assert set(amodal) == {1, 2}
    for iid, m in amodal.items():
        vis = frame.instance_ids == iid
        assert vis.any() and not (vis & ~m).any(), "the visible pixels lie inside the amodal mask"
    assert np.array_equal(amodal[1], frame.instance_ids == 1), "nothing hides the front sphere"
    assert (amodal[2] & ~(frame.instance_ids == 2)).sum() > 50, "the rear sphere is partly hidden"


def test_amodal_mask_and_visible_fraction_match_ray_casting(occluded):
    scene, cam, frame, amodal = occluded
    c, d = pixel_rays(K, CAM, W, H)
    hit = {iid: np.isfinite(ray_sphere(c, d, ctr, r)) for iid, (ctr, r, _) in SPHERES.items()}
    # the tessellated sphere differs from the analytic one on its rim only
    assert (amodal[2] ^ hit[2]).sum() <= 0.06 * hit[2].sum()
    expected = (hit[2] & ~hit[1]).sum() / hit[2].sum()
    anns = {a.instance_id: a for a in annotate_frame(frame.instance_ids, scene, cam, amodal=amodal)}
    assert 0.2 < expected < 0.9
    assert anns[2].visib_fract == pytest.approx(expected, abs=0.03)
    assert anns[1].visib_fract == 1.0 and anns[1].px_count_all == anns[1].px_count_visib
    ys, xs = np.nonzero(amodal[2])
    assert anns[2].bbox_amodal == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    # a threshold above the rear sphere's fraction drops it, and only it
    kept = annotate_frame(frame.instance_ids, scene, cam, amodal=amodal, min_visible_fraction=expected + 0.05)
    assert [a.instance_id for a in kept] == [1]


def test_visible_fraction_behind_a_box_placed_by_the_test(renderer, catalog):
    """A sphere partly hidden by a box between it and the camera: visib_fract
    is the ray-cast fraction of the sphere's pixels that the box leaves free."""
    from dropsynth.types import ObjectSpec, Primitive
    from .test_render import ray_box

    box_asset = next(a for a in catalog.assets if a.primitive_kind == "box")
    sphere = sphere_objects(catalog, {2: SPHERES[2]})[0]
    centre, size = np.array([0.05, -0.3, 0.2]), (0.06, 0.02, 0.08)  # axis-aligned, in the air
    t = np.eye(4)
    t[:3, 3] = centre
    box = ObjectSpec(5, box_asset, t, Primitive("box", size), (0.9, 0.9, 0.2, 1.0))
    scene = make_scene([sphere, box])
    renderer.set_scene(scene)
    cam = camera(CAM)
    frame = renderer.render(cam)
    amodal = renderer.amodal_masks()
    c, d = pixel_rays(K, CAM, W, H)
    ball = np.isfinite(ray_sphere(c, d, SPHERES[2][0], SPHERES[2][1]))
    half = np.array(size) / 2
    blocker = np.isfinite(ray_box(c, d, centre - half, centre + half))
    expected = (ball & ~blocker).sum() / ball.sum()
    assert 0.2 < expected < 0.9
    ann = {a.instance_id: a for a in annotate_frame(frame.instance_ids, scene, cam, amodal=amodal)}[2]
    assert ann.visib_fract == pytest.approx(expected, abs=0.03)
