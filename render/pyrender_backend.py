"""pyrender backend: RGB, metric depth and an exact instance-id image.

The only module that imports pyrender/OpenGL (through ``gl.ensure_gl``). It
converts our OpenCV camera poses to OpenGL's once, here.

Per view, one draw of the scene (``frame_pass.FramePass``: pyrender's
meshes and BRDF, our shaders and framebuffer) writes the shaded RGB, the
instance ids (integers) and the metric depth of the same single-sample
pixels, so depth and ids always agree and every pixel holds exactly one id.
``msaa`` > 0 renders the RGB in a separate anti-aliased pass.
"""
from __future__ import annotations

import numpy as np

from dropsynth.errors import RenderBackendError
from dropsynth.render.gl import ensure_gl
from dropsynth.types import CameraSpec, Frame, SettledScene

# OpenCV camera (x right, y down, z forward) -> OpenGL camera (x right, y up, z back).
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])
MAX_INSTANCES = 65535
TABLE_ROUGHNESS, FIXTURE_ROUGHNESS = 0.9, 0.8  # of their plain-colour materials


def asset_mesh(obj, pyrender, cache: dict):
    """The pyrender.Mesh of an object: its config material, its primitive's
    colour, or its asset's mesh (converted once per asset into ``cache``).
    Shared with the Cycles backend, so both draw the same geometry."""
    if obj.material is not None:  # config materials: a random look for this instance
        from dropsynth.assets.mesh import prepare, primitive_mesh
        from dropsynth.render.materials import material_mesh

        if obj.primitive is not None:
            return material_mesh(primitive_mesh(obj.primitive), obj.material, pyrender,
                                 smooth=obj.primitive.kind == "sphere")
        return material_mesh(prepare(obj.asset).visual, obj.material, pyrender, smooth=True)
    if obj.primitive is not None:
        from dropsynth.assets.mesh import primitive_mesh

        mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=obj.color_rgba, metallicFactor=0.0,
                                                 roughnessFactor=0.7)
        return pyrender.Mesh.from_trimesh(primitive_mesh(obj.primitive), material=mat,
                                          smooth=obj.primitive.kind == "sphere")
    key = obj.asset
    if key not in cache:
        from dropsynth.assets.mesh import prepare

        visual = prepare(obj.asset).visual
        mat = None
        if obj.asset.color_rgba is not None:
            mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=obj.asset.color_rgba, metallicFactor=0.0,
                                                     roughnessFactor=0.6)
        cache[key] = pyrender.Mesh.from_trimesh(visual, material=mat)
    return cache[key]


def background_mesh(box, material, rgba, roughness: float, pyrender):
    """A table or fixture: its random material when the config asks for one, else a plain colour."""
    from dropsynth.render.materials import material_mesh

    if material is not None:
        return material_mesh(box, material, pyrender, smooth=False)
    mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=roughness)
    return pyrender.Mesh.from_trimesh(box, material=mat, smooth=False)


def table_trimesh(spec):
    """The table box (trimesh), its top surface at z = 0."""
    import trimesh

    sx, sy, sz = spec.table_size_m
    table = trimesh.creation.box(extents=(sx, sy, sz))
    table.apply_translation((0, 0, -sz / 2))
    return table


