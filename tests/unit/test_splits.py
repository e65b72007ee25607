"""dropsynth.writers.splits: whole scenes per split, a pure function of (seed, scene)."""
from __future__ import annotations

from collections import Counter

import pytest

from dropsynth.errors import ConfigError, DropsynthError
from dropsynth.writers.splits import (DEFAULT_RATIOS, assign_splits, normalize_ratios, scene_key, scene_uniform,
                                      split_of_image)


def _images(n_scenes: int, views: int, source: int | None = None) -> list[dict]:
    out = []
    for s in range(n_scenes):
        for v in range(views):
            img = {"id": len(out) + 1, "file_name": f"rgb/{len(out):06d}.png", "scene_id": s, "view_id": v}
            if source is not None:
                img["source"] = source
            out.append(img)
    return out


def test_every_scene_in_exactly_one_split_and_views_follow_their_scene():
    images = _images(200, 4)
    splits = assign_splits((scene_key(i) for i in images), DEFAULT_RATIOS, seed=3)
    assert set(splits) == set(range(200))
    assert set(splits.values()) <= set(DEFAULT_RATIOS)
    by_scene: dict[int, set[str]] = {}
    for img in images:
        by_scene.setdefault(img["scene_id"], set()).add(split_of_image(img, splits))
    assert all(len(s) == 1 for s in by_scene.values())
    # No scene in two splits, seen from the splits' side too.
    members = {name: {s for s, n in splits.items() if n == name} for name in DEFAULT_RATIOS}
    names = list(members)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not members[a] & members[b]


@pytest.mark.parametrize("ratios", [DEFAULT_RATIOS, {"train": 0.6, "val": 0.2, "test": 0.2},
                                    {"a": 1, "b": 1}, {"train": 0.7, "holdout": 0.3}])
def test_ratios_are_respected_over_1000_scenes(ratios):
    splits = assign_splits(range(1000), ratios, seed=11)
    counts = Counter(splits.values())
    total = sum(ratios.values())
    for name, r in ratios.items():
        # Binomial std for n=1000 is at most 16 scenes; allow about 4 std.
        assert abs(counts[name] / 1000 - r / total) < 0.065, (name, counts)


def test_same_seed_same_assignment_other_seed_another():
    a = assign_splits(range(500), DEFAULT_RATIOS, seed=7)
    assert a == assign_splits(range(500), DEFAULT_RATIOS, seed=7)
    assert a == assign_splits(reversed(range(500)), DEFAULT_RATIOS, seed=7)  # order of the input does not matter
    assert a != assign_splits(range(500), DEFAULT_RATIOS, seed=8)


def test_adding_scenes_does_not_move_existing_ones():
    small = assign_splits(range(50), DEFAULT_RATIOS, seed=1)
    big = assign_splits(range(5000), DEFAULT_RATIOS, seed=1)
    assert {s: big[s] for s in small} == small
    only_some = assign_splits([3, 17, 42, 24], DEFAULT_RATIOS, seed=1)
    assert "val" in only_some.values() and only_some == {s: small[s] for s in (3, 17, 42, 24)}


def test_small_runs_always_get_train_and_val():
    """Ultralytics refuses a data.yaml without val: with two scenes or more,
    train and val are never empty; only the scene moved there changes."""
    for seed in range(200):
        big = assign_splits(range(300), DEFAULT_RATIOS, seed)
        assert {"train", "val"} <= set(big.values())
        for n in (2, 3, 5):
            free = {s: big[s] for s in range(n)}  # as drawn, without filling
            got = assign_splits(range(n), DEFAULT_RATIOS, seed)
            assert {"train", "val"} <= set(got.values()), (seed, n, got)
            moved = [s for s in range(n) if got[s] != free[s]]
            need = sum(1 for name in ("train", "val") if name not in free.values())
            assert len(moved) == need, (seed, n, free, got)
    # the moved scene is the one nearest val's interval [0.8, 0.9): seed 1, scenes 3, 17, 42 all draw train
    u = {s: scene_uniform(1, s) for s in (3, 17, 42)}
    got = assign_splits([3, 17, 42], DEFAULT_RATIOS, seed=1)
    assert [s for s, v in got.items() if v == "val"] == [max(u, key=u.get)]


