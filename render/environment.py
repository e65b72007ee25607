"""Image-based lighting for the rasterizer: HDR environments, read and prefiltered.

The same environments as the Cycles backend (``lights.hdri_folder``, else
Blender's built-in studio lights inside bpy), the same per-view draws
(``cycles_plan.environment_draws``: which file, rotation about world z,
strength), the same equirectangular convention (Blender's: column
u = 0.5 - atan2(y, x) / 2pi, row t = acos(z) / pi from the top) and the
rotation applied to the lookup vector as Cycles' Mapping node does.

Per file, once per process (``prepare``): diffuse irradiance as 9 spherical
harmonics (Ramamoorthi & Hanrahan 2001), specular radiance prefiltered at
``SPEC_ROUGHNESS`` with a normalised Phong lobe of the GGX-equivalent
exponent (the split-sum approximation; the BRDF half is Karis' analytic fit
in the shader), and a 1024 x 512 copy for the background and mirror-like
reflections. Numpy only; ``frame_pass`` uploads the arrays.

Readers: Radiance ``.hdr`` (RGBE, flat or run-length encoded) with the small
reader here, no dependency; ``.exr`` through the OpenEXR package when it is
installed (it is not a dependency: the built-in set is ``.exr`` and comes with
bpy, whose venv can add it), else one clear error naming the file.

Without a folder and without bpy (so without the built-in set) the raster
path falls back to ``PROCEDURAL``: four procedural studio environments
(sky-to-floor gradient and two soft area lights, from fixed seeds),
documented as such in the README; a folder named but without environments
is an error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dropsynth.errors import RenderBackendError

SPEC_ROUGHNESS = (0.4, 0.6, 0.8, 1.0)  # prefiltered layers (environment.glsl assumes these); below 0.4 the
# shader blends towards the 1024 px map
SPEC_SIZE = (32, 64)  # (H, W) of each prefiltered layer
BG_SIZE = (512, 1024)  # (H, W) of the background / mirror map
PROCEDURAL = tuple(f"procedural:studio{i}" for i in range(4))
_CACHE: dict = {}


@dataclass(frozen=True)
class Environment:
    """A prefiltered environment: ``sh`` (9, 3) float32 irradiance
    coefficients (E(n) = sum sh_k Y_k(n), W/m^2 per unit strength), ``spec``
    (len(SPEC_ROUGHNESS), H, W, 3) float32 radiance, ``background`` (H, W, 3)
    float32 radiance, top row = zenith."""

    name: str
    sh: np.ndarray
    spec: np.ndarray
    background: np.ndarray


# --- reading ----------------------------------------------------------------------


def read_hdr(path: str) -> np.ndarray:
    """A Radiance .hdr (RGBE) image as (H, W, 3) float32 linear radiance, top row first."""
    data = Path(path).read_bytes()
    head_end = data.find(b"\n\n")
    if not data.startswith(b"#?") or head_end < 0:
        raise RenderBackendError(f"lights.hdri_folder: {path}: not a Radiance .hdr file (no '#?' header)")
    header = data[:head_end].decode("latin-1")
    if "FORMAT=" in header and "32-bit_rle_rgbe" not in header:
        raise RenderBackendError(f"lights.hdri_folder: {path}: only the RGBE format is read (not XYZE)")
    eol = data.find(b"\n", head_end + 2)
    m = re.fullmatch(r"-Y (\d+) \+X (\d+)", data[head_end + 2:eol].decode("latin-1").strip())
    if m is None:
        raise RenderBackendError(f"lights.hdri_folder: {path}: unsupported resolution line (want '-Y H +X W')")
    h, w = int(m.group(1)), int(m.group(2))
    buf = np.frombuffer(data, np.uint8, offset=eol + 1)
    rgbe = np.empty((h, w, 4), np.uint8)
    pos = 0
    try:
        for y in range(h):
            if 8 <= w < 32768 and buf[pos] == 2 and buf[pos + 1] == 2 and (buf[pos + 2] << 8 | buf[pos + 3]) == w:
                pos += 4  # new-style run-length encoding, one channel after the other
                for c in range(4):
                    x = 0
                    while x < w:
                        n = int(buf[pos])
                        pos += 1
                        if n > 128:
                            n -= 128
                            rgbe[y, x:x + n, c] = buf[pos]
                            pos += 1
                        else:
                            rgbe[y, x:x + n, c] = buf[pos:pos + n]
                            pos += n
                        x += n
            else:  # flat
                rgbe[y] = buf[pos:pos + 4 * w].reshape(w, 4)
                pos += 4 * w
    except (IndexError, ValueError):
        raise RenderBackendError(f"lights.hdri_folder: {path}: truncated or corrupt pixel data") from None
    e = rgbe[..., 3].astype(np.int32)
    scale = np.where(e > 0, np.ldexp(1.0, e - 136), 0.0).astype(np.float32)  # 2^(e - 128) / 256
    return rgbe[..., :3].astype(np.float32) * scale[..., None]


def read_exr(path: str) -> np.ndarray:
    """An OpenEXR image's RGB as (H, W, 3) float32, through the OpenEXR package."""
    try:
        import OpenEXR
    except ImportError:
        raise RenderBackendError(f"lights.hdri_folder: {path}: reading .exr needs the OpenEXR package "
                                 f"(pip install OpenEXR); .hdr files need nothing") from None
    try:
        with OpenEXR.File(str(path)) as f:
            ch = f.channels()
            if "RGB" in ch:
                rgb = np.asarray(ch["RGB"].pixels, np.float32)
            else:
                rgb = np.stack([np.asarray(ch[k].pixels, np.float32) for k in "RGB"], -1)
    except Exception as e:
        raise RenderBackendError(f"lights.hdri_folder: {path}: cannot be read ({type(e).__name__}: {e})") from None
    return np.ascontiguousarray(rgb[..., :3])


