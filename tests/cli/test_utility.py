"""dropsynth utility: data preparation, scoring, errors without the extra, and
(with the extra installed) a real training, prediction and scoring."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from dropsynth.errors import ConfigError
from dropsynth.utility.score import gt_as_results

from .helpers import run_cli

pytestmark = pytest.mark.render

HAS_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("torch", "torchvision", "ultralytics"))


def _coco(ds: Path) -> dict:
    return json.loads((ds / "annotations" / "instances.json").read_text())


def test_yolo_export_for_training_holds_exactly_the_annotations(poly_dataset, rle_dataset, tmp_path):
    """What the detector trains on: every label line is one annotation of that
    image (class = category index in id order, box = COCO bbox normalized),
    and data.yaml names the categories in that order."""
    from dropsynth.utility.train import prepare_data

    prep = prepare_data(poly_dataset, tmp_path / "data", val=rle_dataset)
    data = yaml.safe_load(prep["data_yaml"].read_text())
    coco = _coco(poly_dataset)
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    assert data["names"] == {i: c["name"] for i, c in enumerate(cats)}
    assert prep["train_images"] == len(coco["images"]) and prep["val_images"] == len(_coco(rle_dataset)["images"])
    by_image = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    checked = 0
    for img in coco["images"]:
        lines = (Path(data["train"]).parent.parent / "labels" / "train" /
                 (Path(img["file_name"]).stem + ".txt")).read_text().splitlines()
        want = sorted(
            (cats.index(next(c for c in cats if c["id"] == a["category_id"])),
             round((a["bbox"][0] + a["bbox"][2] / 2) / img["width"], 5),
             round((a["bbox"][1] + a["bbox"][3] / 2) / img["height"], 5),
             round(a["bbox"][2] / img["width"], 5), round(a["bbox"][3] / img["height"], 5))
            for a in by_image.get(img["id"], []))
        got = sorted((int(ln.split()[0]), *(round(float(v), 5) for v in ln.split()[1:])) for ln in lines)
        assert got == want, img["file_name"]
        checked += len(got)
    assert checked == len(coco["annotations"]) > 0


def test_training_refuses_an_empty_val_split(poly_dataset, tmp_path):
    """A dataset whose own splits leave val empty (here: train 1.0) cannot be
    trained on without --val: one clear error instead of Ultralytics' own."""
    import shutil

    from dropsynth.utility.train import prepare_data

    ds = tmp_path / "ds"
    shutil.copytree(poly_dataset, ds)
    run = json.loads((ds / "run.json").read_text())
    run["config"]["output"]["splits"] = {"train": 1.0}
    (ds / "run.json").write_text(json.dumps(run))
    with pytest.raises(ConfigError, match="the val split is empty .*pass --val DATASET"):
        prepare_data(ds, tmp_path / "d")


def test_score_command_on_a_real_dataset(poly_dataset, tmp_path):
    coco = _coco(poly_dataset)
    pred = tmp_path / "results.json"
    pred.write_text(json.dumps(gt_as_results(coco)))
    res = run_cli("utility", "score", "--gt", str(poly_dataset / "annotations" / "instances.json"),
                  "--pred", str(pred))
    assert res.exit_code == 0, res.output
    assert res.output.startswith("AP 1.000  AP50 1.000  AP75 1.000")
    # boxes moved by half their width: IoU 1/3, nothing counts
    moved = [{**r, "bbox": [r["bbox"][0] + r["bbox"][2] / 2, *r["bbox"][1:]]} for r in gt_as_results(coco)]
    pred.write_text(json.dumps(moved))
    res = run_cli("utility", "score", "--gt", str(poly_dataset / "annotations" / "instances.json"),
                  "--pred", str(pred), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["AP50"] == 0.0


def test_segm_scoring_of_the_ground_truth_masks(rle_dataset):
    from dropsynth.utility.score import score

    coco = _coco(rle_dataset)
    assert score(coco, gt_as_results(coco, "segm"), iou_type="segm")["AP"] == pytest.approx(1.0)


def test_without_the_extra_train_says_how_to_install_it(poly_dataset, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in ("torch", "ultralytics") else real(name, *a))
    from click.testing import CliRunner

    from dropsynth.cli import main

    for args in (["train", "--data", str(poly_dataset), "--out", str(tmp_path / "run")],
                 ["predict", "--model", str(poly_dataset), "--images", str(poly_dataset), "--out",
                  str(tmp_path / "r.json")]):
        res = CliRunner().invoke(main, ["utility", *args])
        assert res.exit_code == 1
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and "pip install -e '.[utility]'" in lines[0], res.output
    assert not (tmp_path / "run").exists()


def test_study_file_errors_name_the_key(tmp_path):
    from dropsynth.utility.experiment import load_study

    base = {"datasets": {"tr": {"seed": 1, "scenes": 4}, "te": {"seed": 2, "scenes": 2}},
            "trainings": {"a": {"data": "tr"}}, "tests": ["te"]}
    f = tmp_path / "study.yaml"
    cases = [
        ({"datasets": {"tr": {"seed": 1, "scenes": 4}, "te": {"seed": 1, "scenes": 2}}}, "datasets.te.seed"),
        ({"tests": ["tr"]}, "tests"),
        ({"trainings": {"a": {"data": "nope"}}}, "trainings.a.data"),
        ({"trainings": {"a": {"data": "tr", "epoch": 3}}}, "trainings.a.epoch"),
        ({"datasets": {"tr": {"seed": 1, "scenes": "four"}, "te": {"seed": 2, "scenes": 2}}}, "datasets.tr.scenes"),
        ({"compare": ["b"]}, "compare"),
        ({"outt": "x"}, "outt"),
        ({"tests": [["te"]]}, "tests"),
        ({"compare": "a"}, "compare"),
        ({"trainings": {"a": {"data": "tr", "epochs": "ten"}}}, "trainings.a.epochs"),
        ({"trainings": {"a": {"data": ["tr"]}}}, "trainings.a.data"),
        ({"trainings": {"a": {"data": "tr", "task": "pose"}}}, "trainings.a.task"),
    ]
    for change, key in cases:
        f.write_text(yaml.safe_dump({**base, **change}))
        with pytest.raises(ConfigError) as e:
            load_study(f)
        assert str(e.value).startswith(f"{f}: {key}:"), str(e.value)
    f.write_text(yaml.safe_dump(base))
    assert load_study(f)["compare"] == ["a"]


# --- with the extra: a real training -------------------------------------------------------------------------

needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason="the utility extra (torch, ultralytics) is not installed")


