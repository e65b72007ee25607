"""Texture and background images from Texture records (numpy only: used by
the renderer for surfaces and by the pipeline for backgrounds).

Procedural textures tile seamlessly (integer periods per tile, periodic
noise), so that a surface wider than one tile shows no seams.
"""
from __future__ import annotations

import functools

import numpy as np

from dropsynth.types import Texture

TILE_PX = 256


def _periodic_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(size, size) value noise in 0..1 from a periodic (cells x cells) grid,
    bilinearly interpolated, plus one finer octave."""
    out = np.zeros((size, size))
    amp_total = 0.0
    for octave, amp in ((cells, 1.0), (cells * 2, 0.5), (cells * 4, 0.25)):
        grid = rng.random((octave, octave))
        t = np.arange(size) * octave / size
        i0 = np.floor(t).astype(int)
        f = t - i0
        f = f * f * (3 - 2 * f)  # smoothstep: no grid lines
        i1 = (i0 + 1) % octave
        a = grid[i0][:, i0] * (1 - f)[None, :] + grid[i0][:, i1] * f[None, :]
        b = grid[i1][:, i0] * (1 - f)[None, :] + grid[i1][:, i1] * f[None, :]
        out += amp * (a * (1 - f)[:, None] + b * f[:, None])
        amp_total += amp
    out /= amp_total
    return (out - out.min()) / max(float(np.ptp(out)), 1e-9)


def _pattern(tex: Texture, h: int, w: int) -> np.ndarray:
    """(h, w) float mix factor in 0..1 between the texture's two colours."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    side = float(max(h, w))
    u, v = x / side, y / side
    f = tex.frequency
    if tex.kind == "stripes":
        a = np.radians(tex.angle_deg)
        kx, ky = round(f * np.cos(a)), round(f * np.sin(a))  # integer wave vector: tiles seamlessly
        if kx == 0 and ky == 0:
            kx = 1
        return (np.sin(2 * np.pi * (kx * u + ky * v)) > 0).astype(np.float64)
    if tex.kind == "checker":
        return ((np.floor(u * f) + np.floor(v * f)) % 2).astype(np.float64)
    if tex.kind == "noise":
        n = _periodic_noise(np.random.Generator(np.random.PCG64(tex.seed)), int(side), max(1, f))
        return n[:h, :w]
    raise ValueError(f"unknown procedural texture kind {tex.kind!r}")


def _image_file(path: str, h: int, w: int) -> np.ndarray:
    """The image file scaled to cover (h, w) and centre-cropped: (h, w, 3) uint8."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        s = max(w / im.width, h / im.height)
        nw, nh = max(w, round(im.width * s)), max(h, round(im.height * s))
        im = im.resize((nw, nh), Image.BILINEAR)
        x0, y0 = (nw - w) // 2, (nh - h) // 2
        return np.asarray(im.crop((x0, y0, x0 + w, y0 + h)), dtype=np.uint8).copy()


def render_texture(tex: Texture, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 image of a texture."""
    if tex.kind == "image":
        return _image_file(tex.path, h, w)
    m = _pattern(tex, h, w)[..., None]
    c0, c1 = (np.asarray(c, dtype=np.float64) for c in tex.colors)
    return np.rint((c0 * (1 - m) + c1 * m) * 255).clip(0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def texture_tile(tex: Texture) -> np.ndarray:
    """(TILE_PX, TILE_PX, 3) uint8 tile of a surface texture (cached)."""
    return render_texture(tex, TILE_PX, TILE_PX)


@functools.lru_cache(maxsize=4)
def _background(tex: Texture, h: int, w: int) -> np.ndarray:
    return render_texture(tex, h, w)  # the views of a scene share one


def composite_background(rgb: np.ndarray, depth_m: np.ndarray, background: Texture) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 with the background drawn where nothing was
    rendered (``depth_m`` == 0)."""
    h, w = depth_m.shape
    bg = _background(background, h, w)
    return np.where((depth_m == 0)[..., None], bg, rgb)
