"""YOLO export (dropsynth.writers.yolo): labels round-trip to the COCO boxes
and masks, splits keep scenes whole, data.yaml is what Ultralytics reads."""
from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from .helpers import generate_ok, run_cli, tree_hashes
from dropsynth.annotate import largest_component, rle_to_mask
from dropsynth.errors import ConfigError, DropsynthError
from dropsynth.writers.splits import assign_splits, scene_key
from dropsynth.writers.yolo import MARKER, export_yolo

RATIOS = {"train": 0.5, "val": 0.25, "test": 0.25}
GEN = ["--scenes", "8", "--views-per-scene", "2", "--width", "200", "--height", "150", "--seed", "5",
       "--set", "scene.num_objects=[6, 10]", "--no-progress", "--workers", "1"]


def _generate(out: Path, *extra: str) -> Path:
    return generate_ok(out, *GEN, *extra)


@pytest.fixture(scope="module")
def poly_ds(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("yolo_poly") / "ds")


@pytest.fixture(scope="module")
def rle_ds(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("yolo_rle") / "ds", "--mask-format", "rle")


def _coco(ds: Path) -> dict:
    return json.loads((ds / "annotations" / "instances.json").read_text())


def _seed_filling_every_split(coco: dict, ratios=RATIOS) -> int:
    """A seed whose assignment leaves no split empty (8 scenes could leave one empty by chance)."""
    keys = {scene_key(i) for i in coco["images"]}
    for seed in range(1000):
        if set(assign_splits(keys, ratios, seed).values()) == set(ratios):
            return seed
    raise AssertionError("no seed fills every split")


def _labels(path: Path) -> list[tuple[int, list[float]]]:
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        out.append((int(parts[0]), [float(v) for v in parts[1:]]))
    return out


def _by_image(coco: dict) -> dict[int, list[dict]]:
    anns = defaultdict(list)
    for a in coco["annotations"]:
        anns[a["image_id"]].append(a)
    return anns


def _where(yolo: Path, img: dict) -> tuple[str, Path, Path]:
    """(split, image path, label path) of a COCO image in an export; exactly one split holds it."""
    name = Path(img["file_name"]).name
    hits = [p for p in (yolo / "images").glob(f"*/{name}")]
    assert len(hits) == 1, (name, hits)
    split = hits[0].parent.name
    return split, hits[0], yolo / "labels" / split / (Path(name).stem + ".txt")


@pytest.fixture(scope="module")
def detect_export(poly_ds, tmp_path_factory) -> Path:
    seed = _seed_filling_every_split(_coco(poly_ds))
    return export_yolo(poly_ds, tmp_path_factory.mktemp("det") / "yolo", task="detect", ratios=RATIOS, seed=seed)


@pytest.mark.render
def test_detect_labels_round_trip_to_coco_boxes(poly_ds, detect_export):
    coco = _coco(poly_ds)
    anns = _by_image(coco)
    n = 0
    for img in coco["images"]:
        w, h = img["width"], img["height"]
        _, image, label = _where(detect_export, img)
        assert os.path.samefile(image, poly_ds / img["file_name"])  # hard link on one filesystem
        rows = _labels(label)
        expected = anns.get(img["id"], [])
        assert len(rows) == len(expected)
        for (cls, vals), a in zip(rows, expected):
            assert cls == a["category_id"] - 1
            assert len(vals) == 4 and all(0.0 <= v <= 1.0 for v in vals)
            cx, cy, bw, bh = vals
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
            assert np.allclose(box, a["bbox"], atol=0.5), (label, box, a["bbox"])
            n += 1
    assert n == len(coco["annotations"]) > 50


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _object_masks(coco, img, a):
    from pycocotools import mask as mask_util

    w, h = img["width"], img["height"]
    seg = a["segmentation"]
    if isinstance(seg, dict):
        want = rle_to_mask(seg)
    else:
        want = mask_util.decode(mask_util.merge(mask_util.frPyObjects(seg, h, w))).astype(bool)
    assert want.sum() == a["area"]
    return largest_component(want)  # YOLO keeps one polygon per object: the largest part


@pytest.mark.render
@pytest.mark.parametrize("fixture", ["poly_ds", "rle_ds"])
def test_segment_edges_polygons_rasterize_back_to_the_coco_masks(fixture, request, tmp_path):
    """convention='edges': pixel-corner polygons, exact for pycocotools."""
    from pycocotools import mask as mask_util

    ds = request.getfixturevalue(fixture)
    coco = _coco(ds)
    out = export_yolo(ds, tmp_path / "seg", task="segment", ratios=RATIOS, seed=1, convention="edges")
    anns = _by_image(coco)
    checked = 0
    for img in coco["images"]:
        w, h = img["width"], img["height"]
        _, _, label = _where(out, img)
        rows = _labels(label)
        expected = anns.get(img["id"], [])
        assert len(rows) == len(expected)
        for (cls, vals), a in zip(rows, expected):
            assert cls == a["category_id"] - 1
            assert len(vals) >= 6 and len(vals) % 2 == 0 and all(0.0 <= v <= 1.0 for v in vals)
            poly = (np.asarray(vals).reshape(-1, 2) * [w, h]).round(3).ravel().tolist()
            got = mask_util.decode(mask_util.merge(mask_util.frPyObjects([poly], h, w))).astype(bool)
            assert np.array_equal(got, _object_masks(coco, img, a)), (label, a["id"])
            checked += 1
    assert checked > 20


