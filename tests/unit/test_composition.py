"""Per-category instance ranges and class shares: what each scene holds."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dropsynth import config, seeding
from dropsynth.assets.catalog import BUILTIN_PACK, for_run, load_catalog
from dropsynth.errors import ConfigError
from dropsynth.scenes import composition


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(installed=False)


def _plan(catalog, scene, n, seed=0, i=0):
    cfg = config.load(None, {"scene": scene})
    return composition.plan(catalog, cfg.scene, n, seeding.scene_rng(seed, i, "placement"))


def test_no_balancing_keys_leaves_the_independent_draws(catalog):
    assert _plan(catalog, {}, 10) is None


def test_instance_ranges_hold_in_every_scene(catalog):
    for i in range(20):
        got = Counter(a.category for a in _plan(catalog, {"category_instances": {"mug": [2, 3], "ball": [0, 0]}},
                                                  8, i=i))
        assert 2 <= got["mug"] <= 3 and got["ball"] == 0
        assert sum(got.values()) == 8


def test_minimums_raise_the_object_count_and_maximums_lower_it(catalog):
    assert len(_plan(catalog, {"category_instances": {"mug": [4, 4], "duck": [3, 5]}}, 2)) == 7
    cats = [c for c, _ in catalog.categories]
    capped = {c: [0, 1] for c in cats}
    assert len(_plan(catalog, {"category_instances": capped}, 50)) == len(cats)


def test_shares_are_met_over_a_run_and_each_scene_is_reproducible(catalog):
    plans = [_plan(catalog, {"class_shares": {"ball": 0.3, "mug": 0.05}}, 10, seed=4, i=i) for i in range(40)]
    got = Counter(a.category for p in plans for a in p)
    total = sum(got.values())
    assert abs(got["ball"] / total - 0.3) < 0.02 and abs(got["mug"] / total - 0.05) < 0.02
    # Scene 17 alone, drawn again out of order: the same objects.
    assert [a.key for a in _plan(catalog, {"class_shares": {"ball": 0.3, "mug": 0.05}}, 10, seed=4, i=17)] == \
        [a.key for a in plans[17]]


def test_category_probabilities_split_the_rest_by_weight(catalog):
    cats = catalog.select(category_weights={"duck": 3.0})
    p = composition.category_probabilities(cats, {"ball": 0.5})
    assert p["ball"] == pytest.approx(0.5)
    assert p["duck"] == pytest.approx(3 * p["mug"])
    assert sum(p.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("scene, words", [
    ({"class_shares": {"balll": 0.3}}, ["scene.class_shares.balll", "unknown category", "'ball'"]),
    ({"category_instances": {"mugs": [1, 2]}}, ["scene.category_instances.mugs", "'mug'"]),
    ({"class_shares": {"ball": 0.7, "mug": 0.6}}, ["scene.class_shares", "more than 1"]),
])
def test_bad_balancing_keys_name_the_key(scene, words):
    cfg = config.load(None, {"scene": scene})
    with pytest.raises(ConfigError) as e:
        for_run(cfg, [str(BUILTIN_PACK)], source="run.yaml")
    for w in words:
        assert w in str(e.value)


def test_instance_range_is_checked_like_any_range():
    with pytest.raises(ConfigError, match=r"scene.category_instances.mug: min 3 is greater than max 1"):
        config.load(None, {"scene": {"category_instances": {"mug": [3, 1]}}})
    with pytest.raises(ConfigError, match=r"scene.class_shares.ball: must be <= 1.0"):
        config.load(None, {"scene": {"class_shares": {"ball": 1.5}}})


def test_minimum_holds_for_a_category_that_would_never_be_drawn():
    from dropsynth import config
    from dropsynth.assets.catalog import discover_packs, for_run

    packs = [str(p) for p in discover_packs([], builtin=True)]
    for scene in ({"category_weights": {"mug": 0}, "category_instances": {"mug": [2, 2]}},
                  {"class_shares": {"duck": 0.5, "box": 0.5}, "category_instances": {"mug": [1, 3]}}):
        cfg = config.load(None, {"scene": scene})
        cat = for_run(cfg, packs)
        lo, hi = scene["category_instances"]["mug"]
        for s in range(5):
            out = composition.plan(cat, cfg.scene, 10, np.random.default_rng(s))
            assert lo <= sum(a.category == "mug" for a in out) <= hi
