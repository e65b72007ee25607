"""COCO instance annotations, following ../shared/COCO.md.

Work is done in shards: each shard writes a *part* (``annotations/parts/
shard_NNNNNN.json``: its images and annotations, without annotation ids), and
``merge_parts`` streams the parts, in shard order, into one
``annotations/instances.json`` with all five top-level keys, category ids
1..K, image ids = image index + 1 and annotation ids 1..N in image order.
The ids therefore depend only on the content, never on how many workers made
it or in which order the shards finished.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from dropsynth import __version__
from dropsynth.atomic import atomic_path, write_json_atomic
from dropsynth.types import Annotation, CameraSpec

PARTS_DIR = "parts"


def _mat(a: np.ndarray) -> list:
    return [[float(v) for v in row] for row in np.asarray(a)]


def image_record(image_index: int, files: dict, camera: CameraSpec, scene_index: int, view_index: int,
                 depth_scale_m: float) -> dict:
    """The COCO ``images`` entry of one frame (id = image_index + 1)."""
    return {
        "id": image_index + 1, "file_name": files["rgb"], "width": int(camera.width), "height": int(camera.height),
        "license": 1, "scene_id": int(scene_index), "view_id": int(view_index),
        "depth_file": files["depth"], "depth_scale": depth_scale_m, "instances_file": files["instances"],
        "K": _mat(camera.K), "world_T_cam": _mat(camera.world_T_cam),
    }


def annotation_record(a: Annotation, image_id: int, category_id: int) -> dict:
    """The COCO ``annotations`` entry of one object, without its ``id``; a
    procedural object also gets ``primitive`` (:func:`primitive_record`)."""
    rec = {
        "image_id": image_id, "category_id": category_id,
        "bbox": [float(v) for v in a.bbox], "area": float(a.area), "iscrowd": 0,
        "segmentation": a.segmentation,
        "inst_id": int(a.instance_id), "asset_id": a.asset_id, "cam_T_obj": _mat(a.cam_T_obj),
        "px_count_visib": int(a.px_count_visib),
    }
    if a.px_count_all is not None:
        rec.update(bbox_amodal=[float(v) for v in a.bbox_amodal], px_count_all=int(a.px_count_all),
                   visib_fract=round(float(a.visib_fract), 6), segmentation_amodal=a.segmentation_amodal)
    if a.primitive is not None:
        rec["primitive"] = primitive_record(a.primitive, a.color_rgba)
    return rec


def primitive_record(p, color_rgba=None) -> dict:
    """The ``primitive`` key of a procedural object's annotation: ``kind``
    (box, cylinder, sphere), ``size_m`` (box: full x, y, z extents; cylinder:
    radius, height; sphere: radius) and its instance colour ``color_rgba``
    (0..1) when it has one: what an exporter needs to rebuild its model (BOP)
    from the files alone."""
    rec = {"kind": str(p.kind), "size_m": [float(s) for s in p.size_m]}
    if color_rgba is not None:
        rec["color_rgba"] = [float(c) for c in color_rgba]
    return rec


def header(categories: list[tuple[str, str]], licenses: list[str], *, description: str, seed: int,
           mask_format: str, keypoints: bool = False, polygon_convention: str = "edges") -> dict:
    """``info``, ``licenses`` and ``categories`` (ids 1..K in catalog order;
    with ``keypoints``, each category names the 8 box corners and the 12 box
    edges as its skeleton). Polygon files say their vertex convention in
    ``info.polygon_convention`` (edges: pixel corners, COCO's; centers: pixel
    centres, OpenCV's)."""
    head = {
        "info": {"description": description, "version": __version__, "contributor": "dropsynth", "url": "",
                 "seed": int(seed), "mask_format": mask_format},
        "licenses": [{"id": i + 1, "name": name, "url": ""} for i, name in enumerate(licenses or ["unknown"])],
        "categories": [{"id": i + 1, "name": name, "supercategory": sup} for i, (name, sup) in enumerate(categories)],
    }
    if mask_format == "polygon":
        head["info"]["polygon_convention"] = polygon_convention
    if keypoints:
        from dropsynth.groundtruth import BOX_EDGES, KEYPOINT_NAMES

        for c in head["categories"]:
            c.update(keypoints=list(KEYPOINT_NAMES), skeleton=[list(e) for e in BOX_EDGES])
    return head


def part_path(root: Path, shard: int) -> Path:
    return Path(root) / "annotations" / PARTS_DIR / f"shard_{shard:06d}.json"


def read_part(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def part_is_complete(path: Path) -> bool:
    """A part counts only if it reads back whole (a power cut can leave an
    empty file under the final name on some filesystems)."""
    try:
        data = read_part(path)
        return isinstance(data, dict) and "stats" in data and "images" in data
    except (OSError, ValueError):
        return False


def merge_parts(out_path: Path, head: dict, part_files: Iterable[Path]) -> tuple[int, int]:
    """Stream parts into one COCO file; returns (images, annotations).

    Parts are read twice (images, then annotations) so that memory holds one
    part at a time, however long the run.
    """
    part_files = list(part_files)
    n_img = n_ann = 0
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    with atomic_path(out_path) as tmp, open(tmp, "w") as f:
        f.write("{")
        for key in ("info", "licenses", "categories"):
            f.write(f'"{key}":{dumps(head[key])},')
        f.write('"images":[')
        for p in part_files:
            for img in read_part(p)["images"]:
                f.write(("," if n_img else "") + dumps(img))
                n_img += 1
        f.write('],"annotations":[')
        for p in part_files:
            for ann in read_part(p)["annotations"]:
                n_ann += 1
                f.write(("," if n_ann > 1 else "") + dumps({"id": n_ann, **ann}))
        f.write("]}")
    return n_img, n_ann


def write_split_files(root: Path, ratios: dict, seed: int) -> dict[str, int]:
    """``annotations/instances_<split>.json`` for each split (by scene, so the
    views of one scene never straddle two splits), from the merged file; ids
    stay those of the full file. Returns images per split."""
    from dropsynth.writers.splits import assign_splits, scene_key, split_of_image

    root = Path(root)
    data = read_part(root / "annotations" / "instances.json")
    splits = assign_splits([scene_key(img) for img in data["images"]], ratios, seed)
    counts = {}
    for name in ratios:
        imgs = [img for img in data["images"] if split_of_image(img, splits) == name]
        ids = {img["id"] for img in imgs}
        sub = {k: data[k] for k in ("info", "licenses", "categories")}
        sub.update(images=imgs, annotations=[a for a in data["annotations"] if a["image_id"] in ids])
        write_json_atomic(root / "annotations" / f"instances_{name}.json", sub)
        counts[name] = len(imgs)
    return counts
