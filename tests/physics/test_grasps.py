"""Grasp labels tied to physics: trials, replays, scene collisions, the cache."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth import config as config_mod
from dropsynth import grasp_library as gl
from dropsynth.assets.catalog import load_catalog
from dropsynth.assets.mesh import obj_parts, prepare
from dropsynth.grasps import Gripper, grasp_centres, sample_antipodal
from dropsynth.scenes import builders
from dropsynth.scenes.grasp_sim import GraspTrials
from dropsynth.scenes.physics import PhysicsWorld, collision_shape
from dropsynth.types import ObjectSpec

pytestmark = pytest.mark.physics  # real PyBullet simulations (no GL)

SMALL = gl.LibraryParams(candidates=12, robust_trials=1)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog([], builtin=True, installed=False)


def _asset(catalog, name):
    return next(a for a in catalog.assets if a.id == name)


@pytest.fixture(scope="module")
def duck_library(catalog):
    lib, built = gl.library_for(_asset(catalog, "duck"), Gripper(), SMALL)
    return lib


def test_candidates_are_antipodal_within_the_friction_cone(catalog):
    a = _asset(catalog, "jenga")
    m = prepare(a).visual
    g = Gripper()
    c = sample_antipodal(m.vertices, m.faces, 50, g, a.friction, np.random.default_rng(0))
    assert len(c["width_m"]) == 50
    T, contacts = c["obj_T_grasp"], c["contacts"]
    # The closing axis runs through both contacts, the grasp centre is their midpoint,
    # and the span fits the jaws.
    axis = contacts[:, 1] - contacts[:, 0]
    np.testing.assert_allclose(np.linalg.norm(axis, axis=1), c["width_m"], atol=1e-9)
    np.testing.assert_allclose(axis / c["width_m"][:, None], T[:, :3, 0], atol=1e-9)
    np.testing.assert_allclose(grasp_centres(T, g), contacts.mean(axis=1), atol=1e-9)
    assert (c["width_m"] <= g.max_opening_m).all()
    # Rotations are proper.
    np.testing.assert_allclose(np.linalg.det(T[:, :3, :3]), 1.0, atol=1e-9)
    # A block 75 x 25 x 15 mm offers spans of 15 or 25 mm between opposite faces (not 75: too wide? no, it
    # fits the 80 mm jaws too); every span is one of the three extents, within the cone's slant.
    cone = np.arctan(a.friction)
    assert ((c["width_m"] >= 0.015 - 1e-6) & (c["width_m"] <= 0.075 / np.cos(cone) + 1e-6)).all()


def test_successful_grasp_holds_when_replayed_in_a_new_simulation(catalog, duck_library):
    lib = duck_library
    assert len(lib.success) == SMALL.candidates
    held = np.flatnonzero(lib.success)
    assert len(held) >= 3, "the duck should be graspable"
    a = _asset(catalog, "duck")
    # Elsewhere in the world and turned about the vertical: the gripper hangs
    # at world_T_gripper and the object is placed at world_T_gripper @ inv(obj_T_grasp).
    yaw = np.deg2rad(40)
    G = np.array([[np.cos(yaw), np.sin(yaw), 0, 0.3], [np.sin(yaw), -np.cos(yaw), 0, -0.2], [0, 0, -1, 0.7],
                  [0, 0, 0, 1]])
    with GraspTrials(Gripper()) as fresh:
        for i in held[:3]:
            r = fresh.trial(ObjectSpec(1, a, np.eye(4)), lib.obj_T_grasp[i], world_T_gripper=G)
            assert r.success and r.reason == "held"
            # The object sits between the jaws where the library says: contacts at +-width/2 on the closing axis.
            c = np.linalg.inv(lib.obj_T_grasp[i]) @ np.c_[lib.contacts[i], np.ones(2)].T
            np.testing.assert_allclose(np.abs(c[0]), lib.width_m[i] / 2, atol=1e-9)
            np.testing.assert_allclose(c[2], Gripper().approach_offset_m, atol=1e-9)


def test_grasp_that_misses_the_object_is_labelled_failed(catalog, duck_library):
    lib = duck_library
    i = int(np.flatnonzero(lib.success)[0])
    bad = lib.obj_T_grasp[i].copy()
    # Slide the gripper 15 cm along its own y axis: the jaws close on air.
    bad[:3, 3] += bad[:3, 1] * 0.15
    with GraspTrials(Gripper()) as t:
        r = t.trial(ObjectSpec(1, _asset(catalog, "duck"), np.eye(4)), bad)
    assert not r.success and r.reason == "missed"


def test_library_cache_is_reused_without_simulation(catalog, duck_library, monkeypatch):
    a = _asset(catalog, "duck")
    path = gl.cache_path(a, Gripper(), SMALL)
    assert path.is_file()

    def boom(*args, **kw):
        raise AssertionError("simulated although the library is cached")

    monkeypatch.setattr(GraspTrials, "trial", boom)
    monkeypatch.setattr(GraspTrials, "open_collisions", boom)
    lib, built = gl.library_for(a, Gripper(), SMALL)
    assert not built
    np.testing.assert_array_equal(lib.obj_T_grasp, duck_library.obj_T_grasp)
    np.testing.assert_array_equal(lib.success, duck_library.success)
    np.testing.assert_array_equal(lib.robust, duck_library.robust)
    # Another gripper is another library.
    assert gl.cache_path(a, Gripper(max_opening_m=0.06), SMALL) != path


def test_gripper_that_cannot_work_is_a_config_error():
    from dropsynth.errors import ConfigError
    from dropsynth.grasps import gripper_from_config

    bad = config_mod.load(None, {"grasps": {"approach_offset_m": 0.03}}).grasps
    with pytest.raises(ConfigError, match="grasps.finger_depth_m"):
        gripper_from_config(bad, "run.yaml")
    tiny = config_mod.load(None, {"grasps": {"max_opening_m": 0.005}}).grasps
    with pytest.raises(ConfigError, match="run.yaml: grasps.max_opening_m"):
        gripper_from_config(tiny, "run.yaml")


def test_object_too_big_for_the_jaws_gives_no_grasps_quickly(catalog):
    from dropsynth.types import Primitive

    ball = _asset(catalog, "sphere")
    big = Primitive("sphere", (0.1,))  # 20 cm across, 8 cm jaws
    lib = gl.build(ball, Gripper(), SMALL, np.random.default_rng(0), primitive=big)
    assert len(lib.success) == 0


def test_library_is_deterministic(catalog, duck_library, tmp_path, monkeypatch):
    monkeypatch.setenv("DROPSYNTH_CACHE", str(tmp_path))
    lib, built = gl.library_for(_asset(catalog, "duck"), Gripper(), SMALL)
    assert built
    np.testing.assert_array_equal(lib.obj_T_grasp, duck_library.obj_T_grasp)
    np.testing.assert_array_equal(lib.success, duck_library.success)
    np.testing.assert_array_equal(lib.robust, duck_library.robust)


# --- collisions with the settled scene ----------------------------------------------------------------------------

def _box_surface_points(half: np.ndarray, centre: np.ndarray, step: float = 0.002) -> np.ndarray:
    """Points on the faces of an axis-aligned box, about ``step`` apart."""
    pts = []
    for ax in range(3):
        u, v = [k for k in range(3) if k != ax]
        gu = np.linspace(-half[u], half[u], max(2, int(2 * half[u] / step) + 1))
        gv = np.linspace(-half[v], half[v], max(2, int(2 * half[v] / step) + 1))
        U, V = np.meshgrid(gu, gv, indexing="ij")
        for s in (-1, 1):
            p = np.zeros((U.size, 3))
            p[:, u], p[:, v], p[:, ax] = U.ravel(), V.ravel(), s * half[ax]
            pts.append(p)
    return np.concatenate(pts) + centre


def _convex_depth(points: np.ndarray, equations: np.ndarray) -> np.ndarray:
    """How deep each point lies inside a convex solid given by scipy hull
    equations (n . x + d <= 0 inside); negative outside."""
    return -(points @ equations[:, :3].T + equations[:, 3]).max(axis=1)


def _solids(settled, world, target):
    """Every solid of the scene except the target, as (world_T, hull
    equations in the solid's frame, bounding-sphere centre and radius in
    that frame)."""
    from scipy.spatial import ConvexHull

    from dropsynth.assets.mesh import primitive_mesh

    out = []

    def add(T, points):
        hull = ConvexHull(points)
        v = hull.points[hull.vertices]
        centre = v.mean(axis=0)
        out.append((T, hull.equations, centre, float(np.linalg.norm(v - centre, axis=1).max())))

    sx, sy, sz = settled.spec.table_size_m
    add(np.eye(4), np.array([[x, y, z] for x in (-sx / 2, sx / 2) for y in (-sy / 2, sy / 2) for z in (-sz, 0.0)]))
    for fx in settled.spec.fixtures:
        h = np.asarray(fx.size_m) / 2
        add(fx.world_T, np.array([[x, y, z] for x in (-h[0], h[0]) for y in (-h[1], h[1]) for z in (-h[2], h[2])]))
    for o in settled.objects():
        if o.instance_id == target:
            continue
        T = settled.poses[o.instance_id]
        if o.primitive is not None:
            add(T, primitive_mesh(o.primitive).vertices)
        else:
            for part in obj_parts(collision_shape(o.asset).obj_path):
                add(T, np.asarray(part.vertices))
    return out


def _max_penetration(world_T_grasp, gripper, solids) -> float:
    """Deepest point of the open gripper's box surfaces inside any solid (m);
    -inf when no point comes within a solid's bounding sphere (then none is
    inside it)."""
    best = -np.inf
    local = np.concatenate([_box_surface_points(half, centre) for half, centre in gripper.boxes(gripper.max_opening_m)])
    pw = local @ world_T_grasp[:3, :3].T + world_T_grasp[:3, 3]
    for T, eq, centre, radius in solids:
        inv = np.linalg.inv(T)
        p = pw @ inv[:3, :3].T + inv[:3, 3]
        near = np.einsum("ij,ij->i", p - centre, p - centre) <= radius * radius
        if near.any():
            best = max(best, float(_convex_depth(p[near], eq).max()))
    return best


def test_colliding_grasps_intersect_the_scene_and_free_ones_do_not(catalog):
    cfg = config_mod.load(None, {"scene": {"num_objects": [10, 10], "objects": ["duck", "box", "cylinder"],
                                           "spawn_area_m": [0.3, 0.2]}})
    cat = catalog.select(None, ["duck", "box", "cylinder"], None)
    g = Gripper()
    gcfg = config_mod.load(None, {"grasps": {"primitive_candidates": 8}}).grasps
    libs = {"builtin/duck": gl.library_for(_asset(catalog, "duck"), g, SMALL)[0]}
    spec = builders.get("tabletop")(cfg, cat, 5, 0)
    with PhysicsWorld() as world, GraspTrials(g) as trials:
        settled = world.settle(spec, cfg.physics)
        labeler = gl.SceneGraspLabeler(world, settled, libs, g, gcfg, 5, trials)
        sg = labeler.grasps(labeler.objs)
    assert len(sg.instance_id) > 0
    colliding = np.flatnonzero(sg.collision_free == 0)
    free = np.flatnonzero(sg.collision_free == 1)
    assert len(colliding) > 0 and len(free) > 0
    cache = {}
    for i in colliding:
        iid = int(sg.instance_id[i])
        if iid not in cache:
            cache[iid] = _solids(settled, world, iid)
        depth = _max_penetration(sg.world_T_grasp[i], g, cache[iid])
        assert depth > 0.0, f"grasp {i} on object {iid} is labelled colliding but touches nothing"
    for i in free:
        iid = int(sg.instance_id[i])
        if iid not in cache:
            cache[iid] = _solids(settled, world, iid)
        depth = _max_penetration(sg.world_T_grasp[i], g, cache[iid])
        assert depth < 0.002, f"grasp {i} on object {iid} is labelled free but sinks {depth * 1000:.1f} mm"