@pytest.mark.render
@pytest.mark.parametrize("fixture", ["poly_ds", "rle_ds"])
def test_segment_centers_polygons_run_through_the_mask_pixel_centres(fixture, request, tmp_path):
    """The default convention: every vertex, less the quarter-pixel bias, is
    the centre of a pixel of the object (the exact check with cv2.fillPoly is
    in tests/consumers)."""
    ds = request.getfixturevalue(fixture)
    coco = _coco(ds)
    out = export_yolo(ds, tmp_path / "seg", task="segment", ratios=RATIOS, seed=1)
    assert json.loads((out / ".dropsynth-yolo").read_text())["polygon_convention"] == "centers"
    anns = _by_image(coco)
    checked = 0
    for img in coco["images"]:
        w, h = img["width"], img["height"]
        _, _, label = _where(out, img)
        for (cls, vals), a in zip(_labels(label), anns.get(img["id"], [])):
            pts = np.asarray(vals).reshape(-1, 2) * [w, h] - 0.25
            idx = np.rint(pts).astype(int)
            assert np.abs(pts - idx).max() < 1e-3
            want = _object_masks(coco, img, a)
            assert want[idx[:, 1], idx[:, 0]].all(), (label, a["id"])
            # the extent of the vertices is the box from the first to the last pixel centre
            ys, xs = np.nonzero(want)
            assert (idx.min(0) == [xs.min(), ys.min()]).all() and (idx.max(0) == [xs.max(), ys.max()]).all()
            checked += 1
    assert checked > 20


