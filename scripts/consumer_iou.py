"""Mean mask IoU of our polygons as each consumer rasterizes them, per convention.

    .venv/bin/python scripts/consumer_iou.py [--scenes 4] [--out /tmp/dropsynth-iou]

Generates the default dataset (seed 0, 320x240) twice, with
``output.polygon_convention`` edges and centers, and compares every
annotation's mask as read by pycocotools (``annToMask``: also what FiftyOne,
torchvision and Datumaro use), supervision (``from_coco(force_masks=True)``)
and OpenCV on the YOLO-seg export (``cv2.fillPoly`` after int32 truncation:
Ultralytics' ``polygon2mask``) with the instance-id image. Needs the
``consumers`` extra (opencv, supervision).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def _iou(a, b) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def main() -> None:
    import cv2
    import supervision as sv
    from pycocotools.coco import COCO

    from dropsynth.annotate import largest_component
    from dropsynth.writers.yolo import export_yolo

    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--out", default="/tmp/dropsynth-iou")
    args = ap.parse_args()
    rows = []
    for conv in ("edges", "centers"):
        ds = Path(args.out) / conv
        subprocess.run([sys.executable, "-m", "dropsynth.cli", "generate", "--out", str(ds), "--overwrite",
                        "--scenes", str(args.scenes), "--views-per-scene", "2", "--width", "320", "--height", "240",
                        "--seed", "0", "--no-progress", "--set", f"output.polygon_convention={conv}"],
                       check=True, stdout=subprocess.DEVNULL)
        path = ds / "annotations" / "instances.json"
        coco = json.loads(path.read_text())
        truth = {}
        for img in coco["images"]:
            ids = np.asarray(Image.open(ds / img["instances_file"]))
            for a in coco["annotations"]:
                if a["image_id"] == img["id"]:
                    truth[a["id"]] = ids == a["inst_id"]
        api = COCO(str(path))
        rows.append((conv, "pycocotools annToMask (FiftyOne, torchvision, Datumaro)",
                     np.mean([_iou(api.annToMask(a).astype(bool), truth[a["id"]]) for a in coco["annotations"]])))
        data = sv.DetectionDataset.from_coco(str(ds), str(path), force_masks=True)
        by_name = {str(ds / img["file_name"]): img["id"] for img in coco["images"]}
        ious = []
        for p, _, det in data:
            mine = [a for a in coco["annotations"] if a["image_id"] == by_name[str(Path(p))]]
            ious += [_iou(m, truth[a["id"]]) for m, a in zip(det.mask, mine)]
        rows.append((conv, "supervision from_coco(force_masks=True)", np.mean(ious)))
        yolo = export_yolo(ds, ds / "yolo-seg", task="segment", ratios={"train": 1.0}, overwrite=True,
                           convention=conv)
        ious = []
        for img in coco["images"]:
            lines = (yolo / "labels" / "train" / (Path(img["file_name"]).stem + ".txt")).read_text().splitlines()
            mine = [a for a in coco["annotations"] if a["image_id"] == img["id"]]
            for line, a in zip(lines, mine):
                pts = np.asarray(line.split()[1:], np.float32).reshape(-1, 2) * np.float32([img["width"],
                                                                                               img["height"]])
                m = np.zeros((img["height"], img["width"]), np.uint8)
                cv2.fillPoly(m, [pts.astype(np.int32)], 1)
                ious.append(_iou(m.astype(bool), largest_component(truth[a["id"]])))
        rows.append((conv, "YOLO-seg export, cv2.fillPoly after int32 (Ultralytics polygon2mask)", np.mean(ious)))
    print(f"{len(coco['annotations'])} annotations per dataset; mean IoU with the instance image")
    for conv, who, v in rows:
        print(f"{conv:8s} {who:72s} {v:.4f}")


if __name__ == "__main__":
    main()
