"""Rigid-body geometry shared by every stage: rotations, quaternions, poses
and the pinhole projection. Pure numpy and math (types layer: it imports
nothing of dropsynth).

Conventions: rotation matrices are (3, 3) float64 and act on column vectors;
poses are (4, 4) float64 ``a_T_b``; quaternions are (x, y, z, w), PyBullet's
order; angles are in radians unless the name says ``_deg``. Scalar sines and
cosines come from ``math`` (the builders' and samplers' numbers were always
computed so, and output bytes depend on them).
"""
from __future__ import annotations

import math

import numpy as np


def pose(rotation: np.ndarray, translation) -> np.ndarray:
    """(3, 3) rotation + (3,) translation -> (4, 4) float64 transform."""
    t = np.eye(4)
    t[:3, :3] = rotation
    t[:3, 3] = translation
    return t


def rot_x(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` (rad) about the x axis."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` (rad) about the y axis."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` (rad) about the z axis."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_AXES = {"x": rot_x, "y": rot_y, "z": rot_z}


def rotation_about(axis: str, angle_deg: float) -> np.ndarray:
    """(3, 3) rotation by ``angle_deg`` degrees about ``axis`` ("x", "y" or
    "z"). Not snapped: ``rotation_about("x", 180)`` holds sin(pi) ~ 1e-16
    where an exact 0 is meant; round it where a file must show 0."""
    if axis not in _AXES:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    return _AXES[axis](math.radians(angle_deg))


def axis_angle(axis, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` (rad) about ``axis`` (3,), any non-zero
    length (Rodrigues' formula)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def quat_to_matrix(q) -> np.ndarray:
    """(x, y, z, w) quaternion, any non-zero norm -> (3, 3) rotation matrix."""
    x, y, z, w = (float(v) for v in q)
    n = x * x + y * y + z * z + w * w
    s = 2.0 / n
    return np.array([
        [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
        [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
        [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
    ])


def matrix_to_quat(r: np.ndarray) -> tuple[float, float, float, float]:
    """(3, 3) rotation -> (x, y, z, w) unit quaternion (Shepperd's method:
    the branch of the largest diagonal term, stable near 180 degrees)."""
    m = np.asarray(r, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    return float(x), float(y), float(z), float(w)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random (3, 3) rotation (Shoemake's quaternion method; three
    draws from ``rng``)."""
    u1, u2, u3 = rng.random(3)
    q = np.array([
        math.sqrt(1 - u1) * math.sin(2 * math.pi * u2),
        math.sqrt(1 - u1) * math.cos(2 * math.pi * u2),
        math.sqrt(u1) * math.sin(2 * math.pi * u3),
        math.sqrt(u1) * math.cos(2 * math.pi * u3),
    ])  # x, y, z, w
    return quat_to_matrix(q)


def project_coco(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) camera points (OpenCV axes, m) -> (N, 2) pixel coordinates in
    COCO's convention (pixel (r, c) covers [c, c+1] x [r, r+1]: OpenCV's
    u + 0.5). Points at or behind the camera are projected as if 1 nm in
    front of it."""
    z = np.where(points_cam[:, 2] > 1e-9, points_cam[:, 2], 1e-9)
    u = K[0, 0] * points_cam[:, 0] / z + K[0, 2]
    v = K[1, 1] * points_cam[:, 1] / z + K[1, 2]
    return np.stack([u + 0.5, v + 0.5], axis=1)
