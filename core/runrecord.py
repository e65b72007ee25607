"""What a run records about itself: the RunSummary it returns, run.json
(written last: config, seed, versions, counts, timings, the files), and the
fingerprint that a --resume must match (``run_config.json``)."""
from __future__ import annotations

import json
import os
import platform
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dropsynth import __version__
from dropsynth.generator import STAGES
from dropsynth.writers.outdir import PREVIEW, RUN_JSON


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
    renderer: str | None = None  # a custom renderer's qualified class name; None: the built-in backends

    @property
    def frames_per_s(self) -> float:
        return self.frames_this_run / self.seconds if self.seconds > 0 else 0.0

    def add_parts(self, part_stats, resumed: set, categories) -> None:
        """Sum the shards' stats (``part_stats``: one per shard, in order);
        the shards in ``resumed`` count as frames, not as this run's work."""
        per_class: Counter = Counter()
        stage = dict.fromkeys(STAGES, 0.0)
        for k, st in enumerate(part_stats):
            for key in ("frames", "annotations", "empty_images", "removed_objects", "unplaced_objects",
                        "scenes_not_at_rest", "scenes_calmed", "scenes_redrawn"):
                setattr(self, key, getattr(self, key) + st.get(key, 0))
            if k not in resumed:
                self.frames_this_run += st["frames"]
                for name, v in st["stage_seconds"].items():
                    stage[name] += v
            per_class.update(st["per_class"])
            for name, n in st.get("renderers", {}).items():
                self.renderers[name] = self.renderers.get(name, 0) + n
            if st.get("renderer"):
                self.renderer = st["renderer"]
        self.per_class = {name: per_class.get(name, 0) for name, _ in categories}
        self.stage_seconds = {k: round(v, 4) for k, v in stage.items()}


def fingerprint(cfg, catalog, renderer: str | None = None) -> dict:
    """What a resumed run must share with the original: config, assets,
    version, the image folders' listings (names and sizes), and a custom
    renderer's name (``renderer``; the key is absent for the built-in ones)."""
    from dropsynth.config import image_files

    folders = {}
    for key, folder in (("materials.texture_folder", cfg.materials.texture_folder),
                        ("background.image_folder", cfg.background.image_folder)):
        if folder is not None and Path(folder).is_dir():
            folders[key] = [[Path(f).name, Path(f).stat().st_size] for f in image_files(folder)]
    out = {"config": cfg.to_dict(), "assets": [a.key for a in catalog.all_assets], "dropsynth": __version__}
    if folders:
        out["image_folders"] = folders
    if renderer is not None:
        out["renderer"] = renderer
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


def read_run_json(out_dir: Path) -> tuple[RunSummary, dict]:
    """The summary of the complete run in ``out_dir`` (shards_resumed -1:
    nothing was done), and its run.json."""
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
                         renderers=c.get("renderers", {}), renderer=run.get("renderer"))
    return summary, run


def write_run_json(out_dir: Path, cfg, summary: RunSummary, listing: dict) -> None:
    """run.json: resolved config, seed, versions, counts, timings, and the
    files (``listing``: what the run's writers wrote). Written last.
    ``renderer`` (after ``gl_renderer``) names a custom renderer's class, in
    runs that used one only."""
    from dropsynth.atomic import write_json_atomic

    data = {
        "tool": "dropsynth",
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "versions": package_versions(),
        "gl_renderer": summary.gl_renderer,
        **({"renderer": summary.renderer} if summary.renderer else {}),  # absent: the built-in backends
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
        "files": {**listing,
                  "preview": PREVIEW if summary.preview else None,
                  "splits": {k: f"annotations/instances_{k}.json" for k in summary.splits},
                  "exports": {k: os.path.relpath(v, out_dir) for k, v in summary.exports.items()}},
    }
    if summary.renderers:  # only in runs that use Cycles: other runs keep their bytes
        data["counts"]["renderers"] = dict(sorted(summary.renderers.items()))
    write_json_atomic(out_dir / RUN_JSON, data, indent=2)
