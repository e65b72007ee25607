"""The stack and clutter builders: scenes that settle, without
interpenetration, with stacked objects resting on objects and clutter staying
in its workspace."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth import config
from dropsynth.assets.catalog import load_catalog
from dropsynth.assets.mesh import prepare, primitive_mesh
from dropsynth.scenes import builders
from dropsynth.scenes.physics import PhysicsWorld

pytestmark = pytest.mark.physics  # real PyBullet simulations (no GL)

PENETRATION_M = 0.002


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(installed=False)


def _vertices(obj, pose):
    m = primitive_mesh(obj.primitive) if obj.primitive is not None else prepare(obj.asset).visual
    return np.asarray(m.vertices) @ pose[:3, :3].T + pose[:3, 3]


def _settle(world, cfg, catalog, scene):
    spec = builders.get(cfg.scene.builder)(cfg, catalog, 9, scene)
    s = world.settle(spec, cfg.physics)
    assert s.at_rest
    contacts = world.pb.getContactPoints(physicsClientId=world.cid)
    assert min((c[8] for c in contacts), default=0.0) >= -PENETRATION_M - 1e-9, "objects sink into each other"
    return spec, s, contacts


def test_stacks_settle_with_objects_resting_on_objects(catalog):
    # Stackable goods (and mugs, which only go on top); balls and toys roll off any stack.
    cfg = config.load(None, {"scene": {"builder": "stack", "num_objects": [10, 12],
                                       "categories": ["box", "jenga_block", "lego_brick", "cylinder", "mug"]},
                             "views_per_scene": 1})
    on_objects = 0
    with PhysicsWorld() as world:
        for k in range(3):
            spec, s, contacts = _settle(world, cfg, catalog.select(cfg.scene.categories), k)
            assert len(s.poses) >= 8
            objects = set(world.bodies.values())
            pairs = [(c[1], c[2]) for c in contacts]
            touching_objects = {a for a, b in pairs if a in objects and b in objects} | \
                               {b for a, b in pairs if a in objects and b in objects}
            touching_table = {a for a, b in pairs if b == world.table} | {b for a, b in pairs if a == world.table}
            for obj in s.objects():
                body = world.bodies[obj.instance_id]
                if body in touching_objects and body not in touching_table:
                    # Resting on other objects only: its lowest point is above the table.
                    assert _vertices(obj, s.poses[obj.instance_id])[:, 2].min() > 0.001
                    on_objects += 1
            for obj in s.objects():
                assert _vertices(obj, s.poses[obj.instance_id])[:, 2].min() >= -PENETRATION_M
    assert on_objects >= 6, "stacks stay stacked: many objects rest on others, not on the table"


@pytest.mark.parametrize("surface", ["floor", "shelf"])
def test_clutter_settles_inside_its_workspace(catalog, surface):
    cfg = config.load(None, {"scene": {"builder": "clutter", "clutter_surface": surface, "num_objects": [20, 25]},
                             "views_per_scene": 1})
    with PhysicsWorld() as world:
        for k in range(2):
            spec, s, _ = _settle(world, cfg, catalog, k)
            hx, hy = [v / 2 for v in (spec.workspace_m or spec.table_size_m[:2])]
            assert len(s.poses) >= 15
            for obj in s.objects():
                x, y, z = s.poses[obj.instance_id][:3, 3]
                assert abs(x) <= hx and abs(y) <= hy and z > 0
            if surface == "shelf":
                back = spec.fixtures[0]
                wall_front = back.world_T[1, 3] - back.size_m[1] / 2
                for obj in s.objects():
                    assert _vertices(obj, s.poses[obj.instance_id])[:, 1].max() <= wall_front + PENETRATION_M
            else:
                assert spec.table_size_m[:2] == tuple(cfg.scene.clutter_floor_m)
