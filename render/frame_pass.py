"""One geometry pass for RGB, instance ids and metric depth, on pyrender's meshes.

pyrender's own path draws the scene twice per view (its PBR shader into a 4x
multisampled buffer, then again for segmentation) and converts the depth
buffer on the CPU. Here one draw of each mesh writes three attachments of a
single-sample framebuffer: the shaded colour (RGBA8), the instance id
(R16UI) and the distance along the optical axis in metres (R32F, 0 where
nothing was hit). Every pixel holds the one surface at its centre, so ids are
exact and depth, ids and colour agree. With ``msaa`` > 0 the colour comes
from a multisampled pass of its own, and ids and depth from a second pass
with a trivial shader.

Measured on llvmpipe (640x480, 15 objects): 13 ms per view against 50 ms for
pyrender's two passes. What pays: one pass instead of two, no 4x MSAA (about
20 ms), blending off, and keeping textures resident across scenes
(re-uploading a texture and its mipmaps costs 40 ms). The BRDF itself costs
about 1 ms: a Lambert/Blinn-Phong shader saved nothing worth a different
look, so this is pyrender's BRDF (``shaders/frame.frag``). Lighting as a
whole costs ~8 ms with one llvmpipe thread; shaders specialised per light
count saved 3.5 ms but each new light set costs ~200 ms of JIT, so no.

pyrender still owns the mesh and texture objects and the GL context; this
module uploads and frees their GL buffers itself. Only ``render/`` imports
OpenGL.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SHADER_DIR = Path(__file__).resolve().parent / "shaders"
MAX_LIGHTS = 16  # config lights.count is at most 16
MSAA_SAMPLES = (0, 2, 4, 8)
SHADOW_UNIT = 3  # texture unit of the shadow maps (0-2: base colour, metallic-roughness, normal)
ENV_UNIT = 6  # the environment's prefiltered layers (6) and background map (7); 4: the lightmap


class _Program:
    """A compiled vertex + fragment program with cached uniform locations."""

    def __init__(self, vert: str, frag: str, defines: dict):
        from OpenGL import GL
        from OpenGL.GL import shaders

        head = "".join(f"#define {k} {v}\n" for k, v in sorted(defines.items()))

        def src(name):
            first, rest = (SHADER_DIR / name).read_text().split("\n", 1)  # '#version' stays first
            for inc in ("shadow_lookup.glsl", "camera.glsl", "environment.glsl"):
                if f"//#include {inc}" in rest:
                    rest = rest.replace(f"//#include {inc}", (SHADER_DIR / inc).read_text())
            return f"{first}\n{head}{rest}"

        vao = GL.glGenVertexArrays(1)  # core profile: a VAO must be bound to link
        GL.glBindVertexArray(vao)
        try:
            if defines.keys() & {"SHADOWS", "HAS_BG_TEX", "IBL", "ENV_BG"}:
                # PyOpenGL's compileProgram validates at link time, when every sampler still
                # points at unit 0 (a 2-D and an array-shadow sampler on one unit fail): link here.
                self.id = _link(shaders.compileShader(src(vert), GL.GL_VERTEX_SHADER),
                                shaders.compileShader(src(frag), GL.GL_FRAGMENT_SHADER))
            else:
                self.id = shaders.compileProgram(shaders.compileShader(src(vert), GL.GL_VERTEX_SHADER),
                                                 shaders.compileShader(src(frag), GL.GL_FRAGMENT_SHADER),
                                                 validate=False)
        finally:
            GL.glBindVertexArray(0)
            GL.glDeleteVertexArrays(1, [vao])
        self._loc: dict[str, int] = {}
        self.frame = None  # the frame whose camera and light uniforms are set

    def loc(self, name: str) -> int:
        loc = self._loc.get(name)
        if loc is None:
            from OpenGL import GL

            loc = self._loc[name] = GL.glGetUniformLocation(self.id, name)
        return loc

    def delete(self) -> None:
        from OpenGL import GL

        GL.glDeleteProgram(self.id)


def _link(*stages) -> int:
    """Link compiled shader stages into a program, without validating it."""
    from OpenGL import GL

    prog = GL.glCreateProgram()
    for st in stages:
        GL.glAttachShader(prog, st)
    GL.glLinkProgram(prog)
    if GL.glGetProgramiv(prog, GL.GL_LINK_STATUS) != GL.GL_TRUE:
        raise RuntimeError(f"shader link failed: {GL.glGetProgramInfoLog(prog)!r}")
    for st in stages:
        GL.glDeleteShader(st)
    return prog


def _vertex_defines(primitive) -> dict:
    """Attribute locations as pyrender's Primitive lays them out (position at 0)."""
    from pyrender.constants import BufFlags

    out = {}
    loc = 1
    for flag, name in ((BufFlags.NORMAL, "NORMAL_LOC"), (BufFlags.TANGENT, "TANGENT_LOC"),
                       (BufFlags.TEXCOORD_0, "TEXCOORD_0_LOC"), (BufFlags.TEXCOORD_1, "TEXCOORD_1_LOC"),
                       (BufFlags.COLOR_0, "COLOR_0_LOC"), (BufFlags.JOINTS_0, "JOINTS_0_LOC"),
                       (BufFlags.WEIGHTS_0, "WEIGHTS_0_LOC")):
        if primitive.buf_flags & flag:
            out[name] = loc
            loc += 1
    out["INST_M_LOC"] = loc
    return out


