"""Shadow maps: one depth layer per light, made once per scene (the lights
and objects do not move between its views).

Every light gets a frustum that just holds the bounding sphere of the shadow
casters (objects, distractors, bin and shelf walls; the table only receives):
orthographic along a directional light, perspective from a spot or point
light towards the sphere. A point light needs no cube map here: lights stand
outside the casters' sphere (they sit on a shell 0.8-2 m from the table, the
objects within a few tens of cm), and any shadow a caster throws lies on
rays from the light through that sphere, i.e. inside this one frustum;
points outside it cannot be shadowed by anything. A light that stands
inside the sphere gets a 160-degree frustum (shadows beyond it are missed:
rare, documented). Lights past ``MAX_SHADOWS`` in the scene's order cast
none. The table top's lit fractions are baked once per scene into a
lightmap (4 mm texels, over the part of the table a shadow can reach) with
four bilinear depth-compare taps on a rotated grid (PCF, ``radius`` texels
wide); objects and walls look the map up per pixel with one bilinear
compare (a one-texel soft edge). Costs (llvmpipe, one thread, standard
scene): a 1024 map took 10 ms per light and scene, the 2 mm bake 11 ms.
"""
from __future__ import annotations

import numpy as np

MAX_SHADOWS = 3  # lights with a shadow map; the lightmap's alpha holds the table's ambient occlusion
TOP_LAYER = MAX_SHADOWS  # the casters seen from straight above (heights, for the ambient occlusion)
# Bilinear depth-compare taps per lookup: 4 (PCF over ``radius`` texels) where the table top is
# baked, once per scene; 1 (a 2x2 bilinear compare) on objects and walls, per pixel and view:
# 4 taps there cost 17 ms per 640x480 view on one llvmpipe thread, 1 tap no measurable time.
BAKE_TAPS = 4
SHADOW_TAPS = 1
LIGHTMAP_M_PER_PX = 0.004  # the table top's baked lit fractions: 4 mm per texel (3 mm: 40% more bake time)
LIGHTMAP_MAX_PX = 1024
LIGHTMAP_UNIT = 4
INSIDE_FOV_DEG = 160.0
FAR_EXTRA_M = 3.0  # receivers up to this far beyond the casters still get their shadows


