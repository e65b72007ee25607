"""Score COCO detection results against a COCO instances file (pycocotools'
COCOeval), matching images by file name and categories by name.

Results may come from any detector and any numbering: each result carries
``file_name`` and ``category_name`` (as ``dropsynth utility predict`` writes
them), which are looked up in the ground truth; ``image_id`` and
``category_id`` are used only for a result that lacks the name. A file name
matches a ground-truth image by its whole relative path, else by its base
name when that is unique in the ground truth (so ``000001.png`` predicted in
``DATASET/rgb`` matches ``rgb/000001.png``). Results that match no image or
no category are left out and counted.
"""
from __future__ import annotations

import contextlib
import io
import math
from collections import defaultdict
from pathlib import Path, PurePosixPath

import numpy as np

from dropsynth.errors import DropsynthError
from dropsynth.writers.dataset import check_coco, read_json

__all__ = ["score", "score_files", "load_json", "gt_as_results"]

STAT_NAMES = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
              "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


def load_json(path: str | Path, what: str):
    """The JSON in ``path`` (``what`` names it in errors); see ``writers.dataset.read_json``."""
    return read_json(path, what)


def _norm(name: str) -> str:
    return str(PurePosixPath(str(name).replace("\\", "/")))  # "./a/b.png" -> "a/b.png"


def _check_gt(gt, where: str) -> None:
    check_coco(gt, where)


def _valid_segmentation(seg) -> bool:
    if isinstance(seg, dict):
        return "size" in seg and "counts" in seg
    return (isinstance(seg, list) and len(seg) > 0 and
            all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 for p in seg))


def gt_as_results(gt: dict, iou_type: str = "bbox") -> list[dict]:
    """The ground truth written as results (score 1), with file and category
    names: a perfect detector's output, for checking the scorer."""
    files = {img["id"]: img["file_name"] for img in gt["images"]}
    cats = {c["id"]: c["name"] for c in gt["categories"]}
    out = []
    for a in gt["annotations"]:
        if a.get("iscrowd", 0):
            continue
        r = {"image_id": a["image_id"], "file_name": files[a["image_id"]], "category_id": a["category_id"],
             "category_name": cats[a["category_id"]], "bbox": [float(v) for v in a["bbox"]], "score": 1.0}
        if iou_type == "segm":
            r["segmentation"] = a["segmentation"]
        out.append(r)
    return out


