"""End to end through the CLI: the files load in real COCO consumers and the
labels match the pixels exactly."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from .helpers import SMALL, run_cli, tree_hashes

pytestmark = [pytest.mark.slow, pytest.mark.render]


def _quiet_coco(path: Path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _ann(ds: Path) -> Path:
    return ds / "annotations" / "instances.json"


def _instances(ds: Path, img: dict) -> np.ndarray:
    with Image.open(ds / img["instances_file"]) as im:
        return np.asarray(im)


@pytest.mark.parametrize("fixture", ["poly_dataset", "rle_dataset"])
def test_every_mask_equals_its_pixels_in_the_instance_image(fixture, request):
    ds = request.getfixturevalue(fixture)
    coco = _quiet_coco(_ann(ds))
    assert len(coco.imgs) == 6
    n = 0
    for img_id, img in coco.imgs.items():
        ids = _instances(ds, img)
        assert ids.dtype == np.uint16 and ids.shape == (img["height"], img["width"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        annotated = {a["inst_id"] for a in anns}
        for a in anns:
            m = coco.annToMask(a).astype(bool)
            assert np.array_equal(m, ids == a["inst_id"]), (img["file_name"], a["inst_id"])
            ys, xs = np.nonzero(m)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert a["area"] == m.sum() == a["px_count_visib"]
            n += 1
        # every visible object with enough pixels is annotated
        present, counts = np.unique(ids[ids > 0], return_counts=True)
        assert set(present[counts >= 20].tolist()) <= annotated
    assert n > 20


def test_coco_rules_from_shared_coco_md(poly_dataset):
    data = json.loads(_ann(poly_dataset).read_text())
    assert set(data) >= {"info", "licenses", "images", "annotations", "categories"}
    assert isinstance(data["info"], dict) and isinstance(data["licenses"], list)
    cats = data["categories"]
    assert [c["id"] for c in cats] == list(range(1, len(cats) + 1))
    assert len({c["name"] for c in cats}) == len(cats)
    assert all(c["supercategory"] and c["supercategory"] != "none" for c in cats)
    # categories come from the pack file, not from code
    pack = yaml.safe_load((Path(__file__).parents[2] / "assets" / "builtin" / "pack.yaml").read_text())
    assert [c["name"] for c in cats] == list(dict.fromkeys(o["category"] for o in pack["objects"]))
    img_ids = [i["id"] for i in data["images"]]
    assert len(set(img_ids)) == len(img_ids) and min(img_ids) >= 1
    for img in data["images"]:
        with Image.open(poly_dataset / img["file_name"]) as im:
            assert im.size == (img["width"], img["height"]) and im.mode == "RGB"
        with Image.open(poly_dataset / img["depth_file"]) as im:
            assert im.size == (img["width"], img["height"]) and np.asarray(im).dtype == np.uint16
        assert np.array(img["K"]).shape == (3, 3) and np.array(img["world_T_cam"]).shape == (4, 4)
        assert img["depth_scale"] == pytest.approx(1e-4)
        assert isinstance(img["scene_id"], int)
    ann_ids = [a["id"] for a in data["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids) and min(ann_ids) >= 1
    cat_ids = {c["id"] for c in cats}
    for a in data["annotations"]:
        assert a["image_id"] in set(img_ids) and a["category_id"] in cat_ids
        x, y, w, h = a["bbox"]
        img = data["images"][a["image_id"] - 1]
        assert all(isinstance(v, float) for v in a["bbox"])
        assert w >= 1 and h >= 1 and x >= 0 and y >= 0 and x + w <= img["width"] and y + h <= img["height"]
        assert a["area"] > 0 and a["iscrowd"] == 0 and "ignore" not in a
        assert isinstance(a["segmentation"], list) and a["segmentation"]
        for poly in a["segmentation"]:
            assert len(poly) % 2 == 0 and len(poly) >= 6 and len(poly) != 4
        assert np.array(a["cam_T_obj"]).shape == (4, 4) and isinstance(a["asset_id"], str)


def test_rle_file_uses_rle_only(rle_dataset):
    data = json.loads(_ann(rle_dataset).read_text())
    for a in data["annotations"]:
        seg = a["segmentation"]
        assert isinstance(seg, dict) and isinstance(seg["counts"], str)
        img = data["images"][a["image_id"] - 1]
        assert seg["size"] == [img["height"], img["width"]]


@pytest.mark.parametrize("fixture", ["poly_dataset", "rle_dataset"])
def test_cocoeval_of_ground_truth_against_itself_is_perfect(fixture, request):
    from pycocotools.cocoeval import COCOeval

    ds = request.getfixturevalue(fixture)
    gt = _quiet_coco(_ann(ds))
    dets = [dict(a, score=1.0) for a in gt.dataset["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        for iou in ("bbox", "segm"):
            ev = COCOeval(gt, dt, iou)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            assert ev.stats[0] == pytest.approx(1.0), iou  # AP@[.5:.95]
            assert ev.stats[1] == pytest.approx(1.0), iou  # AP@.5


def test_faster_coco_eval_loads_and_scores(poly_dataset):
    from faster_coco_eval import COCO, COCOeval_faster

    gt = COCO(str(_ann(poly_dataset)))
    assert len(gt.getAnnIds()) == len(json.loads(_ann(poly_dataset).read_text())["annotations"])
    dt = gt.loadRes([dict(a, score=1.0) for a in gt.dataset["annotations"]])
    for iou in ("bbox", "segm"):
        ev = COCOeval_faster(gt, dt, iouType=iou)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        assert ev.stats[0] == pytest.approx(1.0), iou


@pytest.mark.parametrize("fixture", ["poly_dataset", "largest_part_dataset", "rle_dataset"])
def test_supervision_loads_with_masks(fixture, request):
    import warnings

    ds = request.getfixturevalue(fixture)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import supervision as sv

        dataset = sv.DetectionDataset.from_coco(images_directory_path=str(ds),
                                                annotations_path=str(_ann(ds)), force_masks=True)
    data = json.loads(_ann(ds).read_text())
    assert len(dataset) == len(data["images"])
    assert dataset.classes == [c["name"] for c in data["categories"]]
    total = 0
    for _, _, det in dataset:
        assert det.mask is not None and det.mask.shape[0] == len(det)
        total += len(det)
    assert total == len(data["annotations"])


def test_largest_part_only_keeps_one_polygon_consistent_with_bbox_and_area(largest_part_dataset):
    coco = _quiet_coco(_ann(largest_part_dataset))
    for a in coco.dataset["annotations"]:
        assert len(a["segmentation"]) == 1
        m = coco.annToMask(a).astype(bool)
        ys, xs = np.nonzero(m)
        assert a["area"] == m.sum()
        assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_poses_and_depth_agree_with_the_pixels(poly_dataset):
    """An object's centre projected with K and cam_T_obj lands near its mask,
    and the depth there is close to the object's distance."""
    data = json.loads(_ann(poly_dataset).read_text())
    checked = 0
    for a in data["annotations"]:
        img = data["images"][a["image_id"] - 1]
        if a["area"] < 400:
            continue
        K = np.array(img["K"])
        t = np.array(a["cam_T_obj"])[:3, 3]
        u, v = (K @ (t / t[2]))[:2]
        x, y, w, h = a["bbox"]
        assert x - 0.25 * w <= u <= x + 1.25 * w and y - 0.25 * h <= v <= y + 1.25 * h
        with Image.open(poly_dataset / img["depth_file"]) as im:
            depth = np.asarray(im).astype(np.float64) * img["depth_scale"]
        with Image.open(poly_dataset / img["instances_file"]) as im:
            ids = np.asarray(im)
        d = np.median(depth[ids == a["inst_id"]])
        assert abs(d - t[2]) < 0.1  # objects are a few cm across
        checked += 1
    assert checked > 5


