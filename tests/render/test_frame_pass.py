"""The one-pass renderer: anti-aliasing that leaves ids and depth exact,
textured meshes kept across scenes, and material factors that show."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth.types import LightSpec, ObjectSpec

from .test_render import CAM_OBJ, SPHERES, H, W, camera, catalog, look_at, make_scene, sphere_objects  # noqa: F401

pytestmark = pytest.mark.render


def _light():
    return LightSpec("directional", look_at([0.3, -0.4, 2], [0, 0, 0]) @ np.diag([1.0, -1.0, -1.0, 1.0]),
                     (1.0, 1.0, 1.0), 3.0)


def _renderer(msaa=0):
    from dropsynth.render.pyrender_backend import PyrenderRenderer

    return PyrenderRenderer(W, H, msaa=msaa)


def test_msaa_smooths_rgb_edges_and_keeps_ids_and_depth_exact(catalog):
    scene = make_scene(sphere_objects(catalog, SPHERES), lights=[_light()])
    frames = {}
    for msaa in (0, 4):
        r = _renderer(msaa)
        try:
            r.set_scene(scene)
            frames[msaa] = r.render(camera(CAM_OBJ))
        finally:
            r.close()
    a, b = frames[0], frames[4]
    np.testing.assert_array_equal(a.instance_ids, b.instance_ids)
    np.testing.assert_array_equal(a.depth_m, b.depth_m)
    # Inside the spheres (smooth, away from their outline) nothing changes;
    # along their outlines the colours blend both sides.
    from scipy import ndimage

    ids = a.instance_ids
    diff = np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max(axis=-1) > 2
    inside = np.zeros_like(ids, bool)
    outline = np.zeros_like(ids, bool)
    for iid in SPHERES:
        m = ids == iid
        inside |= ndimage.binary_erosion(m, iterations=2)
        outline |= m & ~ndimage.binary_erosion(m)
    assert inside.sum() > 80 and outline.sum() > 50
    assert not (diff & inside).any(), "anti-aliasing changed pixels inside objects"
    assert (diff & outline).sum() > 0.3 * outline.sum(), "no blending along the outlines"


def test_textured_mesh_renders_the_same_after_a_scene_without_it(catalog):
    """Meshes of file assets (and their textures) stay uploaded between scenes;
    a scene without them must not leave them broken, and per-instance meshes
    of past scenes must be freed (memory stays flat)."""
    duck = next(a for a in catalog.assets if a.id == "duck")
    t = np.eye(4)
    t[:3, 3] = (0.0, 0.0, 0.03)
    with_duck = make_scene([ObjectSpec(1, duck, t)], lights=[_light()])
    close = camera(look_at([0.12, -0.15, 0.15], [0.0, 0.0, 0.03]))
    r = _renderer()
    try:
        r.set_scene(with_duck)
        first = r.render(close)
        assert (first.instance_ids == 1).sum() > 1000
        duck_px = first.rgb[first.instance_ids == 1]
        assert len({tuple(p) for p in duck_px}) > 50
        for k in range(5):  # spheres only: new per-instance meshes every scene
            r.set_scene(make_scene(sphere_objects(catalog, SPHERES), lights=[_light()]))
            r.render(camera(CAM_OBJ))
        live = len(r._pass._meshes)
        assert live <= len(SPHERES) + 1 + len(r._mesh_cache), "meshes of past scenes are still uploaded"
        r.set_scene(with_duck)
        again = r.render(close)
    finally:
        r.close()
    np.testing.assert_array_equal(first.instance_ids, again.instance_ids)
    np.testing.assert_array_equal(first.rgb, again.rgb)


def _two_sphere_image(metallic, roughness, base=(0.8, 0.2, 0.2, 1.0)):
    """A pyrender scene built here, rendered by the frame pass: a sphere
    with the given material factors under one light, head on."""
    import pyrender
    import trimesh

    from dropsynth.render.pyrender_backend import CV_TO_GL

    r = _renderer()
    try:
        scene = pyrender.Scene(bg_color=[0, 0, 0, 1.0], ambient_light=(0.05, 0.05, 0.05))
        mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=base, metallicFactor=metallic,
                                                 roughnessFactor=roughness)
        node = scene.add(pyrender.Mesh.from_trimesh(trimesh.creation.icosphere(4, 0.05), material=mat,
                                                    smooth=True))
        eye = [0.0, -0.4, 0.0]
        light = scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0),
                          pose=look_at(eye, [0, 0, 0]) @ CV_TO_GL)
        cam = pyrender.IntrinsicsCamera(fx=150, fy=150, cx=W / 2, cy=H / 2, znear=0.05, zfar=6.0)
        scene.add(cam, pose=look_at(eye, [0, 0, 0]) @ CV_TO_GL)
        r._r._platform.make_current()
        r._r._renderer.viewport_width, r._r._renderer.viewport_height = W, H
        r._pass.update_context(scene)
        rgb, _, ids = r._pass.render(scene, {node: 1}, [node], [light])
    finally:
        r.close()
    return rgb.astype(int), ids


def test_material_factors_show_in_the_image():
    red, ids = _two_sphere_image(0.0, 0.9)
    inside = ids == 1
    assert inside.sum() > 1000
    r_mean = red[inside].mean(axis=0)
    green, _ = _two_sphere_image(0.0, 0.9, base=(0.2, 0.8, 0.2, 1.0))
    g_mean = green[inside].mean(axis=0)
    assert r_mean[0] > r_mean[1] + 50 and g_mean[1] > g_mean[0] + 50, "baseColorFactor not honoured"
    smooth, _ = _two_sphere_image(0.0, 0.1)
    # A smooth surface concentrates the light's reflection into a bright highlight.
    assert smooth[inside].sum(axis=1).max() > red[inside].sum(axis=1).max() + 60
    metal, _ = _two_sphere_image(1.0, 0.3)
    plastic, _ = _two_sphere_image(0.0, 0.3)
    # A metal has no diffuse light: away from its highlight it is much darker.
    assert np.median(metal[inside].sum(axis=1)) < 0.6 * np.median(plastic[inside].sum(axis=1))


def _same_frame(a, b):
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth_m, b.depth_m)
    np.testing.assert_array_equal(a.instance_ids, b.instance_ids)


def test_what_is_kept_between_views_leaves_every_view_as_a_fresh_renderer_draws_it(catalog):
    """Poses and light uniforms are kept per scene and the per-draw GL calls
    go straight to the driver: a view drawn after other views, or after an
    object moved in the pyrender scene, is the frame a fresh renderer makes."""
    objs = sphere_objects(catalog, SPHERES)
    scene = make_scene(objs, lights=[_light()])
    other = camera(look_at([-0.5, 0.4, 0.6], [0.0, 0.0, 0.03]))
    r = _renderer()
    try:
        r.set_scene(scene)
        first = r.render(camera(CAM_OBJ))
        r.render(other)
        _same_frame(r.render(camera(CAM_OBJ)), first)
        moved = objs[0].world_T_obj.copy()
        moved[:3, 3] += (-0.1, 0.05, 0.0)
        r._scene.set_pose(r._nodes[objs[0].instance_id], moved)
        after = r.render(camera(CAM_OBJ))
    finally:
        r.close()
    fresh = _renderer()
    try:
        fresh.set_scene(make_scene(objs, poses={**scene.poses, objs[0].instance_id: moved}, lights=[_light()]))
        _same_frame(after, fresh.render(camera(CAM_OBJ)))
    finally:
        fresh.close()
    assert ((first.instance_ids == objs[0].instance_id) != (after.instance_ids == objs[0].instance_id)).sum() > 100


def test_kept_poses_and_lights_follow_changes_made_in_place(catalog):
    """A pose array changed in place and set again, and a light whose
    intensity changes between two views: both reach the next view."""
    objs = sphere_objects(catalog, SPHERES)
    scene = make_scene(objs, lights=[_light()])
    r = _renderer()
    try:
        r.set_scene(scene)
        node = r._nodes[objs[0].instance_id]
        pose = objs[0].world_T_obj.copy()
        r._scene.set_pose(node, pose)
        before = r.render(camera(CAM_OBJ))
        pose[:3, 3] += (-0.1, 0.05, 0.0)  # the same array, changed in place
        r._scene.set_pose(node, pose)
        moved = r.render(camera(CAM_OBJ))
        r._lights[0].light.intensity *= 0.25
        dimmer = r.render(camera(CAM_OBJ))
    finally:
        r.close()
    mask = objs[0].instance_id
    assert ((before.instance_ids == mask) != (moved.instance_ids == mask)).sum() > 100
    np.testing.assert_array_equal(dimmer.instance_ids, moved.instance_ids)
    assert dimmer.rgb.astype(int).sum() < moved.rgb.astype(int).sum() * 0.95


def test_raw_gl_calls_leave_errors_to_the_next_checked_call(catalog):
    """An invalid call made through the unchecked entry points is not lost:
    PyOpenGL's next call raises it."""
    from OpenGL import GL
    from OpenGL.error import GLError

    from dropsynth.render.gl import raw_gl

    r = _renderer()
    try:
        r._r._platform.make_current()
        raw_gl().glUseProgram(987654)  # no such program: GL_INVALID_VALUE
        with pytest.raises(GLError):
            GL.glGetIntegerv(GL.GL_CURRENT_PROGRAM)
    finally:
        r.close()
