"""Dense and 3-D ground truth: normals, NOCS, class image, 3-D boxes and keypoints."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth import groundtruth as gt
from dropsynth.annotate import annotate_frame
from .test_render import (CAM_TABLE, H, W, K, camera, catalog, look_at, make_scene,  # noqa: F401
                         renderer, sphere_objects)

pytestmark = pytest.mark.render

CAM = look_at([0.3, -0.45, 0.4], [0.0, 0.0, 0.03])
SPHERES = {3: ((0.0, 0.0, 0.04), 0.04, (0.8, 0.2, 0.2, 1.0)), 9: ((0.12, 0.1, 0.03), 0.03, (0.2, 0.2, 0.8, 1.0))}


@pytest.fixture(scope="module")
def table(renderer):
    renderer.set_scene(make_scene())
    return renderer.render(camera(CAM_TABLE))


@pytest.fixture(scope="module")
def spheres(renderer, catalog):
    scene = make_scene(sphere_objects(catalog, SPHERES))
    renderer.set_scene(scene)
    cam = camera(CAM)
    return scene, cam, renderer.render(cam)


def test_table_normals_equal_the_analytic_normal_in_the_camera_frame(table):
    from scipy import ndimage

    n = gt.normals_from_depth(table.depth_m, K, table.instance_ids)
    p = gt.backproject(table.depth_m, K)
    world_z = p @ CAM_TABLE[:3, :3].T[:, 2] + CAM_TABLE[2, 3]
    # the top face, away from its edge (the table's sides have other normals)
    top = ndimage.binary_erosion((table.depth_m > 0) & (np.abs(world_z) < 1e-3), iterations=2)
    expected = CAM_TABLE[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # world +z seen from the camera
    assert top.sum() > 1000
    err = np.degrees(np.arccos(np.clip(n[top] @ expected, -1, 1)))
    assert err.max() < 0.5, err.max()
    assert not n[table.depth_m == 0].any()


def test_sphere_normals_point_away_from_the_centre(spheres):
    scene, cam, f = spheres
    n = gt.normals_from_depth(f.depth_m, K, f.instance_ids)
    p = gt.backproject(f.depth_m, K)
    centre = (np.linalg.inv(CAM) @ np.append(SPHERES[3][0], 1))[:3]
    m = f.instance_ids == 3
    radial = p[m] - centre
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    cos = np.einsum("ij,ij->i", n[m], radial)
    assert np.median(cos) > 0.99 and (cos > 0.9).mean() > 0.9


def test_nocs_lies_in_the_unit_cube_and_matches_the_sphere(spheres):
    scene, cam, f = spheres
    anns = annotate_frame(f.instance_ids, scene, cam)
    cam_T = {a.instance_id: a.cam_T_obj for a in anns}
    objs = {o.instance_id: o for o in scene.objects()}
    nocs = gt.nocs_image(f.depth_m, K, f.instance_ids, cam_T, {i: gt.object_bounds(objs[i]) for i in cam_T})
    assert nocs.min() >= -1e-3 and nocs.max() <= 1 + 1e-3  # unclipped: the points lie in their boxes
    for iid, (_, r, _) in SPHERES.items():
        m = f.instance_ids == iid
        # back to metres: the box diagonal is 2 r sqrt(3); every surface point is r from the centre
        dist = np.linalg.norm((nocs[m] - 0.5) * 2 * r * np.sqrt(3), axis=1)
        assert np.allclose(dist, r, atol=0.1 * r), (iid, dist.min(), dist.max())
    assert not nocs[f.instance_ids == 0].any()


def test_projected_box_corners_enclose_the_mask(spheres):
    scene, cam, f = spheres
    objs = {o.instance_id: o for o in scene.objects()}
    for a in annotate_frame(f.instance_ids, scene, cam):
        corners = gt.box_corners_cam(a.cam_T_obj, gt.object_bounds(objs[a.instance_id]))
        px = gt.project_coco(corners, K)
        x, y, w, h = a.bbox  # pixel-corner coordinates, like px
        assert px[:, 0].min() <= x and px[:, 1].min() <= y
        assert px[:, 0].max() >= x + w and px[:, 1].max() >= y + h
        kp = gt.box_keypoints(corners, K, f.depth_m)
        assert len(kp) == 24 and set(kp[2::3]) <= {0, 1, 2}
        # keypoints use pixel indices (OpenCV projection), half a pixel from the pixel-corner box coordinates
        assert np.allclose(np.array(kp).reshape(8, 3)[:, :2][np.array(kp[2::3]) > 0] + 0.5,
                           px[np.array(kp[2::3]) > 0], atol=1e-3)


def test_a_corner_behind_the_table_is_labelled_hidden(table):
    # a box corner 10 cm below the table top, seen through the table: hidden (v = 1)
    p_world = np.array([0.0, 0.1, -0.1, 1.0])
    p_cam = (np.linalg.inv(CAM_TABLE) @ p_world)[:3]
    above = (np.linalg.inv(CAM_TABLE) @ np.array([0.0, 0.1, 0.001, 1.0]))[:3]
    kp = gt.box_keypoints(np.stack([p_cam] * 4 + [above] * 4), K, table.depth_m)
    assert kp[2::3] == [1] * 4 + [2] * 4


def test_class_image_maps_instances_to_categories(spheres):
    _, _, f = spheres
    cls = gt.class_image(f.instance_ids, {3: 5, 9: 2})
    assert cls.dtype == np.uint16
    assert np.array_equal(cls == 5, f.instance_ids == 3) and np.array_equal(cls == 2, f.instance_ids == 9)
    assert not cls[f.instance_ids == 0].any()


def test_box_edges_and_keypoint_names():
    assert len(gt.BOX_EDGES) == 12 and len(gt.KEYPOINT_NAMES) == 8 == len(set(gt.KEYPOINT_NAMES))
    assert all(1 <= a <= 8 and 1 <= b <= 8 for a, b in gt.BOX_EDGES)
