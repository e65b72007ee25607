"""Exports at the end of generate and as commands: split COCO files, YOLO, stats."""
from __future__ import annotations

import json

import pytest
import yaml

from .helpers import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.render]

JOB = ["--scenes", "6", "--views-per-scene", "2", "--width", "160", "--height", "120", "--seed", "8",
       "--no-progress", "--workers", "1"]


def test_generate_writes_splits_exports_and_report(tmp_path):
    out = tmp_path / "ds"
    res = run_cli("generate", "--out", str(out), *JOB, "--set", "output.splits={train: 0.5, val: 0.25, test: 0.25}",
                  "--set", "output.export=[yolo-seg]", "--set", "output.stats=true")
    assert res.exit_code == 0, res.output
    assert "splits:" in res.output and "yolo-seg:" in res.output and "stats:" in res.output
    full = json.loads((out / "annotations" / "instances.json").read_text())
    seen_images, seen_anns, scene_split = set(), 0, {}
    for name in ("train", "val", "test"):
        part = json.loads((out / "annotations" / f"instances_{name}.json").read_text())
        assert part["categories"] == full["categories"]
        ids = {img["id"] for img in part["images"]}
        assert not ids & seen_images
        seen_images |= ids
        seen_anns += len(part["annotations"])
        assert all(a["image_id"] in ids for a in part["annotations"])
        for img in part["images"]:
            assert scene_split.setdefault(img["scene_id"], name) == name, "a scene in two splits"
    assert seen_images == {img["id"] for img in full["images"]} and seen_anns == len(full["annotations"])
    data = yaml.safe_load((out / "yolo-seg" / "data.yaml").read_text())
    assert list(data["names"].values()) == [c["name"] for c in full["categories"]]
    for name in ("train", "val", "test"):
        n_split = sum(1 for img in full["images"] if scene_split[img["scene_id"]] == name)
        assert len(list((out / "yolo-seg" / "labels" / name).glob("*.txt"))) == n_split if n_split else True
    stats = json.loads((out / "stats" / "stats.json").read_text())
    assert stats["dataset"]["images"] == len(full["images"])
    run = json.loads((out / "run.json").read_text())
    assert set(run["files"]["exports"]) == {"yolo-seg", "stats"}


def test_export_and_stats_commands(tmp_path):
    out = tmp_path / "ds"
    assert run_cli("generate", "--out", str(out), *JOB).exit_code == 0
    res = run_cli("export", "yolo", str(out), "--split", "train=0.7", "--split", "val=0.3")
    assert res.exit_code == 0, res.output
    assert (out / "yolo" / "data.yaml").is_file()
    res = run_cli("export", "yolo", str(out), "--split", "train=x")
    assert res.exit_code != 0 and "--split train=x" in res.output
    res = run_cli("stats", str(out))
    assert res.exit_code == 0 and (out / "stats" / "report.html").is_file()
    res = run_cli("stats", str(tmp_path / "nothing"))
    assert res.exit_code != 0 and len(res.output.strip().splitlines()) == 1


def test_bad_split_ratios_are_a_config_error(tmp_path):
    res = run_cli("generate", "--out", str(tmp_path / "x"), *JOB, "--set", "output.splits={train: -1}")
    assert res.exit_code != 0 and "output.splits" in res.output
    assert not (tmp_path / "x").exists()


def test_generate_with_bop_export(tmp_path):
    out = tmp_path / "bopds"
    res = run_cli("generate", "--out", str(out), *JOB, "--set", "output.export=[bop, yolo]",
                  "--set", "output.amodal=true")
    assert res.exit_code == 0, res.output
    scenes = sorted(p.name for p in (out / "bop" / "train_pbr").iterdir())
    assert scenes == [f"{i:06d}" for i in range(6)]
    gt = json.loads((out / "bop" / "train_pbr" / "000000" / "scene_gt.json").read_text())
    assert set(gt) == {"0", "1"} and all("obj_id" in g for g in gt["0"])
    assert (out / "bop" / "models" / "models_info.json").is_file()
    assert json.loads((out / "run.json").read_text())["files"]["exports"]["bop"] == "bop"


def test_resume_finishes_exports_that_were_interrupted(tmp_path, monkeypatch):
    from dropsynth.writers import yolo

    out = tmp_path / "ds"
    args = ["generate", "--out", str(out), *JOB, "--set", "output.export=[yolo]"]
    real = yolo.export_detect

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(yolo, "export_detect", interrupted)
    res = run_cli(*args)
    assert res.exit_code != 0 and not (out / "yolo").exists()
    assert json.loads((out / "run.json").read_text())["exports_pending"] is True
    monkeypatch.setattr(yolo, "export_detect", real)
    res = run_cli(*args, "--resume")
    assert res.exit_code == 0, res.output
    assert (out / "yolo" / "data.yaml").is_file()
    assert json.loads((out / "run.json").read_text())["exports_pending"] is False


def test_datumaro_export_layout_and_merge_refuses_mixed_polygon_conventions(tmp_path):
    small = ["--scenes", "2", "--views-per-scene", "1", "--width", "160", "--height", "120", "--no-progress",
             "--workers", "1"]
    out = tmp_path / "ds"
    res = run_cli("generate", "--out", str(out), *small, "--set", "output.export=[datumaro]")
    assert res.exit_code == 0, res.output
    dm = out / "datumaro"
    full = json.loads((out / "annotations" / "instances.json").read_text())
    n_img = n_ann = 0
    # 2 scenes and the default 0.8/0.1/0.1 split: train and val both get one
    assert sorted(p.name for p in (dm / "annotations").iterdir()) == ["instances_train.json", "instances_val.json"]
    for part in (dm / "annotations").iterdir():
        split = part.stem.split("_", 1)[1]
        data = json.loads(part.read_text())
        for img in data["images"]:
            assert "/" not in img["file_name"]
            assert (dm / "images" / split / img["file_name"]).read_bytes() == \
                (out / "rgb" / img["file_name"]).read_bytes()
        n_img += len(data["images"])
        n_ann += len(data["annotations"])
    assert (n_img, n_ann) == (len(full["images"]), len(full["annotations"]))
    res = run_cli("export", "datumaro", str(out))
    assert res.exit_code != 0 and "not empty" in res.output and len(res.output.strip().splitlines()) == 1
    assert run_cli("export", "datumaro", str(out), "--overwrite", "--split", "train=1").exit_code == 0
    assert [p.name for p in (dm / "annotations").iterdir()] == ["instances_train.json"]

    other = tmp_path / "centers"
    res = run_cli("generate", "--out", str(other), *small, "--set", "output.polygon_convention=centers")
    assert res.exit_code == 0, res.output
    res = run_cli("merge", str(out), str(other), "--out", str(tmp_path / "merged"))
    assert res.exit_code != 0 and "different polygon conventions (centers, edges)" in res.output
