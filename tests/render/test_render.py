"""pyrender backend: metric depth against analytic ray casts, exact instance
ids, and the OpenCV camera convention (K with pixel centres on integers)."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth.errors import RenderBackendError
from dropsynth.types import CameraSpec, LightSpec, ObjectSpec, Primitive, SceneSpec, SettledScene

pytestmark = pytest.mark.render

W, H = 160, 120
TABLE = (1.2, 0.8, 0.04)


@pytest.fixture(scope="module")
def renderer():
    from dropsynth.render.pyrender_backend import PyrenderRenderer

    r = PyrenderRenderer(W, H)
    yield r
    r.close()


@pytest.fixture(scope="module")
def catalog():
    from dropsynth.assets.catalog import load_catalog

    return load_catalog()


# --- geometry helpers -------------------------------------------------------------


def look_at(eye, target, roll_deg: float = 0.0) -> np.ndarray:
    """world_T_cam, OpenCV axes, rolled about the optical axis (written out here,
    independent of dropsynth.scenes.samplers)."""
    eye = np.asarray(eye, float)
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    a = np.radians(roll_deg)
    xr = np.cos(a) * x + np.sin(a) * y
    yr = -np.sin(a) * x + np.cos(a) * y
    t = np.eye(4)
    t[:3, :3] = np.stack([xr, yr, z], axis=1)
    t[:3, 3] = eye
    return t


def pixel_rays(K: np.ndarray, world_T_cam: np.ndarray, width: int, height: int):
    """Camera centre (3,) and world directions (H, W, 3) of the rays through the
    pixel centres (u, v) (OpenCV: integer coordinates), scaled so that the
    camera-frame z of each direction is 1 (then ray parameter t = z-depth)."""
    u, v = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
    d = np.linalg.inv(K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    dw = (world_T_cam[:3, :3] @ d).T.reshape(height, width, 3)
    return world_T_cam[:3, 3], dw


def ray_box(c, d, lo, hi):
    """Slab test: entry parameter t (H, W), inf where the ray misses the box."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo - c) / d
        t2 = (hi - c) / d
    tmin = np.nanmax(np.minimum(t1, t2), axis=-1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=-1)
    hit = (tmax >= tmin) & (tmin > 0)
    return np.where(hit, tmin, np.inf)


def ray_sphere(c, d, centre, r):
    """Nearest hit parameter t (H, W) of rays with a sphere, inf on a miss."""
    oc = c - np.asarray(centre, float)
    a = np.einsum("hwi,hwi->hw", d, d)
    b = 2 * np.einsum("hwi,i->hw", d, oc)
    cc = oc @ oc - r * r
    disc = b * b - 4 * a * cc
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / (2 * a)
    return np.where((disc >= 0) & (t > 0), t, np.inf)


def project(K, world_T_cam, p_world) -> np.ndarray:
    p = np.linalg.inv(world_T_cam) @ np.append(p_world, 1.0)
    uvw = K @ p[:3]
    return uvw[:2] / uvw[2]


def table_box(margin: float):
    sx, sy, sz = TABLE
    return [-sx / 2 - margin, -sy / 2 - margin, -sz - margin], [sx / 2 + margin, sy / 2 + margin, margin]


def make_scene(objects=(), poses=None, lights=()) -> SettledScene:
    spec = SceneSpec(scene_index=0, table_size_m=TABLE, objects=tuple(objects), cameras=(), lights=tuple(lights),
                     ambient_rgb=(0.4, 0.4, 0.4), table_rgba=(0.5, 0.5, 0.5, 1.0), background_rgb=(0.1, 0.2, 0.3))
    poses = poses if poses is not None else {o.instance_id: o.world_T_obj for o in objects}
    return SettledScene(spec=spec, poses=poses, removed=(), steps=0, at_rest=True)


# Off-centre principal point and unequal focal lengths: a half-pixel or axis mix-up shows.
K = np.array([[150.0, 0.0, 77.3], [0.0, 140.0, 63.6], [0.0, 0.0, 1.0]])
CAM_TABLE = look_at([0.75, -0.85, 0.55], [0.05, 0.1, 0.0], roll_deg=25.0)


