"""dropsynth.seeding: draws depend only on (seed, scene, stream[, view])."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from dropsynth import seeding
from dropsynth.seeding import STREAMS, scene_rng, view_rng


def draws(rng: np.random.Generator, n: int = 8) -> list[float]:
    return rng.random(n).tolist()


def test_same_key_same_draws():
    for stream in STREAMS:
        assert draws(scene_rng(7, 3, stream)) == draws(scene_rng(7, 3, stream))
        assert draws(view_rng(7, 3, 2, stream)) == draws(view_rng(7, 3, 2, stream))


def test_draws_do_not_depend_on_call_order():
    keys = [(s, i, st) for s in (0, 1, 12345) for i in (0, 1, 5) for st in STREAMS]
    forward = {k: draws(scene_rng(*k)) for k in keys}
    # Interleave: create every generator first, then draw from them in reverse order,
    # with unrelated generators used in between.
    gens = {k: scene_rng(*k) for k in keys}
    backward = {}
    for k in reversed(keys):
        scene_rng(99, 99, "noise").random(1000)
        backward[k] = draws(gens[k])
    assert forward == backward
    # Scene 5 is the same whether scenes 0..4 were drawn before or not.
    fresh = draws(scene_rng(1, 5, "placement"))
    for i in range(5):
        draws(scene_rng(1, i, "placement"), 100)
    assert draws(scene_rng(1, 5, "placement")) == fresh


def test_different_scenes_streams_views_and_seeds_differ():
    seen = {}
    keys = []
    keys += [("scene", s, i, st) for s in (0, 1) for i in range(4) for st in STREAMS]
    keys += [("view", s, i, v, st) for s in (0, 1) for i in range(3) for v in range(3) for st in STREAMS]
    for k in keys:
        rng = scene_rng(*k[1:]) if k[0] == "scene" else view_rng(*k[1:])
        d = tuple(draws(rng, 4))
        assert d not in seen, f"{k} draws the same numbers as {seen.get(d)}"
        seen[d] = k


def test_view_stream_differs_from_scene_stream():
    assert draws(view_rng(0, 0, 0, "camera")) != draws(scene_rng(0, 0, "camera"))


def test_stream_codes_are_fixed():
    """Renumbering a stream silently changes every dataset made with an old seed."""
    assert STREAMS == {"placement": 1, "materials": 2, "camera": 3, "lights": 4, "noise": 5, "assets": 6,
                       "fixtures": 7, "distractors": 8, "render": 9, "grasps": 16, "surfaces": 20, "looks": 21,
                       "lens": 22, "shadows": 23, "resettle": 24}
    assert len(set(STREAMS.values())) == len(STREAMS)


def test_matches_documented_seed_sequence():
    ss = np.random.SeedSequence(42, spawn_key=(3, STREAMS["lights"]))
    assert draws(scene_rng(42, 3, "lights")) == draws(np.random.Generator(np.random.PCG64(ss)))
    ss = np.random.SeedSequence(42, spawn_key=(3, STREAMS["camera"], 2))
    assert draws(view_rng(42, 3, 2, "camera")) == draws(np.random.Generator(np.random.PCG64(ss)))


def test_negative_and_unknown_inputs_rejected():
    with pytest.raises(ValueError):
        scene_rng(-1, 0, "placement")
    with pytest.raises(ValueError):
        view_rng(0, -1, 0, "camera")
    with pytest.raises(KeyError):
        scene_rng(0, 0, "no-such-stream")


def test_no_global_random_state_used():
    np.random.seed(1)
    a = draws(scene_rng(3, 1, "materials"))
    np.random.seed(2)
    np.random.random(10)
    assert draws(scene_rng(3, 1, "materials")) == a
    assert not any(name in vars(seeding) for name in ("rng", "_rng", "RNG")), "no module-level generator"


def test_large_seeds_and_indices():
    big = 2**63 - 1
    for s, i in itertools.product((0, big), (0, 10**6)):
        assert draws(scene_rng(s, i, "noise")) == draws(scene_rng(s, i, "noise"))
    assert draws(scene_rng(big, 0, "noise")) != draws(scene_rng(0, 0, "noise"))