def test_one_scene_goes_to_train_and_no_val_asked_for_is_left_alone():
    for seed in range(50):
        assert list(assign_splits([0], DEFAULT_RATIOS, seed).values()) in (["train"], ["val"])
        assert set(assign_splits(range(4), {"train": 1.0}, seed).values()) == {"train"}
        assert "val" not in assign_splits(range(4), {"train": 0.5, "test": 0.5}, seed).values()


def test_ratios_are_normalized_and_zero_ratio_split_stays_empty():
    assert normalize_ratios({"train": 8, "val": 1, "test": 1}) == pytest.approx(DEFAULT_RATIOS)
    assert assign_splits(range(300), {"train": 8, "val": 1, "test": 1}, 4) == assign_splits(range(300),
                                                                                         DEFAULT_RATIOS, 4)
    splits = assign_splits(range(1000), {"train": 0.5, "val": 0.0, "test": 0.5}, 2)
    assert "val" not in splits.values()
    assert set(assign_splits(range(100), {"train": 1.0, "test": 0.0}, 2).values()) == {"train"}


def test_assignment_is_pinned():
    """Changing the hash would silently reshuffle the splits of every existing dataset."""
    assert assign_splits(range(12), DEFAULT_RATIOS, seed=0) == {
        0: "train", 1: "train", 2: "train", 3: "train", 4: "train", 5: "train", 6: "train", 7: "train",
        8: "val", 9: "test", 10: "train", 11: "train"}
    u = scene_uniform(0, 8)
    assert 0.8 <= u < 0.9


def test_merged_datasets_split_by_source_and_scene():
    images = _images(100, 2, source=0) + _images(100, 2, source=1)
    keys = [scene_key(i) for i in images]
    assert keys[0] == (0, 0) and keys[-1] == (1, 99)
    splits = assign_splits(keys, DEFAULT_RATIOS, seed=5)
    assert len(splits) == 200
    # Scene 0 of two sources are two scenes, drawn independently.
    assert any(splits[(0, s)] != splits[(1, s)] for s in range(100))


@pytest.mark.parametrize("ratios, words", [
    ({}, "non-empty"),
    (None, "non-empty"),
    ({"train": -0.1, "val": 1}, "train: must be a finite number >= 0"),
    ({"train": 0, "val": 0.0}, "sum to 0"),
    ({"": 1}, "non-empty strings"),
    ({"  ": 1}, "non-empty strings"),
    ({3: 1}, "non-empty strings"),
    ({"a/b": 1}, "folder name"),
    ({".hidden": 1}, "folder name"),
    ({"train": "0.8"}, "train: expected a number"),
    ({"train": True}, "train: expected a number"),
    ({"train": float("nan")}, "finite"),
    ({"train": float("inf")}, "finite"),
])
def test_bad_ratios_are_config_errors(ratios, words):
    with pytest.raises(ConfigError, match="split ratios") as e:
        assign_splits(range(3), ratios, seed=0)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("seed", ["1", 1.5, None, True])
def test_bad_seed_is_a_config_error(seed):
    with pytest.raises(ConfigError, match="split seed"):
        assign_splits(range(3), DEFAULT_RATIOS, seed=seed)


def test_image_without_scene_or_split():
    with pytest.raises(DropsynthError, match="no scene_id"):
        scene_key({"id": 4, "file_name": "rgb/x.png"})
    with pytest.raises(DropsynthError, match="scene 9 has no split"):
        split_of_image({"id": 1, "scene_id": 9}, {0: "train"})
    with pytest.raises(ConfigError, match="scene id"):
        assign_splits(["a"], DEFAULT_RATIOS, seed=0)
