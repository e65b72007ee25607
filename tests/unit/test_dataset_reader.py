"""The writers' shared pieces: the export folders (writers/files.py) and
the dataset reader (writers/dataset.py). No GL, no physics. The atomic-write
primitives under them: tests/unit/test_atomic.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dropsynth.errors import DropsynthError
from dropsynth.writers import files
from dropsynth.writers.dataset import check_coco, open_dataset, read_json


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


# --- export folders ---------------------------------------------------------------------------------------


def test_export_folder_swaps_in_whole_or_leaves_the_old_one(tmp_path):
    out = tmp_path / "exp"
    with files.export_folder(out, "Test") as tmp:
        (tmp / "a.txt").write_text("1")
    assert (out / "a.txt").read_text() == "1"
    with pytest.raises(DropsynthError, match=r"exp: writing the Test export failed"):
        with files.export_folder(out, "Test") as tmp:
            (tmp / "b.txt").write_text("2")
            open(tmp / "missing" / "c.txt", "w")  # an OSError half-way
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"] and _leftovers(tmp_path) == []
    with files.export_folder(out, "Test") as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"] and _leftovers(tmp_path) == []


# --- the dataset reader ----------------------------------------------------------------------------------


def _coco(**extra) -> dict:
    return {"info": {"seed": 5, "polygon_convention": "centers"}, "licenses": [],
            "images": [{"id": 1, "file_name": "rgb/000000.png", "scene_id": 0},
                       {"id": 2, "file_name": "rgb/000001.png", "scene_id": 1}],
            "annotations": [{"id": 1, "image_id": 2}, {"id": 2, "image_id": 2}],
            "categories": [{"id": 1, "name": "mug", "supercategory": "object"}], **extra}


def _dataset(root: Path, coco=None, run=None) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances.json").write_text(json.dumps(_coco() if coco is None else coco))
    if run is not None:
        (root / "run.json").write_text(json.dumps(run))
    return root


def _error(root: Path) -> str:
    with pytest.raises(DropsynthError) as e:
        open_dataset(root)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_reader_gives_what_the_writers_need(tmp_path):
    ds = open_dataset(_dataset(tmp_path / "ds", run={"tool": "dropsynth", "seed": 9,
                                                      "config": {"output": {"splits": {"train": 1}}}}))
    assert ds.seed == 9 and ds.run_splits == {"train": 1} and ds.polygon_convention == "centers"
    assert [len(v) for v in ds.annotations_by_image().values()] == [0, 2]
    assert set(ds.head()) == {"info", "licenses", "categories"}
    bare = open_dataset(_dataset(tmp_path / "bare", coco=_coco(info={})))
    assert bare.run is None and bare.seed == 0 and bare.run_splits is None and bare.polygon_convention == "edges"
    with pytest.raises(DropsynthError, match=r"bare/run\.json: not found; BOP needs it"):
        bare.require_run("BOP needs it")
    assert open_dataset(_dataset(tmp_path / "info_seed", coco=_coco(info={"seed": 4}))).seed == 4


def test_reader_reads_split_files(tmp_path):
    root = _dataset(tmp_path / "ds")
    sub = _coco(images=_coco()["images"][:1], annotations=[])
    (root / "annotations" / "instances_val.json").write_text(json.dumps(sub))
    ds = open_dataset(root)
    assert list(ds.split_paths()) == ["val"] and ds.read_split("val")["images"] == sub["images"]
    with pytest.raises(DropsynthError, match=r"instances_test\.json: not found; the dataset's split files: val"):
        ds.read_split("test")


def test_reader_errors_name_the_file(tmp_path):
    ann = Path("annotations") / "instances.json"
    assert _error(tmp_path / "nothing") == (f"{tmp_path / 'nothing' / ann}: not found; is {tmp_path / 'nothing'} "
                                            f"a finished dropsynth dataset?")
    unfinished = tmp_path / "unfinished"
    (unfinished / "annotations" / "parts").mkdir(parents=True)
    msg = _error(unfinished)
    assert msg.startswith(f"{unfinished / ann}: not found: the run in {unfinished} is unfinished") and "--resume" in msg
    root = _dataset(tmp_path / "ds")
    (root / ann).write_text("{not json")
    assert _error(root).startswith(f"{root / ann}: not valid JSON (")
    (root / ann).write_text("[]")
    assert _error(root) == f"{root / ann}: not a COCO instances file (a JSON object is expected)"
    (root / ann).write_text(json.dumps(_coco(images={})))
    assert _error(root) == f"{root / ann}: no 'images' list; not a COCO instances file"
    (root / ann).write_text(json.dumps(_coco(annotations=[{"id": 1, "image_id": 1}, 7])))
    assert _error(root) == f"{root / ann}: annotations[1]: not a JSON object; not a COCO instances file"
    (root / ann).write_text(json.dumps(_coco()))
    (root / "run.json").write_text("[1]")
    assert _error(root) == f"{root / 'run.json'}: not a dropsynth run.json (a JSON object is expected)"
    (root / "run.json").write_text("{")
    assert _error(root).startswith(f"{root / 'run.json'}: not valid JSON")
    (root / "run.json").unlink()
    (root / ann).write_text(json.dumps(_coco(annotations=[{"id": 3, "image_id": 7}])))
    with pytest.raises(DropsynthError, match=r"instances\.json: annotations\[0\] \(id 3\): image_id 7 has no image"):
        open_dataset(root).annotations_by_image()


def test_read_json_and_check_coco_say_what_the_file_is(tmp_path):
    with pytest.raises(DropsynthError, match=r"gt\.json: ground truth not found"):
        read_json(tmp_path / "gt.json", "ground truth")
    (tmp_path / "gt.json").write_bytes(b"\xff\xfe")
    with pytest.raises(DropsynthError, match=r"gt\.json: ground truth is not valid JSON"):
        read_json(tmp_path / "gt.json", "ground truth")
    with pytest.raises(DropsynthError, match=r"cannot read"):
        read_json(tmp_path, "ground truth")  # a folder
    with pytest.raises(DropsynthError, match=r"x: no 'categories' list"):
        check_coco({"images": [], "annotations": []}, "x")