@pytest.mark.render
def test_data_yaml_splits_and_counts(poly_ds, detect_export):
    coco = _coco(poly_ds)
    data = yaml.safe_load((detect_export / "data.yaml").read_text())
    assert data["path"] == str(detect_export) and Path(data["path"]).is_absolute()
    assert data["names"] == {i: c["name"] for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    assert list(data["names"]) == list(range(len(coco["categories"])))
    splits = {p.name for p in (detect_export / "images").iterdir()}
    assert splits == set(RATIOS)  # the seed was chosen so that none is empty
    assert {k: data[k] for k in RATIOS} == {s: f"images/{s}" for s in RATIOS}
    assert {p.name for p in (detect_export / "labels").iterdir()} == splits
    total = 0
    for s in splits:
        imgs = sorted(p.stem for p in (detect_export / "images" / s).iterdir())
        lbls = sorted(p.stem for p in (detect_export / "labels" / s).iterdir())
        assert imgs == lbls and imgs
        total += len(imgs)
    assert total == len(coco["images"])
    marker = json.loads((detect_export / MARKER).read_text())
    assert marker["task"] == "detect" and sum(c["images"] for c in marker["counts"].values()) == total
    assert not list(detect_export.parent.glob(".yolo.*"))  # no temporary folder left


@pytest.mark.render
def test_every_image_of_a_scene_lands_in_one_split(poly_ds, detect_export):
    coco = _coco(poly_ds)
    seed = json.loads((detect_export / MARKER).read_text())["seed"]
    expected = assign_splits({scene_key(i) for i in coco["images"]}, RATIOS, seed)
    by_scene = defaultdict(set)
    for img in coco["images"]:
        split, _, _ = _where(detect_export, img)
        by_scene[img["scene_id"]].add(split)
        assert split == expected[img["scene_id"]]
    assert all(len(s) == 1 for s in by_scene.values())
    assert all(sum(1 for i in coco["images"] if i["scene_id"] == s) == 2 for s in by_scene)


@pytest.mark.render
def test_default_folder_seed_and_determinism(poly_ds, tmp_path):
    seed = json.loads((poly_ds / "run.json").read_text())["seed"]
    out = export_yolo(poly_ds)
    try:
        assert out == poly_ds / "yolo"
        assert json.loads((out / MARKER).read_text())["seed"] == seed == 5
        again = export_yolo(poly_ds, tmp_path / "again", seed=seed)
        assert tree_hashes(out / "labels") == tree_hashes(again / "labels")
        assert tree_hashes(out / "images") == tree_hashes(again / "images")
    finally:
        shutil.rmtree(poly_ds / "yolo")


@pytest.mark.render
def test_ultralytics_loads_the_export(detect_export):
    utils = pytest.importorskip("ultralytics.data.utils")
    data = utils.check_det_dataset(str(detect_export / "data.yaml"))
    assert data["nc"] == len(yaml.safe_load((detect_export / "data.yaml").read_text())["names"])
    assert Path(data["train"]).is_dir() and Path(data["val"]).is_dir()


# --- a hand-made dataset for the edge cases -------------------------------------------


def _fake(root: Path, *, seed_in_run: int | None = 42) -> Path:
    """3 images of 20x10 px: a two-part polygon, an image without objects, an
    uncompressed RLE plus a crowd annotation."""
    (root / "rgb").mkdir(parents=True)
    (root / "annotations").mkdir()
    for i in range(3):
        Image.fromarray(np.full((10, 20, 3), 40 * i, np.uint8)).save(root / "rgb" / f"{i:06d}.png")
    rle_mask = np.zeros((10, 20), np.uint8)
    rle_mask[2:6, 3:9] = 1  # 4 x 6 block
    flat = rle_mask.ravel(order="F")
    counts, cur, run = [], 0, 0
    for v in flat:
        if v == cur:
            run += 1
        else:
            counts.append(run)
            cur, run = v, 1
    counts.append(run)
    coco = {
        "info": {"seed": 7},
        "images": [{"id": i + 1, "file_name": f"rgb/{i:06d}.png", "width": 20, "height": 10,
                    "scene_id": [0, 0, 1][i], "view_id": [0, 1, 0][i]} for i in range(3)],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 2, "bbox": [1.0, 1.0, 15.0, 6.0], "area": 19.0, "iscrowd": 0,
             "segmentation": [[1, 1, 3, 1, 3, 2, 1, 2], [10, 3, 16, 3, 16, 7, 10, 7]]},
            {"id": 2, "image_id": 3, "category_id": 1, "bbox": [3.0, 2.0, 6.0, 4.0], "area": 24.0, "iscrowd": 0,
             "segmentation": {"size": [10, 20], "counts": counts}},
            {"id": 3, "image_id": 3, "category_id": 1, "bbox": [0.0, 0.0, 5.0, 5.0], "area": 25.0, "iscrowd": 1,
             "segmentation": {"size": [10, 20], "counts": counts}},
        ],
        "categories": [{"id": 1, "name": "cat_a"}, {"id": 2, "name": "cat_b"}],
    }
    (root / "annotations" / "instances.json").write_text(json.dumps(coco))
    if seed_in_run is not None:
        (root / "run.json").write_text(json.dumps({"seed": seed_in_run}))
    return root


def _all_labels(out: Path) -> dict[str, list]:
    return {p.stem: _labels(p) for p in out.glob("labels/*/*.txt")}


def test_edge_cases_empty_image_multipart_rle_crowd(tmp_path):
    ds = _fake(tmp_path / "ds")
    det = _all_labels(export_yolo(ds, tmp_path / "det", ratios={"train": 1}))
    assert det["000001"] == []  # an image without objects still gets its (empty) label file
    assert det["000000"] == [(1, pytest.approx([8.5 / 20, 4 / 10, 15 / 20, 6 / 10]))]
    assert det["000002"] == [(0, pytest.approx([6 / 20, 4 / 10, 6 / 20, 4 / 10]))]  # the crowd one is left out
    seg = _all_labels(export_yolo(ds, tmp_path / "seg", task="segment", ratios={"train": 1}))
    assert seg["000001"] == []
    # The larger of the two parts (pixels x 10..15, y 3..6), through the centres of its corner pixels, each
    # written a quarter pixel on; the RLE traced the same way.
    assert seg["000000"] == [(1, pytest.approx([10.25 / 20, 0.325, 15.25 / 20, 0.325, 15.25 / 20, 0.625,
                                                10.25 / 20, 0.625]))]
    cls, poly = seg["000002"][0]
    pts = np.asarray(poly).reshape(-1, 2) * [20, 10] - 0.25
    assert cls == 0 and {tuple(p) for p in np.rint(pts).tolist()} == {(3, 2), (8, 2), (8, 5), (3, 5)}
    edges = _all_labels(export_yolo(ds, tmp_path / "seg-edges", task="segment", ratios={"train": 1},
                                    convention="edges"))
    assert edges["000000"] == [(1, pytest.approx([0.5, 0.3, 0.8, 0.3, 0.8, 0.7, 0.5, 0.7]))]
    cls, poly = edges["000002"][0]
    pts = np.asarray(poly).reshape(-1, 2) * [20, 10]
    assert cls == 0 and {tuple(p) for p in pts.tolist()} == {(3, 2), (9, 2), (9, 6), (3, 6)}


