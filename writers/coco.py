"""COCO instance annotations, following ../shared/COCO.md.

One ``annotations/instances.json`` for the whole run: all five top-level keys,
plain JSON, category ids 1..K, image and annotation ids >= 1 assigned in image
order (so they do not depend on how the work was scheduled), ``iscrowd`` 0,
one segmentation format per file. Robotics extras ride along as extra keys.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from dropsynth import __version__
from dropsynth.types import Annotation, CameraSpec


def _mat(a: np.ndarray) -> list:
    return [[float(v) for v in row] for row in np.asarray(a)]


class CocoWriter:
    """Collects images and annotations, then writes one COCO file."""

    def __init__(self, categories: list[tuple[str, str]], licenses: list[str], *, description: str,
                 seed: int, mask_format: str, depth_scale_m: float):
        self.category_ids = {name: i + 1 for i, (name, _) in enumerate(categories)}
        self.categories = [{"id": i + 1, "name": name, "supercategory": sup}
                           for i, (name, sup) in enumerate(categories)]
        self.licenses = [{"id": i + 1, "name": name, "url": ""} for i, name in enumerate(licenses)]
        self.info = {"description": description, "version": __version__, "contributor": "dropsynth",
                     "url": "", "seed": int(seed), "mask_format": mask_format}
        self.mask_format = mask_format
        self.depth_scale_m = depth_scale_m
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add(self, image_index: int, files: dict, camera: CameraSpec, scene_index: int, view_index: int,
            annotations: list[Annotation]) -> int:
        """Add one frame and its annotations; returns the image id."""
        image_id = image_index + 1
        self.images.append({
            "id": image_id, "file_name": files["rgb"], "width": int(camera.width), "height": int(camera.height),
            "license": 1 if self.licenses else 0,
            "scene_id": int(scene_index), "view_id": int(view_index),
            "depth_file": files["depth"], "depth_scale": self.depth_scale_m, "instances_file": files["instances"],
            "K": _mat(camera.K), "world_T_cam": _mat(camera.world_T_cam),
        })
        for a in annotations:
            self.annotations.append({
                "id": len(self.annotations) + 1, "image_id": image_id, "category_id": self.category_ids[a.category],
                "bbox": [float(v) for v in a.bbox], "area": float(a.area), "iscrowd": 0,
                "segmentation": a.segmentation,
                "instance_id": int(a.instance_id), "asset_id": a.asset_id, "cam_T_obj": _mat(a.cam_T_obj),
                "px_count_visib": int(a.px_count_visib),
            })
        return image_id

    def to_dict(self) -> dict:
        return {"info": self.info, "licenses": self.licenses, "images": self.images,
                "annotations": self.annotations, "categories": self.categories}

    def write(self, path: Path) -> None:
        """Write the file atomically (temporary name, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w") as f:
            json.dump(self.to_dict(), f, separators=(",", ":"))
        os.replace(tmp, path)
