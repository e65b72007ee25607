"""The run: check the output folder, build grasp libraries, run the shards
(here, in worker processes or on Ray), merge their COCO parts, export, and
write run.json last.

Work is split into shards of consecutive scenes (``core/shards.py``). A
shard writes its frames and then its COCO part
(``annotations/parts/shard_NNNNNN.json``); the part is renamed into place
last, so a shard is complete exactly when its part exists. Frame content
depends only on (seed, scene, view), so a shard redone after an interruption
writes the same bytes, and any number of workers, in any order, gives the
same files. When every shard is complete the parts are merged into
``annotations/instances.json`` and ``run.json`` is written last. The output
folder's handling (marker, --overwrite, --resume, temporaries) is
``writers/outdir.py``; what a run writes comes from its writers.

Library code: it never prints; progress goes through a callback and the
result is returned as a RunSummary (the CLI draws the bar and the summary).
"""
from __future__ import annotations

import logging
import numbers
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from dropsynth.errors import ConfigError, DropsynthError
from dropsynth.generator import selected_catalog  # noqa: F401  (part of this module's API)
from dropsynth.runrecord import RunSummary, fingerprint, read_run_json, write_run_json
from dropsynth.shards import Job, ShardWorker, run_writer  # noqa: F401  (Job, ShardWorker: part of this module's API)
from dropsynth.writers.outdir import (PARTS, RUN_CONFIG, RUN_JSON, Snapshot, complete_shards, prepare_output,
                                      wrote_frames)

log = logging.getLogger(__name__)


class Interrupted(DropsynthError):
    """The run was stopped (Ctrl-C); the folder can be completed with --resume."""


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


WORKERS_PER_CORE = 4  # the most local workers per core this process may use; more is refused


def check_workers(workers: int, backend: str = "local", ray_address: str | None = None, *,
                  shards: int | None = None) -> int | None:
    """Refuse a worker count this machine cannot serve; returns the cores
    this process may use (``os.sched_getaffinity``) when the workers run on
    this machine (the local backend, or Ray's local instance), else None (a
    Ray cluster has CPUs of its own).

    Each local worker is a spawned process with its own PyBullet client and
    GL context (about 300 MB): past the cores they only share them, and far
    past them (``WORKERS_PER_CORE`` per core) they exhaust the memory first,
    so that is an error naming the flag, the value and the limit. What counts
    is the processes that would start: one per shard (``shards``) at most,
    so a large ``--workers`` on a run of few shards starts few and passes.
    """
    if not isinstance(workers, numbers.Integral) or isinstance(workers, bool) or workers < 1:  # numpy ints too
        raise ConfigError(f"--workers: must be a positive integer, got {workers!r}")
    if backend == "ray" and (ray_address or _ray_connected()):
        return None
    cores = default_workers()
    limit = WORKERS_PER_CORE * cores
    if min(workers, shards if shards is not None else workers) > limit:
        where = "a local Ray instance" if backend == "ray" else "the local backend"
        raise ConfigError(f"--workers {workers}: above the limit of {limit} for {where} ({WORKERS_PER_CORE} per "
                          f"core; this process may use {cores}); each worker is a process with its own GL context "
                          f"(about 300 MB): use --workers {cores} (the default), or run on a cluster with --backend "
                          f"ray --ray-address ADDRESS")
    return cores


def _ray_connected() -> bool:
    """Whether the caller has already joined a Ray cluster (ray imported and
    initialised: ``run_ray`` then uses that one)."""
    import sys

    ray = sys.modules.get("ray")
    return bool(ray is not None and getattr(ray, "is_initialized", lambda: False)())


def _warn_oversubscribed(used: int, cores: int | None) -> None:
    if cores is not None and used > cores:
        log.warning("--workers: %d worker processes on the %d cores this process may use: they share the cores "
                    "(no faster than %d) and each holds its own GL context (about 300 MB)", used, cores, cores)