def _material_values(material) -> tuple:
    """(base colour (4,), metallic, roughness, emissive (3,), base texture, MR texture)."""
    import pyrender

    emissive = material.emissiveFactor if material.emissiveFactor is not None else np.zeros(3)
    if isinstance(material, pyrender.MetallicRoughnessMaterial):
        return (material.baseColorFactor, float(material.metallicFactor), float(material.roughnessFactor),
                emissive, material.baseColorTexture, material.metallicRoughnessTexture)
    if isinstance(material, pyrender.SpecularGlossinessMaterial):
        return (material.diffuseFactor, 0.0, 1.0 - float(material.glossinessFactor), emissive,
                material.diffuseTexture, None)
    return (np.ones(4), 0.0, 1.0, emissive, None, None)


def _lights(scene, light_nodes: list) -> tuple:
    """Light uniforms in the given order (a fixed order keeps the float sums,
    hence the pixels, the same in every process; scene.light_nodes is a set)."""
    import pyrender

    pos = np.zeros((MAX_LIGHTS, 4), np.float32)
    rad = np.zeros((MAX_LIGHTS, 3), np.float32)
    spot = np.zeros((MAX_LIGHTS, 3), np.float32)
    cone = np.tile(np.array([0.0, 1.0], np.float32), (MAX_LIGHTS, 1))
    nodes = list(light_nodes)[:MAX_LIGHTS]
    for i, node in enumerate(nodes):
        light = node.light
        pose = scene.get_pose(node)
        direction = -pose[:3, 2]  # pyrender lights shine along their -z axis
        rad[i] = np.asarray(light.color, np.float32) * light.intensity
        if isinstance(light, pyrender.DirectionalLight):
            pos[i, :3] = -direction
        else:
            pos[i, :3] = pose[:3, 3]
            pos[i, 3] = 1.0
            if isinstance(light, pyrender.SpotLight):
                scale = 1.0 / max(0.001, np.cos(light.innerConeAngle) - np.cos(light.outerConeAngle))
                cone[i] = (scale, -np.cos(light.outerConeAngle) * scale)
                spot[i] = direction
    return len(nodes), pos, rad, spot, cone



def _draw_primitive(GL, primitive, cull: bool | None) -> bool:
    """Draw one pyrender primitive, all its instances, culling back faces
    unless its material is double-sided; ``cull`` is the culling state set
    so far (None: unknown), the state now set is returned. ``GL``: PyOpenGL's
    module or ``gl.raw_gl()`` (the same calls, unchecked)."""
    want_cull = not primitive.material.doubleSided
    if want_cull != cull:
        (GL.glEnable if want_cull else GL.glDisable)(GL_CULL_FACE)
        cull = want_cull
    if primitive._vaid is None:  # what pyrender's _bind() says
        raise ValueError("Cannot bind a Mesh that has not been added to a context")
    GL.glBindVertexArray(primitive._vaid)
    n_inst = 1 if primitive.poses is None else len(primitive.poses)
    if primitive.indices is not None:
        GL.glDrawElementsInstanced(primitive.mode, primitive.indices.size, GL_UNSIGNED_INT, None, n_inst)
    else:
        GL.glDrawArraysInstanced(primitive.mode, 0, len(primitive.positions), n_inst)
    return cull


GL_CULL_FACE, GL_UNSIGNED_INT = 0x0B44, 0x1405  # OpenGL's constants (the raw calls take plain ints)