def camera(world_T_cam, k=K, width=W, height=H) -> CameraSpec:
    return CameraSpec(K=k, width=width, height=height, world_T_cam=world_T_cam, znear_m=0.05, zfar_m=6.0)


# --- the bare table --------------------------------------------------------------------


@pytest.fixture(scope="module")
def table_frame(renderer):
    renderer.set_scene(make_scene())
    return renderer.render(camera(CAM_TABLE))


def test_frame_types(table_frame):
    f = table_frame
    assert f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8
    assert f.depth_m.shape == (H, W) and f.depth_m.dtype == np.float32
    assert f.instance_ids.shape == (H, W) and f.instance_ids.dtype == np.uint16


def test_table_depth_matches_ray_casting(table_frame):
    depth = table_frame.depth_m.astype(np.float64)
    c, d = pixel_rays(K, CAM_TABLE, W, H)
    # Top surface: plane z = 0 inside the table rectangle (1 mm away from its edges).
    t_top = -c[2] / d[..., 2]
    p = c + t_top[..., None] * d
    sx, sy, _ = TABLE
    on_top = (t_top > 0) & (np.abs(p[..., 0]) < sx / 2 - 1e-3) & (np.abs(p[..., 1]) < sy / 2 - 1e-3)
    assert on_top.sum() > 0.3 * W * H, "the view must show a good part of the table top"
    err = np.abs(depth - t_top)[on_top]
    assert err.max() < 1e-3, f"depth off by up to {err.max() * 1000:.2f} mm on the table top"
    # Table sides included: depth is the entry point of the ray into the table box.
    t_in = ray_box(c, d, *table_box(-1e-3))
    inside = np.isfinite(t_in)
    t_exact = ray_box(c, d, *table_box(0.0))
    assert np.abs(depth - t_exact)[inside].max() < 1e-3


def test_pixels_missing_the_table_have_no_depth(table_frame):
    depth = table_frame.depth_m
    c, d = pixel_rays(K, CAM_TABLE, W, H)
    miss = ~np.isfinite(ray_box(c, d, *table_box(1e-3)))
    assert miss.sum() > 0.1 * W * H, "the view must show background beyond the table"
    assert (depth[miss] == 0).all(), f"{int((depth[miss] != 0).sum())} background pixels have a depth"
    # Only a thin band along the table's outline may go either way.
    hit = np.isfinite(ray_box(c, d, *table_box(-1e-3)))
    assert (~miss & ~hit).sum() < 0.02 * W * H
    assert (depth[hit] > 0).all()


def test_bare_table_has_no_instances(table_frame):
    assert not table_frame.instance_ids.any()


def test_background_and_table_colours(table_frame):
    rgb = table_frame.rgb.astype(int)
    c, d = pixel_rays(K, CAM_TABLE, W, H)
    from scipy import ndimage

    # The RGB pass is multisampled: keep a pixel away from the table's outline.
    near_table = ndimage.binary_dilation(np.isfinite(ray_box(c, d, *table_box(0.0))), iterations=2)
    miss = ~near_table
    assert miss.sum() > 0.1 * W * H
    bg = np.round(np.array([0.1, 0.2, 0.3]) * 255)
    assert np.abs(rgb[miss] - bg).max() <= 2, "background pixels show the background colour"
    top = rgb[table_frame.depth_m > 0]
    assert np.abs(top - bg).sum(axis=1).min() > 10, "the table is not drawn in the background colour"


