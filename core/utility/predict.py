"""COCO results of a trained detector on any folder of images.

``images`` is either a dropsynth (or any COCO) dataset folder holding
``annotations/instances.json`` -- its images are taken in that file's order
and named by its ``file_name`` -- or any folder of PNG/JPEG files (searched
recursively, sorted, named by their path relative to the folder). Every
result carries ``file_name`` and ``category_name`` beside ``image_id``,
``category_id`` (the training dataset's ids), ``bbox`` ([x, y, w, h],
pixels) and ``score``, plus ``segmentation`` (polygons, pixel corners) for a
segmentation model, so it can be scored against any COCO file whose
categories have the same names (:mod:`dropsynth.utility.score`).
"""
from __future__ import annotations

import json
from pathlib import Path

from dropsynth.atomic import write_text_atomic
from dropsynth.errors import ConfigError, DropsynthError
from dropsynth.utility import require_extra

__all__ = ["predict", "list_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(images: str | Path) -> list[tuple[int, str, Path]]:
    """``(image_id, file_name, path)`` of every image to predict on."""
    root = Path(images)
    if not root.is_dir():
        raise ConfigError(f"--images {root}: not a folder")
    coco_path = root / "annotations" / "instances.json"
    if coco_path.is_file():
        from dropsynth.utility.score import load_json

        coco = load_json(coco_path, "COCO instances file")
        try:
            out = [(int(img["id"]), str(img["file_name"]), root / img["file_name"]) for img in coco["images"]]
        except (KeyError, TypeError, ValueError):
            raise DropsynthError(f"{coco_path}: malformed 'images' entry") from None
    else:
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        out = [(i + 1, p.relative_to(root).as_posix(), p) for i, p in enumerate(files)]
    if not out:
        raise ConfigError(f"--images {root}: no PNG or JPEG images found")
    for _, name, p in out:
        if not p.is_file():
            raise DropsynthError(f"{p}: image file not found ({name} in {coco_path})")
    return out


def predict(model: str | Path, images: str | Path, out: str | Path | None = None, *, imgsz: int | None = None,
            conf: float = 0.001, iou: float = 0.7, max_det: int = 100, device: str = "cpu",
            batch: int = 16) -> list[dict]:
    """Run the model of a training run (``model``: the run folder, or a
    ``.pt`` file inside one) on ``images``; returns the results and, with
    ``out``, writes them there as JSON. ``conf`` 0.001 and 100 detections per
    image are COCO evaluation's usual settings."""
    require_extra()
    from dropsynth.utility.train import read_meta, resolve_device

    model = Path(model)
    run = model if model.is_dir() else model.parent.parent
    meta = read_meta(run)
    weights = Path(meta["weights"]) if model.is_dir() else model
    if not weights.is_file():
        raise DropsynthError(f"{weights}: weights not found")
    names, cat_ids = meta["names"], meta["category_ids"]
    listed = list_images(images)
    from dropsynth.utility import offline

    offline.prepare()
    from ultralytics import YOLO

    dev = resolve_device(device)
    yolo = YOLO(str(weights))
    segment = meta.get("task") == "segment"
    results: list[dict] = []
    size = int(imgsz or meta["imgsz"])
    for start in range(0, len(listed), batch):
        chunk = listed[start:start + batch]
        preds = yolo.predict([str(p) for _, _, p in chunk], imgsz=size, conf=conf, iou=iou, max_det=max_det,
                             device=dev, verbose=False)
        for (img_id, name, _), r in zip(chunk, preds):
            boxes = r.boxes
            xyxy = boxes.xyxy.cpu().numpy()
            scores = boxes.conf.cpu().numpy()
            cls = boxes.cls.cpu().numpy().astype(int)
            polys = r.masks.xy if (segment and r.masks is not None) else None
            for k in range(len(scores)):
                x0, y0, x1, y1 = (float(v) for v in xyxy[k])
                c = int(cls[k])
                rec = {"image_id": img_id, "file_name": name, "category_id": int(cat_ids[c]),
                       "category_name": names[c], "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2),
                                                           round(y1 - y0, 2)],
                       "score": round(float(scores[k]), 5)}
                if polys is not None:
                    pts = polys[k].reshape(-1)
                    if len(pts) < 6:  # a mask too small to trace: its box stands in for the polygon
                        pts = [x0, y0, x1, y0, x1, y1, x0, y1]
                    rec["segmentation"] = [[round(float(v), 2) for v in pts]]
                results.append(rec)
    if out is not None:
        write_text_atomic(out, json.dumps(results))
    return results
