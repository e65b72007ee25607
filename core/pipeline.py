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

import json
import logging
import os
import platform
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dropsynth import __version__
from dropsynth.errors import ConfigError, DropsynthError
from dropsynth.generator import STAGES, selected_catalog  # noqa: F401  (selected_catalog: part of this API)
from dropsynth.shards import Job, ShardWorker, run_writer  # noqa: F401  (Job, ShardWorker: part of this API)
from dropsynth.writers.outdir import (PARTS, PREVIEW, RUN_CONFIG, RUN_JSON, Snapshot, complete_shards,
                                      prepare_output, wrote_frames)

log = logging.getLogger(__name__)


class Interrupted(DropsynthError):
    """The run was stopped (Ctrl-C); the folder can be completed with --resume."""


@dataclass
class RunSummary:
    out_dir: str
    frames: int = 0
    annotations: int = 0
    per_class: dict = field(default_factory=dict)
    empty_images: int = 0
    removed_objects: int = 0  # left the table during settling
    unplaced_objects: int = 0  # no collision-free spawn position found
    scenes_not_at_rest: int = 0
    scenes_calmed: int = 0  # hit physics.max_steps, then at rest under the calming rule
    scenes_redrawn: int = 0  # ... or after new spawn orientations from their resettle stream
    seconds: float = 0.0
    frames_this_run: int = 0  # frames made by this invocation (less than frames after --resume)
    shards_resumed: int = 0
    workers: int = 1  # that actually ran (fewer than asked when there are fewer shards to do)
    workers_asked: int = 1
    backend: str = "local"
    stage_seconds: dict = field(default_factory=dict)  # summed over workers (CPU seconds)
    gl_renderer: str = ""
    preview: str | None = None
    packs: list = field(default_factory=list)
    pack_paths: list = field(default_factory=list)  # what exporters reload the assets (meshes) from
    splits: dict = field(default_factory=dict)  # images per split, when output.splits is set
    exports: dict = field(default_factory=dict)  # format -> where it was written
    exports_pending: bool = False  # run.json written, exports not yet
    renderers: dict = field(default_factory=dict)  # images per renderer, only when render.backend is cycles

    @property
    def frames_per_s(self) -> float:
        return self.frames_this_run / self.seconds if self.seconds > 0 else 0.0