def score(gt: dict, results: list, *, iou_type: str = "bbox", gt_name: str = "ground truth",
          pred_name: str = "results") -> dict:
    """COCOeval of ``results`` against ``gt``.

    Parameters
    ----------
    gt : a COCO instances dict (images, annotations, categories).
    results : a list of COCO results (``bbox`` [x, y, w, h] in pixels,
        ``score``; ``segmentation`` for ``iou_type="segm"``), each with
        ``file_name`` and ``category_name`` (or ``image_id``/``category_id``
        in the ground truth's numbering).
    iou_type : ``"bbox"`` or ``"segm"``.

    Returns
    -------
    dict with ``AP``, ``AP50``, ``AP75`` (and the other COCOeval stats, 0..1),
    ``per_class_AP50`` {category name: AP50 or None when the class has no
    ground truth}, and counts: ``images``, ``annotations``, ``results``,
    ``results_matched``, ``unmatched_images`` (results whose file is not in
    the ground truth), ``unmatched_categories``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if iou_type not in ("bbox", "segm"):
        raise DropsynthError(f"iou type must be bbox or segm, got {iou_type!r}")
    _check_gt(gt, gt_name)
    if not isinstance(results, list):
        raise DropsynthError(f"{pred_name}: COCO results must be a JSON list of detections")
    by_path: dict[str, int] = {}
    by_base: dict[str, list[int]] = defaultdict(list)
    ids = set()
    for img in gt["images"]:
        try:
            by_path[_norm(img["file_name"])] = int(img["id"])
            by_base[PurePosixPath(_norm(img["file_name"])).name].append(int(img["id"]))
            ids.add(int(img["id"]))
        except (KeyError, TypeError, ValueError):
            raise DropsynthError(f"{gt_name}: image {img!r:.80}: needs 'id' and 'file_name'") from None
    cat_by_name = {}
    for c in gt["categories"]:
        try:
            cat_by_name[str(c["name"])] = int(c["id"])
        except (KeyError, TypeError, ValueError):
            raise DropsynthError(f"{gt_name}: category {c!r:.80}: needs 'id' and 'name'") from None
    cat_ids = set(cat_by_name.values())

    matched, no_image, no_cat = [], 0, 0
    for i, r in enumerate(results):
        if not isinstance(r, dict) or "bbox" not in r or "score" not in r:
            raise DropsynthError(f"{pred_name}: result {i}: needs 'bbox' and 'score'")
        if "file_name" in r:
            name = _norm(r["file_name"])
            img_id = by_path.get(name)
            if img_id is None:
                cands = by_base.get(PurePosixPath(name).name, [])
                img_id = cands[0] if len(cands) == 1 else None
        else:
            img_id = r.get("image_id") if r.get("image_id") in ids else None
        if img_id is None:
            no_image += 1
            continue
        cat_id = cat_by_name.get(str(r["category_name"])) if "category_name" in r else (
            r.get("category_id") if r.get("category_id") in cat_ids else None)
        if cat_id is None:
            no_cat += 1
            continue
        try:
            bbox = [float(v) for v in r["bbox"]]
            s = float(r["score"])
        except (TypeError, ValueError):
            raise DropsynthError(f"{pred_name}: result {i}: bbox and score must be numbers") from None
        if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox + [s]):
            raise DropsynthError(f"{pred_name}: result {i}: bbox must be 4 finite numbers [x, y, w, h]")
        m = {"image_id": img_id, "category_id": cat_id, "bbox": bbox, "score": s}
        if iou_type == "segm":
            seg = r.get("segmentation")
            if seg is None:
                raise DropsynthError(f"{pred_name}: result {i}: no 'segmentation' (needed for --iou segm)")
            if not _valid_segmentation(seg):
                raise DropsynthError(f"{pred_name}: result {i}: segmentation must be RLE ({{size, counts}}) or a "
                                     f"non-empty list of polygons of at least 3 points")
            m["segmentation"] = seg
        matched.append(m)

    gt = dict(gt)
    anns = []
    for a in gt["annotations"]:
        a = dict(a)
        a.setdefault("iscrowd", 0)
        if "area" not in a and "bbox" in a:
            a["area"] = float(a["bbox"][2]) * float(a["bbox"][3])
        anns.append(a)
    gt["annotations"] = anns
    names = {cid: n for n, cid in cat_by_name.items()}
    out = {"iou_type": iou_type, "images": len(gt["images"]), "annotations": len(anns), "results": len(results),
           "results_matched": len(matched), "unmatched_images": no_image, "unmatched_categories": no_cat}
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):  # pycocotools prints its progress
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if not matched:
            out.update({k: 0.0 for k in STAT_NAMES})
            out["per_class_AP50"] = {names[c]: (0.0 if coco_gt.getAnnIds(catIds=[c]) else None)
                                     for c in sorted(names)}
            return out
        coco_dt = coco_gt.loadRes(matched)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    for k, v in zip(STAT_NAMES, ev.stats):
        out[k] = max(0.0, float(v))  # COCOeval's -1 means "no ground truth of that size"
    prec = ev.eval["precision"]  # [iou, recall, class, area, maxdets]
    per = {}
    for k, cid in enumerate(ev.params.catIds):
        p = prec[0, :, k, 0, -1]
        p = p[p > -1]
        per[names[cid]] = round(float(np.mean(p)), 6) if p.size else None
    out["per_class_AP50"] = per
    return out


def score_files(gt_path: str | Path, pred_path: str | Path, iou_type: str = "bbox") -> dict:
    """:func:`score` on two files (a COCO instances JSON, a COCO results JSON)."""
    gt = load_json(gt_path, "ground truth")
    _check_gt(gt, str(gt_path))
    pred = load_json(pred_path, "results")
    return score(gt, pred, iou_type=iou_type, gt_name=str(gt_path), pred_name=str(pred_path))
