"""Faults with real processes: SIGTERM, two runs on one folder, runs that
share the cores, a run of a billion scenes. Each run is tiny (a few seconds)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import run_cli, tree_hashes

pytestmark = [pytest.mark.slow, pytest.mark.render]

# Shards of one scene at 96x72: many shards finish per second, so each
# trial below sees several and still ends in a few seconds.
JOB = ["--scenes", "8", "--views-per-scene", "2", "--width", "96", "--height", "72", "--seed", "5",
       "--set", "scene.num_objects=[3, 5]", "--set", "output.shard_scenes=1", "--no-progress"]
SKIP = ("run.json",)
LOCK = ".dropsynth.lock"


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dropsynth.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _stop_with_sigterm(proc: subprocess.Popen, timeout: float, what: str) -> str:
    """SIGTERM to the run's parent; it must exit 143 within ``timeout`` with a
    last line that says SIGTERM and how to resume, and no traceback. Returns stderr."""
    os.kill(proc.pid, signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"{what} did not stop on SIGTERM")
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    last = stderr.strip().splitlines()[-1]
    assert "SIGTERM" in last and "--resume" in last and "Traceback" not in stderr, stderr
    return stderr


def _parts(out: Path) -> int:
    d = out / "annotations" / "parts"
    return len(list(d.glob("shard_*.json"))) if d.is_dir() else 0


def _children(parent: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(cond, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ref") / "ds"
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1")
    assert res.exit_code == 0, res.output
    return tree_hashes(out, SKIP)


# --- SIGTERM ------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["2", "1"])
def test_sigterm_to_the_parent_stops_the_workers_and_says_how_to_resume(reference, tmp_path, workers):
    """What a scheduler does: SIGTERM to the parent alone (not its group)."""
    out = tmp_path / "term"
    proc = _cli("generate", "--out", str(out), *JOB, "--workers", workers)
    _wait_for(lambda: _parts(out) >= 1 and (workers == "1" or len(_children(proc.pid)) >= 2), proc, "a shard")
    kids = _children(proc.pid)
    _stop_with_sigterm(proc, 30, "the run")
    deadline = time.monotonic() + 5
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [k for k in kids if _alive(k)], "workers (or the resource tracker) outlived the parent"
    assert not (out / "run.json").exists() and not (out / LOCK).exists()
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1", "--resume")
    assert res.exit_code == 0, res.output
    assert tree_hashes(out, SKIP) == reference


def test_a_billion_scenes_start_without_growing_the_parent(tmp_path):
    """--scenes 1000000000 (the allowed maximum): shard work is made lazily,
    so the parent stays small; it writes frames, and SIGTERM stops it."""
    out = tmp_path / "huge"
    args = [a for a in JOB]
    args[args.index("--scenes") + 1] = "1000000000"
    proc = _cli("generate", "--out", str(out), *args, "--workers", "2")
    _wait_for(lambda: _parts(out) >= 2, proc, "two shards", timeout=60)
    with open(f"/proc/{proc.pid}/status") as f:
        peak_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "of 1000000000 shards complete" in stderr, stderr  # one scene per shard
    assert peak_kb < 400 * 1024, f"parent peaked at {peak_kb / 1024:.0f} MB"


def test_shard_ranges_are_computed_not_listed():
    from dropsynth.pipeline import Job

    from types import SimpleNamespace

    job = Job(config=SimpleNamespace(scenes=10**9), out_dir="x", pack_paths=(), shard_scenes=3)
    assert job.n_shards == 333333334
    assert job.shard_range(0) == (0, 3) and job.shard_range(job.n_shards - 1) == (999999999, 10**9)
    assert Job(config=SimpleNamespace(scenes=8), out_dir="x", pack_paths=(), shard_scenes=4).n_shards == 2


# --- one writer per folder ------------------------------------------------------


def test_a_second_run_on_a_folder_in_use_is_refused_and_the_first_finishes_intact(reference, tmp_path):
    """A fresh run, and a --resume (then an --overwrite) started while it runs:
    both are refused naming the holder; the first run's files are whole."""
    out = tmp_path / "busy"
    first = _cli("generate", "--out", str(out), *JOB, "--workers", "1")
    _wait_for(lambda: (out / LOCK).is_file() and _parts(out) >= 1, first, "the first shard")
    holder = json.loads((out / LOCK).read_text())
    assert holder["pid"] == first.pid and holder["host"] == socket.gethostname()
    # Paused, so that it is surely still running (it holds the lock) while the
    # others start, however fast it would finish: a test, not a race.
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        for extra in (["--resume"], ["--overwrite"]):
            second = _cli("generate", "--out", str(out), *JOB, "--workers", "1", *extra)
            _, stderr = second.communicate(timeout=60)
            assert second.returncode == 1, stderr
            line = stderr.strip().splitlines()[-1]
            assert "in use by another dropsynth run" in line and f"pid {first.pid}" in line, line
            assert socket.gethostname() in line and "Traceback" not in stderr
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert tree_hashes(out, SKIP) == reference
    assert not (out / LOCK).exists()


