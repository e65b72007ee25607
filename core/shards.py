"""One shard of a run: a worker's Generator makes its samples, the writers
write them, and the shard's COCO part is renamed into place last.

Both the run loop (``core/pipeline.py``) and the execution backends
(``core/runner.py``) import this module; they do not import each other.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dropsynth.generator import STAGES, Generator, check_custom_renderer, is_renderer_object


@dataclass(frozen=True)
class Job:
    """Everything a worker needs, picklable: the validated config object
    (workers do not validate it again), the output folder, and the exact pack
    paths (so every worker, on any node, loads the same). ``renderer``: a
    custom renderer's factory, which each worker calls (None: the raster
    backend); a worker process unpickles it, so it is imported by name."""

    config: object  # RunConfig
    out_dir: str
    pack_paths: tuple[str, ...]
    shard_scenes: int
    workers: int = 1  # how many share this machine's cores (Cycles' threads per worker)
    renderer: object = None  # a factory (width, height, cfg) -> Renderer; None: the raster backend

    @property
    def n_shards(self) -> int:
        return -(-self.config.scenes // self.shard_scenes)

    def shard_range(self, shard: int) -> tuple[int, int]:
        """(first scene, stop) of shard ``shard``: computed, never listed, so
        memory does not grow with the run's length."""
        first = shard * self.shard_scenes
        return first, min(first + self.shard_scenes, self.config.scenes)


def check_job_renderer(cfg, renderer, in_process: bool) -> str:
    """The up-front checks of a run's custom renderer ``renderer`` (see
    ``generator.check_custom_renderer``), plus: it must be a factory (each
    worker makes its own renderer), and when the workers are other processes
    (``in_process`` False) one that pickles, i.e. is imported by name there.
    Returns its qualified name; raises RenderBackendError in one line."""
    import pickle

    from dropsynth.errors import RenderBackendError

    name = check_custom_renderer(cfg, renderer)
    if is_renderer_object(renderer):
        raise RenderBackendError(f"renderer: generate() takes a renderer factory (a class or function "
                                 f"(width, height, cfg) -> Renderer), not the renderer object {name}: each worker "
                                 f"makes its own; Generator(cfg, renderer=obj) takes an object")
    if not in_process:
        why = ""
        if "<lambda>" in name or "<locals>" in name:
            why = "a lambda or a function or class defined inside another"
        else:
            try:
                pickle.dumps(renderer)
            except Exception as e:  # PicklingError, AttributeError, TypeError: all the same to the user
                why = f"it does not pickle ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        if why:
            raise RenderBackendError(f"renderer {name}: the worker processes cannot get it: {why}; spawned "
                                     f"workers import the factory by its name, so give a class or function defined "
                                     f"at the top level of a module (or run with workers=1)")
    return name


def file_writers(cfg, root: Path) -> list:
    """The per-frame writers a run of ``cfg`` uses, in COCO record-key order
    (images, ground truth, sensor, grasps)."""
    from dropsynth import sensor
    from dropsynth.writers.frame_files import GraspFilesWriter, GroundTruthWriter, ImagesWriter, SensorWriter

    o = cfg.output
    out = [ImagesWriter(root, o.png_compress_level),
           GroundTruthWriter(root, o.png_compress_level, o.ground_truth),
           SensorWriter(root, o.png_compress_level, ("depth_noisy",) if sensor.enabled(cfg.sensor)[1] else ())]
    if cfg.grasps.enabled:
        out.append(GraspFilesWriter(root, cfg.grasps.formats, cfg.grasps.per_annotation))
    return [w for w in out if w.entries]


def run_writer(cfg, root: Path, shard: int = 0, scenes: tuple[int, int] = (0, 0), category_ids=None,
               stats: dict | None = None):
    """The writer of one shard (a CocoPartWriter over ``file_writers``); with
    the defaults, only to ask what a run writes (entries, temp_dirs, listing)."""
    from dropsynth.writers.frame_files import CocoPartWriter

    return CocoPartWriter(root, shard, scenes, file_writers(cfg, root), category_ids or {},
                          {} if stats is None else stats)


class ShardWorker:
    """Makes whole shards. One per worker process, reused for every shard it
    runs: the Generator (renderer and PyBullet client) is made once."""

    def __init__(self, job: Job):
        self.job = job
        self.cfg = job.config
        # the processes that run, not those asked for: a pool never starts more than there are shards
        self.gen = Generator(self.cfg, pack_paths=job.pack_paths, workers=min(job.workers, job.n_shards),
                             renderer=job.renderer)
        self.renderer = self.gen.renderer

    def close(self) -> None:
        self.gen.close()

    def run(self, shard: int, progress: Callable[[int, int], None] | None = None) -> dict:
        """Write shard ``shard``'s frames and its COCO part; returns its stats."""
        cfg, gen = self.cfg, self.gen
        first, stop = self.job.shard_range(shard)
        gen.stage = stage = dict.fromkeys(STAGES, 0.0)
        stats = {"frames": 0, "annotations": 0, "per_class": Counter(), "empty_images": 0, "removed_objects": 0,
                 "unplaced_objects": 0, "scenes_not_at_rest": 0, "scenes_calmed": 0, "scenes_redrawn": 0}
        writer = run_writer(cfg, Path(self.job.out_dir), shard, (first, stop), gen.category_ids, stats)
        for s in range(first, stop):
            scene = gen.scene(s)
            settled = scene.settled
            stats["removed_objects"] += len(settled.removed)
            stats["unplaced_objects"] += scene.spec.unplaced
            stats["scenes_not_at_rest"] += 0 if settled.at_rest else 1
            stats["scenes_calmed"] += settled.settled_by == "calmed"
            stats["scenes_redrawn"] += settled.settled_by == "redrawn"
            for sample, kept in gen.views(scene):
                anns = sample.annotations
                if kept:
                    t0 = time.perf_counter()
                    writer.write(sample)
                    stage["write"] += time.perf_counter() - t0
                    if sample.renderer is not None:  # only in runs that use Cycles: other runs keep their bytes
                        stats.setdefault("renderers", Counter())[sample.renderer] += 1
                    stats["frames"] += 1
                    stats["annotations"] += len(anns)
                    stats["per_class"].update(a.category for a in anns)
                if not anns:
                    stats["empty_images"] += 1
                if progress is not None:
                    progress(1, len(anns) if kept else 0)
        stats["per_class"] = dict(stats["per_class"])
        if "renderers" in stats:
            stats["renderers"] = dict(stats["renderers"])
        stats["stage_seconds"] = stage
        stats["frames_attempted"] = (stop - first) * cfg.views_per_scene
        if gen.renderer_name is not None:  # a custom renderer's class, kept in the part (a resume reads it)
            stats["renderer"] = gen.renderer_name
        t0 = time.perf_counter()
        writer.finish()
        stage["write"] += time.perf_counter() - t0
        stats["gl_renderer"] = self.gl_renderer
        return stats

    @property
    def gl_renderer(self) -> str:
        """The renderer's GL renderer string ("" when it has none: a custom renderer may not)."""
        from dropsynth.render.base import optional

        return str(optional(self.renderer, "gl_renderer") or "")
