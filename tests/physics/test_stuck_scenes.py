"""Scenes that do not come to rest by physics.max_steps (found in the standard
job's stack, clutter and bin scenes): the calming rule or a redraw from the
scene's own resettle stream brings them to rest, scenes that rested before
the cap are untouched, and the run counts both."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dropsynth import config
from dropsynth.scenes import builders
from dropsynth.scenes.physics import PhysicsWorld

pytestmark = pytest.mark.physics  # real PyBullet simulations (no GL)


def _settle(builder: str, scene: int, **physics):
    cfg = config.load(None, {"scene": {"num_objects": [15, 15], "builder": builder}, "physics": physics})
    from dropsynth.pipeline import selected_catalog

    spec = builders.get(builder)(cfg, selected_catalog(cfg)[1], 0, scene)  # with the distractor packs
    with PhysicsWorld() as w:
        return w.settle(spec, cfg.physics, seed=0)


def test_a_rocking_rod_is_calmed():
    """clutter scene 10 of seed 0: a rod lying on the floor rocks at 0.14 rad/s forever."""
    stuck = _settle("clutter", 10, calm_steps=0, redraws=0)
    assert not stuck.at_rest and stuck.steps == 2400
    fixed = _settle("clutter", 10)
    assert fixed.at_rest and fixed.settled_by == "calmed" and fixed.redraws == 0
    assert 2400 < fixed.steps <= 2400 + 720
    # The objects that were at rest stay where they were; the calming moves nothing far.
    for iid, t in stuck.poses.items():
        assert np.linalg.norm(fixed.poses[iid][:3, 3] - t[:3, 3]) < 0.01


def test_a_scene_the_rule_cannot_calm_is_redrawn_from_its_own_stream():
    """stack scene 10 of seed 0: a jenga block wedged under a neighbour creeps on."""
    calm_only = _settle("stack", 10, redraws=0)
    assert not calm_only.at_rest
    a, b = _settle("stack", 10), _settle("stack", 10)
    assert a.at_rest and a.settled_by == "redrawn" and a.redraws == 1
    assert a.poses.keys() == b.poses.keys()
    for iid in a.poses:  # redrawn from the seed: the same every time
        np.testing.assert_array_equal(a.poses[iid], b.poses[iid])


def test_scenes_at_rest_before_the_cap_are_untouched():
    a = _settle("tabletop", 0)
    b = _settle("tabletop", 0, calm_steps=0, redraws=0)
    assert a.at_rest and a.settled_by == "" and a.steps < 2400
    assert a.steps == b.steps
    for iid in a.poses:
        np.testing.assert_array_equal(a.poses[iid], b.poses[iid])


@pytest.mark.render
def test_the_run_counts_calmed_scenes(tmp_path):
    """With a cap of 60 steps every scene is still falling at the cap: all are calmed."""
    from dropsynth.pipeline import generate

    cfg = config.load(None, {"scenes": 2, "views_per_scene": 1, "camera": {"width": 64, "height": 48},
                             "physics": {"max_steps": 60}, "output": {"preview": False}})
    s = generate(cfg, tmp_path / "ds")
    assert s.scenes_calmed == 2 and s.scenes_redrawn == 0 and s.scenes_not_at_rest == 0
    counts = json.loads((tmp_path / "ds" / "run.json").read_text())["counts"]
    assert counts["scenes_calmed"] == 2 and counts["scenes_redrawn"] == 0
