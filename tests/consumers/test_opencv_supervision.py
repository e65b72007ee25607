"""OpenCV's rasterizer (cv2.fillPoly, as supervision and Ultralytics use it)
on our YOLO-seg and COCO polygons, and supervision's COCO loader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .consumer_data import instance_mask, iou, load
from dropsynth.annotate import centers_to_mask, largest_component
from dropsynth.writers.yolo import export_yolo

pytestmark = [pytest.mark.consumers, pytest.mark.render]
cv2 = pytest.importorskip("cv2")  # every test here rasterizes with OpenCV (supervision does too)


def _fill(polys, h, w, to_int) -> np.ndarray:
    out = np.zeros((h, w), np.uint8)
    for p in polys:
        cv2.fillPoly(out, [to_int(np.asarray(p, np.float32).reshape(-1, 2))], 1)
    return out.astype(bool)


TRUNCATE = lambda p: p.astype(np.int32)  # noqa: E731  Ultralytics' polygon2mask
ROUND = lambda p: np.round(p).astype(np.int32)  # noqa: E731  supervision's loaders


@pytest.mark.parametrize("fixture", ["edges_ds", "rle_ds", "occlusion_ds", "centers_ds"])
def test_cv2_fillpoly_of_the_yolo_seg_polygons_is_the_instance_mask(fixture, request, tmp_path):
    ds = request.getfixturevalue(fixture)
    coco = load(ds)
    out = export_yolo(ds, tmp_path / "seg", task="segment", ratios={"train": 1.0})
    anns = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    checked = 0
    for img in coco["images"]:
        w, h = img["width"], img["height"]
        rows = (out / "labels" / "train" / (Path(img["file_name"]).stem + ".txt")).read_text().splitlines()
        assert len(rows) == len(anns.get(img["id"], []))
        for row, a in zip(rows, anns.get(img["id"], [])):
            vals = np.asarray([float(v) for v in row.split()[1:]], np.float32)  # float32, as Ultralytics reads
            poly = vals.reshape(-1, 2) * np.array([w, h], np.float32)
            want = largest_component(instance_mask(ds, img, a))
            assert np.array_equal(_fill([poly], h, w, TRUNCATE), want), (img["file_name"], a["id"])
            assert np.array_equal(_fill([poly], h, w, ROUND), want), (img["file_name"], a["id"])
            checked += 1
    assert checked > 20


def test_cv2_fillpoly_of_centers_coco_polygons_is_the_instance_mask(centers_ds):
    coco = load(centers_ds)
    assert coco["info"]["polygon_convention"] == "centers"
    images = {img["id"]: img for img in coco["images"]}
    multi = 0
    for a in coco["annotations"]:
        img = images[a["image_id"]]
        want = instance_mask(centers_ds, img, a)
        for to_int in (TRUNCATE, ROUND):
            assert np.array_equal(_fill(a["segmentation"], img["height"], img["width"], to_int), want), a["id"]
        assert np.array_equal(centers_to_mask(a["segmentation"], img["height"], img["width"]), want)
        multi += len(a["segmentation"]) > 1
    assert multi > 0  # occluded objects in several parts are covered too


def _sv_masks(ds: Path):
    sv = pytest.importorskip("supervision")
    data = sv.DetectionDataset.from_coco(images_directory_path=str(ds),
                                         annotations_path=str(ds / "annotations" / "instances.json"),
                                         force_masks=True)
    coco = load(ds)
    by_name = {str(ds / img["file_name"]): img for img in coco["images"]}
    anns = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    for path, _, det in data:
        img = by_name[str(Path(path))]
        mine = anns.get(img["id"], [])
        assert len(det) == len(mine)
        for m, a, cls in zip(det.mask, mine, det.class_id):
            yield img, a, m, instance_mask(ds, img, a)


@pytest.mark.parametrize("fixture", ["centers_ds", "rle_ds"])
def test_supervision_from_coco_masks_are_exact(fixture, request):
    """supervision rounds polygon vertices and fills them with cv2.fillPoly,
    one polygon at a time (multi-part polygons load since 0.26): exact for
    pixel-centre polygons and for RLE."""
    ds = request.getfixturevalue(fixture)
    n = multi = 0
    for img, a, got, want in _sv_masks(ds):
        assert np.array_equal(got, want), (img["file_name"], a["id"])
        n += 1
        multi += isinstance(a["segmentation"], list) and len(a["segmentation"]) > 1
    assert n > 20 and (fixture == "rle_ds" or multi > 0)


def test_supervision_reads_edges_polygons_one_pixel_wider(edges_ds):
    """The default (pycocotools') convention: supervision's mask is the true
    one plus the pixels right of and below it."""
    ious = []
    for img, a, got, want in _sv_masks(edges_ds):
        assert (got | want).sum() == got.sum()  # it contains every true pixel
        grown = want.copy()
        grown[:, 1:] |= want[:, :-1]
        grown[1:, :] |= grown[:-1, :].copy()
        assert not (got & ~grown).any()  # and nothing beyond one pixel right and down
        ious.append(iou(got, want))
    assert 0.5 < np.mean(ious) < 1.0
