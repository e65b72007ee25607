"""pyrender backend: RGB, metric depth and an exact instance-id image.

The only module that imports pyrender/OpenGL (through ``gl.ensure_gl``). It
converts our OpenCV camera poses to OpenGL's once, here.

Passes per view:
- RGB: pyrender's PBR shader with the scene's lights, 4x MSAA.
- SEG: flat colours that encode instance ids, with multisampling off (pyrender
  disables GL_MULTISAMPLE for it), so every pixel holds exactly one id. Its
  depth buffer gives ``depth_m``, so depth and ids always agree.
"""
from __future__ import annotations

import numpy as np

from dropsynth.errors import RenderBackendError
from dropsynth.render.gl import ensure_gl
from dropsynth.types import CameraSpec, Frame, SettledScene

# OpenCV camera (x right, y down, z forward) -> OpenGL camera (x right, y up, z back).
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])
MAX_INSTANCES = 65535


def id_to_color(iid: int) -> tuple[int, int, int]:
    """Instance id -> seg colour (R = low byte, G = high byte)."""
    return (iid & 0xFF, iid >> 8, 0)


def color_to_id(seg: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 seg image -> (H, W) uint16 instance ids."""
    return (seg[..., 0].astype(np.uint16) | (seg[..., 1].astype(np.uint16) << 8))


class PyrenderRenderer:
    """Offscreen renderer reused across scenes (one per process).

    Meshes of file assets are converted once and cached; primitives are built
    per instance. Call ``set_scene`` once per settled scene, then ``render``
    for each camera.
    """

    def __init__(self, width: int, height: int):
        ensure_gl()
        import pyrender

        self.pyrender = pyrender
        try:
            self._r = pyrender.OffscreenRenderer(width, height)
        except Exception as e:
            from dropsynth.render.gl import APT_HINT

            raise RenderBackendError(f"cannot create an EGL rendering context ({type(e).__name__}: {e}); "
                                     f"on a machine without a GPU install Mesa: sudo {APT_HINT}") from None
        self.size = (width, height)
        self._mesh_cache: dict = {}
        self._scene = None

    @property
    def gl_renderer(self) -> str:
        """The OpenGL renderer string (e.g. 'llvmpipe ...' or the GPU's name)."""
        from OpenGL import GL

        return GL.glGetString(GL.GL_RENDERER).decode()

    def close(self) -> None:
        if self._r is not None:
            self._r.delete()
            self._r = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- scene ----------------------------------------------------------------

    def _asset_mesh(self, obj):
        pyrender = self.pyrender
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
        if key not in self._mesh_cache:
            from dropsynth.assets.mesh import prepare

            visual = prepare(obj.asset).visual
            mat = None
            if obj.asset.color_rgba is not None:
                mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=obj.asset.color_rgba, metallicFactor=0.0,
                                                         roughnessFactor=0.6)
            self._mesh_cache[key] = pyrender.Mesh.from_trimesh(visual, material=mat)
        return self._mesh_cache[key]

    def set_scene(self, settled: SettledScene) -> None:
        """Build the pyrender scene of a settled scene (table, objects, lights)."""
        import trimesh

        pyrender = self.pyrender
        spec = settled.spec
        objs = settled.objects()
        if objs and max(o.instance_id for o in objs) > MAX_INSTANCES:
            raise RenderBackendError(f"more than {MAX_INSTANCES} instances in one scene")
        scene = pyrender.Scene(bg_color=list(spec.background_rgb) + [1.0], ambient_light=spec.ambient_rgb)
        seg = {}
        sx, sy, sz = spec.table_size_m
        table = trimesh.creation.box(extents=(sx, sy, sz))
        table.apply_translation((0, 0, -sz / 2))
        from dropsynth.render.materials import material_mesh

        if spec.table_material is not None:
            node = scene.add(material_mesh(table, spec.table_material, pyrender, smooth=False))
        else:
            mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=spec.table_rgba, metallicFactor=0.0,
                                                     roughnessFactor=0.9)
            node = scene.add(pyrender.Mesh.from_trimesh(table, material=mat, smooth=False))
        seg[node] = (0, 0, 0)  # the table occludes but is background in the id image
        for fx in spec.fixtures:
            box = trimesh.creation.box(extents=fx.size_m)
            if fx.material is not None:
                mesh = material_mesh(box, fx.material, pyrender, smooth=False)
            else:
                mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=fx.rgba, metallicFactor=0.0,
                                                         roughnessFactor=0.8)
                mesh = pyrender.Mesh.from_trimesh(box, material=mat, smooth=False)
            seg[scene.add(mesh, pose=fx.world_T)] = (0, 0, 0)
        self._nodes = {}
        for obj in objs:
            node = scene.add(self._asset_mesh(obj), pose=settled.poses[obj.instance_id])
            seg[node] = id_to_color(obj.instance_id) if obj.annotate else (0, 0, 0)  # a distractor: background
            if obj.annotate:
                self._nodes[obj.instance_id] = node
        for light in spec.lights:
            cls = {"directional": pyrender.DirectionalLight, "point": pyrender.PointLight,
                   "spot": pyrender.SpotLight}[light.kind]
            scene.add(cls(color=np.asarray(light.color), intensity=light.intensity), pose=light.world_T_light)
        self._cam_node = None
        self._scene = scene
        self._seg = seg

    def render(self, camera: CameraSpec) -> Frame:
        """Render the current scene from ``camera``."""
        pyrender = self.pyrender
        if self._scene is None:
            raise RuntimeError("set_scene() first")
        if (camera.width, camera.height) != self.size:
            self._r.viewport_width, self._r.viewport_height = camera.width, camera.height
            self.size = (camera.width, camera.height)
        K = camera.K
        # pyrender puts (cx, cy) in continuous coordinates where pixel j spans
        # [j, j + 1]; OpenCV's K puts pixel centres on integers: shift by half a pixel.
        cam = pyrender.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2] + 0.5, cy=K[1, 2] + 0.5,
                                        znear=camera.znear_m, zfar=camera.zfar_m)
        if self._cam_node is not None:
            self._scene.remove_node(self._cam_node)
        self._cam_node = self._scene.add(cam, pose=camera.world_T_cam @ CV_TO_GL)
        flags = pyrender.RenderFlags
        rgb, _ = self._r.render(self._scene, flags=flags.NONE)
        seg, depth = self._r.render(self._scene, flags=flags.SEG, seg_node_map=self._seg)
        ids = color_to_id(seg)
        self._last_ids = ids
        return Frame(rgb=np.ascontiguousarray(rgb), depth_m=np.ascontiguousarray(depth, dtype=np.float32),
                     instance_ids=np.ascontiguousarray(ids))

    def amodal_masks(self, instance_ids=None) -> dict[int, np.ndarray]:
        """Amodal masks for the camera of the last ``render``: each object
        rendered alone (a SEG pass whose map holds only its node), so its whole
        silhouette inside the image, as if nothing occluded it.

        instance_ids: which objects (default: those visible in the last frame).
        Returns instance_id -> (H, W) bool.
        """
        flags = self.pyrender.RenderFlags
        if instance_ids is None:
            instance_ids = [int(i) for i in np.unique(self._last_ids) if i > 0]
        out = {}
        for iid in instance_ids:
            node = self._nodes.get(iid)
            if node is None:
                continue
            seg, _ = self._r.render(self._scene, flags=flags.SEG,
                                    seg_node_map={node: (255, 255, 255)})
            out[iid] = seg[..., 0] > 0
        return out