class FramePass:
    """Renders (rgb, depth_m, instance_ids) of a pyrender scene from its main camera.

    renderer: the ``pyrender.Renderer`` of an ``OffscreenRenderer`` (for the
    viewport size and camera matrices); its GL context must be current
    during every call. msaa: 0 (one pass, no anti-aliasing) or the sample
    count (2, 4, 8) of a separate anti-aliased colour pass.
    """

    def __init__(self, renderer, msaa: int = 0, realism: frozenset = frozenset(), shadow_map_px: int = 512,
                 ibl: bool = False, env_background: bool = False):
        if msaa not in MSAA_SAMPLES:
            raise ValueError(f"msaa must be one of {MSAA_SAMPLES}, got {msaa!r}")
        self.renderer = renderer
        self.msaa = int(msaa)
        # Realism effects drawn in the shaders (render.realism.EFFECTS); none at the fast level,
        # whose programs are compiled from exactly the sources they always were.
        self.realism = frozenset(realism)
        self._shadows = None
        if self.realism & {"shadows", "ao"}:  # ambient occlusion is baked with the shadows' machinery
            from dropsynth.render.shadows import ShadowMaps

            self._shadows = ShadowMaps(shadow_map_px)
        self.ao_strength = 0.0
        self._baked_node = None  # the table, whose top's shadows and occlusion are baked per scene
        self.exposure = 1.0
        self.looks: dict = {}  # mesh node -> realism.Look
        # White balance and vignetting in the shaders, the background drawn here under them too.
        self.camera_gain = bool(self.realism & {"white_balance", "vignette"})
        # Image-based lighting (realism "ibl" with environments to draw from): set_environment per view.
        self.ibl = bool(ibl)
        self.env_background = self.ibl and bool(env_background)
        self._env = None  # (environment.Environment, rotation (rad), strength)
        self._env_tex: dict = {}  # environment name -> (layers texture, background texture)
        self.wb_gains = np.ones(3, np.float32)
        self.vignette = np.zeros(4, np.float32)  # strength, cx, cy, 1 / r^2 of the farthest corner
        self.background = None  # (H, W, 3) uint8 image drawn where nothing is, or None: the clear colour
        self._bg_tex = None  # (texture, the array it holds)
        self._programs: dict = {}
        self._fb = None  # (width, height, fbo, renderbuffers, fbo_ms, renderbuffers_ms)
        self._meshes: set = set()  # meshes whose buffers are in the context
        self._textures: set = set()
        self._frame = 0
        self._cached_scene, self._cache = None, {}  # see _scene_cache
        self._read_buffers: dict = {}  # (shape, dtype) -> the array glReadPixels writes into

    # -- GL objects -------------------------------------------------------------

    def _program(self, primitive, ids_only: bool, look: bool = False, depth_only: bool = False,
                 baked: bool = False) -> _Program:
        defines = _vertex_defines(primitive)
        if not ids_only and not depth_only:
            defines["MAX_LIGHTS"] = MAX_LIGHTS
            base_tex, mr_tex = _material_values(primitive.material)[4:]
            if "TEXCOORD_0_LOC" in defines:
                if base_tex is not None:
                    defines["HAS_BASE_COLOR_TEX"] = 1
                if mr_tex is not None:
                    defines["HAS_METALLIC_ROUGHNESS_TEX"] = 1
                if "surfaces" in self.realism and primitive.material.normalTexture is not None:
                    defines["HAS_NORMAL_TEX"] = 1
            if self._shadows is not None:
                from dropsynth.render.shadows import MAX_SHADOWS, SHADOW_TAPS

                defines["SHADOWS"], defines["MAX_SHADOWS"] = 1, MAX_SHADOWS
                defines["SHADOW_TAPS"] = SHADOW_TAPS
                if baked:
                    defines["SHADOW_BAKED"] = 1
            if "tonemap" in self.realism:
                defines["TONEMAP"] = 1
            if self.camera_gain:
                defines["CAMERA"] = 1
            if look:
                defines["VARIATION"] = 1
            if self.ibl:
                defines["IBL"] = 1
        frag = "shadow.frag" if depth_only else "ids.frag" if ids_only else "frame.frag"
        key = (frag, tuple(sorted(defines.items())))
        prog = self._programs.get(key)
        if prog is None:
            prog = self._programs[key] = _Program("frame.vert", frag, defines)
        return prog

    def _framebuffers(self, width: int, height: int):
        from OpenGL import GL

        if self._fb is not None and self._fb[:2] == (width, height):
            return self._fb
        self._delete_framebuffers()

        def fbo(samples, formats):
            rbs = [int(x) for x in np.atleast_1d(GL.glGenRenderbuffers(len(formats)))]
            fb = GL.glGenFramebuffers(1)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fb)
            for i, (rb, fmt) in enumerate(zip(rbs, formats)):
                GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, rb)
                if samples:
                    GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, samples, fmt, width, height)
                else:
                    GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, fmt, width, height)
                attach = GL.GL_DEPTH_ATTACHMENT if fmt == GL.GL_DEPTH_COMPONENT24 else GL.GL_COLOR_ATTACHMENT0 + i
                GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, attach, GL.GL_RENDERBUFFER, rb)
            status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
            if status != GL.GL_FRAMEBUFFER_COMPLETE:
                from dropsynth.errors import RenderBackendError

                raise RenderBackendError(f"cannot create a {width}x{height} framebuffer with {samples} samples "
                                         f"(status 0x{int(status):x})")
            return fb, rbs

        fb, rbs = fbo(0, [GL.GL_RGBA8, GL.GL_R16UI, GL.GL_R32F, GL.GL_DEPTH_COMPONENT24])
        fb_ms, rbs_ms = fbo(self.msaa, [GL.GL_RGBA8, GL.GL_DEPTH_COMPONENT24]) if self.msaa else (None, [])
        self._fb = (width, height, fb, rbs, fb_ms, rbs_ms)
        return self._fb

    def _delete_framebuffers(self) -> None:
        self._read_buffers = {}
        if self._fb is None:
            return
        from OpenGL import GL

        _, _, fb, rbs, fb_ms, rbs_ms = self._fb
        GL.glDeleteFramebuffers(1, [fb])
        if fb_ms is not None:
            GL.glDeleteFramebuffers(1, [fb_ms])
        GL.glDeleteRenderbuffers(len(rbs + rbs_ms), rbs + rbs_ms)
        self._fb = None

    def update_context(self, scene, keep=()) -> None:
        """Upload the buffers and textures of the scene's meshes that are not
        in the context yet; free those of meshes that left, except ``keep``
        (meshes reused across scenes: re-uploading their textures and
        mipmaps would cost more than rendering)."""
        meshes = set(scene.meshes)
        for mesh in meshes - self._meshes:
            for p in mesh.primitives:
                p._add_to_context()
        gone = {m for m in self._meshes - meshes if m not in keep}
        for mesh in gone:
            for p in mesh.primitives:
                p.delete()
        self._meshes = (self._meshes - gone) | meshes
        textures = set()
        for mesh in self._meshes:
            for p in mesh.primitives:
                textures |= p.material.textures
        for t in textures - self._textures:
            t._add_to_context()
        for t in self._textures - textures:
            t.delete()
        self._textures = textures

    def delete(self) -> None:
        """Free every GL object made here (the GL context must be current)."""
        from OpenGL import GL

        self._delete_framebuffers()
        if self._shadows is not None:
            self._shadows.delete()
        for layers, bg in self._env_tex.values():
            GL.glDeleteTextures([layers, bg])
        self._env_tex = {}
        for p in self._programs.values():
            p.delete()
        self._programs = {}
        for mesh in self._meshes:
            for p in mesh.primitives:
                p.delete()
        for t in self._textures:
            t.delete()
        self._meshes, self._textures = set(), set()
        self._cached_scene, self._cache = None, {}

    # -- drawing ----------------------------------------------------------------

    def render(self, scene, node_ids: dict, draw_order: list,
               light_nodes: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Render ``scene`` (``update_context`` first) from its main camera.

        node_ids: mesh node -> instance id (0: drawn, but background in the
        id image). draw_order: the nodes to draw, in this order (front to
        back saves shading hidden surfaces). light_nodes: the scene's lights,
        in a fixed order.

        Returns rgb (H, W, 3) uint8, depth_m (H, W) float32 (distance along
        the optical axis, 0 = no surface), instance_ids (H, W) uint16.
        """
        from OpenGL import GL

        width, height, fb, _, fb_ms, _ = self._framebuffers(self.renderer.viewport_width,
                                                            self.renderer.viewport_height)
        frame = self._frame_uniforms(scene, light_nodes)
        self._gl_state(width, height)
        bg = np.asarray(list(scene.bg_color[:3]) + [1.0], np.float32)
        c0, c1, c2 = GL.GL_COLOR_ATTACHMENT0, GL.GL_COLOR_ATTACHMENT1, GL.GL_COLOR_ATTACHMENT2
        if self.msaa:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fb_ms)
            GL.glDrawBuffers(1, [c0])
            GL.glEnable(GL.GL_MULTISAMPLE)
            GL.glClearBufferfv(GL.GL_COLOR, 0, bg)
            GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
            self._draw(scene, node_ids, draw_order, frame, ids_only=False)
            if self.draws_background:
                self._draw_background(scene, height)
            GL.glDisable(GL.GL_MULTISAMPLE)
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fb_ms)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, fb)
            GL.glDrawBuffers(1, [c0])
            GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fb)
            GL.glDrawBuffers(3, [GL.GL_NONE, c1, c2])
        else:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fb)
            GL.glDrawBuffers(3, [c0, c1, c2])
            GL.glClearBufferfv(GL.GL_COLOR, 0, bg)
        GL.glClearBufferuiv(GL.GL_COLOR, 1, np.zeros(4, np.uint32))
        GL.glClearBufferfv(GL.GL_COLOR, 2, np.zeros(4, np.float32))
        GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
        self._draw(scene, node_ids, draw_order, frame, ids_only=bool(self.msaa))
        if self.draws_background and not self.msaa:
            self._draw_background(scene, height)
        rgb = self._read(c0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, np.uint8, 3)
        ids = self._read(c1, GL.GL_RED_INTEGER, GL.GL_UNSIGNED_SHORT, np.uint16)
        depth = self._read(c2, GL.GL_RED, GL.GL_FLOAT, np.float32)
        return rgb, depth, ids

    def update_shadows(self, scene, light_nodes: list, casters: list, radius_texels: float,
                       table_node=None, table_rect=None) -> None:
        """Shadow maps of the scene's lights (once per scene: call after
        ``update_context``); ``casters``: the nodes that cast shadows;
        ``table_node`` and its top's (x0, y0, width, height) ``table_rect``:
        the receiver whose top gets its lit fractions baked once."""
        if self._shadows is None:
            return
        self._shadows.update(self, scene, light_nodes, _lights(scene, light_nodes), casters, radius_texels,
                             MAX_LIGHTS, shadows="shadows" in self.realism, ao="ao" in self.realism)
        self._baked_node = None
        if table_node is not None and (self._shadows.layers or self._shadows.ao):
            self._shadows.bake(self, table_rect)
            self._baked_node = table_node

    def bake_program(self) -> _Program:
        from dropsynth.render.shadows import BAKE_TAPS, MAX_SHADOWS

        defines = {"MAX_SHADOWS": MAX_SHADOWS, "MAX_LIGHTS": MAX_LIGHTS, "SHADOW_TAPS": BAKE_TAPS,
                   "TOP_LAYER": MAX_SHADOWS}
        key = ("bake.frag", tuple(sorted(defines.items())))
        prog = self._programs.get(key)
        if prog is None:
            prog = self._programs[key] = _Program("bake.vert", "bake.frag", defines)
        return prog

    def draw_depth(self, scene, nodes: list, view_proj: np.ndarray) -> None:
        """Depth only of ``nodes`` through ``view_proj`` into the bound framebuffer."""
        from OpenGL import GL

        # Back faces culled as in the colour pass (double-sided materials excepted): drawing both
        # sides cost 8 ms instead of 3 per 512x512 pass of the standard scene on llvmpipe.
        GL.glCullFace(GL.GL_BACK)
        eye = np.eye(4, dtype=np.float32)
        self._frame += 1
        key = (self._frame, "depth")
        current = None
        cull = None
        for node in nodes:
            if not node.mesh.is_visible:
                continue
            pose = self.pose(scene, node)[1]
            for primitive in node.mesh.primitives:
                prog = self._program(primitive, False, depth_only=True)
                if prog is not current:
                    GL.glUseProgram(prog.id)
                    current = prog
                if prog.frame != key:  # once per program and pass (PyOpenGL calls cost ~10 us each)
                    prog.frame = key
                    GL.glUniformMatrix4fv(prog.loc("V"), 1, GL.GL_TRUE, view_proj)
                    GL.glUniformMatrix4fv(prog.loc("P"), 1, GL.GL_TRUE, eye)
                GL.glUniformMatrix4fv(prog.loc("M"), 1, GL.GL_TRUE, pose)
                cull = _draw_primitive(GL, primitive, cull)
        GL.glUseProgram(0)
        GL.glBindVertexArray(0)

    def silhouette(self, scene, node) -> np.ndarray:
        """(H, W) bool: the pixels ``node`` covers when drawn alone (its
        amodal mask), from the scene's main camera."""
        from OpenGL import GL

        width, height, fb, _, _, _ = self._framebuffers(self.renderer.viewport_width,
                                                        self.renderer.viewport_height)
        frame = self._frame_uniforms(scene, [])
        self._gl_state(width, height)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fb)
        GL.glDrawBuffers(2, [GL.GL_NONE, GL.GL_COLOR_ATTACHMENT1])
        GL.glClearBufferuiv(GL.GL_COLOR, 1, np.zeros(4, np.uint32))
        GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
        self._draw(scene, {node: 1}, [node], frame, ids_only=True)
        return self._read(GL.GL_COLOR_ATTACHMENT1, GL.GL_RED_INTEGER, GL.GL_UNSIGNED_SHORT, np.uint16) > 0

    def _frame_uniforms(self, scene, light_nodes) -> tuple:
        V, P = self.renderer._get_camera_matrices(scene)
        self._frame += 1
        # The lights' uniforms, kept while the lights stay as they are (they do between the views of a scene).
        key = ("lights", tuple((n, float(n.light.intensity), np.asarray(n.light.color, np.float64).tobytes(),
                                getattr(n.light, "innerConeAngle", None), getattr(n.light, "outerConeAngle", None),
                                n.matrix.tobytes()) for n in light_nodes))
        lights = self._scene_cache(scene).get(key)
        if lights is None:
            lights = self._scene_cache(scene)[key] = _lights(scene, light_nodes)
        return (self._frame, np.ascontiguousarray(V, np.float32), np.ascontiguousarray(P, np.float32),
                np.asarray(scene.get_pose(scene.main_camera_node)[:3, 3], np.float32),
                np.asarray(scene.ambient_light, np.float32), lights)

    def _scene_cache(self, scene) -> dict:
        """What stays the same between the views of ``scene`` (mesh poses, light uniforms),
        dropped when another scene is drawn."""
        if self._cached_scene is not scene:
            self._cached_scene, self._cache = scene, {}
        return self._cache

    def pose(self, scene, node) -> tuple[np.ndarray, np.ndarray]:
        """``scene.get_pose(node)`` as float64 and as C-contiguous float32, kept
        while the node's matrix holds the same values (pyrender's get_pose walks
        the scene graph and allocates: ~25 us a call, tens of calls a view;
        comparing 16 numbers costs about 1 us, and catches a pose array
        changed in place and set again)."""
        cache = self._scene_cache(scene)
        hit = cache.get(node)
        if hit is not None and node._matrix is not None and np.array_equal(hit[0], node._matrix):
            return hit[1], hit[2]
        pose = scene.get_pose(node)
        pose32 = np.ascontiguousarray(pose, np.float32)
        if len(scene._path_cache.get(node, ())) == 2:  # a top-level node: its pose is its own matrix
            cache[node] = (node.matrix, pose, pose32)  # a copy
        return pose, pose32

    @staticmethod
    def _gl_state(width: int, height: int) -> None:
        from OpenGL import GL

        GL.glViewport(0, 0, width, height)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glDepthRange(0.0, 1.0)
        GL.glDisable(GL.GL_BLEND)  # opaque; blending would also read the target back
        GL.glPolygonMode(GL.GL_FRONT_AND_BACK, GL.GL_FILL)

    def _read(self, attachment, fmt, gl_type, dtype, channels: int = 1) -> np.ndarray:
        """One attachment of the framebuffer as a new (H, W[, channels]) array, top row first.

        The pixels come into a buffer kept per shape and type (PyOpenGL's
        glReadPixels allocated and zeroed one per call), then are copied
        flipped into the array returned; a GL error stops here, before a
        stale buffer could be returned."""
        from OpenGL import GL

        from dropsynth.render.gl import raw_gl

        raw = raw_gl()
        width, height = self._fb[:2]
        shape = (height, width, channels) if channels > 1 else (height, width)
        buf = self._read_buffers.get((shape, dtype))
        if buf is None:
            buf = self._read_buffers[(shape, dtype)] = np.empty(shape, dtype)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        GL.glReadBuffer(attachment)
        raw.glReadPixels(0, 0, width, height, int(fmt), int(gl_type), buf.ctypes.data)
        err = raw.glGetError()
        if err:
            from dropsynth.errors import RenderBackendError

            raise RenderBackendError(f"reading the {width}x{height} frame failed (GL error 0x{err:x})")
        return buf[::-1].copy()  # GL rows run bottom-up

    def _draw(self, scene, node_ids: dict, draw_order: list, frame: tuple, ids_only: bool) -> None:
        from OpenGL import GL

        from dropsynth.render.gl import raw_gl

        raw = raw_gl()  # the per-draw calls, without PyOpenGL's conversions and error checks
        frame_id, V, P, cam_pos, ambient, (n_lights, lpos, lrad, lspot, lcone) = frame
        key = (frame_id, ids_only)
        GL.glCullFace(GL.GL_BACK)
        cull = None
        current = None
        for node in draw_order:
            if not node.mesh.is_visible:
                continue
            pose = self.pose(scene, node)[1]  # (held here: the raw calls take its address)
            look = None if ids_only else self.looks.get(node)
            baked = node is self._baked_node
            object_id = int(node_ids[node])
            for primitive in node.mesh.primitives:
                prog = self._program(primitive, ids_only, look=look is not None, baked=baked)
                if prog is not current:
                    raw.glUseProgram(prog.id)
                    current = prog
                loc = prog.loc
                if prog.frame != key:
                    prog.frame = key
                    raw.glUniformMatrix4fv(loc("V"), 1, 1, V.ctypes.data)
                    raw.glUniformMatrix4fv(loc("P"), 1, 1, P.ctypes.data)
                    if not ids_only:
                        raw.glUniform3fv(loc("cam_pos"), 1, cam_pos.ctypes.data)
                        raw.glUniform3fv(loc("ambient_light"), 1, ambient.ctypes.data)
                        raw.glUniform1i(loc("n_lights"), n_lights)
                        raw.glUniform4fv(loc("light_position"), MAX_LIGHTS, lpos.ctypes.data)
                        raw.glUniform3fv(loc("light_radiance"), MAX_LIGHTS, lrad.ctypes.data)
                        raw.glUniform3fv(loc("light_spot_dir"), MAX_LIGHTS, lspot.ctypes.data)
                        raw.glUniform2fv(loc("light_cone"), MAX_LIGHTS, lcone.ctypes.data)
                        if self.realism:
                            self._realism_uniforms(prog)
                raw.glUniformMatrix4fv(loc("M"), 1, 1, pose.ctypes.data)
                raw.glUniform1ui(loc("object_id"), object_id)
                material = primitive.material
                if not ids_only:
                    base, metallic, rough, emissive, base_tex, mr_tex = _material_values(material)
                    base = np.ascontiguousarray(base, np.float32)
                    emissive = np.ascontiguousarray(emissive, np.float32)
                    raw.glUniform4fv(loc("material.base_color_factor"), 1, base.ctypes.data)
                    raw.glUniform1f(loc("material.metallic_factor"), metallic)
                    raw.glUniform1f(loc("material.roughness_factor"), rough)
                    raw.glUniform3fv(loc("material.emissive_factor"), 1, emissive.ctypes.data)
                    if look is not None:
                        GL.glUniform4f(loc("look"), look.hue, look.saturation, look.value, look.roughness)
                        GL.glUniform2f(loc("wear"), look.wear, look.wear_seed)
                    unit = 0
                    normal_tex = material.normalTexture if "surfaces" in self.realism else None
                    for tex, name in ((base_tex, "material.base_color_texture"),
                                      (mr_tex, "material.metallic_roughness_texture"),
                                      (normal_tex, "material.normal_texture")):
                        if tex is not None and loc(name) >= 0:
                            GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                            tex._bind()
                            raw.glUniform1i(loc(name), unit)
                            unit += 1
                cull = _draw_primitive(raw, primitive, cull)
        raw.glUseProgram(0)
        raw.glBindVertexArray(0)
        err = raw.glGetError()  # the unchecked calls above: said here, not by the next checked call
        if err:
            from dropsynth.errors import RenderBackendError

            raise RenderBackendError(f"drawing the scene's meshes failed (GL error 0x{err:x})")

    def _realism_uniforms(self, prog) -> None:
        """Per-frame uniforms of the realism effects (programs that declare them)."""
        from OpenGL import GL

        if "tonemap" in self.realism:
            GL.glUniform1f(prog.loc("exposure"), float(self.exposure))
        if self._shadows is not None and self._shadows.light_layer is not None:
            self._shadows.set_uniforms(prog, SHADOW_UNIT)
            GL.glUniform1f(prog.loc("ao_strength"), float(self.ao_strength))
        if self.camera_gain:
            self._camera_uniforms(prog)
        if self.ibl:
            self._env_uniforms(prog)

    @property
    def draws_background(self) -> bool:
        """Whether the background is drawn here (under the camera gain, or the environment)."""
        return self.camera_gain or self.env_background

    def set_environment(self, env, rotation_rad: float, strength: float) -> None:
        """The view's environment (``environment.Environment``), rotated about world z; its
        maps are uploaded once per environment and stay resident (the GL context must be current)."""
        from OpenGL import GL

        if env.name not in self._env_tex:
            layers, bg = GL.glGenTextures(2)
            GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
            GL.glBindTexture(GL.GL_TEXTURE_3D, layers)  # 3-D: one linear fetch blends two roughness layers
            n, h, w, _ = env.spec.shape
            GL.glTexImage3D(GL.GL_TEXTURE_3D, 0, GL.GL_RGB16F, w, h, n, 0, GL.GL_RGB, GL.GL_FLOAT,
                            np.ascontiguousarray(env.spec, np.float32))
            GL.glBindTexture(GL.GL_TEXTURE_2D, bg)
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGB16F, env.background.shape[1], env.background.shape[0], 0,
                            GL.GL_RGB, GL.GL_FLOAT, np.ascontiguousarray(env.background, np.float32))
            for target, tex in ((GL.GL_TEXTURE_3D, layers), (GL.GL_TEXTURE_2D, bg)):
                GL.glBindTexture(target, tex)
                GL.glTexParameteri(target, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
                GL.glTexParameteri(target, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
                GL.glTexParameteri(target, GL.GL_TEXTURE_WRAP_S, GL.GL_REPEAT)  # the seam at u = 0 / 1
                GL.glTexParameteri(target, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
                GL.glTexParameteri(target, GL.GL_TEXTURE_WRAP_R, GL.GL_CLAMP_TO_EDGE)
            self._env_tex[env.name] = (int(layers), int(bg))
        self._env = (env, float(rotation_rad), float(strength))

    def _env_uniforms(self, prog) -> None:
        from OpenGL import GL

        env, rot, strength = self._env
        layers, bg = self._env_tex[env.name]
        GL.glActiveTexture(GL.GL_TEXTURE0 + ENV_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_3D, layers)
        GL.glUniform1i(prog.loc("env_spec"), ENV_UNIT)
        GL.glActiveTexture(GL.GL_TEXTURE0 + ENV_UNIT + 1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, bg)
        GL.glUniform1i(prog.loc("env_bg"), ENV_UNIT + 1)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glUniform3fv(prog.loc("env_sh"), 9, np.ascontiguousarray(env.sh, np.float32))
        GL.glUniform2f(prog.loc("env_rot"), float(np.cos(rot)), float(np.sin(rot)))
        GL.glUniform1f(prog.loc("env_strength"), strength)

    def _camera_uniforms(self, prog) -> None:
        from OpenGL import GL

        GL.glUniform3fv(prog.loc("wb_gains"), 1, self.wb_gains)
        GL.glUniform4fv(prog.loc("vignette"), 1, self.vignette)
        GL.glUniform1f(prog.loc("image_height"), float(self._fb[1]))

    def _draw_background(self, scene, height: int) -> None:
        """The background under the camera gain, where the depth buffer is still clear
        (colour attachment only: ids and depth keep their 0)."""
        from OpenGL import GL

        image = None if self.env_background else self.background
        defines = {"HAS_BG_TEX": 1} if image is not None else {}
        if self.env_background:
            defines["ENV_BG"] = 1
            if "tonemap" in self.realism:
                defines["TONEMAP"] = 1
        key = ("bg.frag", tuple(sorted(defines.items())))
        prog = self._programs.get(key)
        if prog is None:
            prog = self._programs[key] = _Program("bg.vert", "bg.frag", defines)
        GL.glUseProgram(prog.id)
        self._camera_uniforms(prog)
        GL.glUniform3fv(prog.loc("bg_color"), 1, np.asarray(scene.bg_color[:3], np.float32))
        if self.env_background:
            V, P = self.renderer._get_camera_matrices(scene)
            inv = np.linalg.inv(np.asarray(P, np.float64) @ np.asarray(V, np.float64))
            GL.glUniformMatrix4fv(prog.loc("inv_view_proj"), 1, GL.GL_TRUE, inv.astype(np.float32))
            GL.glUniform3fv(prog.loc("cam_pos"), 1,
                            np.asarray(scene.get_pose(scene.main_camera_node)[:3, 3], np.float32))
            GL.glUniform2f(prog.loc("viewport"), float(self._fb[0]), float(self._fb[1]))
            if "tonemap" in self.realism:
                GL.glUniform1f(prog.loc("exposure"), float(self.exposure))
            self._env_uniforms(prog)
        if image is not None:
            if self._bg_tex is None or self._bg_tex[1] is not image:
                if self._bg_tex is not None:
                    GL.glDeleteTextures([self._bg_tex[0]])
                tex = GL.glGenTextures(1)
                GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
                GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
                GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, image.shape[1], image.shape[0], 0, GL.GL_RGB,
                                GL.GL_UNSIGNED_BYTE, np.ascontiguousarray(image))
                GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_NEAREST)
                GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_NEAREST)
                self._bg_tex = (tex, image)
            GL.glActiveTexture(GL.GL_TEXTURE0)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._bg_tex[0])
            GL.glUniform1i(prog.loc("bg_texture"), 0)
        GL.glDrawBuffers(3, [GL.GL_COLOR_ATTACHMENT0, GL.GL_NONE, GL.GL_NONE]) if not self.msaa else \
            GL.glDrawBuffers(1, [GL.GL_COLOR_ATTACHMENT0])
        GL.glDepthFunc(GL.GL_LEQUAL)
        GL.glDepthMask(GL.GL_FALSE)
        GL.glDisable(GL.GL_CULL_FACE)
        from dropsynth.render.gl import draw_fullscreen_triangle

        draw_fullscreen_triangle()
        GL.glUseProgram(0)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        prog.frame = None
