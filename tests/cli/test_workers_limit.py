"""--workers far above the cores: a warning past the cores this process may
use, an error past WORKERS_PER_CORE times them, counting the processes that
would start (one per shard at most), in the CLI and the Python API alike; a
Ray cluster is not limited by this machine. No worker is started: the cores
are faked through os.sched_getaffinity."""
from __future__ import annotations

import logging
import os

import pytest

import dropsynth
from dropsynth import pipeline
from dropsynth.errors import ConfigError

from .helpers import run_cli

TINY = ["--scenes", "100", "--views-per-scene", "1", "--width", "64", "--height", "48", "--no-progress",
        "--set", "output.shard_scenes=1"]


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    return 2


def test_the_limit_is_four_workers_per_usable_core(two_cores):
    assert pipeline.check_workers(8) == 2
    with pytest.raises(ConfigError) as e:
        pipeline.check_workers(9)
    assert str(e.value).startswith("--workers 9: above the limit of 8 for the local backend (4 per core; this "
                                   "process may use 2)")
    assert "--workers 2 (the default)" in str(e.value) and "\n" not in str(e.value)


def test_what_counts_is_the_processes_that_would_start(two_cores):
    """One per shard at most: --workers 1000 on a run of 2 shards starts 2."""
    assert pipeline.check_workers(1000, shards=2) == 2
    assert pipeline.check_workers(1000, shards=8) == 2
    with pytest.raises(ConfigError, match=r"^--workers 1000: above the limit of 8"):
        pipeline.check_workers(1000, shards=9)


def test_a_ray_cluster_is_not_limited_by_this_machine_a_local_ray_instance_is(two_cores):
    assert pipeline.check_workers(64, "ray", "auto") is None
    with pytest.raises(ConfigError, match=r"^--workers 64: above the limit of 8 for a local Ray instance"):
        pipeline.check_workers(64, "ray", None)


@pytest.mark.parametrize("bad", [0, -3, True, 2.0])
def test_workers_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match=r"^--workers: must be a positive integer, got "):
        pipeline.check_workers(bad)


def test_cli_refuses_64_workers_on_two_cores_before_touching_the_folder(two_cores, tmp_path):
    out = tmp_path / "run"
    res = run_cli("generate", "--out", str(out), *TINY, "--workers", "64")
    assert res.exit_code != 0
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "--workers 64: above the limit of 8" in lines[0], res.output
    assert not out.exists()


def test_python_api_refuses_64_workers_the_same_way(two_cores, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"^--workers 64: above the limit of 8 for the local backend"):
        dropsynth.generate(dropsynth.load_config(scenes=100, **{"output.shard_scenes": 1}), out, workers=64)
    assert not out.exists()


def test_grasps_build_has_the_same_limit(monkeypatch, tmp_path):
    """One process per library to build at most: the built-in pack's 7 meshes,
    none cached, on 1 core (limit 4)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setenv("DROPSYNTH_CACHE", str(tmp_path / "empty_cache"))
    res = run_cli("grasps", "build", "--workers", "64", "--no-progress")
    assert res.exit_code != 0 and "--workers 64: above the limit of 4 for the local backend" in res.output, res.output


def test_what_counts_for_grasps_is_the_libraries_still_to_build(monkeypatch, tmp_path):
    """generate with grasps on 1 core (limit 4), a run of 2 shards and
    --workers 64: refused while 20 libraries are still to build (20
    processes), not refused once every library is cached (none to start)."""
    from dropsynth import grasp_library
    from dropsynth.render import cycles_plan

    class Checked(Exception):
        pass

    def stop_after_the_checks(cfg):
        raise Checked

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr(cycles_plan, "uses_cycles", stop_after_the_checks)  # the step after the workers checks
    cfg = dropsynth.load_config(scenes=2, **{"output.shard_scenes": 1, "grasps.enabled": True})
    monkeypatch.setattr(grasp_library, "missing_libraries", lambda assets, gripper, params: [None] * 20)
    with pytest.raises(ConfigError, match=r"^--workers 64: above the limit of 4 for the local backend"):
        dropsynth.generate(cfg, tmp_path / "a", workers=64)
    monkeypatch.setattr(grasp_library, "missing_libraries", lambda assets, gripper, params: [])
    with pytest.raises(Checked):
        dropsynth.generate(cfg, tmp_path / "b", workers=64)


class _Stop(Exception):
    pass


@pytest.mark.render  # the run checks the GL libraries before it starts workers (tests/conftest.py's guard)
def test_more_workers_than_cores_warn_once_naming_the_cores(monkeypatch, tmp_path, caplog):
    """1 core, --workers 3, 2 shards: 2 processes would start (one per shard
    at most), more than the core; the pool itself is replaced by a stand-in."""
    from dropsynth import runner

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    started = []

    def fake_pool(job, shards, workers, progress, on_interrupt):
        started.append(workers)
        raise _Stop

    monkeypatch.setattr(runner, "run_pool", fake_pool)
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING), pytest.raises(_Stop):
        dropsynth.generate(dropsynth.load_config(scenes=2, **{"output.shard_scenes": 1}), out, workers=3)
    assert started == [2]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["--workers: 2 worker processes on the 1 cores this process may use: they share the cores "
                        "(no faster than 1) and each holds its own GL context (about 300 MB)"]
    assert not out.exists()  # failed before its first frame: the folder is as it was (absent)


@pytest.mark.render
def test_as_many_workers_as_cores_do_not_warn(monkeypatch, tmp_path, caplog):
    from dropsynth import runner

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(runner, "run_pool", lambda *a, **k: (_ for _ in ()).throw(_Stop()))
    with caplog.at_level(logging.WARNING), pytest.raises(_Stop):
        dropsynth.generate(dropsynth.load_config(scenes=4, **{"output.shard_scenes": 1}), tmp_path / "r", workers=2)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_numpy_integers_are_worker_counts(two_cores):
    """From the Python API a count often comes out of numpy (np.int64)."""
    import numpy as np

    assert pipeline.check_workers(np.int64(2), shards=np.int64(4)) == 2