class PyrenderRenderer:
    """Offscreen renderer reused across scenes (one per process).

    Meshes of file assets are converted once and cached; primitives are built
    per instance. Call ``set_scene`` once per settled scene, then ``render``
    for each camera.
    """

    def __init__(self, width: int, height: int, msaa: int = 0, render_cfg=None, lights_cfg=None):
        """render_cfg: the run's RenderConfig, for the realism effects
        (``render.realism``); None: the fast level. lights_cfg: its LightConfig,
        for the environments of image-based lighting (None: the defaults)."""
        ensure_gl()
        import pyrender

        self.pyrender = pyrender
        try:
            self._r = pyrender.OffscreenRenderer(width, height)
        except Exception as e:
            from dropsynth.render.gl import APT_HINT

            raise RenderBackendError(f"cannot create an EGL rendering context ({type(e).__name__}: {e}); "
                                     f"on a machine without a GPU install Mesa: sudo {APT_HINT}") from None
        from dropsynth.render.frame_pass import FramePass

        from dropsynth.render import realism

        self._rcfg = render_cfg
        self.effects = realism.effects(render_cfg) if render_cfg is not None else frozenset()
        self._shadows_cfg_radius = render_cfg.ao_radius_m if self.effects & {"shadows", "ao"} else None
        self._scene_background = None
        # Image-based lighting: the environments drawn from (see render.environment), where they come from.
        self._envs, self.environment_source = [], "none"
        if "ibl" in self.effects:
            from dropsynth.config import LightConfig
            from dropsynth.render import environment

            self._lights_cfg = lights_cfg if lights_cfg is not None else LightConfig()
            self._envs, self.environment_source = environment.environment_set(self._lights_cfg)
        self._pass = FramePass(self._r._renderer, msaa, self.effects,
                               render_cfg.shadow_map_px if render_cfg is not None else 512,
                               ibl=bool(self._envs), env_background=bool(self._envs) and render_cfg.ibl_background)
        self.size = (width, height)
        self._mesh_cache: dict = {}
        self._scene = None

    @property
    def draws_background(self) -> bool:
        """True when the renderer draws the scene's background itself (under the
        camera's white balance and vignetting): the caller must not composite it."""
        return self._pass.draws_background

    @property
    def gl_renderer(self) -> str:
        """The OpenGL renderer string (e.g. 'llvmpipe ...' or the GPU's name)."""
        from OpenGL import GL

        return GL.glGetString(GL.GL_RENDERER).decode()

    def close(self) -> None:
        if self._r is not None:
            self._r._platform.make_current()
            self._pass.delete()
            self._r.delete()
            self._r = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- scene ----------------------------------------------------------------

    def _asset_mesh(self, obj):
        return asset_mesh(obj, self.pyrender, self._mesh_cache)

    def set_scene(self, settled: SettledScene, seed: int = 0) -> None:
        """Build the pyrender scene of a settled scene (table, objects, lights).
        seed: the run's seed, for the realism effects' per-scene draws."""
        import trimesh

        from dropsynth.render import realism

        pyrender = self.pyrender
        spec = settled.spec
        objs = settled.objects()
        if objs and max(o.instance_id for o in objs) > MAX_INSTANCES:
            raise RenderBackendError(f"more than {MAX_INSTANCES} instances in one scene")
        scene = pyrender.Scene(bg_color=list(spec.background_rgb) + [1.0], ambient_light=spec.ambient_rgb)
        table = table_trimesh(spec)
        sx, sy = spec.table_size_m[0], spec.table_size_m[1]

        surfaces = None
        if "surfaces" in self.effects:
            surfaces = realism.scene_surfaces(self._rcfg, seed, spec.scene_index)

        def static_mesh(box, material, rgba, roughness, surface=None):
            """A table or fixture: its random material when the config asks for one, else a
            procedural surface (render.surfaces), else a plain colour."""
            if material is None and surface is not None:
                from dropsynth.render.surfaces import surface_mesh

                return surface_mesh(box, surface, pyrender)
            return background_mesh(box, material, rgba, roughness, pyrender)

        # The table, fixtures and unannotated distractors occlude but are background (0) in the id image.
        self._background = [scene.add(static_mesh(table, spec.table_material, spec.table_rgba, TABLE_ROUGHNESS,
                                                  surfaces[0] if surfaces else None))]
        for fx in spec.fixtures:
            box = trimesh.creation.box(extents=fx.size_m)
            self._background.append(scene.add(static_mesh(box, fx.material, fx.rgba, FIXTURE_ROUGHNESS,
                                                          surfaces[1] if surfaces else None), pose=fx.world_T))
            # (the walls' surface tiles are made only here, when a scene has walls: surface_tiles is lazy)
        self._nodes = {}
        self._lights = []
        looks = realism.object_looks(self._rcfg, seed, spec.scene_index, [o.instance_id for o in objs]) \
            if "object_variation" in self.effects else {}
        self._pass.looks = {}
        for obj in objs:
            node = scene.add(self._asset_mesh(obj), pose=settled.poses[obj.instance_id])
            if obj.instance_id in looks:
                self._pass.looks[node] = looks[obj.instance_id]
            if obj.annotate:
                self._nodes[obj.instance_id] = node
            else:
                self._background.append(node)  # a distractor: drawn, but background in the id image
        for light in spec.lights:
            cls = {"directional": pyrender.DirectionalLight, "point": pyrender.PointLight,
                   "spot": pyrender.SpotLight}[light.kind]
            self._lights.append(scene.add(cls(color=np.asarray(light.color), intensity=light.intensity),
                                          pose=light.world_T_light))
        self._ids = {node: iid for iid, node in self._nodes.items()}
        self._ids.update(dict.fromkeys(self._background, 0))
        self._cam_node = None
        self._scene = scene
        self._scene_background = spec.background
        if self._shadows_cfg_radius is not None:
            self._pass._shadows.ao_radius = self._shadows_cfg_radius
        self._r._platform.make_current()
        # Meshes of file assets stay in the GL context between scenes.
        self._pass.update_context(scene, keep=set(self._mesh_cache.values()))
        if self.effects & {"shadows", "ao"}:  # the table only receives; everything else casts
            self._pass.update_shadows(scene, self._lights, self._background[1:] + list(self._nodes.values()),
                                      realism.shadow_softness(self._rcfg, seed, spec.scene_index),
                                      table_node=self._background[0], table_rect=(-sx / 2, -sy / 2, sx, sy))

    def render(self, camera: CameraSpec, lens=None) -> Frame:
        """Render the current scene from ``camera``; ``lens``: the view's
        ``realism.Lens`` (its exposure is applied in the shader)."""
        pyrender = self.pyrender
        if self._scene is None:
            raise RuntimeError("set_scene() first")
        self.size = (camera.width, camera.height)
        K = camera.K
        # pyrender puts (cx, cy) in continuous coordinates where pixel j spans
        # [j, j + 1]; OpenCV's K puts pixel centres on integers: shift by half a pixel.
        cam = pyrender.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2] + 0.5, cy=K[1, 2] + 0.5,
                                        znear=camera.znear_m, zfar=camera.zfar_m)
        if self._cam_node is not None:
            self._scene.remove_node(self._cam_node)
        self._cam_node = self._scene.add(cam, pose=camera.world_T_cam @ CV_TO_GL)
        # Objects nearest the camera first, then the table and fixtures (large,
        # mostly behind the objects), so that early depth tests can skip hidden
        # fragments (no measurable gain on llvmpipe; a fixed order either way).
        eye = camera.world_T_cam[:3, 3]
        near_first = sorted(self._nodes.values(),
                            key=lambda n: float(np.sum((self._pass.pose(self._scene, n)[0][:3, 3] - eye) ** 2)))
        self._r._platform.make_current()
        r = self._r._renderer
        r.viewport_width, r.viewport_height = self.size
        self._pass.exposure = lens.exposure if lens is not None else 1.0
        if lens is not None:
            self._pass.ao_strength = lens.ao_strength
            self._pass.wb_gains = np.asarray(lens.wb_gains, np.float32)
            cx, cy = K[0, 2], K[1, 2]
            r2 = max((x - cx) ** 2 + (y - cy) ** 2 for x in (0, camera.width) for y in (0, camera.height))
            self._pass.vignette = np.array([lens.vignette, cx, cy, 1.0 / r2], np.float32)
            if self._envs and lens.environment is not None:
                from dropsynth.render import environment
                from dropsynth.render.cycles_plan import _environment

                name, rot, strength = _environment(self._lights_cfg, *lens.environment, self._envs)
                self._pass.set_environment(environment.load(name), rot, strength)
        elif self._envs:
            raise RuntimeError("image-based lighting needs the view's lens (realism.view_lens)")
        if self.draws_background and self._scene_background is not None and not self._pass.env_background:
            from dropsynth.textures import _background

            self._pass.background = _background(self._scene_background, camera.height, camera.width)
        else:
            self._pass.background = None
        rgb, depth, ids = self._pass.render(self._scene, self._ids, near_first + self._background, self._lights)
        if lens is not None and lens.ssao_strength > 0:
            from dropsynth.render import ssao

            rgb = ssao.apply(rgb, depth, K, self._rcfg.ssao_radius_m, lens.ssao_strength)
        self._last_ids = ids
        return Frame(rgb=rgb, depth_m=depth, instance_ids=ids)

    def amodal_masks(self, instance_ids=None) -> dict[int, np.ndarray]:
        """Amodal masks for the camera of the last ``render``: each object
        drawn alone (ids only), so its whole silhouette inside the image, as
        if nothing occluded it.

        instance_ids: which objects (default: those visible in the last frame).
        Returns instance_id -> (H, W) bool.
        """
        if instance_ids is None:
            instance_ids = [int(i) for i in np.unique(self._last_ids) if i > 0]
        out = {}
        for iid in instance_ids:
            node = self._nodes.get(iid)
            if node is None:
                continue
            self._r._platform.make_current()
            out[iid] = self._pass.silhouette(self._scene, node)
        return out
