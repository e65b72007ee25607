"""merge, the exporters, stats and preview take the output lock of what they
write and a shared lock on the datasets they read (core/outlock.py): a dataset
a live run writes is not read, a folder being read or written is not written,
each refused in one line naming the folder and the holder. The holders here
are real processes holding a lock; the last test runs a real generate."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from dropsynth import outlock
from dropsynth.outlock import LOCK_NAME

from .helpers import run_cli

HOLD = r"""
import sys
from pathlib import Path
from dropsynth.outlock import DatasetReadLock, OutputLock, beside_lock
kind, path = sys.argv[1], Path(sys.argv[2])
lock = {"run": lambda: OutputLock(path), "read": lambda: DatasetReadLock(path),
        "export": lambda: OutputLock(path.parent, lock_path=beside_lock(path))}[kind]()
lock.acquire()
print("held", flush=True)
sys.stdin.read()
lock.release()
"""


@contextmanager
def held(kind: str, path: Path):
    """Another process holding ``path``: as a run ("run"), a reader ("read")
    or an export ("export"); yields its pid, releases when the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, kind, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held", proc.stderr.read()
        yield proc.pid
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read()


def _dataset(root: Path, name: str = "duck") -> Path:
    """A finished COCO dataset of one image, enough for every reader here."""
    (root / "annotations").mkdir(parents=True)
    (root / "rgb").mkdir()
    (root / "rgb" / "000000.png").write_bytes(b"png")
    coco = {"info": {"seed": 1, "mask_format": "polygon"}, "licenses": [],
            "images": [{"id": 1, "file_name": "rgb/000000.png", "width": 4, "height": 3, "scene_id": 0, "view_id": 0}],
            "annotations": [], "categories": [{"id": 1, "name": name, "supercategory": "object"}]}
    (root / "annotations" / "instances.json").write_text(json.dumps(coco))
    return root


def _names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _one_line(res) -> str:
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in res.output, res.output
    return lines[0][len("Error: "):]


READERS = {
    "export yolo": lambda ds, tmp: ["export", "yolo", str(ds)],
    "export datumaro": lambda ds, tmp: ["export", "datumaro", str(ds)],
    "export bop": lambda ds, tmp: ["export", "bop", str(ds)],
    "stats": lambda ds, tmp: ["stats", str(ds)],
    "preview": lambda ds, tmp: ["preview", str(ds)],
    "merge": lambda ds, tmp: ["merge", str(ds), str(_dataset(tmp / "other")), "--out", str(tmp / "merged")],
}


@pytest.mark.parametrize("command", list(READERS))
def test_a_dataset_that_a_live_run_writes_is_not_read(tmp_path, command):
    ds = _dataset(tmp_path / "ds")
    before = _names(ds)
    with held("run", ds) as pid:
        line = _one_line(run_cli(*READERS[command](ds, tmp_path)))
        assert _names(ds) == before | {LOCK_NAME}  # no export folder, no temporary, no preview
    assert line.startswith(f"{ds}: being written by a dropsynth run (pid {pid} on host {socket.gethostname()}, since ")
    assert f"lock {ds / LOCK_NAME}); wait for it to finish, then run this again" in line
    assert not (tmp_path / "merged").exists()
    assert _names(ds) == before  # the holder's lock file went with it


def test_two_exports_into_one_folder_the_second_is_refused(tmp_path):
    ds, dest = _dataset(tmp_path / "ds"), tmp_path / "exports" / "datumaro"
    with held("export", dest) as pid:
        line = _one_line(run_cli("export", "datumaro", str(ds), "--out", str(dest)))
        assert not dest.exists()
    assert line.startswith(f"{dest} (Datumaro export): in use by another dropsynth run (pid {pid} on host ")
    assert f"lock {dest.parent / '.datumaro.dropsynth.lock'})" in line
    assert run_cli("export", "datumaro", str(ds), "--out", str(dest)).exit_code == 0  # free again
    assert sorted(os.listdir(dest.parent)) == ["datumaro"]


def test_a_merge_into_a_folder_in_use_is_refused(tmp_path):
    a, b, out = _dataset(tmp_path / "a"), _dataset(tmp_path / "b"), tmp_path / "merged"
    with held("run", out) as pid:
        line = _one_line(run_cli("merge", str(a), str(b), "--out", str(out), "--no-preview"))
        assert os.listdir(out) == [LOCK_NAME]
    assert line.startswith(f"--out {out}: in use by another dropsynth run (pid {pid} on host ")
    res = run_cli("merge", str(a), str(b), "--out", str(out), "--no-preview")
    assert res.exit_code == 0, res.output
    assert LOCK_NAME not in os.listdir(out)


