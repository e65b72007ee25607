"""The generate loop: build -> settle -> render views -> annotate -> write.

Work is split into shards of consecutive scenes. A shard writes its frames'
PNGs and then its COCO part (``annotations/parts/shard_NNNNNN.json``); the
part is renamed into place last, so a shard is complete exactly when its part
exists. Frame content depends only on (seed, scene, view), so a shard redone
after an interruption writes the same bytes, and any number of workers, in
any order, gives the same files. When every shard is complete the parts are
merged into ``annotations/instances.json`` and ``run.json`` is written last.

Library code: it never prints; progress goes through a callback and the
result is returned as a RunSummary (the CLI draws the bar and the summary).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os

import numpy as np
import platform
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dropsynth import __version__
from dropsynth.config import RunConfig
from dropsynth.errors import ConfigError, DropsynthError

log = logging.getLogger(__name__)

MARKER = ".dropsynth"  # written first: marks a folder as ours (safe to --overwrite, --resume)
RUN_CONFIG = "run_config.json"  # what a resumed run must match
GRASP_FORMAT_DIRS = {"jacquard": "grasps_jacquard", "cornell": "grasps_cornell", "maps": "grasp_maps"}
GRASP_DIRS = ("grasps", *GRASP_FORMAT_DIRS.values())
OUR_ENTRIES = ("rgb", "depth", "depth_noisy", "instances", "class", "normals", "nocs", "annotations", "run.json", "preview.png",
               "stats", "yolo", "yolo-seg", "bop", "datumaro", *GRASP_DIRS, RUN_CONFIG, MARKER)
STAGES = ("build", "physics", "render", "annotate", "write", "grasps")
PARTS = "parts"  # annotations/parts/: one COCO part per complete shard, until the merge
REPLACED = ".dropsynth.replaced"  # --overwrite: the previous output, until this run writes its first frame


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


@dataclass(frozen=True)
class Job:
    """Everything a worker needs, picklable: resolved config, output folder,
    and the exact pack paths (so every worker, on any node, loads the same)."""

    config: dict
    out_dir: str
    pack_paths: tuple[str, ...]
    shard_scenes: int
    workers: int = 1  # how many share this machine's cores (Cycles' threads per worker)

    @property
    def n_shards(self) -> int:
        return -(-self.config["scenes"] // self.shard_scenes)

    def shard_range(self, shard: int) -> tuple[int, int]:
        """(first scene, stop) of shard ``shard``: computed, never listed, so
        memory does not grow with the run's length."""
        first = shard * self.shard_scenes
        return first, min(first + self.shard_scenes, self.config["scenes"])


# --- output folder ------------------------------------------------------------


def _fingerprint(cfg: RunConfig, catalog) -> dict:
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


def _first_difference(a, b, path="") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            d = _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
            if d:
                return d
        return None
    if a != b:
        return f"{path} is {json.dumps(a)} there, {json.dumps(b)} now"
    return None


def prepare_output(out_dir: Path, overwrite: bool, resume: bool = False, fingerprint: dict | None = None) -> bool:
    """Create ``out_dir``, or check it for --resume. Returns True when resuming.

    A non-empty folder needs ``overwrite`` (only a previous dropsynth output
    is ever deleted) or ``resume`` (only into a run made with the same config,
    seed and assets).
    """
    from dropsynth.outlock import LOCK_NAME

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    if (out_dir / REPLACED).is_dir():  # left by a run killed before its first frame: ours
        shutil.rmtree(out_dir / REPLACED)
    entries = [p for p in out_dir.iterdir() if p.name != LOCK_NAME] if out_dir.is_dir() else []
    if entries and resume:
        saved = out_dir / RUN_CONFIG
        if not saved.is_file():
            raise ConfigError(f"--resume: {out_dir} has no {RUN_CONFIG}; it is not a dropsynth run to resume")
        old = json.loads(saved.read_text())
        diff = _first_difference(old, fingerprint)
        if diff:
            raise ConfigError(f"--resume: {out_dir} was made with a different config: {diff}; "
                              f"use another --out, or --overwrite to start again")
        _remove_temporaries(out_dir)
        return True
    if entries:
        if not overwrite:
            raise ConfigError(f"--out {out_dir}: folder is not empty ({len(entries)} entries); pass --resume to "
                              f"finish an interrupted run or --overwrite to replace a previous dropsynth output")
        if not (out_dir / MARKER).exists():
            raise ConfigError(f"--out {out_dir}: not empty and not a dropsynth output (no {MARKER}); "
                              f"refusing to delete it, choose another folder")
        # Moved aside, not deleted: a failure before the first frame puts them back.
        (out_dir / REPLACED).mkdir()
        for name in OUR_ENTRIES:
            p = out_dir / name
            if p.exists() or p.is_symlink():
                os.replace(p, out_dir / REPLACED / name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / MARKER).write_text(json.dumps({"tool": "dropsynth", "version": __version__}) + "\n")
        if fingerprint is not None:
            from dropsynth.writers.coco import write_json_atomic

            write_json_atomic(out_dir / RUN_CONFIG, fingerprint)
    except OSError as e:
        raise ConfigError(f"--out {out_dir}: cannot write there ({e.strerror or e})") from None
    return False


