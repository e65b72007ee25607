"""Ultralytics YOLO export of a finished dataset, split by scene.

Layout written (default ``DIR/yolo/``)::

    images/<split>/NNNNNN.png   hard links to DIR/rgb/ (copies where linking fails)
    labels/<split>/NNNNNN.txt   one line per object, an empty file for an image without objects
    data.yaml                   path (absolute), one key per non-empty split, names {0: ..., 1: ...}
    .dropsynth-yolo             JSON: source dataset, task, ratios, seed, counts (marks the folder as ours)

Label lines (all coordinates normalized to 0..1 by the image size):

- ``detect``: ``class cx cy w h``;
- ``segment``: ``class x1 y1 x2 y2 ...``, one polygon per object: the largest
  4-connected part of its mask (holes joined by a zero-width cut). By default
  the vertices are pixel centres (``convention="centers"``), as OpenCV's
  ``cv2.fillPoly`` reads them, which is how Ultralytics rasterizes YOLO-seg
  labels for training (``polygon2mask``: truncation to int32, then
  ``fillPoly``): a vertex at pixel column c is written as ``(c + 0.25) / W``
  so that truncation and rounding both give back c whatever the float
  error. ``convention="edges"`` writes pixel-corner polygons (COCO's) instead.
  Boxes that Ultralytics derives from a centres polygon are one pixel
  narrower and shorter than the mask's (its extent runs from the first to the
  last pixel centre).

``class`` is the category's index in id order (``category_id - 1`` for a
dropsynth COCO file, whose ids are 1..K). Crowd annotations (``iscrowd``: 1)
and empty boxes are left out, as Ultralytics' own COCO converter does.

The export is built in a hidden sibling folder and renamed into place at the
end, so a folder at ``out_dir`` is always complete.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from dropsynth.errors import ConfigError, DropsynthError
from dropsynth.writers.dataset import open_dataset
from dropsynth.writers.files import check_replaceable, export_folder, holds_dataset, link_or_copy
from dropsynth.writers.splits import DEFAULT_RATIOS, normalize_ratios, split_of_images

__all__ = ["export_yolo", "yolo_box", "yolo_polygon", "largest_polygon", "object_mask", "center_polygon", "MARKER",
           "CONVENTIONS"]

log = logging.getLogger(__name__)

MARKER = ".dropsynth-yolo"
TASKS = ("detect", "segment")
CONVENTIONS = ("centers", "edges")


# --- label geometry -------------------------------------------------------------


def yolo_box(bbox, width: int, height: int) -> list[float] | None:
    """COCO ``[x, y, w, h]`` (pixels) -> normalized ``[cx, cy, w, h]``, clipped
    to the image; None for an empty box."""
    x, y, w, h = (float(v) for v in bbox)
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 <= x0 or y1 <= y0:
        return None
    return [(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height]


def _poly_area(flat) -> float:
    p = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def largest_polygon(segmentation, width: int, height: int) -> list[float] | None:
    """The largest polygon part (flat ``[x1, y1, ...]``, pixel-corner
    coordinates) of a COCO segmentation: polygons, or RLE (compressed or
    not), which is decoded and traced. None when there is no polygon."""
    if isinstance(segmentation, dict):
        from dropsynth.annotate import bbox_from_mask, mask_to_polygons, rle_to_mask

        rle = segmentation
        if isinstance(rle.get("counts"), list):  # uncompressed RLE
            from pycocotools import mask as mask_util

            rle = mask_util.frPyObjects(rle, *rle["size"])
        mask = rle_to_mask(rle)
        if mask.shape != (height, width):
            raise DropsynthError(f"RLE of size {list(mask.shape)} in an image of {height}x{width}")
        box = bbox_from_mask(mask)
        if box is None:
            return None
        bx, by, bw, bh = box
        parts = mask_to_polygons(mask[by:by + bh, bx:bx + bw], offset=(bx, by))
    elif isinstance(segmentation, list):
        parts = segmentation
    else:
        return None
    parts = [p for p in parts if len(p) >= 6 and len(p) % 2 == 0]
    if not parts:
        return None
    return [float(v) for v in max(parts, key=_poly_area)]


def yolo_polygon(flat, width: int, height: int, bias: float = 0.0) -> list[float]:
    """Pixel polygon -> normalized ``[x1, y1, ...]`` clipped to 0..1 (``bias``
    pixels are added to every coordinate first)."""
    p = (np.asarray(flat, dtype=np.float64).reshape(-1, 2) + bias) / np.array([width, height], dtype=np.float64)
    return np.clip(p, 0.0, 1.0).ravel().tolist()


# Quarter of a pixel: int32 truncation (Ultralytics) and rounding (supervision)
# of a pixel-centre vertex both land on its pixel, with float32 error to spare.
CENTER_BIAS = 0.25


def object_mask(segmentation, width: int, height: int, coco_convention: str) -> np.ndarray:
    """Full-frame bool mask of a COCO segmentation: RLE and pixel-corner
    (``edges``) polygons through pycocotools, pixel-centre polygons as
    OpenCV fills them (``annotate.centers_to_mask``); exact for ours."""
    from dropsynth.annotate import centers_to_mask, rle_to_mask

    if isinstance(segmentation, dict):
        rle = segmentation
        if isinstance(rle.get("counts"), list):  # uncompressed RLE
            from pycocotools import mask as mask_util

            rle = mask_util.frPyObjects(rle, *rle["size"])
        mask = rle_to_mask(rle)
    elif isinstance(segmentation, list) and coco_convention == "edges":
        from pycocotools import mask as mask_util

        parts = [p for p in segmentation if len(p) >= 6 and len(p) % 2 == 0]
        if not parts:
            return np.zeros((height, width), bool)
        mask = mask_util.decode(mask_util.merge(mask_util.frPyObjects(parts, height, width))).astype(bool)
    elif isinstance(segmentation, list):
        mask = centers_to_mask(segmentation, height, width)
    else:
        return np.zeros((height, width), bool)
    if mask.shape != (height, width):
        raise DropsynthError(f"mask of size {list(mask.shape)} in an image of {height}x{width}")
    return mask


def center_polygon(mask: np.ndarray) -> list[float] | None:
    """The pixel-centre polygon of the largest 4-connected part of a mask
    (flat ``[x1, y1, ...]``, pixel indices); None for an empty mask."""
    from dropsynth.annotate import bbox_from_mask, largest_component, mask_to_polygons

    box = bbox_from_mask(mask)
    if box is None:
        return None
    bx, by, bw, bh = box
    part = largest_component(mask[by:by + bh, bx:bx + bw])
    polys = mask_to_polygons(part, offset=(bx, by), convention="centers")
    return max(polys, key=len) if polys else None


def _fmt(values) -> str:
    return " ".join(f"{v:.6f}" for v in values)


# --- export -----------------------------------------------------------------------


def _check_out_dir(out: Path, overwrite: bool) -> bool:
    """True when ``out`` exists and holds something to be replaced."""
    return check_replaceable(out, overwrite, MARKER, "YOLO")


@holds_dataset("yolo", "YOLO export")
def export_yolo(dataset_dir: str | Path, out_dir: str | Path | None = None, task: str = "detect",
                ratios: dict[str, float] | None = None, seed: int | None = None,
                overwrite: bool = False, convention: str = "centers") -> Path:
    """Export a finished dataset as an Ultralytics YOLO dataset.

    Parameters
    ----------
    dataset_dir : a finished dropsynth dataset (``annotations/instances.json``).
    out_dir : where to write; default ``dataset_dir/yolo``. Must be empty or
        absent; with ``overwrite`` a previous YOLO export there is replaced
        (any other folder is refused).
    task : ``"detect"`` (boxes) or ``"segment"`` (polygons).
    ratios : ``{split: ratio}``, default ``{"train": 0.8, "val": 0.1, "test": 0.1}``;
        whole scenes go to one split (see ``dropsynth.writers.splits``).
    seed : split seed; default the dataset's seed (``run.json``, else COCO
        ``info.seed``, else 0).
    convention : ``segment`` polygons at pixel centres (``"centers"``, exact
        for OpenCV's rasterizer and so for Ultralytics) or corners (``"edges"``).

    Returns
    -------
    The absolute path of the export folder (holding ``data.yaml``).
    """
    import yaml

    if task not in TASKS:
        raise ConfigError(f"yolo export: task must be one of {', '.join(TASKS)}, got {task!r}")
    if convention not in CONVENTIONS:
        raise ConfigError(f"yolo export: polygon convention must be one of {', '.join(CONVENTIONS)}, "
                          f"got {convention!r}")
    dataset_dir = Path(dataset_dir).resolve()
    norm = normalize_ratios(ratios) if ratios is not None else None
    ds = open_dataset(dataset_dir)
    norm = norm or normalize_ratios(ds.run_splits or DEFAULT_RATIOS)
    coco_path = ds.coco_path
    if seed is None:
        seed = ds.seed
    coco_convention = ds.polygon_convention
    out = (dataset_dir / "yolo" if out_dir is None else Path(out_dir)).resolve()
    if out == dataset_dir or out in dataset_dir.parents:
        raise ConfigError(f"{out}: the export folder must not be the dataset folder or contain it")
    _check_out_dir(out, overwrite)  # refuses what it may not replace

    try:
        cats = sorted(ds.categories, key=lambda c: int(c["id"]))
        class_of = {int(c["id"]): i for i, c in enumerate(cats)}
        names = {i: str(c["name"]) for i, c in enumerate(cats)}
    except (KeyError, TypeError, ValueError) as e:
        raise DropsynthError(f"{coco_path}: malformed category ({type(e).__name__}: {e})") from None
    anns = ds.annotations_by_image()
    images = ds.images
    keys, splits = split_of_images(images, norm, seed, coco_path)

    counts = {name: {"images": 0, "labels": 0, "objects": 0} for name in norm}
    from dropsynth.annotate import mask_to_rle

    seen: dict[str, str] = {}
    with export_folder(out, "YOLO") as tmp:
        for img, key in zip(images, keys):
            split = splits[key]
            try:
                file_name, width, height = img["file_name"], int(img["width"]), int(img["height"])
                img_id = int(img["id"])
            except (KeyError, TypeError, ValueError) as e:
                raise DropsynthError(f"{coco_path}: image {img.get('id', '?')}: malformed entry ({e})") from None
            src = dataset_dir / file_name
            if not src.is_file():
                raise DropsynthError(f"{src}: image file not found (file_name of image {img_id} in {coco_path})")
            name = Path(file_name).name
            if name in seen:
                raise DropsynthError(f"{coco_path}: images {seen[name]} and {file_name} share the file name "
                                     f"{name}; YOLO needs unique names")
            seen[name] = file_name
            img_dir = tmp / "images" / split
            lbl_dir = tmp / "labels" / split
            if counts[split]["images"] == 0:
                img_dir.mkdir(parents=True, exist_ok=True)
                lbl_dir.mkdir(parents=True, exist_ok=True)
            link_or_copy(src, img_dir / name)
            lines = []
            for a in anns.get(img_id, ()):
                if a.get("iscrowd", 0):
                    continue
                try:
                    cls = class_of[int(a["category_id"])]
                    box = yolo_box(a["bbox"], width, height)
                    if box is None:
                        continue
                    if task == "detect":
                        lines.append(f"{cls} {_fmt(box)}")
                    elif convention == "edges" and coco_convention == "edges":
                        poly = largest_polygon(a.get("segmentation"), width, height)
                        if poly is not None:
                            lines.append(f"{cls} {_fmt(yolo_polygon(poly, width, height))}")
                    else:
                        mask = object_mask(a.get("segmentation"), width, height, coco_convention)
                        if convention == "edges":
                            poly = largest_polygon(mask_to_rle(mask), width, height)
                            bias = 0.0
                        else:
                            poly, bias = center_polygon(mask), CENTER_BIAS
                        if poly is not None:
                            lines.append(f"{cls} {_fmt(yolo_polygon(poly, width, height, bias))}")
                except (KeyError, TypeError, ValueError, DropsynthError) as e:
                    raise DropsynthError(f"{coco_path}: annotation {a.get('id', '?')}: "
                                         f"{e if isinstance(e, DropsynthError) else repr(e)}") from None
            (lbl_dir / (Path(name).stem + ".txt")).write_text("".join(line + "\n" for line in lines))
            c = counts[split]
            c["images"] += 1
            c["labels"] += 1
            c["objects"] += len(lines)
        present = [s for s in norm if counts[s]["images"] > 0]
        data = {"path": str(out)}
        data.update({s: f"images/{s}" for s in present})
        data["names"] = names
        with open(tmp / "data.yaml", "w") as f:
            yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True)
        (tmp / MARKER).write_text(json.dumps({
            "tool": "dropsynth", "source": str(dataset_dir), "task": task, "ratios": norm, "seed": int(seed),
            **({"polygon_convention": convention} if task == "segment" else {}), "counts": counts}, indent=2) + "\n")
    # Splits are filled (writers.splits) whenever there are enough scenes: an
    # asked-for split can stay empty only with a single scene.
    missing = [s for s in ("train", "val") if norm.get(s, 0) > 0 and s not in present]
    if missing:
        log.warning("%s: no images in split(s) %s: the dataset has %d scene(s) and a scene's views never straddle "
                    "two splits; Ultralytics needs both train and val", out / "data.yaml", ", ".join(missing),
                    len(set(keys)))
    return out


def export_detect(dataset_dir, *, ratios=None, seed=None) -> Path:
    """Registry entry ``yolo``: boxes, into DATASET/yolo."""
    return export_yolo(dataset_dir, task="detect", ratios=ratios, seed=seed, overwrite=True)


def export_segment(dataset_dir, *, ratios=None, seed=None) -> Path:
    """Registry entry ``yolo-seg``: polygons, into DATASET/yolo-seg (so that
    both YOLO flavours can be written in one pass)."""
    return export_yolo(dataset_dir, Path(dataset_dir) / "yolo-seg", task="segment", ratios=ratios, seed=seed,
                       overwrite=True)