@pytest.mark.parametrize("writer", ["generate", "merge"])
def test_a_dataset_being_read_is_not_replaced(tmp_path, writer):
    """An export reads the dataset: generate --overwrite, or a merge
    --overwrite into it, must wait (it would move the files being read)."""
    ds = _dataset(tmp_path / "ds")
    (ds / ".dropsynth").write_text('{"tool": "dropsynth"}\n')
    before = _names(ds)
    args = {"generate": ["generate", "--out", str(ds), "--overwrite", "--scenes", "1", "--views-per-scene", "1",
                         "--no-progress", "--workers", "1"],
            "merge": ["merge", str(_dataset(tmp_path / "a")), str(_dataset(tmp_path / "b")), "--out", str(ds),
                      "--overwrite", "--no-preview"]}[writer]
    with held("read", ds) as pid:
        line = _one_line(run_cli(*args))
        assert _names(ds) == before | {LOCK_NAME}
    assert line.startswith(f"--out {ds}: being read by another dropsynth command (pid {pid} on host ")


def test_readers_share_a_dataset_and_the_last_removes_the_lock_file(tmp_path):
    ds = _dataset(tmp_path / "ds")
    with held("read", ds):
        res = run_cli("export", "datumaro", str(ds))
        assert res.exit_code == 0, res.output
        assert (ds / LOCK_NAME).is_file()  # the other reader still holds it
    assert not (ds / LOCK_NAME).exists() and not list(ds.glob(".*.lock"))


def test_lock_files_left_by_dead_processes_do_not_block(tmp_path):
    ds = _dataset(tmp_path / "ds")
    dead = {"pid": 999999999, "host": socket.gethostname(), "started": 0, "role": "writing"}
    (ds / LOCK_NAME).write_text(json.dumps(dead))
    (ds / ".datumaro.dropsynth.lock").write_text(json.dumps(dead))
    res = run_cli("export", "datumaro", str(ds))
    assert res.exit_code == 0, res.output
    assert not (ds / LOCK_NAME).exists() and not (ds / ".datumaro.dropsynth.lock").exists()


@pytest.mark.slow
@pytest.mark.render
def test_an_export_of_a_dataset_whose_generate_still_runs_is_refused(tmp_path):
    """A real run, paused while it holds its folder: the export is refused
    naming it; once the run is done the same export works."""
    out = tmp_path / "run"
    job = ["--scenes", "6", "--views-per-scene", "1", "--width", "64", "--height", "48", "--seed", "2",
           "--set", "scene.num_objects=[2, 3]", "--set", "output.shard_scenes=1", "--no-progress", "--workers", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "dropsynth.cli", "generate", "--out", str(out), *job],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    t0 = time.time()
    while not (out / "annotations" / "parts").is_dir() or not any((out / "annotations" / "parts").iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < 120, "no shard written in 120 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        line = _one_line(run_cli("export", "yolo", str(out)))
        assert line.startswith(f"{out}: being written by a dropsynth run (pid {proc.pid} on host ")
        assert not (out / "yolo").exists()
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    res = run_cli("export", "yolo", str(out))
    assert res.exit_code == 0, res.output
    assert (out / "yolo" / "data.yaml").is_file() and not (out / LOCK_NAME).exists()


def test_a_training_still_running_is_not_replaced(tmp_path):
    """`utility train --overwrite` onto a folder another training still writes:
    refused in one line naming the holder, the running training's files kept
    (it holds a lock beside its folder, since --overwrite removes the folder)."""
    from dropsynth.errors import ConfigError
    from dropsynth.utility.train import TRAINING, train

    out = tmp_path / "run"
    out.mkdir()
    (out / TRAINING).write_text("12345")
    (out / "results.csv").write_text("epoch\n")
    with held("export", out) as pid:  # what a live train() holds: the lock beside its folder
        with pytest.raises(ConfigError) as e:
            train(tmp_path / "no_dataset", out, overwrite=True)
    msg = str(e.value)
    assert "\n" not in msg and f"--out {out.resolve()}" in msg and f"pid {pid}" in msg, msg
    assert sorted(p.name for p in out.iterdir()) == [TRAINING, "results.csv"]
    assert not any(tmp_path.glob(".*.dropsynth.lock"))  # the holder's lock file went with it


@pytest.mark.render  # the session's dataset is generated
def test_the_stats_report_locks_inside_its_folder(tmp_path, monkeypatch, poly_dataset):
    """The report is written into its folder (not swapped in whole): its lock
    lies inside it, so only that folder need be writable (not its parent)."""
    from dropsynth.writers.stats import write_report

    taken = []
    real = outlock.OutputLock.acquire

    def record(self):
        taken.append(self.path)
        return real(self)

    monkeypatch.setattr(outlock.OutputLock, "acquire", record)
    out = tmp_path / "parent" / "report"
    write_report(poly_dataset, out)
    assert taken == [out / LOCK_NAME]
    assert (out / "report.html").is_file() and not (out / LOCK_NAME).exists()
    assert sorted(p.name for p in (tmp_path / "parent").iterdir()) == ["report"]