def test_viewport_follows_the_camera_size(renderer, table_frame):
    k_small = K.copy()
    k_small[:2] *= 0.5
    renderer.set_scene(make_scene())
    small = renderer.render(camera(CAM_TABLE, k_small, W // 2, H // 2))
    assert small.depth_m.shape == (H // 2, W // 2) and small.rgb.shape == (H // 2, W // 2, 3)
    again = renderer.render(camera(CAM_TABLE))
    np.testing.assert_array_equal(again.depth_m, table_frame.depth_m)


# --- objects --------------------------------------------------------------------------------


SPHERES = {  # instance id -> (centre, radius, colour)
    1: ((0.05, 0.05, 0.04), 0.04, (0.9, 0.1, 0.1, 1.0)),
    2: ((-0.15, 0.1, 0.03), 0.03, (0.1, 0.9, 0.1, 1.0)),
    7: ((0.12, -0.12, 0.025), 0.025, (0.1, 0.1, 0.9, 1.0)),
}
CAM_OBJ = look_at([0.45, -0.55, 0.5], [0.0, 0.0, 0.03], roll_deg=-15.0)


def sphere_objects(catalog, spheres):
    asset = next(a for a in catalog.assets if a.primitive_kind == "sphere")
    out = []
    for iid, (centre, r, rgba) in spheres.items():
        t = np.eye(4)
        t[:3, 3] = centre
        out.append(ObjectSpec(iid, asset, t, Primitive("sphere", (r,)), rgba))
    return out


def mesh_objects(catalog, first_id: int):
    """A few of the built-in mesh assets at fixed poses (no physics needed)."""
    out = []
    spots = [(-0.05, -0.12, 0.03), (0.2, 0.05, 0.04), (-0.2, -0.05, 0.03)]
    for k, (asset, xyz) in enumerate(zip([a for a in catalog.assets if a.mesh_path][:3], spots)):
        t = np.eye(4)
        a = 0.7 * (k + 1)
        t[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
        t[:3, 3] = xyz
        out.append(ObjectSpec(first_id + k, asset, t))
    return out


@pytest.fixture(scope="module")
def sphere_frame(renderer, catalog):
    light = LightSpec("directional", look_at([0.3, -0.4, 2], [0, 0, 0]) @ np.diag([1.0, -1.0, -1.0, 1.0]),
                      (1.0, 1.0, 1.0), 3.0)
    scene = make_scene(sphere_objects(catalog, SPHERES), lights=[light])
    renderer.set_scene(scene)
    return scene, renderer.render(camera(CAM_OBJ))


def test_sphere_masks_and_depth_match_ray_casting(sphere_frame):
    scene, f = sphere_frame
    c, d = pixel_rays(K, CAM_OBJ, W, H)
    for iid, (centre, r, _) in SPHERES.items():
        others = [ray_sphere(c, d, oc, orr * 1.01) for j, (oc, orr, _) in SPHERES.items() if j != iid]
        nearest_other = np.minimum.reduce(others)
        t_core = ray_sphere(c, d, centre, 0.97 * r)
        core = np.isfinite(t_core) & (t_core < nearest_other)  # surely this sphere, unoccluded
        outside = ~np.isfinite(ray_sphere(c, d, centre, 1.01 * r))
        assert core.sum() > 30, f"sphere {iid} too small in the view"
        assert (f.instance_ids[core] == iid).all(), f"sphere {iid}: pixels inside its silhouette have other ids"
        assert not (f.instance_ids[outside] == iid).any(), f"sphere {iid}: id outside its silhouette"
        t = ray_sphere(c, d, centre, r)
        centre_part = np.isfinite(ray_sphere(c, d, centre, 0.8 * r)) & core
        err = np.abs(f.depth_m.astype(float) - t)[centre_part]
        assert err.max() < 1e-3, f"sphere {iid}: depth off by {err.max() * 1000:.2f} mm"


def test_projected_centre_lies_in_the_mask(sphere_frame):
    scene, f = sphere_frame
    from dropsynth.annotate import annotate_frame

    anns = {a.instance_id: a for a in annotate_frame(f.instance_ids, scene, camera(CAM_OBJ))}
    assert set(anns) == set(SPHERES)
    for iid, a in anns.items():
        # The object's pose in the camera frame, projected with K (OpenCV).
        p = a.cam_T_obj[:3, 3]
        assert p[2] > 0
        u, v = (K @ p)[:2] / p[2]
        np.testing.assert_allclose((u, v), project(K, CAM_OBJ, SPHERES[iid][0]), atol=1e-9)
        col, row = int(round(u)), int(round(v))
        assert f.instance_ids[row, col] == iid, f"sphere {iid}: centre ({u:.1f}, {v:.1f}) not in its mask"
        x, y, w, h = a.bbox
        # A sphere's silhouette is (nearly) symmetric about its projected centre.
        assert abs((x + (w - 1) / 2) - u) < 1.5 and abs((y + (h - 1) / 2) - v) < 1.5


def test_rgb_matches_ids(sphere_frame):
    _, f = sphere_frame
    rgb = f.rgb.astype(int)
    for iid, channel in ((1, 0), (2, 1), (7, 2)):
        px = rgb[f.instance_ids == iid]
        dominant = np.argmax(px, axis=1)
        assert (dominant == channel).mean() > 0.9, f"sphere {iid} is not drawn in its colour"


def test_ids_depth_consistency_with_meshes(renderer, catalog):
    objs = sphere_objects(catalog, SPHERES) + mesh_objects(catalog, 20)
    scene = make_scene(objs)
    renderer.set_scene(scene)
    f = renderer.render(camera(CAM_OBJ))
    ids = set(np.unique(f.instance_ids).tolist())
    assert ids <= {0} | {o.instance_id for o in objs}
    assert ids >= {1, 2, 7, 20, 21, 22}, f"every object in view shows up, got {sorted(ids)}"
    assert (f.depth_m[f.instance_ids > 0] > 0).all()
    # Objects are in front of the table: where an object is drawn it is nearer
    # than the bare table would be there.
    renderer.set_scene(make_scene())
    bare = renderer.render(camera(CAM_OBJ))
    obj = f.instance_ids > 0
    covered = obj & (bare.depth_m > 0)
    assert (f.depth_m[covered] <= bare.depth_m[covered] + 1e-6).all()
    assert (f.depth_m[~obj] == bare.depth_m[~obj]).all()


def test_removed_objects_are_not_drawn(renderer, catalog):
    objs = sphere_objects(catalog, SPHERES)
    poses = {o.instance_id: o.world_T_obj for o in objs if o.instance_id != 2}
    renderer.set_scene(make_scene(objs, poses))
    f = renderer.render(camera(CAM_OBJ))
    assert set(np.unique(f.instance_ids).tolist()) == {0, 1, 7}


# --- instance ids above 255 -------------------------------------------------------------------


def test_render_instance_ids_above_255(renderer, catalog):
    spheres = {300: SPHERES[1], 1000: SPHERES[2], 65535: SPHERES[7]}
    scene = make_scene(sphere_objects(catalog, spheres))
    renderer.set_scene(scene)
    f = renderer.render(camera(CAM_OBJ))
    assert set(np.unique(f.instance_ids).tolist()) == {0, 300, 1000, 65535}
    for iid, (centre, _, _) in spheres.items():
        u, v = project(K, CAM_OBJ, centre)
        assert f.instance_ids[int(round(v)), int(round(u))] == iid
    # Same silhouettes as with small ids: only the numbers change.
    renderer.set_scene(make_scene(sphere_objects(catalog, SPHERES)))
    small = renderer.render(camera(CAM_OBJ))
    for big, little in ((300, 1), (1000, 2), (65535, 7)):
        np.testing.assert_array_equal(f.instance_ids == big, small.instance_ids == little)


def test_too_many_instances_is_an_error(renderer, catalog):
    scene = make_scene(sphere_objects(catalog, {65536: SPHERES[1]}))
    with pytest.raises(RenderBackendError):
        renderer.set_scene(scene)


def test_rendering_is_repeatable(renderer, catalog):
    renderer.set_scene(make_scene(sphere_objects(catalog, SPHERES) + mesh_objects(catalog, 20)))
    a = renderer.render(camera(CAM_OBJ))
    b = renderer.render(camera(CAM_OBJ))
    np.testing.assert_array_equal(a.instance_ids, b.instance_ids)
    np.testing.assert_array_equal(a.depth_m, b.depth_m)
    np.testing.assert_array_equal(a.rgb, b.rgb)