def _fingerprint(cfg, catalog) -> dict:
    """What a resumed run must share with the original: config, assets,
    version, and the image folders' listings (names and sizes)."""
    from dropsynth.config import image_files

    folders = {}
    for key, folder in (("materials.texture_folder", cfg.materials.texture_folder),
                        ("background.image_folder", cfg.background.image_folder)):
        if folder is not None and Path(folder).is_dir():
            folders[key] = [[Path(f).name, Path(f).stat().st_size] for f in image_files(folder)]
    out = {"config": cfg.to_dict(), "assets": [a.key for a in catalog.all_assets], "dropsynth": __version__}
    if folders:
        out["image_folders"] = folders
    return out


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"dropsynth": __version__, "python": platform.python_version()}
    for name in ("numpy", "pybullet", "pyrender", "PyOpenGL", "trimesh", "pillow", "pycocotools", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    import zlib

    out["zlib"] = zlib.ZLIB_RUNTIME_VERSION  # the PNG bytes depend on it
    return out


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def generate(cfg, out_dir: str | Path, *, packs: list | None = None, overwrite: bool = False,
             resume: bool = False, workers: int = 1, backend: str = "local", ray_address: str | None = None,
             progress: Callable[[int, int], None] | None = None,
             library_progress: Callable[[int, int], None] | None = None) -> RunSummary:
    """Generate a dataset; see ``_generate``. A failed write (full disk, lost
    mount, permissions) becomes one clear error that says how to finish."""
    from dropsynth.outlock import OutputLock

    try:
        with OutputLock(Path(out_dir).resolve()):  # one writer per folder
            return _generate(cfg, out_dir, packs=packs, overwrite=overwrite, resume=resume, workers=workers,
                             backend=backend, ray_address=ray_address, progress=progress,
                             library_progress=library_progress)
    except OSError as e:
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        raise DropsynthError(f"--out {out_dir}: writing failed: {e.strerror or e}{where}; complete shards are "
                             f"kept: fix the cause, then run the same command with --resume") from None


def _generate(cfg, out_dir: str | Path, *, packs: list | None, overwrite: bool, resume: bool,
              workers: int, backend: str, ray_address: str | None,
              progress: Callable[[int, int], None] | None,
              library_progress: Callable[[int, int], None] | None = None) -> RunSummary:
    """Generate ``cfg.scenes * cfg.views_per_scene`` frames into ``out_dir``.

    Writes rgb/, depth/, instances/ PNGs, annotations/instances.json (COCO),
    run.json and preview.png. ``progress(frames, annotations)`` is called as
    frames complete, with the annotations they hold (first with those
    already complete when resuming). ``workers`` processes
    (``backend="local"``) or Ray actors (``backend="ray"``) make the shards.
    With grasps on, missing grasp libraries are built first, after the output
    folder is checked; ``library_progress(done, total)`` follows them.
    """
    from dropsynth.render.gl import APT_HINT, missing_libraries
    from dropsynth.scenes import builders
    from dropsynth.writers.coco import header, merge_parts, part_path, read_part

    t_start = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    if workers < 1:
        raise ConfigError(f"--workers: must be a positive integer, got {workers}")
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend: must be local or ray, got {backend!r}")
    pack_paths, catalog = selected_catalog(cfg, packs)
    builders.get(cfg.scene.builder)
    if cfg.grasps.enabled:
        from dropsynth.grasps import gripper_from_config

        gripper_from_config(cfg.grasps, getattr(cfg, "_source", "config"))  # a bad gripper fails before any work
    job = Job(config=cfg, out_dir=str(out_dir), pack_paths=tuple(pack_paths),
              shard_scenes=cfg.output.shard_scenes, workers=workers)
    from dropsynth.render import cycles_plan

    if cycles_plan.uses_cycles(cfg):  # fail before any work when bpy or the environments are missing
        cycles_plan.require_bpy()
        cycles_plan.hdri_set(cfg)
    if resume and (out_dir / RUN_JSON).is_file() and (out_dir / RUN_CONFIG).is_file():
        return _already_complete(out_dir, cfg, catalog)
    # Fail before touching the output folder when GL cannot work here.
    local = None
    if backend == "local" and workers == 1:
        local = ShardWorker(job)  # creates the GL context now
    elif backend == "local" and missing_libraries():
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
        resumed = prepare_output(out_dir, overwrite, resume, _fingerprint(cfg, catalog), temp_dirs=writes.temp_dirs)
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
                gl_name, used = local.renderer.gl_renderer, 1
                try:
                    for k in todo:
                        local.run(k, frames_done)
                except KeyboardInterrupt:
                    raise Interrupted(_interrupt_message(out_dir, n_shards)) from None
            elif backend == "local":
                from dropsynth.runner import run_pool

                used = min(workers, n_todo)
                gl_name = run_pool(job, todo, used, frames_done,
                                   on_interrupt=lambda: Interrupted(_interrupt_message(out_dir, n_shards)))
            else:
                from dropsynth.runner import run_ray

                used = min(workers, n_todo)
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
    per_class: Counter = Counter()
    stage = dict.fromkeys(STAGES, 0.0)
    for k, p in enumerate(parts):
        st = read_part(p)["stats"]
        for key in ("frames", "annotations", "empty_images", "removed_objects", "unplaced_objects",
                    "scenes_not_at_rest", "scenes_calmed", "scenes_redrawn"):
            setattr(summary, key, getattr(summary, key) + st.get(key, 0))
        if k not in done:
            summary.frames_this_run += st["frames"]
            for name, v in st["stage_seconds"].items():
                stage[name] += v
        per_class.update(st["per_class"])
        for name, n in st.get("renderers", {}).items():
            summary.renderers[name] = summary.renderers.get(name, 0) + n
    licenses = sorted({a.license for a in catalog.all_assets})
    head = header(catalog.categories, licenses, description=f"dropsynth {cfg.scene.builder} dataset",
                  seed=cfg.seed, mask_format=cfg.output.mask_format, keypoints=cfg.output.keypoints,
                  polygon_convention=cfg.output.polygon_convention)
    merge_parts(out_dir / "annotations" / "instances.json", head, parts)
    summary.per_class = {name: per_class.get(name, 0) for name, _ in catalog.categories}
    summary.stage_seconds = {k: round(v, 4) for k, v in stage.items()}
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
        write_run_json(out_dir, cfg, summary)
        _exports(out_dir, cfg, summary)
        summary.exports_pending = False
        summary.seconds = time.perf_counter() - t_start
    write_run_json(out_dir, cfg, summary)
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


def _already_complete(out_dir: Path, cfg, catalog) -> RunSummary:
    """--resume of a finished run: check it is the same run, change nothing."""
    prepare_output(out_dir, False, True, _fingerprint(cfg, catalog), temp_dirs=run_writer(cfg, out_dir).temp_dirs)
    shutil.rmtree(out_dir / "annotations" / PARTS, ignore_errors=True)
    run = json.loads((out_dir / RUN_JSON).read_text())
    c = run["counts"]
    preview = out_dir / PREVIEW
    summary = RunSummary(out_dir=str(out_dir), frames=c["frames"], annotations=c["annotations"],
                         per_class=c["per_class"], empty_images=c["empty_images"],
                         removed_objects=c["removed_objects"], unplaced_objects=c["unplaced_objects"],
                         scenes_not_at_rest=c["scenes_not_at_rest"], scenes_calmed=c.get("scenes_calmed", 0),
                         scenes_redrawn=c.get("scenes_redrawn", 0), shards_resumed=-1,
                         stage_seconds=dict.fromkeys(STAGES, 0.0), gl_renderer=run["gl_renderer"],
                         preview=str(preview) if preview.is_file() else None, packs=run.get("packs", []),
                         pack_paths=run.get("pack_paths", []), seconds=run["timings"]["seconds"],
                         frames_this_run=run["timings"].get("frames_this_run", 0),
                         renderers=c.get("renderers", {}))
    if run.get("exports_pending"):
        # Interrupted while exporting: the dataset is whole, finish the exports.
        summary.exports_pending = True
        _exports(out_dir, cfg, summary)
        summary.exports_pending = False
        summary.shards_resumed = 0
        write_run_json(out_dir, cfg, summary)
    return summary


def _interrupt_message(out_dir: Path, total: int) -> str:
    complete = len(complete_shards(out_dir, total))
    return (f"interrupted: {complete} of {total} shards complete in {out_dir}; "
            f"run the same command with --resume to finish")


def write_run_json(out_dir: Path, cfg, summary: RunSummary) -> None:
    """run.json: resolved config, seed, versions, counts, timings. Written last."""
    from dropsynth.writers.coco import write_json_atomic

    data = {
        "tool": "dropsynth",
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "versions": package_versions(),
        "gl_renderer": summary.gl_renderer,
        "packs": summary.packs,
        "pack_paths": summary.pack_paths,
        "execution": {"backend": summary.backend, "workers": summary.workers, "workers_asked": summary.workers_asked,
                      "shards_resumed": summary.shards_resumed},
        "exports_pending": summary.exports_pending,
        "counts": {
            "frames": summary.frames, "annotations": summary.annotations, "per_class": summary.per_class,
            "empty_images": summary.empty_images, "removed_objects": summary.removed_objects,
            "unplaced_objects": summary.unplaced_objects, "scenes_not_at_rest": summary.scenes_not_at_rest,
            "scenes_calmed": summary.scenes_calmed, "scenes_redrawn": summary.scenes_redrawn,
        },
        "timings": {"seconds": round(summary.seconds, 3), "frames_this_run": summary.frames_this_run,
                    "frames_per_s": round(summary.frames_per_s, 3), "stage_seconds": summary.stage_seconds},
        "files": {**run_writer(cfg, out_dir).listing,  # the writers of the run: coco, rgb, depth, instances, ...
                  "preview": PREVIEW if summary.preview else None,
                  "splits": {k: f"annotations/instances_{k}.json" for k in summary.splits},
                  "exports": {k: os.path.relpath(v, out_dir) for k, v in summary.exports.items()}},
    }
    if summary.renderers:  # only in runs that use Cycles: other runs keep their bytes
        data["counts"]["renderers"] = dict(sorted(summary.renderers.items()))
    write_json_atomic(out_dir / RUN_JSON, data, indent=2)
