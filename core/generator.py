"""Scenes and samples in memory: build -> settle -> render each view ->
camera effects -> sensor -> annotate -> ground truth and grasps.

``Generator(cfg)`` makes the same frames a run writes, without writing
anything: ``scene(i)`` is scene ``i`` settled, ``samples(i)`` its views as
``Sample`` records. A frame depends only on (seed, scene, view), so any
scene can be asked for in any order. The run's workers use one Generator
each and hand its samples to the writers (``core/shards.py``).

``renderer``: a renderer of the user's own (``render/base.py`` says what it
must provide and the defaults of what it may), or a factory
``(width, height, cfg) -> Renderer`` that makes one; without it the built-in
raster backend (``default_renderer``). A custom renderer replaces the raster
one for every view: its ids and depth are what the labels come from, and it
cannot be combined with ``render.backend: cycles`` (whose views take their
labels from the raster pass), which is refused in one line.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from dropsynth.render.base import check_frame, id_table, optional, qualified_name, require_renderer
from dropsynth.writers.base import Sample, Scene

STAGES = ("build", "physics", "render", "annotate", "write", "grasps")


def default_renderer(width: int, height: int, cfg):
    """The built-in raster backend for a run of ``cfg``: what a Generator
    renders with when it is given no ``renderer``."""
    from dropsynth.render.pyrender_backend import PyrenderRenderer

    return PyrenderRenderer(width, height, msaa=cfg.render.msaa, render_cfg=cfg.render, lights_cfg=cfg.lights)


def amodal_key(cfg) -> str | None:
    """The config key that makes a run ask its renderer for amodal masks, or None."""
    if cfg.output.amodal:
        return "output.amodal"
    return "output.min_visible_fraction" if cfg.output.min_visible_fraction > 0 else None


def is_renderer_object(x) -> bool:
    """A made renderer (not a class, and has the protocol's methods), as
    opposed to a factory that makes one."""
    return not isinstance(x, type) and all(callable(getattr(x, m, None)) for m in ("set_scene", "render", "close"))


def check_custom_renderer(cfg, renderer) -> str:
    """What can be checked of a custom renderer (a factory, or a renderer
    object) against ``cfg`` before one is made; returns its qualified name.
    Raises RenderBackendError in one line naming it."""
    from dropsynth.errors import RenderBackendError
    from dropsynth.render import cycles_plan

    name = qualified_name(renderer)
    if isinstance(renderer, type) or is_renderer_object(renderer):
        require_renderer(renderer if isinstance(renderer, type) else type(renderer), amodal_key(cfg))
    elif not callable(renderer):
        raise RenderBackendError(f"renderer: expected a Renderer or a factory (a class or function "
                                 f"(width, height, cfg) -> Renderer), got a {type(renderer).__name__}")
    if cycles_plan.uses_cycles(cfg):
        raise RenderBackendError(f"render.backend: cycles cannot be combined with the custom renderer {name}: "
                                 f"Cycles views take their labels from the raster pass, which {name} replaces; "
                                 f"set render.backend=raster, or leave the renderer out")
    return name


def make_renderer(cfg, renderer=None):
    """(renderer, made here, name) for a Generator: the built-in raster
    backend (name None), the object ``renderer`` itself (not made here: its
    caller closes it), or what the factory ``renderer`` makes, checked."""
    if renderer is None:
        return default_renderer(cfg.camera.width, cfg.camera.height, cfg), True, None

    check_custom_renderer(cfg, renderer)
    if is_renderer_object(renderer):
        return renderer, False, qualified_name(renderer)
    made = renderer(cfg.camera.width, cfg.camera.height, cfg)
    try:
        require_renderer(type(made), amodal_key(cfg))
    except BaseException:
        if callable(getattr(made, "close", None)):
            made.close()
        raise
    return made, True, qualified_name(made)


def selected_catalog(cfg, packs: list | None = None):
    """(pack folders, AssetCatalog) that a run of ``cfg`` uses: the config's
    packs plus ``packs``, the built-in one unless turned off, narrowed by the
    scene's category/object selection."""
    from dropsynth.assets.catalog import discover_packs, for_run

    pack_paths = [str(Path(p).resolve()) for p in
                  discover_packs(list(cfg.assets.packs) + list(packs or []), builtin=cfg.assets.builtin)]
    return pack_paths, for_run(cfg, pack_paths)


class Generator:
    """Makes scenes and samples of the run ``cfg`` (a validated RunConfig).

    ``packs``: extra asset packs (as ``--assets``); ``pack_paths``: the exact
    pack folders instead (what a run's workers get). One renderer (a GL
    context) and one PyBullet client are made here and reused: call
    ``close()``, or use it as a context manager. ``workers``: how many
    generators share this machine (Cycles' threads each).

    ``renderer``: a Renderer object (used as it is, and not closed here: it
    is the caller's), or a factory ``(width, height, cfg) -> Renderer`` (a
    class works) whose renderer is made here and closed by ``close()``;
    None: the raster backend. ``renderer_name`` is the custom renderer's
    qualified class name (None for the built-in backends).
    """

    def __init__(self, cfg, *, packs: list | None = None, pack_paths=None, workers: int = 1, renderer=None):
        from dropsynth.assets.catalog import for_run
        from dropsynth.render import realism
        from dropsynth.scenes import builders
        from dropsynth.scenes.physics import PhysicsWorld

        self.cfg = cfg
        if pack_paths is None:
            pack_paths, self.catalog = selected_catalog(cfg, packs)
        else:
            self.catalog = for_run(cfg, list(pack_paths))
        self.pack_paths = tuple(pack_paths)
        self.workers = workers
        self.category_ids = self.catalog.category_ids()
        self.build = builders.get(cfg.scene.builder)
        self.effects = realism.effects(cfg.render)  # on for the lens draws whichever renderer (the raster one's own)
        self.renderer, self._owns_renderer, self.renderer_name = make_renderer(cfg, renderer)
        self._valid_ids = None  # the rendered scene's ids, to check a custom renderer's frames
        self.world = PhysicsWorld()
        self._settled = None  # the scene the physics world holds
        self._rendered = None  # the scene the renderer holds
        self.cycles = None  # the Cycles renderer, made on the first view it renders (bpy starts Blender)
        self._cycles_scene = None
        self.grasp_trials = None
        self.grasp_libs = None
        self.stage = dict.fromkeys(STAGES, 0.0)  # seconds per stage, summed (the caller may reset it)
        if cfg.grasps.enabled:
            from dropsynth.grasps import gripper_from_config
            from dropsynth.scenes.grasp_sim import GraspTrials

            self.gripper = gripper_from_config(cfg.grasps)
            # Trials use their own fixed physics settings: a library depends only on its cache key.
            self.grasp_trials = GraspTrials(self.gripper)

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.world.close()
        if self._owns_renderer:
            self.renderer.close()
        if self.cycles is not None:
            self.cycles.close()
        if self.grasp_trials is not None:
            self.grasp_trials.close()

    # --- scenes -----------------------------------------------------------------

    def scene(self, i: int) -> Scene:
        """Scene ``i``, built and settled (the physics world now holds it)."""
        cfg = self.cfg
        t0 = time.perf_counter()
        spec = self.build(cfg, self.catalog, cfg.seed, i)
        t1 = time.perf_counter()
        settled = self._settled = self.world.settle(spec, cfg.physics, seed=cfg.seed)
        self.stage["build"] += t1 - t0
        self.stage["physics"] += time.perf_counter() - t1
        return Scene(i, spec, settled)

    def samples(self, i: int) -> Iterator[Sample]:
        """The views of scene ``i`` that a run writes, in view order (a view
        where no object is labelled only with ``output.keep_empty_images``)."""
        for sample, kept in self.views(self.scene(i)):
            if kept:
                yield sample

    def views(self, scene: Scene) -> Iterator[tuple[Sample, bool]]:
        """Every view of ``scene`` (from ``scene(i)``) as (sample, kept):
        a view that is not kept has its rendered frame and no labels, and no
        sensor, ground-truth or grasp work is spent on it."""
        cfg = self.cfg
        if cfg.grasps.enabled and scene.settled is not self._settled:
            scene = self.scene(scene.index)  # grasp checks use the physics world: settle it again (same result)
        labeler = None
        if cfg.grasps.enabled:
            from dropsynth.grasp_library import SceneGraspLabeler

            t0 = time.perf_counter()
            labeler = SceneGraspLabeler(self.world, scene.settled, self._libraries(), self.gripper, cfg.grasps,
                                        cfg.seed, self.grasp_trials,
                                        frozenset(a.key for a in self.catalog.distractors))
            self.stage["grasps"] += time.perf_counter() - t0
        for v, camera in enumerate(scene.cameras):
            if self._rendered is not scene.settled:  # first view, or another scene's views came in between
                t0 = time.perf_counter()
                if self.renderer_name is None:
                    self.renderer.set_scene(scene.settled, seed=cfg.seed)
                else:  # the protocol's call; the ids it may draw
                    self.renderer.set_scene(scene.settled)
                    self._valid_ids = id_table(o.instance_id for o in scene.settled.objects() if o.annotate)
                self._rendered = scene.settled
                self.stage["render"] += time.perf_counter() - t0
            if labeler is not None and self._settled is not scene.settled:
                from dropsynth.errors import DropsynthError

                raise DropsynthError(f"Generator: scene {scene.index}'s samples were interleaved with another "
                                     f"scene's while grasps are on (both use the one physics world): take one "
                                     f"scene's samples at a time")
            yield self._view(scene, v, camera, labeler)

    # --- one view ---------------------------------------------------------------

    def _view(self, scene: Scene, v: int, camera, labeler) -> tuple[Sample, bool]:
        from dropsynth.annotate import annotate_frame

        cfg, o, s = self.cfg, self.cfg.output, scene.index
        t0 = time.perf_counter()
        lens = self._lens(s, v)
        frame = self.renderer.render(camera, lens)
        if self.renderer_name is not None:
            frame = check_frame(frame, camera.width, camera.height, self._valid_ids, self.renderer_name)
        if scene.spec.background is not None and not optional(self.renderer, "draws_background"):
            # composited where nothing is drawn (depth 0), unless the renderer draws it itself (the raster
            # backend does, under the camera's white balance; a custom one by default does not)
            from dropsynth.textures import composite_background

            frame = dataclasses.replace(frame, rgb=composite_background(frame.rgb, frame.depth_m,
                                                                        scene.spec.background))
        frame, renderer_name = self._renderer_choice(scene, v, camera, frame)
        if lens is not None:  # render.quality / realism: the camera's effects on whichever RGB, labels untouched
            from dropsynth.render import post

            frame = dataclasses.replace(frame, rgb=post.apply(frame.rgb, frame.depth_m, camera.K, lens))
        amodal = self.renderer.amodal_masks() if amodal_key(cfg) else None
        t1 = time.perf_counter()
        anns = annotate_frame(frame.instance_ids, scene.settled, camera, mask_format=o.mask_format,
                              min_visible_px=o.min_visible_px, largest_part_only=o.largest_part_only,
                              amodal=amodal, min_visible_fraction=o.min_visible_fraction,
                              polygon_convention=o.polygon_convention)
        t2 = time.perf_counter()
        self.stage["render"] += t1 - t0
        self.stage["annotate"] += t2 - t1
        image_index = s * cfg.views_per_scene + v
        if not (anns or o.keep_empty_images):
            return Sample(scene, v, image_index, camera, frame, []), False
        rgb, extras = self._sensor(s, v, frame)
        frame = dataclasses.replace(frame, rgb=rgb)
        gt_extras, keys = self._ground_truth(frame, scene.settled, camera, anns)
        grasps = None
        if labeler is not None:
            from dropsynth.grasps import view_grasps

            tg = time.perf_counter()
            sg = labeler.grasps(a.instance_id for a in anns)
            grasps = view_grasps(sg, camera.world_T_cam, camera.K, frame.instance_ids,
                                 {a.instance_id for a in anns}, self.gripper, cfg.grasps.planar_max_angle_deg)
            self.stage["grasps"] += time.perf_counter() - tg
        self.stage["annotate"] += time.perf_counter() - t2
        return Sample(scene, v, image_index, camera, frame, anns, {**gt_extras, **extras}, keys, grasps,
                      renderer_name), True

    def _libraries(self) -> dict:
        """Mesh assets' grasp libraries, read from the cache on first use (a
        run builds them before any shard starts; a worker on another machine
        builds what its cache lacks)."""
        if self.grasp_libs is None:
            from dropsynth import grasp_library as gl

            params = gl.params_from_config(self.cfg.grasps)
            self.grasp_libs = {a.key: gl.library_for(a, self.gripper, params, trials=self.grasp_trials)[0]
                               for a in self.catalog.assets if not a.primitive_kind}
        return self.grasp_libs

    def _renderer_choice(self, scene: Scene, v: int, camera, frame):
        """(frame, renderer name) of one view: with render.backend cycles, the
        views chosen for Cycles get its RGB (labels stay the raster pass's);
        the name is None when the run never uses Cycles."""
        from dropsynth.render import cycles_plan

        if not cycles_plan.uses_cycles(self.cfg):
            return frame, None
        if self.cycles is None:
            from dropsynth.render.cycles_backend import CyclesRenderer, CyclesSettings

            threads = cycles_plan.threads_per_worker(self.cfg, max(1, self.workers))
            self.cycles = CyclesRenderer(self.cfg.camera.width, self.cfg.camera.height,
                                         CyclesSettings.from_config(self.cfg.render, threads))
            self._hdris = cycles_plan.hdri_set(self.cfg)
        view = cycles_plan.plan_view(self.cfg, self.cfg.seed, scene.index, v, self._hdris)
        if view is None:
            return frame, "raster"
        if self._cycles_scene is not scene.settled:
            self.cycles.set_scene(scene.settled)
            self._cycles_scene = scene.settled
        return dataclasses.replace(frame, rgb=self.cycles.render(camera, view).rgb), "cycles"

    def _lens(self, scene: int, view: int):
        """The view's camera effects (render.realism), None at the fast level."""
        if not self.effects:
            return None
        from dropsynth.render.realism import view_lens

        return view_lens(self.cfg.render, self.cfg.seed, scene, view)

    def _sensor(self, scene: int, view: int, frame) -> tuple[np.ndarray, dict]:
        """Sensor effects (config ``sensor``), seeded per view: the RGB as
        written, and {"depth_noisy": metres} when asked for."""
        from dropsynth import seeding, sensor

        do_rgb, do_depth = sensor.enabled(self.cfg.sensor)
        if not (do_rgb or do_depth):
            return frame.rgb, {}
        rgb_rng, depth_rng = seeding.view_rng(self.cfg.seed, scene, view, "noise").spawn(2)
        rgb = sensor.rgb_effects(frame.rgb, self.cfg.sensor, rgb_rng) if do_rgb else frame.rgb
        extras = {"depth_noisy": sensor.depth_effects(frame.depth_m, self.cfg.sensor, depth_rng)} if do_depth else {}
        return rgb, extras

    def _ground_truth(self, frame, settled, camera, anns) -> tuple[dict, dict]:
        """Optional dense and 3-D ground truth (output.ground_truth,
        output.keypoints): ({"class"|"normals"|"nocs": image as written},
        {instance_id: COCO annotation keys})."""
        from dropsynth import groundtruth as gt

        want = set(self.cfg.output.ground_truth)
        if not want and not self.cfg.output.keypoints:
            return {}, {}
        objs = {o.instance_id: o for o in settled.objects()}
        extras, keys = {}, {a.instance_id: {} for a in anns}
        if "class" in want:
            extras["class"] = gt.class_image(frame.instance_ids, {i: self.category_ids[o.asset.category]
                                                                  for i, o in objs.items() if o.annotate})
        if "normals" in want:
            n = gt.normals_from_depth(frame.depth_m, camera.K, frame.instance_ids)
            extras["normals"] = np.where(np.any(n != 0, axis=-1, keepdims=True), np.rint((n + 1) * 127.5),
                                         0).astype(np.uint8)
        if "nocs" in want:
            cam = {a.instance_id: a.cam_T_obj for a in anns}
            nocs = gt.nocs_image(frame.depth_m, camera.K, frame.instance_ids, cam,
                                 {i: gt.object_bounds(objs[i]) for i in cam})
            extras["nocs"] = np.rint(np.clip(nocs, 0, 1) * 255).astype(np.uint8)
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
        return extras, keys
