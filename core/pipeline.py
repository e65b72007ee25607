"""The generate loop: build -> settle -> render views -> annotate -> write.

Library code: it never prints; progress goes through a callback and the
result is returned as a RunSummary (the CLI draws the bar and the summary).
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dropsynth import __version__
from dropsynth.config import RunConfig
from dropsynth.errors import ConfigError

log = logging.getLogger(__name__)

MARKER = ".dropsynth"  # written first: marks a folder as ours (safe to --overwrite)
OUR_ENTRIES = ("rgb", "depth", "instances", "annotations", "run.json", "preview.png", MARKER)
STAGES = ("build", "physics", "render", "annotate", "write")


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
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=dict)
    gl_renderer: str = ""
    preview: str | None = None
    packs: list = field(default_factory=list)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def prepare_output(out_dir: Path, overwrite: bool) -> None:
    """Create ``out_dir`` or refuse: a non-empty folder needs ``overwrite``,
    and only a previous dropsynth output is ever deleted."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    if out_dir.is_dir():
        entries = [p for p in out_dir.iterdir()]
        if entries:
            if not overwrite:
                raise ConfigError(f"--out {out_dir}: folder is not empty ({len(entries)} entries); "
                                  f"pass --overwrite to replace a previous dropsynth output")
            if not (out_dir / MARKER).exists():
                raise ConfigError(f"--out {out_dir}: not empty and not a dropsynth output (no {MARKER}); "
                                  f"refusing to delete it, choose another folder")
            for name in OUR_ENTRIES:
                p = out_dir / name
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                elif p.exists() or p.is_symlink():
                    p.unlink()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / MARKER).write_text(json.dumps({"tool": "dropsynth", "version": __version__}) + "\n")
    except OSError as e:
        raise ConfigError(f"--out {out_dir}: cannot write there ({e.strerror or e})") from None


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"dropsynth": __version__, "python": platform.python_version()}
    for name in ("numpy", "pybullet", "pyrender", "PyOpenGL", "trimesh", "pillow", "pycocotools", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def generate(cfg: RunConfig, out_dir: str | Path, *, packs: list | None = None, overwrite: bool = False,
             progress: Callable[[int], None] | None = None) -> RunSummary:
    """Generate ``cfg.scenes * cfg.views_per_scene`` frames into ``out_dir``.

    Writes rgb/, depth/, instances/ PNGs, annotations/instances.json (COCO),
    run.json and preview.png. ``progress(n)`` is called after every n frames.
    The COCO file and run.json are written last, so a folder without run.json
    is an incomplete run.
    """
    from dropsynth.annotate import annotate_frame
    from dropsynth.assets.catalog import load_catalog
    from dropsynth.scenes import builders
    from dropsynth.writers.coco import CocoWriter
    from dropsynth.writers.images import DEPTH_SCALE_M, ImageWriter

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    catalog = load_catalog(list(cfg.assets.packs) + list(packs or []), builtin=cfg.assets.builtin).select(
        cfg.scene.categories, cfg.scene.objects, cfg.scene.category_weights)
    build = builders.get(cfg.scene.builder)

    from dropsynth.render.pyrender_backend import PyrenderRenderer
    from dropsynth.scenes.physics import PhysicsWorld

    # Start GL before touching the output folder: a machine without GL
    # libraries gets its error and no folder.
    renderer = PyrenderRenderer(cfg.camera.width, cfg.camera.height)
    try:
        prepare_output(out_dir, overwrite)
    except BaseException:
        renderer.close()
        raise
    world = PhysicsWorld()
    summary = RunSummary(out_dir=str(out_dir), gl_renderer=renderer.gl_renderer,
                         packs=[{"name": n, "objects": sum(a.pack == n for a in catalog.assets)}
                                for n in catalog.packs])
    stage = dict.fromkeys(STAGES, 0.0)
    images = ImageWriter(out_dir, cfg.output.png_compress_level)
    licenses = sorted({a.license for a in catalog.assets})
    coco = CocoWriter(catalog.categories, licenses, description=f"dropsynth {cfg.scene.builder} dataset",
                      seed=cfg.seed, mask_format=cfg.output.mask_format, depth_scale_m=DEPTH_SCALE_M)
    per_class: Counter = Counter()
    try:
        for s in range(cfg.scenes):
            t0 = time.perf_counter()
            spec = build(cfg, catalog, cfg.seed, s)
            t1 = time.perf_counter()
            settled = world.settle(spec, cfg.physics)
            t2 = time.perf_counter()
            renderer.set_scene(settled)
            stage["build"] += t1 - t0
            stage["physics"] += t2 - t1
            stage["render"] += time.perf_counter() - t2
            summary.removed_objects += len(settled.removed)
            summary.unplaced_objects += spec.unplaced
            summary.scenes_not_at_rest += 0 if settled.at_rest else 1
            for v, camera in enumerate(spec.cameras):
                image_index = s * cfg.views_per_scene + v
                t0 = time.perf_counter()
                frame = renderer.render(camera)
                t1 = time.perf_counter()
                anns = annotate_frame(frame.instance_ids, settled, camera, mask_format=cfg.output.mask_format,
                                      min_visible_px=cfg.output.min_visible_px,
                                      largest_part_only=cfg.output.largest_part_only)
                t2 = time.perf_counter()
                if anns or cfg.output.keep_empty_images:
                    files = images.write(image_index, frame.rgb, frame.depth_m, frame.instance_ids)
                    coco.add(image_index, files, camera, s, v, anns)
                    summary.frames += 1
                    summary.annotations += len(anns)
                    per_class.update(a.category for a in anns)
                if not anns:
                    summary.empty_images += 1
                t3 = time.perf_counter()
                stage["render"] += t1 - t0
                stage["annotate"] += t2 - t1
                stage["write"] += t3 - t2
                if progress is not None:
                    progress(1)
        t0 = time.perf_counter()
        coco.write(out_dir / "annotations" / "instances.json")
        stage["write"] += time.perf_counter() - t0
    finally:
        world.close()
        renderer.close()
    summary.per_class = {name: per_class.get(name, 0) for name, _ in catalog.categories}
    summary.stage_seconds = {k: round(v, 4) for k, v in stage.items()}
    summary.seconds = time.perf_counter() - t_start
    if cfg.output.preview and summary.frames:
        from dropsynth.writers.preview import write_preview

        summary.preview = str(write_preview(out_dir, max_frames=cfg.output.preview_frames))
    write_run_json(out_dir, cfg, summary)
    return summary


def write_run_json(out_dir: Path, cfg: RunConfig, summary: RunSummary) -> None:
    """run.json: resolved config, seed, versions, counts, timings. Written last."""
    data = {
        "tool": "dropsynth",
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "versions": package_versions(),
        "gl_renderer": summary.gl_renderer,
        "packs": summary.packs,
        "counts": {
            "frames": summary.frames, "annotations": summary.annotations, "per_class": summary.per_class,
            "empty_images": summary.empty_images, "removed_objects": summary.removed_objects,
            "unplaced_objects": summary.unplaced_objects, "scenes_not_at_rest": summary.scenes_not_at_rest,
        },
        "timings": {"seconds": round(summary.seconds, 3), "frames_per_s": round(summary.frames_per_s, 3),
                    "stage_seconds": summary.stage_seconds},
        "files": {"coco": "annotations/instances.json", "rgb": "rgb/", "depth": "depth/",
                  "instances": "instances/", "preview": "preview.png" if summary.preview else None},
    }
    tmp = out_dir / ".run.json.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, out_dir / "run.json")