def test_two_resumes_at_once_one_works_the_other_is_refused(reference, tmp_path):
    out = tmp_path / "twice"
    proc = _cli("generate", "--out", str(out), *JOB, "--workers", "1")
    _wait_for(lambda: _parts(out) >= 2, proc, "two shards")
    os.killpg(proc.pid, signal.SIGKILL)  # leaves a stale lock behind
    proc.communicate()
    assert (out / LOCK).is_file()
    a = _cli("generate", "--out", str(out), *JOB, "--workers", "1", "--resume")
    b = _cli("generate", "--out", str(out), *JOB, "--workers", "1", "--resume")
    (_, ea), (_, eb) = a.communicate(timeout=120), b.communicate(timeout=120)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 1], (ea, eb)
    refused = ea if a.returncode else eb
    assert "in use by another dropsynth run" in refused and "Traceback" not in refused
    assert tree_hashes(out, SKIP) == reference


def test_a_stale_lock_is_taken_over(reference, tmp_path):
    """A lock file whose holder is gone (killed, other pid): the run goes on."""
    out = tmp_path / "stale"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": 999999999, "host": socket.gethostname(), "started": 0}))
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1")
    assert res.exit_code == 0, res.output
    assert tree_hashes(out, SKIP) == reference and not (out / LOCK).exists()


# --- determinism under load -------------------------------------------------------


def test_runs_sharing_the_cores_write_the_same_bytes(reference, tmp_path):
    """Three runs at once on a machine's cores (one of them with two workers)
    give byte-identical files: the PNG encoder must not depend on the load."""
    procs = [(tmp_path / f"c{i}", _cli("generate", "--out", str(tmp_path / f"c{i}"), *JOB, "--workers", w))
             for i, w in enumerate(("1", "2", "1"))]
    for out, p in procs:
        _, stderr = p.communicate(timeout=240)
        assert p.returncode == 0, stderr
    for out, _ in procs:
        assert tree_hashes(out, SKIP) == reference, out.name


def test_sigterm_on_the_ray_backend_stops_the_actors(reference, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'dropsynth[ray]')")
    out = tmp_path / "ray"
    proc = _cli("generate", "--out", str(out), *JOB, "--workers", "2", "--backend", "ray")
    deadline = time.monotonic() + 180
    while _parts(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        _, stderr = proc.communicate()
        if "cannot start or reach Ray" in stderr:
            pytest.skip(f"Ray cannot start on this machine: {stderr.strip().splitlines()[-1]}")
        pytest.fail(f"the Ray run ended before it could be stopped: {stderr[-2000:]}")
    if _parts(out) < 1:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("no shard within 180 s on the Ray backend")
    stderr = _stop_with_sigterm(proc, 60, "the Ray run")
    files = sorted(p.name for p in (out / "rgb").iterdir())
    time.sleep(2)
    assert sorted(p.name for p in (out / "rgb").iterdir()) == files, "actors kept writing after the driver stopped"
    res = run_cli("generate", "--out", str(out), *JOB, "--workers", "1", "--resume")
    assert res.exit_code == 0, res.output
    assert tree_hashes(out, SKIP) == reference