@pytest.mark.utility
@needs_extra
def test_train_predict_score_end_to_end_without_the_network(poly_dataset, rle_dataset, tmp_path):
    """One epoch on a tiny set, then predict on a dataset and on a plain image
    folder, then score, in a process where any network access is recorded:
    none may happen."""
    import shutil

    images = tmp_path / "plain"
    shutil.copytree(rle_dataset / "rgb", images / "sub")
    log = tmp_path / "net.log"
    script = textwrap.dedent(f"""
        import socket
        log = open({str(log)!r}, "w")
        real_connect, real_gai = socket.socket.connect, socket.getaddrinfo
        def connect(self, addr, *a):
            if self.family in (socket.AF_INET, socket.AF_INET6):
                log.write(f"connect {{addr}}\\n"); log.flush()
                raise OSError("network disabled in this test")
            return real_connect(self, addr, *a)
        def gai(host, *a, **k):
            log.write(f"getaddrinfo {{host}}\\n"); log.flush()
            raise socket.gaierror("network disabled in this test")
        socket.socket.connect, socket.getaddrinfo = connect, gai
        from click.testing import CliRunner
        from dropsynth.cli import main
        r = CliRunner().invoke(main, ["utility", "train", "--data", {str(poly_dataset)!r}, "--val",
                                      {str(rle_dataset)!r}, "--out", {str(tmp_path / "run")!r}, "--epochs", "1",
                                      "--imgsz", "128", "--device", "cpu", "--seed", "1"])
        assert r.exit_code == 0, r.output
        for src, out in (({str(rle_dataset)!r}, "pred.json"), ({str(images)!r}, "plain.json")):
            r = CliRunner().invoke(main, ["utility", "predict", "--model", {str(tmp_path / "run")!r}, "--images",
                                          src, "--out", {str(tmp_path)!r} + "/" + out, "--device", "cpu"])
            assert r.exit_code == 0, r.output
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert log.read_text() == "", f"network access: {log.read_text()}"
    meta = json.loads((tmp_path / "run" / "dropsynth_train.json").read_text())
    assert meta["epochs_done"] == 1 and meta["train_images"] == len(_coco(poly_dataset)["images"])
    assert meta["names"] == [c["name"] for c in sorted(_coco(poly_dataset)["categories"], key=lambda c: c["id"])]
    assert (tmp_path / "run" / "weights" / "best.pt").is_file()

    coco = _coco(rle_dataset)
    files = {i["file_name"] for i in coco["images"]}
    pred = json.loads((tmp_path / "pred.json").read_text())
    assert pred, "an untrained detector at conf 0.001 still proposes boxes"
    for r in pred:
        assert set(r) >= {"image_id", "file_name", "category_id", "category_name", "bbox", "score"}
        assert r["file_name"] in files and r["category_name"] in meta["names"]
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert {r["file_name"] for r in plain} <= {"sub/" + Path(f).name for f in files}
    res = run_cli("utility", "score", "--gt", str(rle_dataset / "annotations" / "instances.json"),
                  "--pred", str(tmp_path / "plain.json"), "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["results_matched"] == len(plain) and 0.0 <= s["AP50"] <= 1.0
