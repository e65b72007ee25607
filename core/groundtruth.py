"""Dense and 3-D ground truth derived from a rendered frame: class
segmentation, surface normals, NOCS, and 3-D bounding boxes.

Pure numpy. Everything is computed from the exact instance-id image and the
float depth (before PNG quantization), so it agrees with the masks pixel for
pixel. Camera frame: OpenCV (x right, y down, z forward), pixel centres on
integer coordinates.
"""
from __future__ import annotations

import numpy as np

from dropsynth.geometry import project_coco

# The 8 corners of a box from its (min, max) corners, in the order
# x-, y-, z- bits of the index (corner k uses max along axis a when bit a is set).
CORNER_BITS = np.array([[(k >> a) & 1 for a in range(3)] for k in range(8)], dtype=bool)
# Edges between corners that differ in one bit: for COCO "skeleton" (1-based).
BOX_EDGES = [[a + 1, b + 1] for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1]
KEYPOINT_NAMES = [f"corner_{'xX'[int(b[0])]}{'yY'[int(b[1])]}{'zZ'[int(b[2])]}" for b in CORNER_BITS]


def backproject(depth_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W) depth along the optical axis -> (H, W, 3) camera-frame points (m);
    pixels without depth give (0, 0, 0)."""
    h, w = depth_m.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    z = depth_m.astype(np.float64)
    x = (u - K[0, 2]) * z / K[0, 0]
    y = (v - K[1, 2]) * z / K[1, 1]
    return np.stack([x, y, z], axis=-1)


def class_image(instance_ids: np.ndarray, category_of: dict[int, int]) -> np.ndarray:
    """(H, W) uint16 category id per pixel (0 = background/table)."""
    lut = np.zeros(int(instance_ids.max()) + 1, dtype=np.uint16)
    for iid, cid in category_of.items():
        if iid < lut.size:
            lut[iid] = cid
    return lut[instance_ids]


def normals_from_depth(depth_m: np.ndarray, K: np.ndarray, instance_ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 unit surface normals in the camera frame, facing the
    camera; (0, 0, 0) where there is no depth.

    From the back-projected depth: the cross product of the tangents along
    image rows and columns, each taken with central differences where both
    neighbours lie on the same surface (same instance id, valid depth), else
    one-sided. Exact on planes; on curved surfaces it is the normal of the
    tessellated mesh as rendered.
    """
    p = backproject(depth_m, K)
    valid = depth_m > 0
    same = instance_ids.astype(np.int64)

    def tangent(axis: int) -> np.ndarray:
        fwd = np.zeros_like(p)
        bwd = np.zeros_like(p)
        ok_f = np.zeros(valid.shape, bool)
        ok_b = np.zeros(valid.shape, bool)
        sl_a = [slice(None)] * 2
        sl_b = [slice(None)] * 2
        sl_a[axis] = slice(0, -1)
        sl_b[axis] = slice(1, None)
        a, b = tuple(sl_a), tuple(sl_b)
        d = p[b] - p[a]
        ok = valid[a] & valid[b] & (same[a] == same[b])
        fwd[a] = d
        ok_f[a] = ok
        bwd[b] = d
        ok_b[b] = ok
        both = ok_f & ok_b
        t = np.where(both[..., None], 0.5 * (fwd + bwd), np.where(ok_f[..., None], fwd, bwd))
        return t, ok_f | ok_b

    tu, ok_u = tangent(1)
    tv, ok_v = tangent(0)
    n = np.cross(tu, tv)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    good = valid & ok_u & ok_v & (norm[..., 0] > 0)
    n = np.where(good[..., None], n / np.where(norm > 0, norm, 1.0), 0.0)
    flip = np.einsum("hwi,hwi->hw", n, p) > 0  # must face the camera
    n[flip] *= -1
    return n.astype(np.float32)


def object_bounds(obj) -> np.ndarray:
    """(2, 3) min and max corner of an object's box in its own frame (m)."""
    if obj.primitive is not None:
        k, s = obj.primitive.kind, obj.primitive.size_m
        half = np.array(s) / 2 if k == "box" else (np.array([s[0], s[0], s[1] / 2]) if k == "cylinder"
                                                   else np.array([s[0]] * 3))
        return np.stack([-half, half])
    from dropsynth.assets.mesh import prepare

    return np.asarray(prepare(obj.asset).visual.bounds, dtype=np.float64)


def nocs_image(depth_m: np.ndarray, K: np.ndarray, instance_ids: np.ndarray, cam_T_obj: dict[int, np.ndarray],
               bounds: dict[int, np.ndarray]) -> np.ndarray:
    """(H, W, 3) float32 normalized object coordinates (NOCS, Wang et al.
    2019): each object pixel's position in its object's frame, centred on its
    bounding box and scaled so the box diagonal is 1, plus 0.5: inside the
    unit cube (up to the depth's precision; not clipped). Background is 0."""
    p = backproject(depth_m, K)
    out = np.zeros(p.shape, dtype=np.float32)
    for iid, T in cam_T_obj.items():
        m = instance_ids == iid
        if not m.any():
            continue
        lo, hi = bounds[iid]
        obj_T_cam = np.linalg.inv(T)
        q = p[m] @ obj_T_cam[:3, :3].T + obj_T_cam[:3, 3]
        centre = 0.5 * (lo + hi)
        scale = float(np.linalg.norm(hi - lo))
        out[m] = (q - centre) / scale + 0.5
    return out


def box_corners_cam(cam_T_obj: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """(8, 3) corners of the object's box in the camera frame (m)."""
    corners = np.where(CORNER_BITS, bound[1], bound[0])
    return corners @ cam_T_obj[:3, :3].T + cam_T_obj[:3, 3]


def box_keypoints(corners_cam: np.ndarray, K: np.ndarray, depth_m: np.ndarray,
                  tolerance_m: float = 0.005) -> list[float]:
    """COCO keypoints [x1, y1, v1, ...] of the 8 projected corners, in the
    keypoint convention of COCO's own files (pixel indices: the centre of
    pixel (r, c) is (c, r); detectron2 adds 0.5 when it reads them), i.e. the
    OpenCV projection: v = 2 inside the image and not hidden (the depth there
    is not in front of the corner by more than ``tolerance_m``), 1 inside but
    hidden, 0 (with x = y = 0) outside the image or behind the camera."""
    h, w = depth_m.shape
    px = project_coco(corners_cam, K) - 0.5
    out: list[float] = []
    for (x, y), c in zip(px, corners_cam):
        col, row = int(round(x)), int(round(y))
        if c[2] <= 0 or not (0 <= col < w and 0 <= row < h):
            out += [0.0, 0.0, 0]
            continue
        d = float(depth_m[row, col])
        v = 2 if d == 0 or d >= c[2] - tolerance_m else 1
        out += [round(float(x), 3), round(float(y), 3), v]
    return out
