"""The bin builder: dense piles that stay inside the walls."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth import config
from dropsynth.assets.catalog import load_catalog
from dropsynth.assets.mesh import prepare, primitive_mesh
from dropsynth.scenes import builders
from dropsynth.scenes.physics import PhysicsWorld

pytestmark = pytest.mark.physics  # real PyBullet simulations (no GL)

TOL_M = 0.003


@pytest.fixture(scope="module")
def cfg():
    return config.load(None, {"scene": {"builder": "bin", "num_objects": [14, 18], "spawn_height_m": [0.05, 0.4]},
                              "views_per_scene": 1})


def _vertices(obj, pose):
    m = primitive_mesh(obj.primitive) if obj.primitive is not None else prepare(obj.asset).visual
    return np.asarray(m.vertices) @ pose[:3, :3].T + pose[:3, 3]


def test_objects_settle_inside_the_walls(cfg):
    catalog = load_catalog(installed=False)
    build = builders.get("bin")
    ix, iy = cfg.scene.bin_inner_m
    wall = cfg.scene.bin_wall_thickness_m  # an object may lean on the rim, never hang outside
    with PhysicsWorld() as world:
        for k in range(3):
            spec = build(cfg, catalog, 5, k)
            assert len(spec.fixtures) == 4
            s = world.settle(spec, cfg.physics)
            assert s.at_rest
            assert len(s.poses) >= 8, "most of the pile stays in the bin"
            for obj in s.objects():
                v = _vertices(obj, s.poses[obj.instance_id])
                assert np.abs(v[:, 0]).max() <= ix / 2 + wall and np.abs(v[:, 1]).max() <= iy / 2 + wall, obj.asset.id
                assert abs(s.poses[obj.instance_id][0, 3]) <= ix / 2 and abs(s.poses[obj.instance_id][1, 3]) <= iy / 2
                assert v[:, 2].min() >= -TOL_M
            deepest = min((c[8] for c in world.pb.getContactPoints(physicsClientId=world.cid)), default=0.0)
            assert deepest >= -0.002 - 1e-9


def test_bin_that_does_not_fit_on_the_table_is_a_config_error():
    from dropsynth.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        config.load(None, {"scene": {"builder": "bin", "bin_inner_m": [2.0, 0.3]}})
    assert "scene.bin_inner_m" in str(e.value)