def read_environment(path: str) -> np.ndarray:
    """(H, W, 3) float32 radiance of an equirectangular .hdr or .exr file (negative and NaN values: 0)."""
    suffix = Path(path).suffix.lower()
    img = read_exr(path) if suffix == ".exr" else read_hdr(path)
    if img.ndim != 3 or img.shape[0] < 2 or img.shape[1] < 4:
        raise RenderBackendError(f"lights.hdri_folder: {path}: an environment needs at least 4x2 pixels")
    return np.nan_to_num(np.maximum(img, 0.0), nan=0.0, posinf=65504.0)


def procedural(name: str) -> np.ndarray:
    """One of ``PROCEDURAL``: a studio-like environment (256 x 128) from a fixed seed."""
    i = PROCEDURAL.index(name)
    rng = np.random.default_rng(1400 + i)
    d = _directions(128, 256)
    z = d[..., 2:3]
    warm = np.array([1.0, 0.93, 0.85], np.float32)
    cool = np.array([0.85, 0.92, 1.0], np.float32)
    sky = np.where(z > 0, (0.25 + 0.35 * z) * (cool if i % 2 else warm), 0.08 * warm * (1 + z))
    img = sky.astype(np.float32)
    for _ in range(2):  # soft area lights (softboxes, windows)
        az, el = rng.uniform(0, 2 * np.pi), rng.uniform(np.radians(20), np.radians(70))
        c = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        size = rng.uniform(0.15, 0.3)
        lum = rng.uniform(4.0, 10.0)
        img += (lum * np.exp(-(1 - d @ c) / (size * size / 2)))[..., None].astype(np.float32) * warm
    return img.astype(np.float32)


# --- prefiltering -------------------------------------------------------------------


