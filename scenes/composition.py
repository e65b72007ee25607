"""What goes into a scene: per-category instance counts from the draw weights,
requested class shares and per-category [min, max] instances.

Balancing is decided up front from the config alone, never from the run's
history: scenes run in parallel in any order, and a scene's content must
depend only on (seed, scene index). Requested shares become per-category
draw probabilities, and each scene's counts are drawn by systematic sampling
around their expected values, so a run of N scenes holds each category's
share of the drawn instances to within about one instance per scene's worth
of rounding, not a binomial spread. (The config keys are checked against
the catalog where it is selected: ``assets.catalog.check_composition``.)
"""
from __future__ import annotations

import math

import numpy as np

from dropsynth.assets.catalog import AssetCatalog
from dropsynth.types import Asset

def category_probabilities(catalog: AssetCatalog, shares: dict[str, float] | None) -> dict[str, float]:
    """Probability of drawing each category: the requested ``shares`` for the
    categories named there, the rest of 1 split among the others in
    proportion to their draw weights (scene.category_weights)."""
    p_asset = catalog.probabilities()
    base: dict[str, float] = {}
    for a, p in zip(catalog.assets, p_asset):
        base[a.category] = base.get(a.category, 0.0) + float(p)
    shares = {c: s for c, s in (shares or {}).items() if c in base}
    rest = {c: w for c, w in base.items() if c not in shares}
    left = 1.0 - sum(shares.values())
    out = dict(shares)
    total_rest = sum(rest.values())
    for c, w in rest.items():
        out[c] = left * w / total_rest if total_rest > 0 else 0.0
    norm = sum(out.values())
    return {c: out[c] / norm for c in base}  # categories in catalog order


def _systematic(expected: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Integer counts summing to n whose expectations are ``expected`` (sum n):
    floors plus a systematic draw over the fractional parts."""
    counts = np.floor(expected).astype(int)
    frac = expected - counts
    k = n - int(counts.sum())
    if k > 0:
        cum = np.cumsum(frac)
        points = rng.random() + np.arange(k)
        idx = np.searchsorted(cum, points, side="right")
        for i in np.minimum(idx, len(counts) - 1):
            counts[i] += 1
    return counts


def plan(catalog: AssetCatalog, scene_cfg, n: int, rng: np.random.Generator) -> list[Asset] | None:
    """The assets of one scene, in placement order, or None when no class
    share or per-category instance range is configured (the builders then
    draw each object independently from the catalog's weights, as before).

    ``n`` is raised to the sum of the per-category minimums, or lowered to
    the sum of the maximums, when it falls outside them.
    """
    shares, ranges = scene_cfg.class_shares, scene_cfg.category_instances
    if not shares and not ranges and not scene_cfg.single_category:
        return None
    probs = category_probabilities(catalog, shares)
    cats = list(probs)
    p = np.array([probs[c] for c in cats])
    if scene_cfg.single_category:
        one = np.zeros(len(cats))
        one[int(rng.choice(len(cats), p=p))] = 1.0
        p = one
    # A category's minimum holds even when its draw probability is 0 (weight
    # 0, or the shares leave it nothing); with single_category only the
    # chosen category's range counts.
    ranges = ranges or {}
    if scene_cfg.single_category:
        lo = np.array([ranges.get(c, (0, 0))[0] if p[i] > 0 else 0 for i, c in enumerate(cats)])
        hi = np.array([ranges.get(c, (0, math.inf))[1] if p[i] > 0 else 0 for i, c in enumerate(cats)])
    else:
        lo = np.array([ranges.get(c, (0, 0))[0] for c in cats])
        hi = np.array([ranges[c][1] if c in ranges else (math.inf if p[i] > 0 else 0) for i, c in enumerate(cats)])
    n = int(min(max(n, lo.sum()), hi.sum()))
    counts = _systematic(p * n, n, rng)
    # Within [min, max]: lift the short ones, trim the full ones, and hand the
    # difference to the categories with room, most probable first.
    counts = np.clip(counts, lo, hi).astype(int)
    while counts.sum() != n:
        diff = n - counts.sum()
        room = (counts < hi) if diff > 0 else (counts > lo)
        score = np.where(room, (p * n - counts) * np.sign(diff), -np.inf)
        counts[int(np.argmax(score))] += int(np.sign(diff))
    by_cat = {c: [(a, w) for a, w in zip(catalog.assets, catalog.probabilities()) if a.category == c] for c in cats}
    out: list[Asset] = []
    for c, k in zip(cats, counts):
        assets = [a for a, _ in by_cat[c]]
        w = np.array([w for _, w in by_cat[c]])
        w = w if w.sum() > 0 else np.ones(len(w))  # weight 0, yet a minimum asks for it
        out += [assets[int(i)] for i in rng.choice(len(assets), size=int(k), p=w / w.sum())] if k else []
    return [out[int(i)] for i in rng.permutation(len(out))]
