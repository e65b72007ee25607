"""Blender Cycles backend: path-traced RGB of the same scenes as the rasterizer.

The only module that imports bpy (Blender as a Python module, the [cycles]
extra); import it lazily, inside the worker that renders with it. It has the
shape of ``PyrenderRenderer``: ``set_scene(settled)``, ``render(camera) ->
Frame``, ``close()``.

Same scene, same camera:
- geometry and materials are the raster backend's own pyrender meshes
  (``pyrender_backend.asset_mesh`` / ``background_mesh``): the same vertices,
  normals, texture coordinates, vertex colours and metallic-roughness
  factors, mapped to a Principled BSDF (base colour x texture x vertex
  colour, roughness, metallic, emission);
- intrinsics: the lens and sensor shift give fx, fy and (cx, cy) in
  OpenCV's convention (pixel centres on integers: the image centre is
  ((W - 1) / 2, (H - 1) / 2)); extrinsics: ``world_T_cam @ CV_TO_GL``;
- lights (pyrender units -> Blender's): directional W/m^2 -> sun strength
  W/m^2, unchanged (both give diffuse radiance albedo / pi x E cos);
  point and spot candela (pyrender's radiance I / d^2) -> power 4 pi I watts
  (Blender's point and spot lights emit P / (4 pi) W/sr; a spot is not
  brighter than a point of the same power); spot cone pyrender's default
  outer angle pi/4, soft from the axis; ambient level A -> a uniform world of
  radiance A (diffuse radiance albedo x A, as the raster shader adds), or an
  HDR environment per view (``CyclesView``) in its place;
- the background: the film is transparent, and the raster background
  (colour or texture, ``SceneSpec.background``) is composited under it.

What the raster frame lacks: soft shadows (light radius
``render.cycles_light_size_m``), interreflection, glossy reflections,
image-based light, optional depth of field and camera motion blur.

``render`` returns Cycles' own depth (Z pass) and object-index pass (the
instance id, 0 for the table, fixtures and distractors): the pipeline writes
labels from the raster pass only; these are what the tests compare with it.
Colours: Cycles' linear result, composited, then the raster shader's
display encoding (gamma 2.2) and rounding to 8 bits, without dithering.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from dropsynth.errors import RenderBackendError
from dropsynth.render.cycles_plan import BPY_MISSING, CyclesView
from dropsynth.types import CameraSpec, Frame, SettledScene

CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])
SENSOR_WIDTH_MM = 36.0
NO_HIT_Z = 1e9  # Cycles' Z pass beyond this: nothing was hit


@dataclass(frozen=True)
class CyclesSettings:
    """Cycles' render settings (config ``render.cycles_*``)."""

    samples: int = 64
    denoise: bool = True
    bounces: int = 4
    device: str = "auto"  # auto | cpu | cuda | optix
    threads: int = 0  # 0: Blender's choice (all cores)
    light_size_m: float = 0.05
    dof_fstop: float | None = None
    motion_blur_m: float = 0.0

    @classmethod
    def from_config(cls, r, threads: int) -> "CyclesSettings":
        return cls(samples=r.cycles_samples, denoise=r.cycles_denoise, bounces=r.cycles_bounces,
                   device=r.cycles_device, threads=threads, light_size_m=r.cycles_light_size_m,
                   dof_fstop=r.cycles_dof_fstop, motion_blur_m=r.cycles_motion_blur_m)


