"""Train/val/test splits by scene.

Every view of a scene goes to the same split (views of one scene share the
objects, their poses and the lighting, so splitting them would leak test
content into training). A scene's split is a pure function of
``(seed, scene id, ratios)``: the pair (seed, scene id) is hashed into a
uniform number in [0, 1), which is compared with the cumulative normalized
ratios in the order they are given. A scene therefore keeps its split when
the run has more or fewer scenes, and the same seed always gives the same
assignment; the price is that the split sizes follow the ratios only on
average. One exception keeps small runs trainable: when ``train`` or ``val``
has a ratio above 0 but drew no scene and there are enough scenes (two for
train and val), the scene whose number lies nearest that split's interval is
moved there from the split with the most scenes (never emptying ``train`` or
``val``). Only then does a scene's split depend on the other scenes.

Merged datasets (``dropsynth merge``) tag each image with ``source``; their
scene key is ``(source, scene_id)`` so that scene 0 of two sources are two
scenes.
"""
from __future__ import annotations

import hashlib
import numbers
from typing import Hashable, Iterable, Mapping

from dropsynth.config import normalize_ratios  # split ratios are checked with the config
from dropsynth.errors import ConfigError, DropsynthError

__all__ = ["DEFAULT_RATIOS", "normalize_ratios", "scene_uniform", "assign_splits", "scene_key", "split_of_image",
           "split_of_images"]

DEFAULT_RATIOS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}

SceneKey = Hashable  # int scene_id, or (source, scene_id) for merged datasets


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError(f"split seed: expected an integer, got {seed!r}")
    return int(seed)


def _key_text(scene: SceneKey) -> str:
    if isinstance(scene, bool):
        raise ConfigError(f"scene id: expected an integer (or a tuple of integers), got {scene!r}")
    if isinstance(scene, numbers.Integral):
        return str(int(scene))
    if isinstance(scene, tuple) and scene and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in scene):
        return "/".join(str(int(v)) for v in scene)
    raise ConfigError(f"scene id: expected an integer (or a tuple of integers), got {scene!r}")


def scene_uniform(seed: int, scene: SceneKey) -> float:
    """A uniform number in [0, 1) from (seed, scene id) alone (SHA-256 based,
    so it is the same on every machine, Python version and process)."""
    text = f"dropsynth-split:{_check_seed(seed)}:{_key_text(scene)}".encode("ascii")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") / 2.0 ** 64


def assign_splits(scene_ids: Iterable[SceneKey], ratios: Mapping[str, float], seed: int) -> dict:
    """Split of every scene: ``{scene id: split name}``.

    Parameters
    ----------
    scene_ids : scene ids (ints; or tuples of ints such as ``(source,
        scene_id)`` for merged datasets). Duplicates are fine.
    ratios : ``{split name: ratio}``; normalized here, compared in the given
        order. A split with ratio 0 never receives a scene.
    seed : integer; with the same seed and ratios a scene always gets the
        same split, however many other scenes there are.
    """
    norm = normalize_ratios(ratios)
    seed = _check_seed(seed)
    names = list(norm)
    bounds = []
    acc = 0.0
    for name in names:
        acc += norm[name]
        bounds.append(acc)
    # Rounding can leave the last bound a hair below 1: anything beyond goes
    # to the last split with a positive ratio.
    fallback = [n for n in names if norm[n] > 0][-1]
    out = {}
    for scene in scene_ids:
        if scene in out:
            continue
        u = scene_uniform(seed, scene)
        out[scene] = next((n for n, b in zip(names, bounds) if u < b and norm[n] > 0), fallback)
    _fill_required(out, norm, bounds, seed)
    return out


REQUIRED = ("train", "val")  # what a training run needs (Ultralytics refuses a data.yaml without val)


def _fill_required(out: dict, norm: Mapping[str, float], bounds: list[float], seed: int) -> None:
    """Move one scene into each empty required split (see the module doc)."""
    names = list(norm)
    required = [n for n in REQUIRED if norm.get(n, 0) > 0]
    for need in required:
        members = {n: [k for k, v in out.items() if v == n] for n in names}
        if members[need]:
            continue
        donors = [n for n in names if len(members[n]) > (1 if n in required else 0)]
        if not donors:
            return  # too few scenes: say so where it matters (the YOLO export warns)
        donor = max(donors, key=lambda n: (len(members[n]), -names.index(n)))
        i = names.index(need)
        lo, hi = (bounds[i - 1] if i else 0.0), bounds[i]

        def distance(k):
            u = scene_uniform(seed, k)
            return (max(lo - u, u - hi, 0.0), _key_text(k))

        out[min(members[donor], key=distance)] = need


def scene_key(image: Mapping) -> SceneKey:
    """The scene an image (a COCO ``images`` entry) belongs to: its
    ``scene_id``, or ``(source, scene_id)`` in a merged dataset."""
    if "scene_id" not in image:
        raise DropsynthError(f"image {image.get('id', '?')} ({image.get('file_name', '?')}): no scene_id; "
                             f"splits are made by scene, so the COCO file must come from dropsynth")
    sid = int(image["scene_id"])
    return (int(image["source"]), sid) if "source" in image else sid


def split_of_image(image: Mapping, splits: Mapping) -> str:
    """Split name of a COCO image entry, given ``assign_splits``' result."""
    key = scene_key(image)
    try:
        return splits[key]
    except KeyError:
        raise DropsynthError(f"image {image.get('id', '?')}: scene {key!r} has no split assigned") from None


def split_of_images(images: list, ratios: Mapping[str, float], seed: int, where) -> tuple[list, dict]:
    """(scene key of each COCO image entry, ``assign_splits`` of those
    scenes); a malformed image entry is an error naming ``where`` (the file)."""
    try:
        keys = [scene_key(img) for img in images]
    except (KeyError, TypeError, ValueError) as e:
        raise DropsynthError(f"{where}: malformed image entry ({type(e).__name__}: {e})") from None
    except DropsynthError as e:
        raise DropsynthError(f"{where}: {e}") from None
    return keys, assign_splits(keys, ratios, seed)