def generate(cfg, out_dir: str | Path, *, packs: list | None = None, overwrite: bool = False,
             resume: bool = False, workers: int = 1, backend: str = "local", ray_address: str | None = None,
             progress: Callable[[int, int], None] | None = None,
             library_progress: Callable[[int, int], None] | None = None, renderer=None) -> RunSummary:
    """Generate a dataset; see ``_generate``. A failed write (full disk, lost
    mount, permissions) becomes one clear error that says how to finish."""
    from dropsynth.outlock import OutputLock

    if _importing_main_in_a_worker():
        raise DropsynthError("generate() ran while a worker process imported the main script again: in a "
                             "script, call it under `if __name__ == \"__main__\":` (worker processes are "
                             "spawned, and each imports the script)")
    try:
        with OutputLock(Path(out_dir).resolve()):  # one writer per folder
            return _generate(cfg, out_dir, packs=packs, overwrite=overwrite, resume=resume, workers=workers,
                             backend=backend, ray_address=ray_address, progress=progress,
                             library_progress=library_progress, renderer=renderer)
    except OSError as e:
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        raise DropsynthError(f"--out {out_dir}: writing failed: {e.strerror or e}{where}; complete shards are "
                             f"kept: fix the cause, then run the same command with --resume") from None


def _importing_main_in_a_worker() -> bool:
    """True inside a spawned worker that is still importing the parent's
    script (multiprocessing's own ``_inheriting`` flag, as its
    ``_check_not_importing_main`` reads it): an unguarded generate() call."""
    import multiprocessing as mp

    return bool(getattr(mp.current_process(), "_inheriting", False))


