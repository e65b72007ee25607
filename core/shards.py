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

from dropsynth.generator import STAGES, Generator


@dataclass(frozen=True)
class Job:
    """Everything a worker needs, picklable: the validated config object
    (workers do not validate it again), the output folder, and the exact pack
    paths (so every worker, on any node, loads the same)."""

    config: object  # RunConfig
    out_dir: str
    pack_paths: tuple[str, ...]
    shard_scenes: int
    workers: int = 1  # how many share this machine's cores (Cycles' threads per worker)

    @property
    def n_shards(self) -> int:
        return -(-self.config.scenes // self.shard_scenes)

    def shard_range(self, shard: int) -> tuple[int, int]:
        """(first scene, stop) of shard ``shard``: computed, never listed, so
        memory does not grow with the run's length."""
        first = shard * self.shard_scenes
        return first, min(first + self.shard_scenes, self.config.scenes)


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
        self.gen = Generator(self.cfg, pack_paths=job.pack_paths, workers=min(job.workers, job.n_shards))
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
        t0 = time.perf_counter()
        writer.finish()
        stage["write"] += time.perf_counter() - t0
        stats["gl_renderer"] = self.renderer.gl_renderer
        return stats
