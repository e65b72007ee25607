"""PyBullet settling: objects come to rest on the table, without sinking into
it or into each other, the same way every time, and what falls off is removed."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth import config
from dropsynth.assets.catalog import load_catalog
from dropsynth.assets.mesh import prepare, primitive_mesh
from dropsynth.scenes import builders
from dropsynth.scenes.physics import PhysicsWorld, matrix_to_quat
from dropsynth.scenes.samplers import pose, quat_to_matrix, random_rotation
from dropsynth.types import ObjectSpec, Primitive, SceneSpec, SettledScene

pytestmark = pytest.mark.physics  # real PyBullet simulations (no GL)

SEED = 11
SCENES = (0, 1, 2)
TOL_M = 0.002  # 2 mm


@pytest.fixture(scope="module")
def cfg():
    return config.load(None, {"scene": {"num_objects": [12, 15]}, "views_per_scene": 1})


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def specs(cfg, catalog):
    build = builders.get("tabletop")
    return {k: build(cfg, catalog, SEED, k) for k in SCENES}


class Settled:
    """A settled scene together with the state of the world right after settling."""

    def __init__(self, settled: SettledScene, bodies: dict[int, int], velocities: dict, contacts: list):
        self.settled = settled
        self.bodies = bodies  # instance id -> pybullet body id, objects still in the world
        self.velocities = velocities  # instance id -> (linear (3,), angular (3,))
        self.contacts = contacts  # (body a, body b, signed distance m)


def world_bodies(world: PhysicsWorld, settled: SettledScene) -> dict[int, int]:
    """Instance id -> body for the objects left in the world, checked against
    pybullet's own list of bodies."""
    pb, cid = world.pb, world.cid
    in_world = {pb.getBodyUniqueId(i, physicsClientId=cid) for i in range(pb.getNumBodies(physicsClientId=cid))}
    assert set(world.bodies.values()) | {world.table} | set(world.fixture_bodies) == in_world
    return dict(world.bodies)


def settle_and_inspect(world: PhysicsWorld, spec: SceneSpec, cfg) -> Settled:
    s = world.settle(spec, cfg.physics)
    pb, cid = world.pb, world.cid
    bodies = world_bodies(world, s)
    vel = {iid: tuple(np.asarray(v) for v in pb.getBaseVelocity(b, physicsClientId=cid))
           for iid, b in bodies.items()}
    contacts = [(c[1], c[2], c[8]) for c in pb.getContactPoints(physicsClientId=cid)]
    return Settled(s, bodies, vel, contacts)


@pytest.fixture(scope="module")
def settled(specs, cfg):
    """Scenes SCENES settled one after another in one world (as a worker does)."""
    with PhysicsWorld() as world:
        return {k: settle_and_inspect(world, specs[k], cfg) for k in SCENES}


def object_vertices(obj: ObjectSpec) -> np.ndarray:
    """(N, 3) vertices of the object's render mesh in its own (centre-of-mass) frame."""
    if obj.primitive is not None:
        return np.asarray(primitive_mesh(obj.primitive).vertices)
    return np.asarray(prepare(obj.asset).visual.vertices)


def test_builder_spawns_a_busy_scene(specs):
    for k, spec in specs.items():
        assert 12 <= len(spec.objects) + spec.unplaced <= 15
        assert len(spec.objects) >= 10
        assert [o.instance_id for o in spec.objects] == list(range(1, len(spec.objects) + 1))
        assert all(o.world_T_obj[2, 3] > 0 for o in spec.objects), "spawned above the table"


def test_scenes_come_to_rest(settled, cfg):
    for k, s in settled.items():
        ss = s.settled
        assert ss.at_rest, f"scene {k} still moving after {ss.steps} steps"
        assert 0 < ss.steps < cfg.physics.max_steps
        assert set(ss.poses) | set(ss.removed) == {o.instance_id for o in ss.spec.objects}
        assert not set(ss.poses) & set(ss.removed)
        assert ss.poses, "something stays on the table"
        assert set(s.bodies) == set(ss.poses), "every remaining object is a body in the world"


def test_remaining_objects_do_not_move(settled, cfg):
    lin_tol, ang_tol = cfg.physics.lin_vel_tol_m_s, cfg.physics.ang_vel_tol_rad_s
    for k, s in settled.items():
        for iid, (v, w) in s.velocities.items():
            assert np.linalg.norm(v) <= lin_tol, (k, iid, v)
            assert np.linalg.norm(w) <= ang_tol, (k, iid, w)