def _generate(cfg, out_dir: str | Path, *, packs: list | None, overwrite: bool, resume: bool,
              workers: int, backend: str, ray_address: str | None,
              progress: Callable[[int, int], None] | None,
              library_progress: Callable[[int, int], None] | None = None, renderer=None) -> RunSummary:
    """Generate ``cfg.scenes * cfg.views_per_scene`` frames into ``out_dir``.

    Writes rgb/, depth/, instances/ PNGs, annotations/instances.json (COCO),
    run.json and preview.png. ``progress(frames, annotations)`` is called as
    frames complete, with the annotations they hold (first with those
    already complete when resuming). ``workers`` processes
    (``backend="local"``) or Ray actors (``backend="ray"``) make the shards.
    With grasps on, missing grasp libraries are built first, after the output
    folder is checked; ``library_progress(done, total)`` follows them.
    ``renderer``: a custom renderer's factory (``shards.check_job_renderer``).
    """
    from dropsynth.render.gl import APT_HINT, missing_libraries
    from dropsynth.scenes import builders
    from dropsynth.writers.coco import header, merge_parts, part_path, read_part

    t_start = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend: must be local or ray, got {backend!r}")
    check_workers(workers, backend, ray_address, shards=1)  # a positive integer, before any slow step
    renderer_name = None
    if renderer is not None:  # a custom renderer: checked before any slow step, named in run.json
        from dropsynth.shards import check_job_renderer

        renderer_name = check_job_renderer(cfg, renderer, in_process=backend == "local" and workers == 1)
    pack_paths, catalog = selected_catalog(cfg, packs)
    builders.get(cfg.scene.builder)
    if cfg.grasps.enabled:
        from dropsynth.grasps import gripper_from_config

        gripper_from_config(cfg.grasps, getattr(cfg, "_source", "config"))  # a bad gripper fails before any work
    job = Job(config=cfg, out_dir=str(out_dir), pack_paths=tuple(pack_paths),
              shard_scenes=cfg.output.shard_scenes, workers=workers, renderer=renderer)
    cores = check_workers(workers, backend, ray_address, shards=job.n_shards)
    if cfg.grasps.enabled and backend == "local":  # grasp libraries: one process per library to build at most
        from dropsynth import grasp_library as gl

        check_workers(workers, shards=len(gl.missing_libraries(catalog.assets, gl.gripper_from_config(cfg.grasps),
                                                               gl.params_from_config(cfg.grasps))))
    from dropsynth.render import cycles_plan

    if cycles_plan.uses_cycles(cfg):  # fail before any work when bpy or the environments are missing
        cycles_plan.require_bpy()
        cycles_plan.hdri_set(cfg)
    if resume and (out_dir / RUN_JSON).is_file() and (out_dir / RUN_CONFIG).is_file():
        return _already_complete(out_dir, cfg, catalog, renderer_name)
    # Fail before touching the output folder when GL cannot work here.
    local = None
    if backend == "local" and workers == 1:
        local = ShardWorker(job)  # creates the GL context now
    elif backend == "local" and renderer is None and missing_libraries():  # a custom renderer may need no GL
        from dropsynth.errors import RenderBackendError

        raise RenderBackendError(f"OpenGL libraries not found ({', '.join(missing_libraries())} missing); "
                                 f"install them with: sudo {APT_HINT}")
    n_shards = job.n_shards
    done: set = set()
    writes = run_writer(cfg, out_dir)  # what this run writes: entries, temporaries, run.json's list
    before = Snapshot(out_dir)
    first_frame = threading.Event()

    def frames_done(n: int, annotations: int = 0) -> None:
        if n and not first_frame.is_set():
            first_frame.set()
            before.discard()  # a frame is written: the replaced output is gone for good
        if progress is not None:
            progress(n, annotations)

    try:
        resumed = prepare_output(out_dir, overwrite, resume, fingerprint(cfg, catalog, renderer_name),
                                 temp_dirs=writes.temp_dirs)
        if resumed:
            first_frame.set()  # the folder is a run in progress: never rolled back
        if cfg.grasps.enabled:
            from dropsynth import grasp_library as gl

            # Libraries are built (or found in the cache) once, here, before
            # any worker needs them; the run folder gets an ACRONYM copy.
            meshes = [a for a in catalog.assets if not a.primitive_kind]
            done_libs = [0]

            def _lib_done(n: int) -> None:
                done_libs[0] += n
                if library_progress is not None:
                    library_progress(done_libs[0], len(meshes))

            gripper, params = gl.gripper_from_config(cfg.grasps), gl.params_from_config(cfg.grasps)
            gl.build_libraries(meshes, gripper, params, workers=workers if backend == "local" else 1,
                               progress=_lib_done)
            gl.export_libraries(out_dir / "grasps" / "library", meshes, gripper, params)
        if resumed:
            done = complete_shards(out_dir, n_shards)
        n_todo = n_shards - len(done)
        todo = (k for k in range(n_shards) if k not in done)  # lazy: never a list of the run's shards
        if done:
            kept = [read_part(part_path(out_dir, k))["stats"] for k in done]
            frames_done(sum(st["frames_attempted"] for st in kept), sum(st["annotations"] for st in kept))
        gl_name = ""
        used = 0
        if n_todo:
            if local is not None:
                gl_name, used = local.gl_renderer, 1
                try:
                    for k in todo:
                        local.run(k, frames_done)
                except KeyboardInterrupt:
                    raise Interrupted(_interrupt_message(out_dir, n_shards)) from None
            elif backend == "local":
                from dropsynth.runner import run_pool

                used = min(workers, n_todo)
                _warn_oversubscribed(used, cores)
                gl_name = run_pool(job, todo, used, frames_done,
                                   on_interrupt=lambda: Interrupted(_interrupt_message(out_dir, n_shards)))
            else:
                from dropsynth.runner import run_ray

                used = min(workers, n_todo)
                _warn_oversubscribed(used, cores)
                gl_name = run_ray(job, todo, used, ray_address, frames_done,
                                  on_interrupt=lambda: Interrupted(_interrupt_message(out_dir, n_shards)))
    except BaseException as e:
        if not first_frame.is_set() and not wrote_frames(out_dir, writes.entries) and before.restore():
            if isinstance(e, Interrupted):
                raise Interrupted(f"interrupted before the first frame: {out_dir} is as it was; run the "
                                  f"command again") from None
        raise
    finally:
        if local is not None:
            local.close()
    before.discard()
    parts = [part_path(out_dir, k) for k in range(n_shards)]
    summary = RunSummary(out_dir=str(out_dir), workers=used, workers_asked=workers, backend=backend,
                         shards_resumed=len(done),
                         pack_paths=list(pack_paths),
                         packs=[{"name": n, "objects": sum(a.pack == n for a in catalog.assets)}
                                for n in catalog.packs])
    summary.add_parts((read_part(p)["stats"] for p in parts), done, catalog.categories)
    licenses = sorted({a.license for a in catalog.all_assets})
    head = header(catalog.categories, licenses, description=f"dropsynth {cfg.scene.builder} dataset",
                  seed=cfg.seed, mask_format=cfg.output.mask_format, keypoints=cfg.output.keypoints,
                  polygon_convention=cfg.output.polygon_convention)
    merge_parts(out_dir / "annotations" / "instances.json", head, parts)
    summary.gl_renderer = gl_name
    if cfg.output.preview and summary.frames:
        from dropsynth.writers.preview import write_preview

        summary.preview = str(write_preview(out_dir, max_frames=cfg.output.preview_frames))
    summary.seconds = time.perf_counter() - t_start
    # The parts are merged: drop them (before run.json marks the run complete),
    # so the folder holds one copy of the labels and does not depend on how
    # the work was split.
    shutil.rmtree(out_dir / "annotations" / PARTS, ignore_errors=True)
    if cfg.output.splits or cfg.output.export or cfg.output.stats:
        # Exports read the finished dataset (run.json included). Until they are
        # done run.json says so, and --resume finishes them.
        summary.exports_pending = True
        write_run_json(out_dir, cfg, summary, writes.listing)
        _exports(out_dir, cfg, summary)
        summary.exports_pending = False
        summary.seconds = time.perf_counter() - t_start
    write_run_json(out_dir, cfg, summary, writes.listing)
    return summary


