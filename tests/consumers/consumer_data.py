"""Helpers of the consumer tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def load(ds: Path) -> dict:
    return json.loads((ds / "annotations" / "instances.json").read_text())


def instance_mask(ds: Path, img: dict, ann: dict) -> np.ndarray:
    """The object's exact pixels, from the instance-id PNG."""
    ids = np.asarray(Image.open(ds / img["instances_file"]))
    return ids == ann["inst_id"]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))
