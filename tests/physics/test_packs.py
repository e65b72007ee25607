"""Asset packs in physics: concave objects hold things, masses and inertia come
from the meshes, units are honoured, and collision shapes are cached."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dropsynth import config
from dropsynth.assets import mesh as mesh_mod
from dropsynth.assets.catalog import load_catalog
from dropsynth.assets.mesh import object_mass, prepare
from dropsynth.scenes.physics import PhysicsWorld, collision_shape
from dropsynth.scenes.samplers import pose
from dropsynth.types import ObjectSpec, Primitive, SceneSpec

pytestmark = pytest.mark.physics  # real PyBullet simulations (no GL)

EXAMPLE = Path(__file__).resolve().parents[2] / "assets" / "example_pack"


@pytest.fixture(scope="module")
def example():
    cat = load_catalog([EXAMPLE], builtin=False, installed=False)
    return {a.id: a for a in cat.assets}


@pytest.fixture(scope="module")
def sphere_asset():
    cat = load_catalog(installed=False)
    return next(a for a in cat.assets if a.primitive_kind == "sphere")


def _drop_sphere_onto(asset, sphere_asset, radius=0.015):
    """Bowl upright on the table, a small sphere dropped over its centre."""
    prep = prepare(asset)
    z0 = -prep.visual.vertices[:, 2].min() + 0.001
    objs = (ObjectSpec(1, asset, pose(np.eye(3), [0, 0, z0])),
            ObjectSpec(2, sphere_asset, pose(np.eye(3), [0.004, -0.003, 0.16]), primitive=Primitive("sphere", (radius,))))
    spec = SceneSpec(0, (1.2, 0.8, 0.04), objs, (), (), (0.3,) * 3, (0.5, 0.5, 0.5, 1), (0, 0, 0))
    with PhysicsWorld() as world:
        settled = world.settle(spec, config.load(None).physics)
    return prep, z0, settled


def test_concave_bowl_is_decomposed_and_holds_a_sphere(example, sphere_asset):
    bowl = example["cereal_bowl"]
    prep, z0, s = _drop_sphere_onto(bowl, sphere_asset)
    shape = collision_shape(bowl)
    assert shape.method == "vhacd" and shape.parts > 1
    assert s.at_rest and not s.removed
    bowl_pose, ball = s.poses[1], s.poses[2][:3, 3]
    rim_z = bowl_pose[2, 3] + prep.visual.vertices[:, 2].max()
    floor_z = bowl_pose[2, 3] + prep.visual.vertices[:, 2].min()
    # inside: below the rim, above the bowl's bottom, near its axis
    assert floor_z < ball[2] - 0.015 < rim_z - 0.02, (floor_z, ball, rim_z)
    assert np.hypot(*(ball[:2] - bowl_pose[:2, 3])) < 0.03
    # the bowl still stands upright
    assert bowl_pose[2, 2] > 0.99


def test_the_same_bowl_with_its_convex_hull_does_not_hold_the_sphere(example, sphere_asset):
    import dataclasses

    hull_bowl = dataclasses.replace(example["cereal_bowl"], collision_mode="hull")
    prep, _, s = _drop_sphere_onto(hull_bowl, sphere_asset)
    assert collision_shape(hull_bowl).method == "hull"
    rim_z = s.poses[1][2, 3] + prep.visual.vertices[:, 2].max()
    if 2 in s.poses:  # it rolls off the lid of the hull or rests on top of it, never inside
        assert s.poses[2][2, 3] > rim_z


def test_units_bring_meshes_to_metres(example):
    # bracket.stl is modelled in millimetres, nut.ply in centimetres
    assert np.allclose(sorted(prepare(example["l_bracket"]).extents_m), [0.03, 0.04, 0.06], atol=1e-6)
    assert np.isclose(prepare(example["hex_nut"]).extents_m[2], 0.012, atol=1e-6)
    assert np.allclose(prepare(example["soda_can"]).extents_m, [0.066, 0.066, 0.12], atol=1e-3)


def test_mass_from_density_and_volume_and_from_the_urdf(example):
    nut = example["hex_nut"]
    p = prepare(nut)
    # hex prism (apothem 1.4 cm, 1.2 cm high) minus a 0.8 cm radius hole, in steel
    hex_area = 2 * np.sqrt(3) * 0.014 ** 2
    hole = np.pi * 0.008 ** 2 * np.cos(np.pi / 24) * np.sin(np.pi / 24) * 24 / np.pi  # 24-gon area
    assert p.volume_m3 == pytest.approx((hex_area - hole) * 0.012, rel=1e-3)
    assert object_mass(nut, None) == pytest.approx(7800 * p.volume_m3)
    block = example["toy_block"]
    assert block.mass_kg == pytest.approx(0.04) and block.friction == pytest.approx(0.9)
    assert block.color_rgba == pytest.approx((0.2, 0.7, 0.3, 1.0))


def test_centre_of_mass_is_the_object_origin(example):
    for a in example.values():
        p = prepare(a)
        if p.watertight:
            import trimesh

            m = p.visual.copy()
            m.merge_vertices(merge_tex=True, merge_norm=True)
            assert np.allclose(m.center_mass, 0, atol=1e-9), a.id


def test_inertia_comes_from_the_mesh_and_reaches_pybullet(example):
    can = example["soda_can"]
    p = prepare(can)
    # a closed 48-gon cylinder r = 3.3 cm, h = 12 cm: about its axis m r^2 / 2, across m (3 r^2 + h^2) / 12
    r, h = 0.033, 0.12
    expect = sorted([(3 * r ** 2 + h ** 2) / 12, (3 * r ** 2 + h ** 2) / 12, r ** 2 / 2])
    assert np.allclose(sorted(p.inertia_diag), expect, rtol=0.02)
    spec = SceneSpec(0, (1.2, 0.8, 0.04), (ObjectSpec(1, can, pose(np.eye(3), [0, 0, 0.2])),), (), (),
                     (0.3,) * 3, (0.5, 0.5, 0.5, 1), (0, 0, 0))
    with PhysicsWorld() as world:
        world.load(spec, config.load(None).physics)
        info = world.pb.getDynamicsInfo(world.bodies[1], -1, physicsClientId=world.cid)
        assert info[0] == pytest.approx(0.35)
        assert np.allclose(sorted(info[2]), sorted(0.35 * p.inertia_diag), rtol=1e-6)
        # the pose read back is the object frame, not PyBullet's inertial frame
        assert np.allclose(world.poses(world.bodies)[1], spec.objects[0].world_T_obj, atol=1e-9)


def test_collision_shapes_are_cached_by_content(example, monkeypatch, tmp_path):
    import dataclasses

    from dropsynth.scenes import physics

    monkeypatch.setenv("DROPSYNTH_CACHE", str(tmp_path / "cache"))
    nut = dataclasses.replace(example["hex_nut"], restitution=0.2)  # a new object for the memory caches
    calls = []
    real = physics.convex_decomposition
    monkeypatch.setattr(physics, "convex_decomposition", lambda *a, **k: (calls.append(a), real(*a, **k)))
    first = physics.collision_shape(nut)
    assert len(calls) == 1 and first.method == "vhacd"
    mesh_mod.prepare.cache_clear()
    mesh_mod.collision_shape.cache_clear()
    second = physics.collision_shape(nut)
    assert len(calls) == 1, "the second run reuses the cached decomposition"
    assert second.obj_path == first.obj_path and second.parts == first.parts
    assert Path(first.obj_path).read_bytes() == Path(second.obj_path).read_bytes()
    # a different scale is different content: decomposed again
    physics.collision_shape(dataclasses.replace(nut, scale=(0.02, 0.02, 0.02)))
    assert len(calls) == 2



def test_shipped_builtin_decompositions_are_what_dropsynth_computes(tmp_path, monkeypatch):
    """The built-in pack's V-HACD results ship as package data (a first run
    starts without decomposing); they must match the current cache keys and
    be byte-identical to a fresh decomposition, or be regenerated with
    scripts/make_builtin_collision.py."""
    import json

    from dropsynth.assets import mesh
    from dropsynth.assets.catalog import load_catalog

    shipped_dir = mesh.SHIPPED_COLLISION
    shipped = sorted(shipped_dir.glob("*.json"))
    assert {json.loads(f.read_text())["asset"] for f in shipped} == {"builtin/teddy", "builtin/bunny"}
    teddy = next(a for a in load_catalog([], builtin=True, installed=False).assets if a.id == "teddy")
    key = mesh.geometry_key(teddy)
    assert (shipped_dir / f"{key}.obj").is_file(), "stale: run scripts/make_builtin_collision.py"
    monkeypatch.setenv("DROPSYNTH_CACHE", str(tmp_path))
    monkeypatch.setattr(mesh, "SHIPPED_COLLISION", tmp_path / "nothing")
    from dropsynth.scenes.physics import convex_decomposition

    fresh = mesh.collision_shape.__wrapped__(teddy, convex_decomposition)  # not the per-process cache
    assert fresh.method == "vhacd"
    assert open(fresh.obj_path, "rb").read() == (shipped_dir / f"{key}.obj").read_bytes()
