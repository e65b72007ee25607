"""Collision hulls with thousands of vertices are reduced (they made every
physics step slow) without changing where objects rest."""
from __future__ import annotations

import numpy as np
import pytest

from dropsynth import config
from dropsynth.assets.catalog import load_catalog
from dropsynth.assets.mesh import MAX_HULL_VERTICES, obj_parts, prepare
from dropsynth.scenes.physics import PhysicsWorld, collision_shape
from dropsynth.scenes.samplers import pose
from dropsynth.types import ObjectSpec, SceneSpec

pytestmark = pytest.mark.physics  # real PyBullet simulations (no GL)


def test_round_hull_is_reduced_and_the_ball_still_rests_at_its_radius():
    ball = next(a for a in load_catalog(installed=False).assets if a.id == "soccerball")
    prep = prepare(ball)
    visual_hull = prep.visual.convex_hull
    assert len(visual_hull.vertices) > 1000, "the test needs a hull with many vertices"
    (part,) = obj_parts(collision_shape(ball).obj_path)
    assert 100 < len(part.vertices) <= MAX_HULL_VERTICES
    # Inside the visual hull, and at most 1 mm away from it anywhere.
    radius = np.linalg.norm(visual_hull.vertices, axis=1).max()
    normals = part.face_normals
    offsets = np.einsum("ij,ij->i", normals, part.triangles[:, 0])
    assert (part.vertices @ visual_hull.face_normals.T
            - np.einsum("ij,ij->i", visual_hull.face_normals, visual_hull.triangles[:, 0])).max() < 1e-6
    assert (visual_hull.vertices @ normals.T - offsets).max(axis=1).max() < 0.001

    spec = SceneSpec(0, (1.2, 0.8, 0.04), (ObjectSpec(1, ball, pose(np.eye(3), [0.0, 0.0, 0.1])),), (), (),
                     (0.3,) * 3, (0.5, 0.5, 0.5, 1), (0, 0, 0))
    with PhysicsWorld() as world:
        s = world.settle(spec, config.load(None).physics)
    assert s.at_rest and s.poses
    np.testing.assert_allclose(s.poses[1][2, 3], radius, atol=0.001)