def test_objects_rest_on_the_table_not_in_it(settled):
    for k, s in settled.items():
        ss = s.settled
        hx, hy = ss.spec.table_size_m[0] / 2, ss.spec.table_size_m[1] / 2
        for obj in ss.objects():
            t = ss.poses[obj.instance_id]
            assert t.shape == (4, 4)
            np.testing.assert_allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-9)
            assert abs(t[0, 3]) <= hx and abs(t[1, 3]) <= hy, (k, obj.instance_id, t[:3, 3])
            verts = object_vertices(obj) @ t[:3, :3].T + t[:3, 3]
            lowest = verts[:, 2].min()
            assert lowest >= -TOL_M, f"scene {k} object {obj.instance_id} ({obj.asset.id}) sinks " \
                                     f"{-lowest * 1000:.1f} mm into the table"
            assert lowest < 0.2, f"scene {k} object {obj.instance_id} floats {lowest:.3f} m above the table"
        # Most objects touch the table itself (they are dropped on a flat table).
        touching = 0
        for obj in ss.objects():
            t = ss.poses[obj.instance_id]
            touching += (object_vertices(obj) @ t[:3, :3].T + t[:3, 3])[:, 2].min() < 0.005
        assert touching >= len(ss.poses) // 2, (k, touching, len(ss.poses))


def test_no_deep_contacts(settled):
    for k, s in settled.items():
        assert s.contacts, "settled objects touch the table"
        deepest = min(d for _, _, d in s.contacts)
        assert deepest >= -TOL_M, f"scene {k}: penetration {-deepest * 1000:.2f} mm"
        bodies = set(s.bodies.values())
        for a, b, _ in s.contacts:
            assert a in bodies or b in bodies


def test_settling_is_deterministic(specs, cfg, settled):
    k = SCENES[-1]
    expected = settled[k].settled  # settled after the other scenes in the same world
    with PhysicsWorld() as fresh:
        alone = fresh.settle(specs[k], cfg.physics)
        again = fresh.settle(specs[k], cfg.physics)  # the same world, a second time
    for other in (alone, again):
        assert other.steps == expected.steps
        assert other.removed == expected.removed
        assert set(other.poses) == set(expected.poses)
        for iid in expected.poses:
            np.testing.assert_array_equal(other.poses[iid], expected.poses[iid], err_msg=f"object {iid}")


def test_scene_order_does_not_matter(specs, cfg, settled):
    """Settling scene 0 after scene 2 gives what settling it first gave."""
    with PhysicsWorld() as world:
        world.settle(specs[2], cfg.physics)
        s0 = world.settle(specs[0], cfg.physics)
    ref = settled[0].settled
    assert s0.steps == ref.steps and s0.removed == ref.removed
    for iid in ref.poses:
        np.testing.assert_array_equal(s0.poses[iid], ref.poses[iid])


def _scene(catalog, objects, index=99) -> SceneSpec:
    return SceneSpec(scene_index=index, table_size_m=(1.2, 0.8, 0.04), objects=tuple(objects), cameras=(),
                     lights=(), ambient_rgb=(0.3, 0.3, 0.3), table_rgba=(0.5, 0.5, 0.5, 1.0),
                     background_rgb=(0.0, 0.0, 0.0))


def test_object_off_the_table_is_removed(catalog, cfg):
    sphere = next(a for a in catalog.assets if a.primitive_kind == "sphere")
    box = next(a for a in catalog.assets if a.primitive_kind == "box")
    r = 0.03
    objects = [
        ObjectSpec(1, sphere, pose(np.eye(3), [0.0, 0.0, 0.1]), Primitive("sphere", (r,)), (1, 0, 0, 1)),
        ObjectSpec(2, sphere, pose(np.eye(3), [0.75, 0.0, 0.1]), Primitive("sphere", (r,)), (0, 1, 0, 1)),  # x > 0.6
        ObjectSpec(3, box, pose(np.eye(3), [0.2, -0.5, 0.05]), Primitive("box", (0.05, 0.05, 0.05)), (0, 0, 1, 1)),
        ObjectSpec(4, box, pose(np.eye(3), [-0.3, 0.1, 0.05]), Primitive("box", (0.04, 0.06, 0.02)), (1, 1, 0, 1)),
    ]
    with PhysicsWorld() as world:
        s = world.settle(_scene(catalog, objects), cfg.physics)
        left = world.pb.getNumBodies(physicsClientId=world.cid)
    assert s.removed == (2, 3)
    assert set(s.poses) == {1, 4}
    assert [o.instance_id for o in s.objects()] == [1, 4]
    assert s.at_rest
    assert left == 3, "the table and the two objects on it; the fallen ones were removed from the world"
    # The sphere rests on the table top, centred where it was dropped.
    np.testing.assert_allclose(s.poses[1][:3, 3], [0.0, 0.0, r], atol=TOL_M)
    np.testing.assert_allclose(s.poses[4][2, 3], 0.01, atol=TOL_M)


def test_empty_scene(catalog, cfg):
    with PhysicsWorld() as world:
        s = world.settle(_scene(catalog, []), cfg.physics)
    assert s.poses == {} and s.removed == () and s.at_rest and s.steps == 0


def test_matrix_to_quat_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(200):
        r = random_rotation(rng)
        np.testing.assert_allclose(quat_to_matrix(matrix_to_quat(r)), r, atol=1e-12)
    for r in (np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])):
        np.testing.assert_allclose(quat_to_matrix(matrix_to_quat(r)), r, atol=1e-12)
