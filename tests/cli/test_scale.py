"""Workers, kill and resume, merge, Ray: the same files however the work ran."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .helpers import run_cli, tree_hashes

pytestmark = [pytest.mark.slow, pytest.mark.render]

JOB = ["--scenes", "6", "--views-per-scene", "2", "--width", "160", "--height", "120", "--seed", "21",
       "--set", "scene.num_objects=[4, 7]", "--set", "output.shard_scenes=1", "--no-progress"]
LONG_JOB = ["--scenes", "12", "--views-per-scene", "3", "--width", "240", "--height", "180", "--seed", "21",
            "--set", "scene.num_objects=[10, 14]", "--set", "output.shard_scenes=1", "--no-progress"]
SKIP = ("run.json",)  # timings


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ref") / "ds"
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1")
    assert res.exit_code == 0, res.output
    return tree_hashes(out, SKIP)


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dropsynth.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def _check_ids(ds: Path, frames: int) -> None:
    data = json.loads((ds / "annotations" / "instances.json").read_text())
    assert [i["id"] for i in data["images"]] == list(range(1, frames + 1))
    assert [a["id"] for a in data["annotations"]] == list(range(1, len(data["annotations"]) + 1))


def test_two_workers_give_the_same_files_as_one(reference, tmp_path):
    out = tmp_path / "w2"
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "2")
    assert res.exit_code == 0, res.output
    assert "2 local worker(s)" in res.output
    assert tree_hashes(out, SKIP) == reference
    assert not (out / "annotations" / "parts").exists()


def _parts(out: Path) -> int:
    d = out / "annotations" / "parts"
    return len(list(d.glob("shard_*.json"))) if d.is_dir() else 0


def test_killed_runs_resume_to_the_same_files(tmp_path):
    """SIGKILL to the parent and its workers at random moments (after a random
    number of shards, plus a random delay), three times, then --resume: the
    files are those of an uninterrupted run."""
    long_job = LONG_JOB
    ref = tmp_path / "ref"
    assert run_cli("generate", "--out", str(ref), *long_job, "--workers", "1").exit_code == 0
    rng = np.random.default_rng(7)
    out = tmp_path / "killed"
    kills = 0
    for attempt in range(3):
        args = ["generate", "--out", str(out), *long_job, "--workers", "2"] + (["--resume"] if attempt else [])
        target = _parts(out) + int(rng.integers(1, 4))
        proc = _cli(*args)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _parts(out) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, 0.1)))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # parent and workers at once, like a power cut
            kills += 1
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), stderr
        if (out / "run.json").exists():
            break
        assert not (out / "annotations" / "instances.json").exists(), "an unfinished run must not look complete"
    assert kills >= 2, "the runs finished before being killed; the test proved nothing"
    proc = _cli("generate", "--out", str(out), *long_job, "--workers", "2", "--resume")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert tree_hashes(out, SKIP) == tree_hashes(ref, SKIP)
    _check_ids(out, 36)
    assert not list(out.rglob(".*.tmp*")), "temporary files are cleaned up"


def _worker_pids(parent: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            out.append(int(d))
    return out


def test_a_worker_killed_alone_stops_the_run_with_a_clean_error(tmp_path):
    """Out of memory or a crash in native code kills one worker: the run must
    stop and say how to finish, not wait forever for that worker's shard."""
    out = tmp_path / "oom"
    proc = _cli("generate", "--out", str(out), *LONG_JOB, "--workers", "2")
    deadline = time.monotonic() + 120
    while proc.poll() is None and (_parts(out) < 1 or not _worker_pids(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "finished too early"
    os.kill(_worker_pids(proc.pid)[0], signal.SIGKILL)
    try:
        _, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the run hung after a worker died")
    assert proc.returncode not in (0, None)
    assert "worker process died" in stderr and "--resume" in stderr and "Traceback" not in stderr
    res = run_cli("generate", "--out", str(out), *LONG_JOB, "--workers", "1", "--resume")
    assert res.exit_code == 0, res.output
    _check_ids(out, 36)


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    out = tmp_path / "int"
    proc = _cli("generate", "--out", str(out), *LONG_JOB, "--workers", "2")
    deadline = time.monotonic() + 120
    while proc.poll() is None and _parts(out) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "finished too early to interrupt"
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not (out / "run.json").exists()
    res = run_cli("generate", "--out", str(out), *LONG_JOB, "--workers", "1", "--resume")
    assert res.exit_code == 0, res.output
    assert "shards kept from before" in res.output
    _check_ids(out, 36)


def test_resume_refuses_another_config_and_names_the_field(tmp_path):
    out = tmp_path / "r"
    assert run_cli("generate", "--out", str(out), *JOB, "--workers", "1").exit_code == 0
    (out / "run.json").unlink()  # as if it had been interrupted
    for extra, field in ((["--seed", "22"], "seed"), (["--set", "scene.num_objects=[2, 3]"], "scene.num_objects"),
                         (["--width", "200"], "camera.width")):
        args = list(JOB)
        if extra[0] in args:
            i = args.index(extra[0])
            del args[i:i + 2]
        res = run_cli("generate", "--out", str(out), *args, *extra, "--workers", "1", "--resume")
        assert res.exit_code != 0
        line = res.output.strip().splitlines()[-1]
        assert "--resume" in line and field in line and "different config" in line, line
    # the same config resumes
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1", "--resume")
    assert res.exit_code == 0, res.output


def test_resume_of_a_complete_run_changes_nothing(reference, tmp_path):
    out = tmp_path / "done"
    assert run_cli("generate", "--out", str(out), *JOB, "--workers", "1").exit_code == 0
    before = tree_hashes(out, ())
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1", "--resume")
    assert res.exit_code == 0 and "already complete" in res.output
    assert tree_hashes(out, ()) == before


def test_merge_keeps_every_annotation(tmp_path):
    from pycocotools.coco import COCO

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    base = ["--views-per-scene", "2", "--width", "160", "--height", "120", "--no-progress", "--workers", "1"]
    assert run_cli("generate", "--out", str(a), "--scenes", "2", "--seed", "1", *base).exit_code == 0
    ex = Path(__file__).resolve().parents[2] / "assets" / "example_pack"
    assert run_cli("generate", "--out", str(b), "--scenes", "1", "--seed", "2", "--assets", str(ex), *base).exit_code == 0
    res = run_cli("merge", str(a), str(b), "--out", str(c))
    assert res.exit_code == 0, res.output
    da, db = (json.loads((d / "annotations" / "instances.json").read_text()) for d in (a, b))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(c / "annotations" / "instances.json"))
    assert len(coco.imgs) == len(da["images"]) + len(db["images"])
    assert len(coco.anns) == len(da["annotations"]) + len(db["annotations"])
    names = [x["name"] for x in coco.dataset["categories"]]
    assert len(names) == len(set(names)) and [x["id"] for x in coco.dataset["categories"]] == list(
        range(1, len(names) + 1))
    # categories matched by name: per-name counts add up
    def per_name(d):
        cid = {x["id"]: x["name"] for x in d["categories"]}
        out = {}
        for ann in d["annotations"]:
            out[cid[ann["category_id"]]] = out.get(cid[ann["category_id"]], 0) + 1
        return out
    pa, pb, pc = per_name(da), per_name(db), per_name(coco.dataset)
    assert pc == {k: pa.get(k, 0) + pb.get(k, 0) for k in set(pa) | set(pb)}
    files = [img["file_name"] for img in coco.dataset["images"]]
    assert len(set(files)) == len(files)
    for ann in coco.dataset["annotations"]:
        img = coco.imgs[ann["image_id"]]
        ids = np.asarray(Image.open(c / img["instances_file"]))
        assert np.array_equal(coco.annToMask(ann).astype(bool), ids == ann["inst_id"])


def test_ray_backend_gives_the_same_files(reference, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'dropsynth[ray]')")
    out = tmp_path / "ray"
    proc = _cli("generate", "--out", str(out), *JOB, "--workers", "2", "--backend", "ray")
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the Ray backend did not finish within 240 s (a hang, not a refusal to start)")
    if proc.returncode != 0 and "cannot start or reach Ray" in stderr:
        pytest.skip(f"Ray cannot start on this machine: {stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, stderr
    assert "2 ray worker(s)" in stdout
    assert tree_hashes(out, SKIP) == reference


def test_full_disk_is_one_clear_error_and_resume_finishes(reference, tmp_path, monkeypatch):
    import errno

    from dropsynth.writers import images

    real = images.save_png
    calls = []

    def filling_disk(path, array, level):
        calls.append(path)
        if len(calls) > 7:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, array, level)

    monkeypatch.setattr(images, "save_png", filling_disk)
    out = tmp_path / "full"
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1")
    assert res.exit_code != 0
    line = res.output.strip().splitlines()[-1]
    assert "No space left on device" in line and "--resume" in line and "Traceback" not in res.output
    assert not (out / "run.json").exists() and not (out / "annotations" / "instances.json").exists()
    monkeypatch.setattr(images, "save_png", real)  # space freed
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1", "--resume")
    assert res.exit_code == 0, res.output
    assert tree_hashes(out, SKIP) == reference


def test_merge_carries_extra_ground_truth_and_remaps_class_images(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    extra = ["--views-per-scene", "1", "--width", "96", "--height", "72", "--no-progress", "--workers", "1",
             "--set", "output.ground_truth=[class, nocs]", "--set", "output.keypoints=true"]
    ex = Path(__file__).resolve().parents[2] / "assets" / "example_pack"
    assert run_cli("generate", "--out", str(a), "--scenes", "1", "--assets", str(ex), "--no-builtin", *extra).exit_code == 0
    assert run_cli("generate", "--out", str(b), "--scenes", "1", *extra).exit_code == 0
    assert run_cli("merge", str(a), str(b), "--out", str(c)).exit_code == 0
    data = json.loads((c / "annotations" / "instances.json").read_text())
    assert all(len(cat["keypoints"]) == 8 for cat in data["categories"])
    for img in data["images"]:
        for key in ("class_file", "nocs_file", "depth_file", "instances_file"):
            assert (c / img[key]).is_file(), img[key]
        cls = np.asarray(Image.open(c / img["class_file"]))
        ids = np.asarray(Image.open(c / img["instances_file"]))
        for ann in data["annotations"]:
            if ann["image_id"] == img["id"]:
                assert (cls[ids == ann["inst_id"]] == ann["category_id"]).all()