class _Snapshot:
    """What ``out_dir`` held before a run, to put it back when the run fails
    before its first frame: what the run added is removed, and what
    --overwrite moved aside (``REPLACED``) comes back."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.names = {p.name for p in out_dir.iterdir()} if out_dir.is_dir() else set()

    def restore(self) -> bool:
        from dropsynth.outlock import LOCK_NAME

        d = self.out_dir
        if not d.is_dir():
            return True
        aside = d / REPLACED
        back = set(os.listdir(aside)) if aside.is_dir() else set()
        for p in d.iterdir():
            if p.name in (LOCK_NAME, REPLACED) or (p.name in self.names and p.name not in back):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        for name in back:
            os.replace(aside / name, d / name)
        if aside.is_dir():
            aside.rmdir()
        return True

    def discard(self) -> None:
        shutil.rmtree(self.out_dir / REPLACED, ignore_errors=True)


def _wrote_frames(out_dir: Path) -> bool:
    """Whether any frame file (or temporary, or shard part) is on disk: a Ray
    actor may have written some before the driver heard of it."""
    for sub in ("rgb", "depth", "instances", f"annotations/{PARTS}"):
        d = out_dir / sub
        if d.is_dir() and any(True for _ in os.scandir(d)):
            return True
    return False


def complete_shards(out_dir: Path, n_shards: int) -> set:
    """Indices of the shards whose COCO part is complete, from a listing of
    annotations/parts/ (not a look-up per shard of the run)."""
    from dropsynth.writers.coco import part_is_complete

    d = Path(out_dir) / "annotations" / PARTS
    out = set()
    if d.is_dir():
        for name in os.listdir(d):
            if name.startswith("shard_") and name.endswith(".json") and name[6:-5].isdigit():
                k = int(name[6:-5])
                if k < n_shards and part_is_complete(d / name):
                    out.add(k)
    return out


def _remove_temporaries(root: Path) -> None:
    """Delete temporary files that a killed run left (".name.tmp")."""
    for sub in ("rgb", "depth", "depth_noisy", "instances", "class", "normals", "nocs", "annotations",
                "annotations/parts", *GRASP_DIRS, "grasps/library", "."):
        d = root / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and p.name.startswith(".") and ".tmp" in p.name:
                    p.unlink()


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


# --- one shard ----------------------------------------------------------------


class ShardWorker:
    """Makes whole shards. One per worker process, reused for every shard it
    runs: the renderer and the PyBullet client are created once and reset per
    scene, not rebuilt."""

    def __init__(self, job: Job):
        from dropsynth import config as config_mod
        from dropsynth.assets.catalog import for_run
        from dropsynth.render.pyrender_backend import PyrenderRenderer
        from dropsynth.scenes import builders
        from dropsynth.scenes.physics import PhysicsWorld

        self.job = job
        self.cfg = config_mod.from_dict(job.config, "<job>")
        cfg = self.cfg
        self.catalog = for_run(cfg, job.pack_paths)
        self.category_ids = self.catalog.category_ids()
        self.build = builders.get(cfg.scene.builder)
        self.renderer = PyrenderRenderer(cfg.camera.width, cfg.camera.height, msaa=cfg.render.msaa,
                                         render_cfg=cfg.render, lights_cfg=cfg.lights)
        self.world = PhysicsWorld()
        self.cycles = None  # the Cycles renderer, made on the first view it renders (bpy starts Blender)
        self.grasp_trials = None
        self.grasp_libs = None
        if cfg.grasps.enabled:
            from dropsynth.grasps import gripper_from_config
            from dropsynth.scenes.grasp_sim import GraspTrials

            self.gripper = gripper_from_config(cfg.grasps)
            # Trials use their own fixed physics settings: a library depends only on its cache key.
            self.grasp_trials = GraspTrials(self.gripper)

    def _libraries(self) -> dict:
        """Mesh assets' grasp libraries, read from the cache on first use (the
        run builds them before any shard starts; a worker on another machine
        builds what its cache lacks)."""
        if self.grasp_libs is None:
            from dropsynth import grasp_library as gl

            params = gl.params_from_config(self.cfg.grasps)
            self.grasp_libs = {a.key: gl.library_for(a, self.gripper, params, trials=self.grasp_trials)[0]
                               for a in self.catalog.assets if not a.primitive_kind}
        return self.grasp_libs

    def close(self) -> None:
        self.world.close()
        self.renderer.close()
        if self.cycles is not None:
            self.cycles.close()
        if self.grasp_trials is not None:
            self.grasp_trials.close()

    def _grasps(self, image_index: int, labeler, frame, camera, anns, out: Path) -> tuple[dict, dict]:
        """Grasp labels of one view (config ``grasps``): the per-frame
        sidecar, the optional Jacquard/Cornell/GG-CNN files, and
        (image record keys, {instance_id: annotation record keys})."""
        from dropsynth.grasps import view_grasps
        from dropsynth.writers import grasps as gw
        from dropsynth.writers.images import frame_name

        g = self.cfg.grasps
        name = Path(frame_name(image_index)).stem
        sg = labeler.grasps(a.instance_id for a in anns)
        v = view_grasps(sg, camera.world_T_cam, camera.K, frame.instance_ids, {a.instance_id for a in anns},
                        self.gripper, g.planar_max_angle_deg)
        files = {"grasps_file": f"grasps/{name}.npz"}
        gw.write_frame_grasps(out / files["grasps_file"], **v)
        rects = v["rects"]
        if "jacquard" in g.formats:
            files["grasps_jacquard_file"] = f"{GRASP_FORMAT_DIRS['jacquard']}/{name}_grasps.txt"
            gw.write_jacquard(out / files["grasps_jacquard_file"], rects)
        if "cornell" in g.formats:
            files["grasps_cornell_file"] = f"{GRASP_FORMAT_DIRS['cornell']}/{name}cpos.txt"
            gw.write_cornell(out / files["grasps_cornell_file"], rects)
        if "maps" in g.formats:
            files["grasp_maps_file"] = f"{GRASP_FORMAT_DIRS['maps']}/{name}.npz"
            maps = gw.grasp_maps(rects, frame.instance_ids.shape[0], frame.instance_ids.shape[1],
                                 quality=v["robust"][v["rect_index"]] if len(rects) else None)
            gw.write_grasp_maps(out / files["grasp_maps_file"], maps)
        keys = {}
        for a in anns:
            mine = np.flatnonzero(v["rect_instance_id"] == a.instance_id)[:g.per_annotation]
            keys[a.instance_id] = {
                "grasps_2d": [[round(float(x), 3) for x in rects[k]] for k in mine],
                "grasps_count": int(np.sum(v["instance_id"] == a.instance_id)),
            }
        return files, keys

    def _renderer_choice(self, s: int, v: int, settled, camera, frame, scene_state: dict):
        """(frame, renderer name) of one view: with render.backend cycles, the
        views chosen for Cycles get its RGB (labels stay the raster pass's);
        the name is None when the run never uses Cycles."""
        from dropsynth.render import cycles_plan

        if not cycles_plan.uses_cycles(self.cfg):
            return frame, None
        if self.cycles is None:
            from dropsynth.render.cycles_backend import CyclesRenderer, CyclesSettings

            # the processes that run, not those asked for: a pool never starts more than there are shards
            threads = cycles_plan.threads_per_worker(self.cfg, max(1, min(self.job.workers, self.job.n_shards)))
            self.cycles = CyclesRenderer(self.cfg.camera.width, self.cfg.camera.height,
                                         CyclesSettings.from_config(self.cfg.render, threads))
            self._hdris = cycles_plan.hdri_set(self.cfg)
        view = cycles_plan.plan_view(self.cfg, self.cfg.seed, s, v, self._hdris)
        if view is None:
            return frame, "raster"
        if scene_state.get("cycles") != s:
            self.cycles.set_scene(settled)
            scene_state["cycles"] = s
        return dataclasses.replace(frame, rgb=self.cycles.render(camera, view).rgb), "cycles"

    def _lens(self, scene: int, view: int):
        """The view's camera effects (render.realism), None at the fast level."""
        if not self.renderer.effects:
            return None
        from dropsynth.render.realism import view_lens

        return view_lens(self.cfg.render, self.cfg.seed, scene, view)

    def _post(self, frame, camera, lens) -> np.ndarray:
        from dropsynth.render import post

        return post.apply(frame.rgb, frame.depth_m, camera.K, lens)

    def _sensor(self, seed: int, scene: int, view: int, image_index: int, frame, images) -> tuple[np.ndarray, dict]:
        """Sensor effects (config ``sensor``), seeded per view: the RGB to
        write, and depth_noisy/ beside the clean depth when asked for."""
        from dropsynth import seeding, sensor
        from dropsynth.writers.images import depth_to_png_units, frame_name

        do_rgb, do_depth = sensor.enabled(self.cfg.sensor)
        if not (do_rgb or do_depth):
            return frame.rgb, {}
        rgb_rng, depth_rng = seeding.view_rng(seed, scene, view, "noise").spawn(2)
        rgb = sensor.rgb_effects(frame.rgb, self.cfg.sensor, rgb_rng) if do_rgb else frame.rgb
        files = {}
        if do_depth:
            noisy = sensor.depth_effects(frame.depth_m, self.cfg.sensor, depth_rng)
            files["depth_noisy_file"] = images.write_extra("depth_noisy", frame_name(image_index),
                                                           depth_to_png_units(noisy))
        return rgb, files

    def _ground_truth(self, image_index: int, frame, settled, camera, anns, images) -> tuple[dict, dict]:
        """Optional dense and 3-D ground truth (output.ground_truth,
        output.keypoints): writes class/, normals/, nocs/ PNGs and returns
        (image record keys, {instance_id: annotation record keys})."""
        from dropsynth import groundtruth as gt
        from dropsynth.writers.images import frame_name

        want = set(self.cfg.output.ground_truth)
        if not want and not self.cfg.output.keypoints:
            return {}, {}
        name = frame_name(image_index)
        objs = {o.instance_id: o for o in settled.objects()}
        files, keys = {}, {a.instance_id: {} for a in anns}
        if "class" in want:
            cls = gt.class_image(frame.instance_ids, {i: self.category_ids[o.asset.category] for i, o in objs.items()
                                                      if o.annotate})
            files["class_file"] = images.write_extra("class", name, cls)
        if "normals" in want:
            n = gt.normals_from_depth(frame.depth_m, camera.K, frame.instance_ids)
            rgb = np.where(np.any(n != 0, axis=-1, keepdims=True), np.rint((n + 1) * 127.5), 0).astype(np.uint8)
            files["normals_file"] = images.write_extra("normals", name, rgb)
        if "nocs" in want:
            cam = {a.instance_id: a.cam_T_obj for a in anns}
            nocs = gt.nocs_image(frame.depth_m, camera.K, frame.instance_ids, cam,
                                 {i: gt.object_bounds(objs[i]) for i in cam})
            files["nocs_file"] = images.write_extra("nocs", name, np.rint(np.clip(nocs, 0, 1) * 255).astype(np.uint8))
        if "bbox3d" in want or self.cfg.output.keypoints:
            for a in anns:
                corners = gt.box_corners_cam(a.cam_T_obj, gt.object_bounds(objs[a.instance_id]))
                if "bbox3d" in want:
                    keys[a.instance_id]["bbox3d_cam"] = [[round(float(x), 6) for x in c] for c in corners]
                    keys[a.instance_id]["bbox3d_px"] = [[round(float(x), 3) for x in p]
                                                        for p in gt.project_coco(corners, camera.K)]
                if self.cfg.output.keypoints:
                    kp = gt.box_keypoints(corners, camera.K, frame.depth_m)
                    keys[a.instance_id].update(keypoints=kp, num_keypoints=sum(1 for v in kp[2::3] if v > 0))
        return files, keys

    def run(self, shard: int, progress: Callable[[int, int], None] | None = None) -> dict:
        """Write shard ``shard``'s frames and its COCO part; returns its stats."""
        from dropsynth.annotate import annotate_frame
        from dropsynth.writers.coco import (annotation_record, fsync_paths, image_record, part_path,
                                            write_json_atomic)
        from dropsynth.writers.images import DEPTH_SCALE_M, ImageWriter

        cfg, out = self.cfg, Path(self.job.out_dir)
        first, stop = self.job.shard_range(shard)
        images = ImageWriter(out, cfg.output.png_compress_level)
        stage = dict.fromkeys(STAGES, 0.0)
        stats = {"frames": 0, "annotations": 0, "per_class": Counter(), "empty_images": 0, "removed_objects": 0,
                 "unplaced_objects": 0, "scenes_not_at_rest": 0, "scenes_calmed": 0, "scenes_redrawn": 0}
        img_records, ann_records, written = [], [], []
        scene_state: dict = {}
        for s in range(first, stop):
            t0 = time.perf_counter()
            spec = self.build(cfg, self.catalog, cfg.seed, s)
            t1 = time.perf_counter()
            settled = self.world.settle(spec, cfg.physics, seed=cfg.seed)
            t2 = time.perf_counter()
            self.renderer.set_scene(settled, seed=cfg.seed)
            stage["build"] += t1 - t0
            stage["physics"] += t2 - t1
            stage["render"] += time.perf_counter() - t2
            labeler = None
            if cfg.grasps.enabled:
                from dropsynth.grasp_library import SceneGraspLabeler

                t3 = time.perf_counter()
                labeler = SceneGraspLabeler(self.world, settled, self._libraries(), self.gripper, cfg.grasps,
                                            cfg.seed, self.grasp_trials,
                                            frozenset(a.key for a in self.catalog.distractors))
                stage["grasps"] += time.perf_counter() - t3
            stats["removed_objects"] += len(settled.removed)
            stats["unplaced_objects"] += spec.unplaced
            stats["scenes_not_at_rest"] += 0 if settled.at_rest else 1
            stats["scenes_calmed"] += settled.settled_by == "calmed"
            stats["scenes_redrawn"] += settled.settled_by == "redrawn"
            for v, camera in enumerate(spec.cameras):
                image_index = s * cfg.views_per_scene + v
                t0 = time.perf_counter()
                lens = self._lens(s, v)
                frame = self.renderer.render(camera, lens)
                if spec.background is not None and not self.renderer.draws_background:  # composited where
                    # nothing is drawn (the renderer draws it itself under the camera's white balance)
                    from dropsynth.textures import composite_background

                    frame = dataclasses.replace(frame, rgb=composite_background(frame.rgb, frame.depth_m,
                                                                                spec.background))
                frame, renderer_name = self._renderer_choice(s, v, settled, camera, frame, scene_state)
                if lens is not None:  # render.quality / realism: the camera's effects on whichever RGB, labels untouched
                    frame = dataclasses.replace(frame, rgb=self._post(frame, camera, lens))
                amodal = None
                if cfg.output.amodal or cfg.output.min_visible_fraction > 0:
                    amodal = self.renderer.amodal_masks()
                t1 = time.perf_counter()
                anns = annotate_frame(frame.instance_ids, settled, camera, mask_format=cfg.output.mask_format,
                                      min_visible_px=cfg.output.min_visible_px,
                                      largest_part_only=cfg.output.largest_part_only, amodal=amodal,
                                      min_visible_fraction=cfg.output.min_visible_fraction,
                                      polygon_convention=cfg.output.polygon_convention)
                t2 = time.perf_counter()
                if anns or cfg.output.keep_empty_images:
                    rgb, sensor_files = self._sensor(cfg.seed, s, v, image_index, frame, images)
                    files = images.write(image_index, rgb, frame.depth_m, frame.instance_ids)
                    extra_files, extra_keys = self._ground_truth(image_index, frame, settled, camera, anns, images)
                    extra_files.update(sensor_files)
                    if labeler is not None:
                        tg = time.perf_counter()
                        g_files, g_keys = self._grasps(image_index, labeler, frame, camera, anns, out)
                        extra_files.update(g_files)
                        for iid, k in g_keys.items():
                            extra_keys.setdefault(iid, {}).update(k)
                        g_time = time.perf_counter() - tg
                        stage["grasps"] += g_time
                        stage["write"] -= g_time  # counted as grasps, not as writing
                    written += [out / f for f in list(files.values()) + list(extra_files.values())]
                    img_records.append(image_record(image_index, files, camera, s, v, DEPTH_SCALE_M))
                    img_records[-1].update(extra_files)
                    if renderer_name is not None:  # only in runs that use Cycles: other runs keep their bytes
                        img_records[-1]["renderer"] = renderer_name
                        stats.setdefault("renderers", Counter())[renderer_name] += 1
                    ann_records += [{**annotation_record(a, image_index + 1, self.category_ids[a.category]),
                                     **extra_keys.get(a.instance_id, {})} for a in anns]
                    stats["frames"] += 1
                    stats["annotations"] += len(anns)
                    stats["per_class"].update(a.category for a in anns)
                if not anns:
                    stats["empty_images"] += 1
                t3 = time.perf_counter()
                stage["render"] += t1 - t0
                stage["annotate"] += t2 - t1
                stage["write"] += t3 - t2
                if progress is not None:
                    progress(1, len(anns) if anns or cfg.output.keep_empty_images else 0)
        stats["per_class"] = dict(stats["per_class"])
        if "renderers" in stats:
            stats["renderers"] = dict(stats["renderers"])
        stats["stage_seconds"] = stage
        stats["frames_attempted"] = (stop - first) * cfg.views_per_scene
        t0 = time.perf_counter()
        # The part says "this shard is complete": its frames must be on disk first.
        fsync_paths(written)
        write_json_atomic(part_path(out, shard), {"shard": shard, "scenes": [first, stop], "stats": stats,
                                                  "images": img_records, "annotations": ann_records}, durable=True)
        stage["write"] += time.perf_counter() - t0
        stats["gl_renderer"] = self.renderer.gl_renderer
        return stats


# --- the run ------------------------------------------------------------------


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def generate(cfg: RunConfig, out_dir: str | Path, *, packs: list | None = None, overwrite: bool = False,
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


def selected_catalog(cfg: RunConfig, packs: list | None = None):
    """(pack folders, AssetCatalog) that a run of ``cfg`` uses: the config's
    packs plus ``packs``, the built-in one unless turned off, narrowed by the
    scene's category/object selection."""
    from dropsynth.assets.catalog import discover_packs, for_run

    pack_paths = [str(Path(p).resolve()) for p in
                  discover_packs(list(cfg.assets.packs) + list(packs or []), builtin=cfg.assets.builtin)]
    return pack_paths, for_run(cfg, pack_paths)


def _generate(cfg: RunConfig, out_dir: str | Path, *, packs: list | None, overwrite: bool, resume: bool,
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
    job = Job(config=cfg.to_dict(), out_dir=str(out_dir), pack_paths=tuple(pack_paths),
              shard_scenes=cfg.output.shard_scenes, workers=workers)
    from dropsynth.render import cycles_plan

    if cycles_plan.uses_cycles(cfg):  # fail before any work when bpy or the environments are missing
        cycles_plan.require_bpy()
        cycles_plan.hdri_set(cfg)
    if resume and (out_dir / "run.json").is_file() and (out_dir / RUN_CONFIG).is_file():
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
    before = _Snapshot(out_dir)
    first_frame = threading.Event()

    def frames_done(n: int, annotations: int = 0) -> None:
        if n and not first_frame.is_set():
            first_frame.set()
            before.discard()  # a frame is written: the replaced output is gone for good
        if progress is not None:
            progress(n, annotations)

    try:
        resumed = prepare_output(out_dir, overwrite, resume, _fingerprint(cfg, catalog))
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
            for fmt in cfg.grasps.formats:  # made once here, not per frame by the workers
                (out_dir / GRASP_FORMAT_DIRS[fmt]).mkdir(exist_ok=True)
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
        if not first_frame.is_set() and not _wrote_frames(out_dir) and before.restore():
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


def _exports(out_dir: Path, cfg: RunConfig, summary: RunSummary) -> None:
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


def _already_complete(out_dir: Path, cfg: RunConfig, catalog) -> RunSummary:
    """--resume of a finished run: check it is the same run, change nothing."""
    prepare_output(out_dir, False, True, _fingerprint(cfg, catalog))
    shutil.rmtree(out_dir / "annotations" / PARTS, ignore_errors=True)
    run = json.loads((out_dir / "run.json").read_text())
    c = run["counts"]
    preview = out_dir / "preview.png"
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


def write_run_json(out_dir: Path, cfg: RunConfig, summary: RunSummary) -> None:
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
        "files": {"coco": "annotations/instances.json", "rgb": "rgb/", "depth": "depth/",
                  "instances": "instances/", "preview": "preview.png" if summary.preview else None,
                  "splits": {k: f"annotations/instances_{k}.json" for k in summary.splits},
                  "exports": {k: os.path.relpath(v, out_dir) for k, v in summary.exports.items()}},
    }
    if summary.renderers:  # only in runs that use Cycles: other runs keep their bytes
        data["counts"]["renderers"] = dict(sorted(summary.renderers.items()))
    write_json_atomic(out_dir / "run.json", data, indent=2)
