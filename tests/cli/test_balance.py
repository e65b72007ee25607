"""Class balancing in a real run: a rare class reaches its requested share of
the annotations, and per-category instance ranges hold in every image."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from .helpers import generate_ok

pytestmark = pytest.mark.render

RUN = ["--scenes", "8", "--views-per-scene", "2", "--width", "320", "--height", "240", "--seed", "5",
       "--no-progress", "--workers", "1", "--set", "output.preview=false"]


def _coco(out):
    return json.loads((out / "annotations" / "instances.json").read_text())


def test_a_rare_class_reaches_its_requested_share(tmp_path):
    # One category in ten: about 0.1 of the annotations without balancing.
    out = generate_ok(tmp_path / "bal", *RUN, "--set", "scene.class_shares={ball: 0.3}",
                      "--set", "scene.category_instances={mug: [1, 2]}")
    coco = _coco(out)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    per_class = Counter(names[a["category_id"]] for a in coco["annotations"])
    share = per_class["ball"] / sum(per_class.values())
    assert 0.22 <= share <= 0.38, per_class
    mugs = Counter(a["image_id"] for a in coco["annotations"] if names[a["category_id"]] == "mug")
    assert max(mugs.values()) <= 2
