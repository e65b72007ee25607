"""Screen-space ambient occlusion (``render.ssao``): darkening where surfaces
meet (objects touching each other or the table, creases, the inside of a
bin), from the frame's own metric depth and the camera's K. Numpy only.

The estimator is McGuire et al.'s Alchemy AO (HPG 2011): for each pixel's
camera-space point P with normal n (from the depth's neighbours: the
one-sided difference with the smaller depth step, so that silhouettes do not
bend it) and samples Q_i on a fixed spiral of screen radius
``radius_m * fx / z``, the occluded share is

    o = min(1, (2 / s) * sum_i max(0, v_i . n - beta z) * r / (v_i . v_i + eps)),  v_i = Q_i - P,

counting only samples within the radius r in 3-D. It runs at half
resolution from 320 px wide up (8 samples, each at least a pixel away,
then a 3x3 box filter) and is applied on the raster RGB only (a Cycles
view's light is path-traced), before the lens effects: each pixel's linear
light is scaled by 1 - strength * o, in integer arithmetic through a
256-entry table (the same bytes on every machine).
Labels are untouched.
"""
from __future__ import annotations

import math

import numpy as np

SAMPLES = 8
BETA = 0.002  # bias, relative to the depth: flat surfaces do not occlude themselves
_SPIRAL = tuple(((k + 0.5) / SAMPLES, 2.0 * math.pi * k * 0.618034) for k in range(SAMPLES))  # (radius share, angle)


def _normals(p: np.ndarray) -> np.ndarray:
    """(h, w, 3) unit normals of (h, w, 3) camera-space points, facing the camera."""
    def side(axis):
        fwd = np.diff(p, axis=axis, append=np.take(p, [-1], axis=axis))
        bwd = np.diff(p, axis=axis, prepend=np.take(p, [0], axis=axis))
        pick = np.abs(fwd[..., 2]) <= np.abs(bwd[..., 2])
        return np.where(pick[..., None], fwd, bwd)

    n = np.cross(side(1), side(0))
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), np.float32(1e-12))
    flip = np.sum(n * p, axis=-1) > 0  # towards the camera (at the origin)
    n[flip] *= -1
    return n


def occlusion(depth_m: np.ndarray, K: np.ndarray, radius_m: float) -> np.ndarray:
    """(H, W) float32 occluded share 0..1 (0 where nothing was hit)."""
    H, W = depth_m.shape
    step = 2 if W >= 320 else 1  # half resolution for frames of 320 px and wider
    z = np.ascontiguousarray(depth_m[::step, ::step], np.float32)
    h, w = z.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) * np.float32(step)
    fx, fy, cx, cy = (np.float32(K[0, 0]), np.float32(K[1, 1]), np.float32(K[0, 2]), np.float32(K[1, 2]))
    p = np.stack([(xs - cx) / fx * z, (ys - cy) / fy * z, z], -1)
    n = _normals(p)
    hit = z > 0
    r = np.float32(radius_m)
    r_px = np.where(hit, r * fx / np.where(hit, z, 1) / np.float32(step), 0).astype(np.float32)  # at this step
    acc = np.zeros(h * w, np.float32)
    px, py, pz = (np.ascontiguousarray(p[..., i]).ravel() for i in range(3))
    nx, ny, nz = (np.ascontiguousarray(n[..., i]).ravel() for i in range(3))
    zr, rr, hr = z.ravel(), r_px.ravel(), hit.ravel()
    iy0, ix0 = (a.ravel() for a in np.mgrid[0:h, 0:w].astype(np.int32))
    bias = np.float32(BETA) * zr
    for share, angle in _SPIRAL:
        dx, dy = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        reach = np.maximum(rr * np.float32(share), np.float32(1.0))  # at least the next pixel
        ix = np.clip(ix0 + np.rint(reach * dx).astype(np.int32), 0, w - 1)
        iy = np.clip(iy0 + np.rint(reach * dy).astype(np.int32), 0, h - 1)
        idx = iy * w + ix
        vx, vy, vz = px.take(idx) - px, py.take(idx) - py, pz.take(idx) - pz
        vv = vx * vx + vy * vy + vz * vz
        vn = vx * nx + vy * ny + vz * nz - bias
        term = np.maximum(vn, 0) * r / (vv + np.float32(1e-6))
        term[(zr.take(idx) <= 0) | (vv > r * r) | ~hr] = 0
        acc += term
    acc = acc.reshape(h, w)
    occ = np.minimum(acc * np.float32(2.0 / SAMPLES), np.float32(1.0))
    from scipy import ndimage

    occ = ndimage.uniform_filter(occ, 3, mode="nearest")
    full = np.repeat(np.repeat(occ, step, 0), step, 1)[:H, :W]
    full[depth_m <= 0] = 0
    return full


def apply(rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, radius_m: float, strength: float) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 sRGB darkened by the occlusion: a new array."""
    q = np.rint(occlusion(depth_m, K, radius_m) * 255).astype(np.uint8)
    # Linear light x (1 - strength o) is sRGB-ish x (1 - strength o)^(1 / 2.2): per level, in 1/256 units.
    lut = np.array([round(256 * max(0.0, 1.0 - strength * i / 255) ** (1 / 2.2)) for i in range(256)], np.uint16)
    out = rgb.astype(np.uint16) * lut[q][..., None]
    out >>= 8
    return out.astype(np.uint8)
