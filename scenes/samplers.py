"""Samplers for poses, cameras and lights. Each takes an explicit rng."""
from __future__ import annotations

import math

import numpy as np

from dropsynth.config import CameraConfig, LightConfig
# pose, quat_to_matrix and random_rotation are imported from here by the builders and tests.
from dropsynth.geometry import pose, quat_to_matrix, random_rotation, rot_z  # noqa: F401
from dropsynth.types import CameraSpec, LightSpec


def look_at_opencv(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """world_T_cam (4, 4) for a camera at ``eye`` looking at ``target``,
    OpenCV axes (x right, y down, z forward), image "up" along ``up``."""
    eye = np.asarray(eye, dtype=np.float64)
    f = np.asarray(target, dtype=np.float64) - eye
    f /= np.linalg.norm(f)
    r = np.cross(f, up)
    if np.linalg.norm(r) < 1e-6:  # looking straight along `up`: any right vector will do
        r = np.cross(f, (0.0, 1.0, 0.0))
    r /= np.linalg.norm(r)
    d = np.cross(f, r)
    return pose(np.stack([r, d, f], axis=1), eye)


def intrinsics(cfg: CameraConfig) -> np.ndarray:
    """(3, 3) K from fx/fy/cx/cy, or from the vertical field of view."""
    w, h = cfg.width, cfg.height
    if cfg.fx is not None:
        fx, fy = cfg.fx, cfg.fy
    else:
        fy = 0.5 * h / math.tan(math.radians(cfg.fov_y_deg) / 2)
        fx = fy
    cx = cfg.cx if cfg.cx is not None else w / 2.0
    cy = cfg.cy if cfg.cy is not None else h / 2.0
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _shell_point(rng, distance, elevation_deg, azimuth_deg):
    d = rng.uniform(*distance)
    el = math.radians(rng.uniform(*elevation_deg))
    az = math.radians(rng.uniform(*azimuth_deg))
    return d * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


def sample_camera(cfg: CameraConfig, rng: np.random.Generator, center=(0.0, 0.0, 0.0)) -> CameraSpec:
    """A camera on a shell around ``center`` looking at a jittered point,
    rolled about its optical axis, with jittered intrinsics; or the fixed
    calibrated camera when ``cfg.fixed_K`` is set."""
    if cfg.fixed_K is not None:
        return CameraSpec(K=np.array(cfg.fixed_K, dtype=np.float64).reshape(3, 3), width=cfg.width,
                          height=cfg.height, world_T_cam=np.array(cfg.fixed_world_T_cam, dtype=np.float64).reshape(4, 4),
                          znear_m=cfg.znear_m, zfar_m=cfg.zfar_m)
    jitter = rng.normal(size=3)
    jitter *= cfg.look_at_jitter_m * rng.random() ** (1 / 3) / max(np.linalg.norm(jitter), 1e-12)
    target = np.asarray(center, dtype=np.float64) + jitter
    eye = target + _shell_point(rng, cfg.distance_m, cfg.elevation_deg, cfg.azimuth_deg)
    world_T_cam = look_at_opencv(eye, target)
    K = intrinsics(cfg)
    # Later draws only when asked for, so that default runs keep their frames.
    if cfg.roll_deg != (0.0, 0.0):
        world_T_cam[:3, :3] = world_T_cam[:3, :3] @ rot_z(math.radians(rng.uniform(*cfg.roll_deg)))
    if cfg.focal_jitter > 0:
        K[0, 0] *= 1.0 + rng.uniform(-cfg.focal_jitter, cfg.focal_jitter)
        K[1, 1] *= 1.0 + rng.uniform(-cfg.focal_jitter, cfg.focal_jitter)
    if cfg.principal_jitter_px > 0:
        K[0, 2] += rng.uniform(-cfg.principal_jitter_px, cfg.principal_jitter_px)
        K[1, 2] += rng.uniform(-cfg.principal_jitter_px, cfg.principal_jitter_px)
    return CameraSpec(K=K, width=cfg.width, height=cfg.height, world_T_cam=world_T_cam, znear_m=cfg.znear_m,
                      zfar_m=cfg.zfar_m)


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Approximate RGB (0..1) of a black body at ``kelvin`` (Tanner Helland's fit)."""
    t = kelvin / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    return tuple(min(max(c / 255.0, 0.0), 1.0) for c in (r, g, b))


def sample_lights(cfg: LightConfig, rng: np.random.Generator) -> tuple[tuple[LightSpec, ...], tuple]:
    """Lights above the table and the ambient RGB level."""
    n = int(rng.integers(cfg.count[0], cfg.count[1] + 1))
    lights = []
    for _ in range(n):
        kind = cfg.kinds[int(rng.integers(len(cfg.kinds)))]
        pos = _shell_point(rng, cfg.distance_m, cfg.elevation_deg, (0.0, 360.0))
        # pyrender lights shine along their -z axis: point -z at the table centre.
        gl_pose = look_at_opencv(pos, np.zeros(3)) @ np.diag([1.0, -1.0, -1.0, 1.0])
        color = kelvin_to_rgb(rng.uniform(*cfg.color_temperature_k))
        rng_int = cfg.directional_intensity if kind == "directional" else cfg.point_intensity
        lights.append(LightSpec(kind=kind, world_T_light=gl_pose, color=color,
                                intensity=float(rng.uniform(*rng_int))))
    amb = float(rng.uniform(*cfg.ambient))
    return tuple(lights), (amb, amb, amb)