def look_at(eye, target) -> np.ndarray:
    """OpenGL view matrix (camera looks down its -z) from ``eye`` to ``target``."""
    eye, target = np.asarray(eye, np.float64), np.asarray(target, np.float64)
    f = target - eye
    f /= np.linalg.norm(f)
    up = np.array([0.0, 0.0, 1.0]) if abs(f[2]) < 0.99 else np.array([0.0, 1.0, 0.0])
    s = np.cross(f, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def ortho(r: float, near: float, far: float) -> np.ndarray:
    m = np.eye(4)
    m[0, 0] = m[1, 1] = 1.0 / r
    m[2, 2] = -2.0 / (far - near)
    m[2, 3] = -(far + near) / (far - near)
    return m


def perspective(fov_y: float, near: float, far: float) -> np.ndarray:
    t = 1.0 / np.tan(fov_y / 2)
    m = np.zeros((4, 4))
    m[0, 0] = m[1, 1] = t
    m[2, 2] = -(far + near) / (far - near)
    m[2, 3] = -2.0 * far * near / (far - near)
    m[3, 2] = -1.0
    return m


def caster_sphere(scene, nodes) -> tuple[np.ndarray, float]:
    """Centre and radius of a sphere around the world bounds of ``nodes``."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for node in nodes:
        b = np.asarray(node.mesh.bounds)
        corners = np.array([[x, y, z] for x in b[:, 0] for y in b[:, 1] for z in b[:, 2]])
        pose = scene.get_pose(node)
        w = corners @ pose[:3, :3].T + pose[:3, 3]
        lo, hi = np.minimum(lo, w.min(0)), np.maximum(hi, w.max(0))
    if not np.all(np.isfinite(lo)):
        return np.zeros(3), 0.0
    return (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2)


def light_matrices(kind_positional: bool, light_vec, centre, radius: float, size: int) -> tuple[np.ndarray, float]:
    """(world -> clip matrix, normal offset in metres) of one light.

    light_vec: the light's position (positional) or its direction towards
    the light (directional)."""
    r = max(radius, 0.05) * 1.02
    if not kind_positional:
        d = np.asarray(light_vec, np.float64)
        d = d / np.linalg.norm(d)
        eye = centre + d * (r + 0.1)
        vp = ortho(r, 0.05, 2 * r + 0.1 + FAR_EXTRA_M) @ look_at(eye, centre)
        return vp.astype(np.float32), 1.5 * 2 * r / size
    eye = np.asarray(light_vec, np.float64)
    dist = float(np.linalg.norm(centre - eye))
    if dist > r * 1.05:
        fov = 2 * np.arcsin(r / dist)
        near = max(0.01, dist - r)
    else:
        fov, near = np.radians(INSIDE_FOV_DEG), 0.01
    far = dist + r + FAR_EXTRA_M
    vp = perspective(fov, near, far) @ look_at(eye, centre)
    return vp.astype(np.float32), 1.5 * dist * 2 * np.tan(fov / 2) / size


class ShadowMaps:
    """A depth texture array (``MAX_SHADOWS`` layers) and its framebuffer."""

    def __init__(self, size: int):
        self.size = int(size)
        self.tex = None
        self.fbo = None
        self.lightmap = None  # (texture, framebuffer, width, height)
        self.rect = np.zeros(4, np.float32)
        self.light_dirs = np.zeros((MAX_SHADOWS, 3), np.float32)
        self.layers = 0
        self.vp = np.tile(np.eye(4, dtype=np.float32), (MAX_SHADOWS, 1, 1))
        self.offset = np.zeros(MAX_SHADOWS, np.float32)
        self.light_layer = None  # (MAX_LIGHTS,) int32
        self.radius = 1.5
        self.ao = False
        self.ao_radius = 0.04
        self.top_vp = np.eye(4, dtype=np.float32)

    def _ensure(self) -> None:
        from OpenGL import GL

        if self.tex is not None:
            return
        self.tex = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D_ARRAY, self.tex)
        GL.glTexImage3D(GL.GL_TEXTURE_2D_ARRAY, 0, GL.GL_DEPTH_COMPONENT24, self.size, self.size, MAX_SHADOWS + 1, 0,
                        GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT, None)
        for k, v in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                     (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE), (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE),
                     (GL.GL_TEXTURE_COMPARE_MODE, GL.GL_COMPARE_REF_TO_TEXTURE),
                     (GL.GL_TEXTURE_COMPARE_FUNC, GL.GL_LEQUAL)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D_ARRAY, k, v)
        GL.glBindTexture(GL.GL_TEXTURE_2D_ARRAY, 0)
        self.fbo = GL.glGenFramebuffers(1)

    def delete(self) -> None:
        from OpenGL import GL

        if self.tex is not None:
            GL.glDeleteTextures([self.tex])
            GL.glDeleteFramebuffers(1, [self.fbo])
        if self.lightmap is not None:
            GL.glDeleteTextures([self.lightmap[0]])
            GL.glDeleteFramebuffers(1, [self.lightmap[1]])
        self.tex = self.fbo = self.lightmap = None

    def update(self, frame_pass, scene, light_nodes, lights_uniforms, casters, radius_texels: float,
               max_lights: int, shadows: bool = True, ao: bool = False) -> None:
        """Render the casters' depth from every light (the first MAX_SHADOWS;
        none unless ``shadows``) and, with ``ao``, from straight above."""
        from OpenGL import GL

        self._ensure()
        n_lights, lpos = lights_uniforms[0], lights_uniforms[1]
        centre, rad = caster_sphere(scene, casters)
        self.sphere = (centre, rad)
        self.light_layer = np.full(max_lights, -1, np.int32)
        self.radius = float(radius_texels)
        self.layers = 0
        self.ao = False
        if rad <= 0:
            return
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glViewport(0, 0, self.size, self.size)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glDisable(GL.GL_BLEND)
        GL.glEnable(GL.GL_POLYGON_OFFSET_FILL)
        GL.glPolygonOffset(2.0, 4.0)  # slope-scaled bias against acne
        if ao:
            self.top_vp = light_matrices(False, (0.0, 0.0, 1.0), centre, rad, self.size)[0]
            GL.glFramebufferTextureLayer(GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, self.tex, 0, TOP_LAYER)
            GL.glDrawBuffers(1, [GL.GL_NONE])
            GL.glReadBuffer(GL.GL_NONE)
            GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
            frame_pass.draw_depth(scene, casters, self.top_vp)
            self.ao = True
        for i in range(min(n_lights, MAX_SHADOWS) if shadows else 0):
            vp, off = light_matrices(lpos[i, 3] > 0.5, lpos[i, :3], centre, rad, self.size)
            layer = self.layers
            GL.glFramebufferTextureLayer(GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, self.tex, 0, layer)
            GL.glDrawBuffers(1, [GL.GL_NONE])
            GL.glReadBuffer(GL.GL_NONE)
            GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
            frame_pass.draw_depth(scene, casters, vp)
            self.vp[layer], self.offset[layer] = vp, off
            d = lpos[i, :3] if lpos[i, 3] < 0.5 else lpos[i, :3] - centre
            self.light_dirs[layer] = d / max(float(np.linalg.norm(d)), 1e-9)
            self.light_layer[i] = layer
            self.layers += 1
        GL.glDisable(GL.GL_POLYGON_OFFSET_FILL)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def bake(self, frame_pass, rect) -> None:
        """The table top's lit fractions (one channel per layer) and its ambient
        occlusion (alpha) into the lightmap. Ambient occlusion: 8 points on a
        disk of ``ao_radius`` around each texel (golden-angle spiral); a point
        occludes when a caster stands there higher than half its distance (an
        occluder rising above 27 degrees), read off the top-down depth map."""
        from OpenGL import GL

        x0, y0, w, h = self._reach(rect)
        pw = int(min(LIGHTMAP_MAX_PX, max(16, np.ceil(w / LIGHTMAP_M_PER_PX))))
        ph = int(min(LIGHTMAP_MAX_PX, max(16, np.ceil(h / LIGHTMAP_M_PER_PX))))
        if self.lightmap is None or self.lightmap[2:] != (pw, ph):
            if self.lightmap is not None:
                GL.glDeleteTextures([self.lightmap[0]])
                GL.glDeleteFramebuffers(1, [self.lightmap[1]])
            tex = GL.glGenTextures(1)
            GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, pw, ph, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
            for k, v in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                         (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_BORDER), (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_BORDER)):
                GL.glTexParameteri(GL.GL_TEXTURE_2D, k, v)
            # Beyond the baked rectangle nothing casts: lit and open.
            GL.glTexParameterfv(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_BORDER_COLOR, np.ones(4, np.float32))
            GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
            fbo = GL.glGenFramebuffers(1)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
            GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
            self.lightmap = (tex, fbo, pw, ph)
        tex, fbo = self.lightmap[:2]
        self.rect = np.array([x0, y0, 1.0 / w, 1.0 / h], np.float32)
        prog = frame_pass.bake_program()
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        GL.glDrawBuffers(1, [GL.GL_COLOR_ATTACHMENT0])
        GL.glViewport(0, 0, pw, ph)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glUseProgram(prog.id)
        self.set_uniforms(prog, 0, with_lightmap=False)
        GL.glUniform4f(prog.loc("rect"), x0, y0, w, h)
        GL.glUniform1i(prog.loc("n_layers"), self.layers)
        GL.glUniform1i(prog.loc("with_ao"), int(self.ao))
        if self.ao:
            GL.glUniformMatrix4fv(prog.loc("top_vp"), 1, GL.GL_TRUE, self.top_vp)
            GL.glUniform1f(prog.loc("ao_radius"), self.ao_radius)
        GL.glUniform3fv(prog.loc("light_dir"), MAX_SHADOWS, self.light_dirs)
        from dropsynth.render.gl import draw_fullscreen_triangle

        draw_fullscreen_triangle()
        GL.glUseProgram(0)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        prog.frame = None

    def _reach(self, rect) -> tuple[float, float, float, float]:
        """The part of the table top (x0, y0, width, height) that a shadow or
        the occlusion can reach: the casters' sphere, widened by the longest
        shadow its top throws (from the lowest light) and the occlusion radius."""
        x0, y0, w, h = (float(v) for v in rect)
        centre, rad = self.sphere
        top = max(0.0, float(centre[2]) + rad)
        reach = rad + self.ao_radius
        for k in range(self.layers):
            d = self.light_dirs[k]
            reach = max(reach, rad + top * float(np.hypot(d[0], d[1])) / max(float(d[2]), 0.05))
        lo = np.maximum([x0, y0], centre[:2] - reach)
        hi = np.minimum([x0 + w, y0 + h], centre[:2] + reach)
        if np.any(hi <= lo):
            return x0, y0, w, h
        return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])

    def set_uniforms(self, prog, unit: int, with_lightmap: bool = True) -> None:
        from OpenGL import GL

        GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
        GL.glBindTexture(GL.GL_TEXTURE_2D_ARRAY, self.tex)
        GL.glUniform1i(prog.loc("shadow_maps"), unit)
        GL.glUniformMatrix4fv(prog.loc("shadow_vp"), MAX_SHADOWS, GL.GL_TRUE, self.vp)
        GL.glUniform1iv(prog.loc("light_shadow"), len(self.light_layer), self.light_layer)
        GL.glUniform1fv(prog.loc("shadow_offset"), MAX_SHADOWS, self.offset)
        GL.glUniform1f(prog.loc("shadow_radius"), self.radius)
        GL.glUniform1f(prog.loc("shadow_texel"), 1.0 / self.size)
        if with_lightmap:
            GL.glActiveTexture(GL.GL_TEXTURE0 + LIGHTMAP_UNIT)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self.lightmap[0] if self.lightmap is not None else 0)
            GL.glUniform1i(prog.loc("lightmap"), LIGHTMAP_UNIT)
            GL.glUniform4fv(prog.loc("lightmap_rect"), 1, self.rect)