def test_same_seed_gives_identical_files(poly_dataset, tmp_path):
    again = tmp_path / "again"
    res = run_cli("generate", "--out", str(again), *SMALL)
    assert res.exit_code == 0, res.output
    a, b = tree_hashes(poly_dataset), tree_hashes(again)
    assert a == b
    assert any(k.startswith("rgb/") for k in a) and "annotations/instances.json" in a


def test_other_seed_gives_other_frames(poly_dataset, tmp_path):
    other = tmp_path / "other"
    args = list(SMALL)
    args[args.index("--seed") + 1] = "4"
    assert run_cli("generate", "--out", str(other), *args).exit_code == 0
    assert tree_hashes(poly_dataset)["rgb/000000.png"] != tree_hashes(other)["rgb/000000.png"]


def test_run_json_summary_and_preview(poly_dataset):
    run = json.loads((poly_dataset / "run.json").read_text())
    data = json.loads(_ann(poly_dataset).read_text())
    assert run["seed"] == 3 and run["config"]["camera"]["width"] == 320
    assert run["counts"]["frames"] == 6 and run["counts"]["annotations"] == len(data["annotations"])
    assert sum(run["counts"]["per_class"].values()) == len(data["annotations"])
    assert {"pybullet", "pyrender", "numpy", "trimesh"} <= set(run["versions"])
    assert set(run["timings"]["stage_seconds"]) >= {"physics", "render", "annotate", "write"}
    with Image.open(poly_dataset / "preview.png") as im:
        assert im.width > 320 and im.height >= 240
        px = np.asarray(im.convert("RGB"))
    assert px.std() > 10  # a real picture, not a blank sheet