def _directions(h: int, w: int) -> np.ndarray:
    """(h, w, 3) unit directions of equirectangular texel centres (Blender's convention)."""
    t = (np.arange(h) + 0.5) / h * np.pi  # polar angle from +z
    u = (np.arange(w) + 0.5) / w
    phi = (0.5 - u) * 2 * np.pi  # atan2(y, x)
    st = np.sin(t)[:, None]
    return np.stack([st * np.cos(phi)[None, :], st * np.sin(phi)[None, :],
                     np.broadcast_to(np.cos(t)[:, None], (h, w))], -1).astype(np.float64)


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area-average (downsizing by whole factors) or nearest (other) resize of an (H, W, 3) image."""
    H, W = img.shape[:2]
    if H % h == 0 and W % w == 0:
        return img.reshape(h, H // h, w, W // w, 3).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)
    ys = np.minimum(((np.arange(h) + 0.5) * H / h).astype(int), H - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * W / w).astype(int), W - 1)
    return img[ys][:, xs]


def _solid_angles(h: int, w: int) -> np.ndarray:
    t0 = np.arange(h) / h * np.pi
    band = (np.cos(t0) - np.cos(t0 + np.pi / h)) * 2 * np.pi / w
    return np.broadcast_to(band[:, None], (h, w))


def _sh_basis(d: np.ndarray) -> np.ndarray:
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.stack([0.282095 * np.ones_like(x), 0.488603 * y, 0.488603 * z, 0.488603 * x, 1.092548 * x * y,
                     1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z, 0.546274 * (x * x - y * y)],
                    -1)


def prefilter(img: np.ndarray, name: str = "") -> Environment:
    """SH irradiance, prefiltered specular layers and the background map of an equirectangular image."""
    src = _resize(img, 64, 128).astype(np.float64)
    d = _directions(64, 128).reshape(-1, 3)
    dw = (_solid_angles(64, 128).reshape(-1, 1) * src.reshape(-1, 3))  # radiance x solid angle
    L = _sh_basis(d).T @ dw  # (9, 3) radiance coefficients
    band = np.array([np.pi] + [2 * np.pi / 3] * 3 + [np.pi / 4] * 5)[:, None]  # cosine-lobe convolution
    sh = (L * band).astype(np.float32)
    # Lobes from 0.4 (Phong exponent 76, about 7 degrees wide) up: 5.6 degree source texels are enough.
    small = _resize(img, 32, 64).reshape(-1, 3).astype(np.float32)
    out = _directions(*SPEC_SIZE).reshape(-1, 3).astype(np.float32)
    sd = _directions(32, 64).reshape(-1, 3).T.astype(np.float32)
    omega = _solid_angles(32, 64).reshape(1, -1).astype(np.float32)
    cos = out @ sd  # (output texels, source texels)
    np.maximum(cos, np.float32(1e-30), out=cos)
    log_cos = np.log(cos)  # once: each layer's weights cos^p are then one exp
    layers = []
    for r in SPEC_ROUGHNESS:
        a = r * r
        p = max(2.0 / (a * a) - 2.0, 1.0)  # Phong exponent of GGX alpha (Walter et al. 2007)
        if p == 1.0:
            wgt = cos * omega
        else:
            wgt = log_cos * np.float32(p)
            np.exp(wgt, out=wgt)
            wgt *= omega
        layers.append((wgt @ small) / np.maximum(wgt.sum(1, keepdims=True), 1e-30))
    spec = np.stack(layers).reshape(len(SPEC_ROUGHNESS), *SPEC_SIZE, 3).astype(np.float32)
    bg = img if img.shape[0] <= BG_SIZE[0] else _resize(img, *BG_SIZE)  # smaller ones as they are
    return Environment(name=name, sh=sh, spec=spec, background=np.ascontiguousarray(bg, np.float32))


def load(name: str) -> Environment:
    """The prefiltered environment of a file (or a ``PROCEDURAL`` name), cached per process."""
    env = _CACHE.get(name)
    if env is None:
        img = procedural(name) if name in PROCEDURAL else read_environment(name)
        env = _CACHE[name] = prefilter(img, name)
    return env


def environment_set(lights_cfg) -> tuple[list[str], str]:
    """(the environments a run's raster views draw from, where they come from:
    'folder', 'builtin' or 'procedural'); empty when ``lights.hdri`` is off."""
    from dropsynth.render import cycles_plan

    if not lights_cfg.hdri:
        return [], "none"
    if lights_cfg.hdri_folder:
        from dropsynth.config import hdri_files

        folder = Path(lights_cfg.hdri_folder)
        if not folder.is_dir():
            raise RenderBackendError(f"lights.hdri_folder: folder not found: {folder}")
        files = hdri_files(str(folder))
        if not files:
            raise RenderBackendError(f"lights.hdri_folder: no .hdr or .exr environments in {folder}")
        return files, "folder"
    if cycles_plan.bpy_available():
        files = cycles_plan.builtin_hdri_files()
        try:
            import OpenEXR  # noqa: F401  (the built-in set is .exr)

            if files:
                return files, "builtin"
        except ImportError:
            pass
    return list(PROCEDURAL), "procedural"
