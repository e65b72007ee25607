"""The utility benchmark's scorer against what COCOeval is defined to give."""
import json

import numpy as np
import pytest

from dropsynth.errors import DropsynthError
from dropsynth.utility.score import gt_as_results, score, score_files


def _gt(boxes_per_image, cats=("mug", "duck")):
    images, anns = [], []
    for i, boxes in enumerate(boxes_per_image):
        images.append({"id": i + 1, "file_name": f"rgb/{i:06d}.png", "width": 200, "height": 100})
        for cat, box in boxes:
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cats.index(cat) + 1,
                         "bbox": list(box), "area": box[2] * box[3], "iscrowd": 0})
    return {"images": images, "annotations": anns,
            "categories": [{"id": k + 1, "name": n} for k, n in enumerate(cats)]}


def _iou(a, b):
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_ground_truth_as_predictions_scores_one():
    gt = _gt([[("mug", (10, 10, 30, 20)), ("duck", (60, 5, 20, 40))], [("mug", (100, 50, 40, 30))]])
    s = score(gt, gt_as_results(gt))
    assert s["AP"] == pytest.approx(1.0)
    assert s["AP50"] == pytest.approx(1.0) and s["AP75"] == pytest.approx(1.0)
    assert s["per_class_AP50"] == {"mug": pytest.approx(1.0), "duck": pytest.approx(1.0)}
    assert s["results_matched"] == 3 and s["unmatched_images"] == 0


@pytest.mark.parametrize("shift", [4, 8, 12, 16, 22])
def test_a_shifted_box_counts_at_the_iou_thresholds_it_passes(shift):
    """One object, one prediction shifted sideways: COCOeval counts it a hit at
    every IoU threshold t <= IoU, so AP is the share of the ten thresholds
    0.50:0.05:0.95 it passes, AP50 is 1 when IoU >= 0.5 and AP75 when >= 0.75."""
    box = (50.0, 20.0, 40.0, 40.0)
    gt = _gt([[("mug", box)]])
    moved = (box[0] + shift, box[1], box[2], box[3])
    iou = _iou(box, moved)
    pred = [{"file_name": "rgb/000000.png", "category_name": "mug", "bbox": list(moved), "score": 0.9}]
    s = score(gt, pred)
    thresholds = np.linspace(0.5, 0.95, 10)
    assert s["AP"] == pytest.approx(float(np.mean(iou >= thresholds - 1e-12)), abs=1e-6)
    assert s["AP50"] == pytest.approx(1.0 if iou >= 0.5 else 0.0)
    assert s["AP75"] == pytest.approx(1.0 if iou >= 0.75 else 0.0)


def test_a_false_positive_ranked_first_halves_precision():
    """Two objects, three detections: a miss with the top score, then two hits
    (precision 0, 1/2, 2/3 at recall 0, 0.5, 1). COCO's interpolated precision
    at recall r is the best precision at any recall >= r: 2/3 at all 101
    recall levels, so AP50 = 2/3 (not 1, as it would be without the miss)."""
    gt = _gt([[("mug", (10, 10, 30, 30)), ("mug", (100, 10, 30, 30))]])
    pred = [{"file_name": "rgb/000000.png", "category_name": "mug", "bbox": [150, 60, 30, 30], "score": 0.99},
            {"file_name": "rgb/000000.png", "category_name": "mug", "bbox": [10, 10, 30, 30], "score": 0.8},
            {"file_name": "rgb/000000.png", "category_name": "mug", "bbox": [100, 10, 30, 30], "score": 0.7}]
    assert score(gt, pred)["AP50"] == pytest.approx(2 / 3, abs=1e-6)


def test_images_match_by_file_name_and_categories_by_name():
    """A detector with its own numbering: other image ids, other category ids,
    file names relative to the image folder. Scores as the ground truth."""
    gt = _gt([[("mug", (10, 10, 30, 20))], [("duck", (60, 5, 20, 40))]])
    pred = []
    for r in gt_as_results(gt):
        pred.append({**r, "image_id": 1000 + r["image_id"], "category_id": 77,
                     "file_name": r["file_name"].split("/")[-1]})
    s = score(gt, pred)
    assert s["AP"] == pytest.approx(1.0) and s["results_matched"] == 2


def test_results_on_unknown_images_and_categories_are_counted_and_left_out():
    gt = _gt([[("mug", (10, 10, 30, 20))]])
    pred = gt_as_results(gt) + [
        {"file_name": "elsewhere/xyz.png", "category_name": "mug", "bbox": [0, 0, 5, 5], "score": 1.0},
        {"file_name": "rgb/000000.png", "category_name": "giraffe", "bbox": [0, 0, 5, 5], "score": 1.0}]
    s = score(gt, pred)
    assert s["unmatched_images"] == 1 and s["unmatched_categories"] == 1
    assert s["AP"] == pytest.approx(1.0)


def test_ambiguous_base_names_need_the_whole_path():
    gt = _gt([[("mug", (10, 10, 30, 20))]])
    gt["images"].append({"id": 2, "file_name": "other/000000.png", "width": 200, "height": 100})
    pred = [{"file_name": "000000.png", "category_name": "mug", "bbox": [10, 10, 30, 20], "score": 1.0}]
    assert score(gt, pred)["unmatched_images"] == 1
    pred[0]["file_name"] = "./rgb/000000.png"
    assert score(gt, pred)["AP"] == pytest.approx(1.0)


def test_no_results_score_zero_and_classes_without_ground_truth_are_none():
    gt = _gt([[("mug", (10, 10, 30, 20))]])
    s = score(gt, [])
    assert s["AP"] == 0.0 and s["AP50"] == 0.0
    assert s["per_class_AP50"] == {"mug": 0.0, "duck": None}


def test_bad_files_are_one_line_errors(tmp_path):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(_gt([[("mug", (1, 1, 5, 5))]])))
    bad = tmp_path / "pred.json"
    bad.write_text("{not json")
    with pytest.raises(DropsynthError, match="pred.json: results is not valid JSON"):
        score_files(gt, bad)
    bad.write_text(json.dumps([{"file_name": "rgb/000000.png", "category_name": "mug"}]))
    with pytest.raises(DropsynthError, match=r"result 0: needs 'bbox' and 'score'"):
        score_files(gt, bad)
    with pytest.raises(DropsynthError, match="missing.json: ground truth not found"):
        score_files(tmp_path / "missing.json", bad)
    (tmp_path / "notcoco.json").write_text("[]")
    with pytest.raises(DropsynthError, match="notcoco.json: not a COCO instances file"):
        score_files(tmp_path / "notcoco.json", bad)


def test_segm_results_without_a_usable_mask_are_one_line_errors():
    gt = _gt([[("mug", (10, 10, 30, 20))]])
    gt["annotations"][0]["segmentation"] = [[10, 10, 40, 10, 40, 30, 10, 30]]
    ok = gt_as_results(gt, "segm")
    assert score(gt, ok, iou_type="segm")["AP"] == pytest.approx(1.0)
    for bad in ([], [[1, 2, 3, 4]], "x", {"counts": "abc"}):
        with pytest.raises(DropsynthError, match=r"result 0: segmentation must be RLE"):
            score(gt, [{**ok[0], "segmentation": bad}], iou_type="segm")