@contextlib.contextmanager
def _quiet():
    """Blender's C code prints progress ("Fra:", "Saved:") and device probes
    to the process's stdout and stderr; library code never prints, so both
    file descriptors go to /dev/null meanwhile (errors still raise)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def import_bpy():
    """bpy, or the one-line RenderBackendError naming the extra."""
    from dropsynth.render.cycles_plan import bpy_available

    if "bpy" not in sys.modules:
        # A worker spawned by a process that imported bpy inherits its sys.path,
        # which then holds bpy's own scripts/modules: "import bpy" would find the
        # Python half of bpy there, without the extension that starts Blender.
        sys.path[:] = [p for p in sys.path if not re.search(r"[/\\]bpy[/\\]\d+\.\d+([/\\]|$)", p)]
    try:
        with _quiet():
            import bpy
    except ImportError as e:
        if bpy_available():  # installed, but it does not load: say why
            raise RenderBackendError(f"bpy is installed but cannot be imported ({e})") from None
        raise RenderBackendError(BPY_MISSING) from None
    return bpy


def _oiio(bpy):
    """Blender's bundled OpenImageIO (reads the multilayer EXR of a render)."""
    site = os.path.join(bpy.utils.resource_path("LOCAL"), "python", "lib",
                        f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
    if site not in sys.path:
        sys.path.append(site)
    import OpenImageIO

    return OpenImageIO


def camera_intrinsics(K: np.ndarray, width: int, height: int) -> dict:
    """Blender camera settings for an OpenCV K: lens (mm) on a 36 mm wide
    sensor (horizontal fit), sensor shift and pixel aspect (fx != fy)."""
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    # Blender scales pixels by aspect_y / aspect_x vertically: fy = fx * aspect_x / aspect_y.
    aspect_x, aspect_y = (1.0, fx / fy) if fx >= fy else (fy / fx, 1.0)
    view_px = width  # horizontal fit: the sensor width spans the image width; shifts are in its units
    return {
        "lens": fx * SENSOR_WIDTH_MM / view_px,
        "shift_x": -(cx - (width - 1) / 2.0) / view_px,
        "shift_y": (cy - (height - 1) / 2.0) / view_px * (aspect_y / aspect_x),
        "pixel_aspect_x": aspect_x, "pixel_aspect_y": aspect_y,
    }


class CyclesRenderer:
    """Cycles renderer reused across scenes (one per process: bpy holds one
    Blender session). ``set_scene`` once per settled scene, then ``render``
    per camera, with the view's ``CyclesView`` draws."""

    def __init__(self, width: int, height: int, settings: CyclesSettings | None = None):
        bpy = import_bpy()
        self.bpy = bpy
        self.settings = settings or CyclesSettings()
        self.size = (width, height)
        with _quiet():
            bpy.ops.wm.read_factory_settings(use_empty=True)
        self._oiio = _oiio(bpy)
        self._tmp = tempfile.TemporaryDirectory(prefix="dropsynth-cycles-")
        self._mesh_cache: dict = {}  # pyrender meshes of file assets (the raster backend's cache)
        self._bmesh_cache: dict = {}  # id(pyrender primitive) -> (bpy mesh, bpy material)
        self._hdri_images: dict = {}
        self._scene_data: list = []  # per-scene datablocks removed at the next set_scene
        self._objects: list = []
        with _quiet():
            self.device = self._setup_render()
        self._setup_world()

    # -- set-up ---------------------------------------------------------------

    def _setup_render(self) -> str:
        bpy, s = self.bpy, self.settings
        sc = bpy.context.scene
        sc.render.engine = "CYCLES"
        c = sc.cycles
        c.samples = s.samples
        c.use_denoising = s.denoise
        if s.denoise:
            c.denoiser = "OPENIMAGEDENOISE"
        c.max_bounces = s.bounces
        for name in ("diffuse_bounces", "glossy_bounces", "transmission_bounces", "volume_bounces",
                     "transparent_max_bounces"):
            setattr(c, name, min(getattr(c, name), s.bounces))
        c.use_animated_seed = False
        sc.render.film_transparent = True
        sc.render.use_compositing = False  # with it, the file holds the compositor's output only
        sc.render.use_sequencer = False
        sc.render.resolution_percentage = 100
        # No persistent data: with it, Cycles kept a freed texture for a new image
        # that Blender allocated at the same address (the next scene's table showed
        # the last scene's texture). Rebuilding our small scenes per view costs little.
        sc.render.use_persistent_data = False
        if s.threads > 0:
            sc.render.threads_mode = "FIXED"
            sc.render.threads = s.threads
        vl = sc.view_layers[0]
        vl.use_pass_z = True
        vl.use_pass_object_index = True
        im = sc.render.image_settings
        if hasattr(im, "media_type"):  # Blender >= 5.0
            im.media_type = "MULTI_LAYER_IMAGE"
        else:
            im.file_format = "OPEN_EXR_MULTILAYER"
        im.color_depth = "32"
        im.exr_codec = "NONE"  # a temporary file, read back at once
        sc.render.use_motion_blur = s.motion_blur_m > 0
        if s.motion_blur_m > 0:
            sc.render.motion_blur_position = "CENTER"
            sc.render.motion_blur_shutter = 1.0
        return self._pick_device(s.device)

    def _pick_device(self, want: str) -> str:
        """'OPTIX' / 'CUDA' when asked for (or auto) and present, else 'CPU'."""
        bpy = self.bpy
        sc = bpy.context.scene
        sc.cycles.device = "CPU"
        if want == "cpu":
            return "CPU"
        kinds = {"auto": ("OPTIX", "CUDA"), "optix": ("OPTIX",), "cuda": ("CUDA",)}[want]
        try:
            prefs = bpy.context.preferences.addons["cycles"].preferences
        except KeyError:
            return "CPU"
        for kind in kinds:
            try:
                prefs.compute_device_type = kind
                prefs.get_devices()
            except (TypeError, ValueError, RuntimeError):
                continue
            devices = [d for d in prefs.devices if d.type == kind]
            if devices:
                for d in prefs.devices:
                    d.use = d.type == kind
                sc.cycles.device = "GPU"
                return kind
        return "CPU"

    def _setup_world(self) -> None:
        bpy = self.bpy
        world = bpy.data.worlds.new("dropsynth")
        bpy.context.scene.world = world
        if bpy.app.version < (5, 0, 0):  # node trees are always on from 5.0
            world.use_nodes = True
        # The importance map of a 1K environment: 256 px is enough for a light
        # source and builds far faster than the automatic (image-size) one.
        world.cycles.sampling_method = "MANUAL"
        world.cycles.sample_map_resolution = 256
        nt = world.node_tree
        nt.nodes.clear()
        out = nt.nodes.new("ShaderNodeOutputWorld")
        bg = nt.nodes.new("ShaderNodeBackground")
        env = nt.nodes.new("ShaderNodeTexEnvironment")
        mapping = nt.nodes.new("ShaderNodeMapping")
        coords = nt.nodes.new("ShaderNodeTexCoord")
        nt.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
        nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        nt.links.new(bg.outputs["Background"], out.inputs["Surface"])
        self._world = (nt, bg, env, mapping)

    def _set_world(self, view: CyclesView | None, ambient_rgb) -> None:
        nt, bg, env, mapping = self._world
        for link in list(bg.inputs["Color"].links):
            nt.links.remove(link)
        if view is None or view.hdri is None:
            bg.inputs["Color"].default_value = (*[float(a) for a in ambient_rgb], 1.0)
            bg.inputs["Strength"].default_value = 1.0
            return
        img = self._hdri_images.get(view.hdri)
        if img is None:
            try:
                img = self.bpy.data.images.load(view.hdri, check_existing=True)
            except RuntimeError as e:
                raise RenderBackendError(f"lights.hdri_folder: {view.hdri}: cannot be read ({e})") from None
            img.use_fake_user = True  # kept for later views (unused images go with each scene)
            self._hdri_images[view.hdri] = img
        env.image = img
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, view.hdri_rotation_rad)
        bg.inputs["Strength"].default_value = view.hdri_strength
        nt.links.new(env.outputs["Color"], bg.inputs["Color"])

    # -- scene ----------------------------------------------------------------

    def _image(self, source: np.ndarray, name: str):
        """A bpy image of an (H, W, C) uint8 texture (sRGB), rows flipped to Blender's bottom-up order."""
        bpy = self.bpy
        src = np.asarray(source)
        if src.ndim == 2:
            src = src[..., None]
        h, w = src.shape[:2]
        rgba = np.ones((h, w, 4), np.float32)
        f = src.astype(np.float32) / (255.0 if src.dtype == np.uint8 else 1.0)
        if f.shape[2] >= 3:
            rgba[..., :3] = f[..., :3]
        else:
            rgba[..., :3] = f[..., :1]
        if f.shape[2] == 4:
            rgba[..., 3] = f[..., 3]
        img = bpy.data.images.new(name, w, h, alpha=True)
        img.colorspace_settings.name = "sRGB"
        img.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
        img.pack()
        return img

    def _material(self, m, has_uv: bool, has_color: bool, name: str):
        """A Principled BSDF from a pyrender MetallicRoughnessMaterial."""
        bpy = self.bpy
        mat = bpy.data.materials.new(name)
        if bpy.app.version < (5, 0, 0):
            mat.use_nodes = True
        nt = mat.node_tree
        bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
        factor = [1.0, 1.0, 1.0, 1.0] if m.baseColorFactor is None else [float(x) for x in m.baseColorFactor]
        color_out = None
        tex = getattr(m, "baseColorTexture", None)
        if tex is not None and has_uv and getattr(tex, "source", None) is not None:
            node = nt.nodes.new("ShaderNodeTexImage")
            node.image = self._image(tex.source, name + "_tex")
            node.interpolation = "Linear"
            color_out = node.outputs["Color"]
        if has_color:
            attr = nt.nodes.new("ShaderNodeVertexColor")
            attr.layer_name = "Col"
            color_out = attr.outputs["Color"] if color_out is None else self._multiply(nt, color_out,
                                                                                         attr.outputs["Color"])
        if color_out is None:
            bsdf.inputs["Base Color"].default_value = factor
        else:
            if factor[:3] != [1.0, 1.0, 1.0]:
                rgb = nt.nodes.new("ShaderNodeRGB")
                rgb.outputs[0].default_value = factor
                color_out = self._multiply(nt, color_out, rgb.outputs[0])
            nt.links.new(color_out, bsdf.inputs["Base Color"])
        bsdf.inputs["Metallic"].default_value = float(1.0 if m.metallicFactor is None else m.metallicFactor)
        bsdf.inputs["Roughness"].default_value = float(1.0 if m.roughnessFactor is None else m.roughnessFactor)
        em = getattr(m, "emissiveFactor", None)
        if em is not None and np.any(np.asarray(em) > 0):
            bsdf.inputs["Emission Color"].default_value = (*[float(x) for x in em[:3]], 1.0)
            bsdf.inputs["Emission Strength"].default_value = 1.0
        return mat

    @staticmethod
    def _multiply(nt, a, b):
        mix = nt.nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        mix.blend_type = "MULTIPLY"
        mix.inputs["Factor"].default_value = 1.0
        nt.links.new(a, mix.inputs[6])
        nt.links.new(b, mix.inputs[7])
        return mix.outputs[2]

    def _mesh(self, prim, name: str):
        """(bpy mesh, bpy material) of a pyrender Primitive: its vertices,
        triangles, normals (as custom normals), UVs and vertex colours."""
        bpy = self.bpy
        pos = np.asarray(prim.positions, np.float32)
        idx = (np.arange(len(pos), dtype=np.int32).reshape(-1, 3) if prim.indices is None
               else np.asarray(prim.indices, np.int32).reshape(-1, 3))
        me = bpy.data.meshes.new(name)
        me.vertices.add(len(pos))
        me.vertices.foreach_set("co", pos.ravel())
        me.loops.add(idx.size)
        me.loops.foreach_set("vertex_index", idx.ravel())
        me.polygons.add(len(idx))
        me.polygons.foreach_set("loop_start", np.arange(0, idx.size, 3, dtype=np.int32))
        me.update()
        has_uv = prim.texcoord_0 is not None
        if has_uv:
            uv = np.asarray(prim.texcoord_0, np.float32)[idx.ravel()]
            me.uv_layers.new(name="UV").data.foreach_set("uv", uv.ravel())
        has_color = prim.color_0 is not None
        if has_color:
            col = np.asarray(prim.color_0, np.float32)
            if col.max() > 1.0:
                col = col / 255.0
            if col.shape[1] == 3:
                col = np.concatenate([col, np.ones((len(col), 1), np.float32)], axis=1)
            attr = me.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
            attr.data.foreach_set("color", col.ravel())
        me.polygons.foreach_set("use_smooth", np.ones(len(idx), bool))
        if prim.normals is not None:
            me.normals_split_custom_set_from_vertices(np.asarray(prim.normals, np.float32).tolist())
        mat = self._material(prim.material, has_uv, has_color, name + "_mat")
        me.materials.append(mat)
        return me, mat

    def _add(self, pmesh, world_T: np.ndarray, pass_index: int, name: str, cached: bool) -> None:
        """Objects (one per primitive) of a pyrender Mesh at ``world_T``."""
        import mathutils

        bpy = self.bpy
        for j, prim in enumerate(pmesh.primitives):
            key = id(prim)
            if cached and key in self._bmesh_cache:
                me = self._bmesh_cache[key][0]
            else:
                me, mat = self._mesh(prim, f"{name}_{j}")
                if cached:
                    self._bmesh_cache[key] = (me, mat, prim)  # prim kept alive: its id stays unique
                else:
                    self._scene_data += [me, mat]
            ob = bpy.data.objects.new(f"{name}_{j}", me)
            ob.matrix_world = mathutils.Matrix(np.asarray(world_T, float).tolist())
            ob.pass_index = pass_index
            bpy.context.scene.collection.objects.link(ob)
            self._objects.append(ob)

    def _clear_scene(self) -> None:
        bpy = self.bpy
        for ob in self._objects:
            bpy.data.objects.remove(ob, do_unlink=True)
        self._objects = []
        for block in self._scene_data:
            t = bpy.types
            coll = next(c for kind, c in ((t.Mesh, bpy.data.meshes), (t.Material, bpy.data.materials),
                                          (t.Light, bpy.data.lights), (t.Image, bpy.data.images))
                        if isinstance(block, kind))
            coll.remove(block)
        self._scene_data = []
        for img in list(bpy.data.images):  # textures of per-scene materials
            if img.users == 0:
                bpy.data.images.remove(img)

    def set_scene(self, settled: SettledScene) -> None:
        """Build the Blender scene of a settled scene (table, fixtures, objects, lights)."""
        import trimesh

        from dropsynth.render.gl import ensure_gl
        from dropsynth.render.pyrender_backend import (FIXTURE_ROUGHNESS, TABLE_ROUGHNESS, asset_mesh,
                                                       background_mesh, table_trimesh)

        ensure_gl()  # pyrender is imported for its mesh records only (no context)
        import pyrender

        self._clear_scene()
        spec = settled.spec
        self._spec = spec
        self._add(background_mesh(table_trimesh(spec), spec.table_material, spec.table_rgba, TABLE_ROUGHNESS,
                                  pyrender), np.eye(4), 0, "table", cached=False)
        for k, fx in enumerate(spec.fixtures):
            box = trimesh.creation.box(extents=fx.size_m)
            self._add(background_mesh(box, fx.material, fx.rgba, FIXTURE_ROUGHNESS, pyrender), fx.world_T, 0,
                      f"fixture{k}", cached=False)
        for obj in settled.objects():
            pm = asset_mesh(obj, pyrender, self._mesh_cache)
            cached = obj.material is None and obj.primitive is None  # a file asset's mesh, reused across scenes
            self._add(pm, settled.poses[obj.instance_id], obj.instance_id if obj.annotate else 0,
                      f"obj{obj.instance_id}", cached=cached)
        for k, light in enumerate(spec.lights):
            self._add_light(light, k)

    def _add_light(self, light, k: int) -> None:
        import mathutils

        bpy, s = self.bpy, self.settings
        kind = {"directional": "SUN", "point": "POINT", "spot": "SPOT"}[light.kind]
        data = bpy.data.lights.new(f"light{k}", kind)
        data.color = tuple(float(c) for c in light.color)
        if kind == "SUN":
            data.energy = float(light.intensity)
            data.angle = 2.0 * math.atan(s.light_size_m)  # a disc of that radius seen from 1 m
        else:
            data.energy = float(4.0 * math.pi * light.intensity)
            data.shadow_soft_size = s.light_size_m
            if kind == "SPOT":
                data.spot_size = math.pi / 2.0  # pyrender's default outer cone angle pi/4, doubled
                data.spot_blend = 1.0  # pyrender's default inner angle 0: falls off from the axis
        ob = bpy.data.objects.new(f"light{k}", data)
        ob.matrix_world = mathutils.Matrix(np.asarray(light.world_T_light, float).tolist())
        bpy.context.scene.collection.objects.link(ob)
        self._objects.append(ob)
        self._scene_data.append(data)

    # -- views ----------------------------------------------------------------

    def _set_camera(self, camera: CameraSpec, view: CyclesView | None) -> None:
        import mathutils

        bpy, s = self.bpy, self.settings
        sc = bpy.context.scene
        sc.render.resolution_x, sc.render.resolution_y = camera.width, camera.height
        cam_data = bpy.data.cameras.new("camera")
        intr = camera_intrinsics(camera.K, camera.width, camera.height)
        cam_data.sensor_fit = "HORIZONTAL"
        cam_data.sensor_width = SENSOR_WIDTH_MM
        cam_data.lens = intr["lens"]
        cam_data.shift_x, cam_data.shift_y = intr["shift_x"], intr["shift_y"]
        sc.render.pixel_aspect_x, sc.render.pixel_aspect_y = intr["pixel_aspect_x"], intr["pixel_aspect_y"]
        cam_data.clip_start, cam_data.clip_end = camera.znear_m, camera.zfar_m
        cam_T = np.asarray(camera.world_T_cam, float)
        if s.dof_fstop is not None:
            cam_data.dof.use_dof = True
            cam_data.dof.aperture_fstop = s.dof_fstop
            # Focus on the table centre (the world origin), along the optical axis.
            cam_data.dof.focus_distance = max(float((np.linalg.inv(cam_T) @ [0, 0, 0, 1])[2]), camera.znear_m)
        ob = bpy.data.objects.new("camera", cam_data)
        sc.collection.objects.link(ob)
        ob.matrix_world = mathutils.Matrix((cam_T @ CV_TO_GL).tolist())
        if view is not None and s.motion_blur_m > 0 and any(view.motion_m):
            # Keyframes at frames 0 and 2 around the labelled pose at frame 1; the
            # exposure (one frame, centred) spans half of the motion either side.
            d = np.asarray(view.motion_m)
            for frame, sign in ((0, -1.0), (2, 1.0)):
                ob.location = mathutils.Vector((cam_T[:3, 3] + sign * d).tolist())
                ob.keyframe_insert("location", frame=frame)
            sc.frame_set(1)
        else:
            sc.frame_set(1)
        sc.camera = ob
        self._cam = (ob, cam_data)

    def _drop_camera(self) -> None:
        ob, cam_data = self._cam
        action = ob.animation_data.action if ob.animation_data is not None else None
        self.bpy.data.objects.remove(ob, do_unlink=True)
        if action is not None:  # the motion-blur keyframes
            self.bpy.data.actions.remove(action)
        self.bpy.data.cameras.remove(cam_data)
        self._cam = None

    def render(self, camera: CameraSpec, view: CyclesView | None = None) -> Frame:
        """Path-trace the current scene from ``camera``.

        view: the view's draws (environment, seed, motion); None: the ambient
        world, seed 0. Returns Frame: rgb (H, W, 3) uint8 over the scene's
        background; depth_m (H, W) float32 from Cycles' Z pass (0 = no hit);
        instance_ids (H, W) uint16 from its object-index pass.
        """
        bpy = self.bpy
        sc = bpy.context.scene
        self._set_world(view, self._spec.ambient_rgb)
        sc.cycles.seed = view.seed if view is not None else 0
        self._set_camera(camera, view)
        path = os.path.join(self._tmp.name, "frame.exr")
        try:
            with _quiet():
                bpy.ops.render.render(write_still=False)
                # Blender 5.0.1 cannot write a multilayer EXR with non-square pixels
                # ("Error writing render result"); the pixels are rendered already, so
                # the file is written with square ones (only its header says so).
                aspect = sc.render.pixel_aspect_x, sc.render.pixel_aspect_y
                sc.render.pixel_aspect_x = sc.render.pixel_aspect_y = 1.0
                try:
                    bpy.data.images["Render Result"].save_render(path, scene=sc)
                finally:
                    sc.render.pixel_aspect_x, sc.render.pixel_aspect_y = aspect
        finally:
            self._drop_camera()
        rgba, z, index = self._read(path, camera.height, camera.width)
        os.unlink(path)
        rgb = self._composite(rgba, camera.height, camera.width)
        depth = np.where(z < NO_HIT_Z, z, 0.0).astype(np.float32)
        ids = np.rint(index).astype(np.uint16)
        return Frame(rgb=rgb, depth_m=depth, instance_ids=ids)

    def _read(self, path: str, h: int, w: int):
        """(RGBA, Z, object index) of a multilayer EXR (one part per pass)."""
        oiio = self._oiio
        inp = oiio.ImageInput.open(path)
        if inp is None:
            raise RenderBackendError(f"Cycles wrote no readable image ({oiio.geterror()})")
        channels = {}
        try:
            part = 0
            while inp.seek_subimage(part, 0):
                names = list(inp.spec().channelnames)
                px = np.asarray(inp.read_image(part, 0, 0, len(names), "float"), np.float32)
                px = px.reshape(h, w, len(names))
                channels.update({n: px[..., i] for i, n in enumerate(names)})
                part += 1
        finally:
            inp.close()

        def channel(*suffixes):
            hits = [n for n in channels if n.endswith(suffixes)]
            if not hits:
                raise RenderBackendError(f"Cycles' image has no {suffixes[0]} channel (has {', '.join(channels)})")
            return channels[hits[0]]

        rgba = np.stack([channel(f".Combined.{c}") for c in "RGBA"], axis=-1)
        # Pass names: Blender 5 ("Object Index"), before it "IndexOB".
        return rgba, channel(".Depth.Z"), channel(".Object Index.X", ".IndexOB.X")

    def _composite(self, rgba: np.ndarray, h: int, w: int) -> np.ndarray:
        """Premultiplied linear RGBA over the scene's background, display-encoded to uint8."""
        spec = self._spec
        if spec.background is not None:
            from dropsynth.textures import composite_background

            bg = composite_background(np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.float32), spec.background)
        else:
            bg = np.broadcast_to(np.rint(np.clip(spec.background_rgb, 0, 1) * 255), (h, w, 3))
        bg_lin = (np.asarray(bg, np.float32) / 255.0) ** 2.2
        lin = rgba[..., :3] + (1.0 - np.clip(rgba[..., 3:], 0.0, 1.0)) * bg_lin
        return np.rint(np.clip(lin, 0.0, 1.0) ** (1.0 / 2.2) * 255.0).astype(np.uint8)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