def _exports(out_dir: Path, cfg, summary: RunSummary) -> None:
    """Split files, other formats and the statistics report, from the merged COCO file."""
    o = cfg.output
    if o.splits:
        from dropsynth.writers.coco import write_split_files

        summary.splits = write_split_files(out_dir, o.splits, cfg.seed)
    from dropsynth.writers import run_exporter

    for fmt in o.export:
        summary.exports[fmt] = str(run_exporter(fmt, out_dir, ratios=o.splits, seed=cfg.seed))
    if o.stats:
        from dropsynth.writers.stats import write_report

        summary.exports["stats"] = str(write_report(out_dir)[0])


def _already_complete(out_dir: Path, cfg, catalog, renderer_name: str | None = None) -> RunSummary:
    """--resume of a finished run: check it is the same run, change nothing."""
    writes = run_writer(cfg, out_dir)
    prepare_output(out_dir, False, True, fingerprint(cfg, catalog, renderer_name), temp_dirs=writes.temp_dirs)
    shutil.rmtree(out_dir / "annotations" / PARTS, ignore_errors=True)
    summary, run = read_run_json(out_dir)
    if run.get("exports_pending"):
        # Interrupted while exporting: the dataset is whole, finish the exports.
        summary.exports_pending = True
        _exports(out_dir, cfg, summary)
        summary.exports_pending = False
        summary.shards_resumed = 0
        write_run_json(out_dir, cfg, summary, writes.listing)
    return summary


def _interrupt_message(out_dir: Path, total: int) -> str:
    complete = len(complete_shards(out_dir, total))
    return (f"interrupted: {complete} of {total} shards complete in {out_dir}; "
            f"run the same command with --resume to finish")