def test_summary_is_printed(tmp_path):
    res = run_cli("generate", "--out", str(tmp_path / "d"), "--scenes", "1", "--views-per-scene", "2",
                  "--width", "160", "--height", "120", "--no-progress")
    assert res.exit_code == 0, res.output
    for word in ("frames:", "annotations:", "dropped:", "frames/s", "preview:"):
        assert word in res.output
    assert "2 (1 scenes x 2 views, 160x120)" in res.output


def test_preview_command_writes_a_png(poly_dataset, tmp_path):
    out = tmp_path / "p.png"
    res = run_cli("preview", str(poly_dataset), "--out", str(out), "--frames", "4")
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        assert im.width > 320


def test_frame_content_depends_only_on_seed_scene_and_view(tmp_path):
    """Scene 1 / view 1 is the same picture whether the run has 3 views per
    scene (image index 4) or 2 views and an extra scene (image index 3)."""
    base = ["--width", "160", "--height", "120", "--seed", "11", "--no-progress"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("generate", "--out", str(a), "--scenes", "2", "--views-per-scene", "3", *base).exit_code == 0
    assert run_cli("generate", "--out", str(b), "--scenes", "3", "--views-per-scene", "2", *base).exit_code == 0
    ha, hb = tree_hashes(a), tree_hashes(b)
    for sub in ("rgb", "depth", "instances"):
        assert ha[f"{sub}/000004.png"] == hb[f"{sub}/000003.png"]
        assert ha[f"{sub}/000000.png"] == hb[f"{sub}/000000.png"]
    ia = json.loads(_ann(a).read_text())["images"][4]
    ib = json.loads(_ann(b).read_text())["images"][3]
    assert (ia["scene_id"], ia["view_id"]) == (ib["scene_id"], ib["view_id"]) == (1, 1)
    assert ia["world_T_cam"] == ib["world_T_cam"]


def test_config_show_output_is_a_valid_config(tmp_path):
    res = run_cli("config", "show", "--set", "scene.num_objects=[2, 3]", "--set", "camera.fov_y_deg=60")
    assert res.exit_code == 0, res.output
    path = tmp_path / "resolved.yaml"
    path.write_text(res.output)
    again = run_cli("config", "show", "--config", str(path))
    assert again.exit_code == 0 and again.output == res.output


def test_min_visible_fraction_drops_hidden_objects_and_writes_amodal_keys(tmp_path, poly_dataset):
    out = tmp_path / "amodal"
    res = run_cli("generate", "--out", str(out), *SMALL, "--set", "output.min_visible_fraction=0.98")
    assert res.exit_code == 0, res.output
    coco = _quiet_coco(_ann(out))
    anns = coco.dataset["annotations"]
    assert anns
    for a in anns:
        assert a["visib_fract"] >= 0.98 and a["px_count_all"] >= a["px_count_visib"] == a["area"]
        amodal = coco.annToMask({**a, "segmentation": a["segmentation_amodal"]}).astype(bool)
        assert amodal.sum() == a["px_count_all"] and not (coco.annToMask(a).astype(bool) & ~amodal).any()
        x, y, w, h = a["bbox"]
        ax, ay, aw, ah = a["bbox_amodal"]
        assert ax <= x and ay <= y and ax + aw >= x + w and ay + ah >= y + h
    # the same run without the threshold annotates more (the hidden ones too)
    base = json.loads(_ann(poly_dataset).read_text())["annotations"]  # the same run (SMALL), no threshold
    assert len(base) > len(anns)


def test_extra_ground_truth_files_and_keypoints(tmp_path):
    out = tmp_path / "gt"
    res = run_cli("generate", "--out", str(out), *SMALL, "--set", "output.ground_truth=[class, normals, nocs, bbox3d]",
                  "--set", "output.keypoints=true")
    assert res.exit_code == 0, res.output
    coco = _quiet_coco(_ann(out))
    cat_names = [c["name"] for c in coco.dataset["categories"]]
    for c in coco.dataset["categories"]:
        assert len(c["keypoints"]) == 8 and len(c["skeleton"]) == 12
    for img in coco.dataset["images"]:
        ids = _instances(out, img)
        with Image.open(out / img["class_file"]) as im:
            cls = np.asarray(im)
        assert cls.dtype == np.uint16 and cls.shape == ids.shape
        for a in coco.imgToAnns[img["id"]]:
            assert (cls[ids == a["inst_id"]] == a["category_id"]).all()
            assert len(a["keypoints"]) == 24 and a["num_keypoints"] == sum(v > 0 for v in a["keypoints"][2::3])
            assert np.array(a["bbox3d_cam"]).shape == (8, 3) and np.array(a["bbox3d_px"]).shape == (8, 2)
        for key in ("normals_file", "nocs_file"):
            with Image.open(out / img[key]) as im:
                assert im.mode == "RGB" and im.size == (img["width"], img["height"])
                px = np.asarray(im)
            assert not px[ids == 0].any() if key == "nocs_file" else px[ids > 0].any()
    assert len(cat_names) == len(set(cat_names))


def test_sensor_effects_leave_the_ground_truth_untouched(poly_dataset, tmp_path):
    out = tmp_path / "noisy"
    res = run_cli("generate", "--out", str(out), *SMALL, "--set", "sensor.gaussian_noise=0.02",
                  "--set", "sensor.jpeg_quality=[40, 70]", "--set", "sensor.depth_noise=2",
                  "--set", "sensor.depth_holes=3")
    assert res.exit_code == 0, res.output
    clean, noisy = tree_hashes(poly_dataset), tree_hashes(out)
    for key, digest in clean.items():
        if key.startswith(("depth/", "instances/")):
            assert noisy[key] == digest, key
        if key.startswith("rgb/"):
            assert noisy[key] != digest, key
    a = json.loads(_ann(poly_dataset).read_text())
    b = json.loads(_ann(out).read_text())
    assert a["annotations"] == b["annotations"]
    assert all(img["depth_noisy_file"].startswith("depth_noisy/") for img in b["images"])
    assert any(k.startswith("depth_noisy/") for k in noisy)


# FiftyOne's importer turns extra annotation keys into Detection attributes and refuses these names.
FIFTYONE_RESERVED = {"id", "tags", "label", "bounding_box", "mask", "mask_path", "confidence", "index", "instance",
                     "instance_id", "attributes"}


def test_no_coco_key_is_reserved_by_fiftyone(poly_dataset):
    coco = json.loads((poly_dataset / "annotations" / "instances.json").read_text())
    extra = {k for a in coco["annotations"] for k in a} - {"id", "image_id", "category_id", "bbox", "area",
                                                           "iscrowd", "segmentation"}
    assert "inst_id" in extra and not extra & FIFTYONE_RESERVED
    assert coco["info"]["polygon_convention"] == "edges"


def test_progress_reports_frames_and_annotations_and_summary_counts_workers_that_ran(tmp_path):
    from dropsynth import config as config_mod
    from dropsynth.pipeline import generate

    cfg = config_mod.load(None, {"scenes": 2, "views_per_scene": 2, "camera": {"width": 160, "height": 120},
                                 "output": {"preview": False}})
    calls = []
    s = generate(cfg, tmp_path / "ds", workers=3, progress=lambda n, anns: calls.append((n, anns)))
    assert sum(n for n, _ in calls) == 4 and sum(a for _, a in calls) == s.annotations > 0
    # 2 scenes make one shard (output.shard_scenes 4): one of the 3 workers asked for ran
    assert (s.workers, s.workers_asked) == (1, 3)
    res = run_cli("generate", "--out", str(tmp_path / "cli"), "--scenes", "1", "--views-per-scene", "1",
                  "--width", "160", "--height", "120", "--workers", "2")
    assert res.exit_code == 0, res.output
    assert "with 1 local worker(s) (of 2 asked: one per shard at most)" in res.output
    assert "1/1 frames [" in res.output and "elapsed, ETA" in res.output and " annotations]" in res.output
