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


def _normals(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple:
    """Unit normals (nx, ny, nz), facing the camera, of the camera-space points given as
    (h, w) planes: per axis the one-sided difference with the smaller depth step."""
    def side(axis):
        out = []
        fz = np.diff(pz, axis=axis, append=np.take(pz, [-1], axis=axis))
        bz = np.diff(pz, axis=axis, prepend=np.take(pz, [0], axis=axis))
        pick = np.abs(fz) <= np.abs(bz)
        for c in (px, py):
            f = np.diff(c, axis=axis, append=np.take(c, [-1], axis=axis))
            b = np.diff(c, axis=axis, prepend=np.take(c, [0], axis=axis))
            out.append(np.where(pick, f, b))
        out.append(np.where(pick, fz, bz))
        return out

    (ax, ay, az), (bx, by, bz) = side(1), side(0)
    nx, ny, nz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    np.maximum(norm, np.float32(1e-12), out=norm)
    sign = np.where(nx * px + ny * py + nz * pz > 0, np.float32(-1.0), np.float32(1.0)) / norm  # towards the camera
    return nx * sign, ny * sign, nz * sign


def occlusion(depth_m: np.ndarray, K: np.ndarray, radius_m: float) -> np.ndarray:
    """(H, W) float32 occluded share 0..1 (0 where nothing was hit)."""
    H, W = depth_m.shape
    step = 2 if W >= 320 else 1  # half resolution for frames of 320 px and wider
    z = np.ascontiguousarray(depth_m[::step, ::step], np.float32)
    h, w = z.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) * np.float32(step)
    fx, fy, cx, cy = (np.float32(K[0, 0]), np.float32(K[1, 1]), np.float32(K[0, 2]), np.float32(K[1, 2]))
    px, py, pz = (xs - cx) / fx * z, (ys - cy) / fy * z, z
    nx, ny, nz = (a.ravel() for a in _normals(px, py, pz))
    hit = z > 0
    r = np.float32(radius_m)
    r_px = np.where(hit, r * fx / np.where(hit, z, 1) / np.float32(step), 0).astype(np.float32)  # at this step
    acc = np.zeros(h * w, np.float32)
    px, py, pz = px.ravel(), py.ravel(), pz.ravel()
    rr = r_px.ravel()
    iy0, ix0 = (a.ravel() for a in np.mgrid[0:h, 0:w].astype(np.int32))
    bias = np.float32(BETA) * pz
    r2 = r * r
    for share, angle in _SPIRAL:
        dx, dy = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        reach = np.maximum(rr * np.float32(share), np.float32(1.0))  # at least the next pixel
        ix = np.clip(ix0 + np.rint(reach * dx).astype(np.int32), 0, w - 1)
        iy = np.clip(iy0 + np.rint(reach * dy).astype(np.int32), 0, h - 1)
        idx = iy * w + ix
        zs = pz.take(idx)
        vx, vy, vz = px.take(idx) - px, py.take(idx) - py, zs - pz
        vv = vx * vx + vy * vy + vz * vz
        vn = vx * nx + vy * ny + vz * nz - bias
        np.maximum(vn, 0, out=vn)
        vn *= r
        vn /= vv + np.float32(1e-6)
        vn[(zs <= 0) | (vv > r2)] = 0
        acc += vn
    acc[~hit.ravel()] = 0
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
