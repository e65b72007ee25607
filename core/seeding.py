"""Seeded random streams. No global random state anywhere in dropsynth.

Scene ``i`` of a run with seed ``s`` draws from
``np.random.SeedSequence(s, spawn_key=(i, STREAM))`` where STREAM is a fixed
code per named stream, and view ``v`` of that scene from
``spawn_key=(i, STREAM, v)``. Frame content therefore depends only on
(seed, scene index, view index), never on run order or worker count.
"""
from __future__ import annotations

import numpy as np

# Fixed codes: never renumber, or old seeds stop reproducing old datasets.
STREAMS = {
    "placement": 1,
    "materials": 2,
    "camera": 3,
    "lights": 4,
    "noise": 5,
    "assets": 6,
    "fixtures": 7,
    "distractors": 8,
    "render": 9,  # per view: which renderer makes the RGB, and Cycles' own draws
    # 20-24: render realism and resettling (issue 14), apart from the others' range
    "surfaces": 20,  # procedural surfaces per scene
    "looks": 21,  # per-object material variation, per scene
    "lens": 22,  # camera effects per view (exposure, white balance, lens, shake)
    "shadows": 23,  # shadow softness per scene
    "resettle": 24,  # physics: redrawn spawn poses of a scene that cannot come to rest
    "grasps": 16,  # kept apart from the scene streams' range
}


def _check(seed: int, scene_index: int) -> None:
    if seed < 0 or scene_index < 0:
        raise ValueError(f"seed and scene index must be >= 0, got {seed}, {scene_index}")


def scene_rng(seed: int, scene_index: int, stream: str) -> np.random.Generator:
    """Generator for one named stream of one scene."""
    _check(seed, scene_index)
    ss = np.random.SeedSequence(seed, spawn_key=(scene_index, STREAMS[stream]))
    return np.random.Generator(np.random.PCG64(ss))


def view_rng(seed: int, scene_index: int, view_index: int, stream: str) -> np.random.Generator:
    """Generator for one named stream of one camera view of one scene."""
    _check(seed, scene_index)
    ss = np.random.SeedSequence(seed, spawn_key=(scene_index, STREAMS[stream], view_index))
    return np.random.Generator(np.random.PCG64(ss))