def test_default_seed_comes_from_run_json_then_coco_info(tmp_path):
    out = export_yolo(_fake(tmp_path / "a"))
    assert json.loads((out / MARKER).read_text())["seed"] == 42
    out = export_yolo(_fake(tmp_path / "b", seed_in_run=None))
    assert json.loads((out / MARKER).read_text())["seed"] == 7


def test_out_dir_rules(tmp_path):
    ds = _fake(tmp_path / "ds")
    out = export_yolo(ds, tmp_path / "y", ratios={"train": 1})
    with pytest.raises(ConfigError, match="not empty"):
        export_yolo(ds, out)
    (out / "stale.txt").write_text("from before")
    again = export_yolo(ds, out, overwrite=True, ratios={"train": 0.5, "val": 0.5}, seed=3)
    assert again == out and not (out / "stale.txt").exists()
    assert set(yaml.safe_load((out / "data.yaml").read_text())) >= {"path", "names"}
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(ConfigError, match="not a dropsynth YOLO export"):
        export_yolo(ds, foreign, overwrite=True)
    assert (foreign / "precious.txt").read_text() == "keep"
    with pytest.raises(ConfigError, match="must not be the dataset folder"):
        export_yolo(ds, ds, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_yolo(ds, empty) == empty and (empty / "data.yaml").is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_errors_name_the_file_and_leave_nothing_behind(tmp_path):
    ds = _fake(tmp_path / "ds")
    (ds / "rgb" / "000002.png").unlink()
    with pytest.raises(DropsynthError, match=r"000002\.png: image file not found") as e:
        export_yolo(ds, tmp_path / "y")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "y").exists() and not list(tmp_path.glob(".y.*"))
    with pytest.raises(DropsynthError, match=r"instances\.json: not found"):
        export_yolo(tmp_path / "nothing")
    (ds / "annotations" / "instances.json").write_text("{not json")
    with pytest.raises(DropsynthError, match=r"instances\.json: not valid JSON"):
        export_yolo(ds)
    with pytest.raises(ConfigError, match="task must be one of"):
        export_yolo(ds, task="pose")
    with pytest.raises(ConfigError, match="split ratios"):
        export_yolo(ds, ratios={"train": -1})


def test_duplicate_file_names_are_refused(tmp_path):
    ds = _fake(tmp_path / "ds")
    coco = _coco(ds)
    (ds / "rgb" / "sub").mkdir()
    os.link(ds / "rgb" / "000000.png", ds / "rgb" / "sub" / "000000.png")
    coco["images"][1]["file_name"] = "rgb/sub/000000.png"
    (ds / "annotations" / "instances.json").write_text(json.dumps(coco))
    with pytest.raises(DropsynthError, match="share the file name 000000.png"):
        export_yolo(ds, tmp_path / "y")


def test_no_warning_for_train_only_and_one_for_a_single_scene(tmp_path, caplog):
    ds = _fake(tmp_path / "ds")  # two scenes
    with caplog.at_level("WARNING", logger="dropsynth.writers.yolo"):
        out = export_yolo(ds, tmp_path / "a", ratios={"train": 1.0})
    assert not caplog.records
    assert "val" not in yaml.safe_load((out / "data.yaml").read_text())
    with caplog.at_level("WARNING", logger="dropsynth.writers.yolo"):
        out = export_yolo(ds, tmp_path / "b")  # default 0.8/0.1/0.1: two scenes give train and val
    assert not caplog.records
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["train"] == "images/train" and data["val"] == "images/val"
    coco = json.loads((ds / "annotations" / "instances.json").read_text())
    coco["images"] = [img for img in coco["images"] if img["scene_id"] == 1]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in {img["id"] for img in coco["images"]}]
    (ds / "annotations" / "instances.json").write_text(json.dumps(coco))
    with caplog.at_level("WARNING", logger="dropsynth.writers.yolo"):
        export_yolo(ds, tmp_path / "c", ratios={"train": 0.5, "val": 0.5})
    assert len(caplog.records) == 1 and "the dataset has 1 scene(s)" in caplog.records[0].getMessage()


def test_export_command_polygons_option(tmp_path):
    ds = _fake(tmp_path / "ds")
    for conv, first in (("edges", 0.5), ("centers", 10.25 / 20)):
        out = tmp_path / conv
        res = run_cli("export", "yolo", str(ds), "--task", "segment", "--polygons", conv, "--split", "train=1",
                      "--out", str(out))
        assert res.exit_code == 0, res.output
        assert json.loads((out / MARKER).read_text())["polygon_convention"] == conv
        assert _all_labels(out)["000000"][0][1][0] == pytest.approx(first)
    res = run_cli("export", "yolo", str(ds), "--task", "segment", "--polygons", "middle")
    assert res.exit_code != 0 and "middle" in res.output
