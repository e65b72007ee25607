"""Parallel-jaw grasps: the gripper model, antipodal candidate sampling on a
mesh, and projection of 6-DoF grasps to planar rectangles. Pure numpy.

Conventions (see ``../shared/GRASPS.md``): metres; the gripper frame has +z
the approach direction and +x the closing axis (as ACRONYM and
Contact-GraspNet), its origin at the hand's base, and the grasp centre (the
midpoint between the two contacts) at ``(0, 0, approach_offset_m)``. A grasp
is ``obj_T_grasp`` (4, 4) float64. Planar rectangles are
``[cx, cy, theta, opening_px, jaw_px]`` in COCO pixel coordinates (pixel
(i, j) covers x in [j, j+1), y in [i, i+1)); theta in radians,
counter-clockwise on screen, in [-pi/2, pi/2).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from dropsynth.geometry import project_coco

GRASP_VERSION = "grasps-4"  # bump to invalidate cached grasp libraries


@dataclass(frozen=True)
class Gripper:
    """A parallel-jaw gripper made of three boxes: a palm and two fingers.

    Defaults follow a Franka Emika hand: 80 mm stroke, fingertip centre
    103.4 mm from the flange (ACRONYM's value), 20 mm wide pads. The grip
    force is 20 N, below the Franka's 70 N: PyBullet's stiff contacts eject
    light objects from a 70 N pinch (measured: a 20 g block is held in 9 of
    29 trials at 70 N, 23 of 29 at 20 N).
    """

    max_opening_m: float = 0.08
    finger_depth_m: float = 0.045  # finger length along the approach axis
    finger_width_m: float = 0.02  # pad width across the closing axis (y)
    finger_thickness_m: float = 0.012  # along the closing axis (x)
    approach_offset_m: float = 0.1034  # origin -> grasp centre along +z
    tip_m: float = 0.01  # how far the fingertips reach past the grasp centre
    palm_width_m: float = 0.06  # palm extent along y
    force_n: float = 20.0  # grip force per finger

    @property
    def finger_base_z(self) -> float:
        """z of the fingers' root (the palm's face)."""
        return self.approach_offset_m + self.tip_m - self.finger_depth_m

    def boxes(self, opening_m: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """The gripper's boxes with the jaws ``opening_m`` apart, in the
        gripper frame: [(half_extents (3,), centre (3,))] for palm, left
        finger (-x) and right finger (+x)."""
        t, zc = self.finger_thickness_m, self.approach_offset_m + self.tip_m - self.finger_depth_m / 2
        palm_x = self.max_opening_m + 2 * t
        zb = self.finger_base_z
        palm = (np.array([palm_x / 2, self.palm_width_m / 2, zb / 2]), np.array([0.0, 0.0, zb / 2]))
        half = np.array([t / 2, self.finger_width_m / 2, self.finger_depth_m / 2])
        left = (half, np.array([-(opening_m / 2 + t / 2), 0.0, zc]))
        right = (half.copy(), np.array([opening_m / 2 + t / 2, 0.0, zc]))
        return [palm, left, right]

    def as_dict(self) -> dict:
        return asdict(self)


def gripper_from_config(gcfg, source: str = "config") -> Gripper:
    """A Gripper from the config's ``grasps`` section; ConfigError when its
    parts do not fit together (``source`` names the config in the message)."""
    from dropsynth.errors import ConfigError

    if gcfg.finger_depth_m >= gcfg.approach_offset_m + 0.01:
        raise ConfigError(f"{source}: grasps.finger_depth_m: {gcfg.finger_depth_m} m leaves no room for the palm: it "
                          f"must be less than grasps.approach_offset_m + 0.01 ({gcfg.approach_offset_m + 0.01:g} m)")
    if gcfg.max_opening_m <= 0.006 + 1e-9:
        raise ConfigError(f"{source}: grasps.max_opening_m: {gcfg.max_opening_m} m is too small: grasps need a span "
                          f"of at least 2 mm plus 4 mm of clearance (more than 0.006 m)")
    return Gripper(max_opening_m=gcfg.max_opening_m, finger_depth_m=gcfg.finger_depth_m,
                   finger_width_m=gcfg.finger_width_m, finger_thickness_m=gcfg.finger_thickness_m,
                   approach_offset_m=gcfg.approach_offset_m, palm_width_m=gcfg.palm_width_m, force_n=gcfg.force_n)


# --- antipodal sampling -----------------------------------------------------------------------------------------

def _surface_points(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator):
    """Area-weighted random points on a triangle mesh: (n, 3) points and the
    (n,) face index of each."""
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    face = rng.choice(len(faces), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[face]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0]), face


def ray_hits(vertices: np.ndarray, faces: np.ndarray, origins: np.ndarray, dirs: np.ndarray,
             t_min: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """First hit of each ray with the mesh (Moller-Trumbore, both sides of
    each triangle): (R,) distance (inf where none) and (R,) face index (-1)."""
    tri = vertices[faces]
    v0, e1, e2 = tri[:, 0], tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    best_t = np.full(len(origins), np.inf)
    best_f = np.full(len(origins), -1, dtype=np.int64)
    chunk = max(1, 2_000_000 // max(1, len(faces)))
    for s in range(0, len(origins), chunk):
        o, d = origins[s:s + chunk, None, :], dirs[s:s + chunk, None, :]
        p = np.cross(d, e2[None])
        det = np.einsum("rfk,fk->rf", p, e1)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        tv = o - v0[None]
        u = np.einsum("rfk,rfk->rf", tv, p) * inv
        q = np.cross(tv, e1[None])
        v = np.einsum("rfk,rfk->rf", d, q) * inv
        t = np.einsum("fk,rfk->rf", e2, q) * inv
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > t_min)
        t = np.where(hit, t, np.inf)
        f = np.argmin(t, axis=1)
        tt = t[np.arange(len(f)), f]
        best_t[s:s + chunk] = tt
        best_f[s:s + chunk] = np.where(np.isfinite(tt), f, -1)
    return best_t, best_f


def _orthonormal(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing each row of ``x`` (N, 3) to a basis."""
    a = np.where(np.abs(x[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
    u = np.cross(x, a)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u, np.cross(x, u)


def grasp_frames(centres: np.ndarray, closing: np.ndarray, approach_angle: np.ndarray,
                 offset_m: float) -> np.ndarray:
    """Gripper poses (N, 4, 4) whose grasp centre is ``centres`` (N, 3), +x
    along ``closing`` (N, 3, unit) and +z rotated by ``approach_angle`` (N,)
    rad about it."""
    u, v = _orthonormal(closing)
    z = np.cos(approach_angle)[:, None] * u + np.sin(approach_angle)[:, None] * v
    y = np.cross(z, closing)
    T = np.tile(np.eye(4), (len(centres), 1, 1))
    T[:, :3, 0], T[:, :3, 1], T[:, :3, 2] = closing, y, z
    T[:, :3, 3] = centres - z * offset_m
    return T


def sample_antipodal(vertices: np.ndarray, faces: np.ndarray, n: int, gripper: Gripper, friction: float,
                     rng: np.random.Generator, min_width_m: float = 0.002) -> dict:
    """Antipodal grasp candidates on a mesh (object frame, metres).

    A surface point p1 is drawn by area; the closing direction d is drawn in
    the friction cone about its inward normal; the ray from p1 along d finds
    p2 where it leaves the solid. The pair is kept when d also lies within the
    friction cone of p2's outward normal and the jaw span fits the gripper.
    The approach direction is drawn uniformly around the closing axis.

    Returns ``obj_T_grasp`` (M, 4, 4), ``width_m`` (M,), ``contacts``
    (M, 2, 3), M <= n (fewer when the mesh offers few antipodal pairs).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tri = vertices[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-18)
    cone = math.atan(max(friction, 1e-3))
    kept_T, kept_w, kept_c = [], [], []
    need, rounds, empty = n, 0, 0
    # An object with no antipodal pair that fits the jaws (too big, too flat) gives up after a few empty rounds.
    while need > 0 and rounds < 20 and empty < 3:
        rounds += 1
        m = max(64, 4 * need)
        p1, f1 = _surface_points(vertices, faces, m, rng)
        inward = -normals[f1]
        # A direction within the cone: tilt the inward normal by an angle whose
        # cosine is uniform over the cap, about a random azimuth.
        cos_t = 1 - rng.random(m) * (1 - math.cos(cone))
        sin_t = np.sqrt(np.maximum(0.0, 1 - cos_t ** 2))
        phi = rng.random(m) * 2 * math.pi
        u, v = _orthonormal(inward)
        d = cos_t[:, None] * inward + sin_t[:, None] * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v)
        t, f2 = ray_hits(vertices, faces, p1 + d * 1e-5, d)
        approach = rng.random(m) * 2 * math.pi
        ok = np.isfinite(t) & (t >= min_width_m) & (t <= gripper.max_opening_m - 0.004)
        ok[ok] &= np.einsum("ij,ij->i", normals[f2[ok]], d[ok]) >= math.cos(cone)
        idx = np.flatnonzero(ok)[:need]
        if len(idx) == 0:
            empty += 1
            continue
        empty = 0
        p2 = p1[idx] + d[idx] * t[idx, None]
        kept_T.append(grasp_frames((p1[idx] + p2) / 2, d[idx], approach[idx], gripper.approach_offset_m))
        kept_w.append(t[idx])
        kept_c.append(np.stack([p1[idx], p2], axis=1))
        need -= len(idx)
    if not kept_T:
        return {"obj_T_grasp": np.zeros((0, 4, 4)), "width_m": np.zeros(0), "contacts": np.zeros((0, 2, 3))}
    return {"obj_T_grasp": np.concatenate(kept_T), "width_m": np.concatenate(kept_w),
            "contacts": np.concatenate(kept_c)}


# --- frames and projection ----------------------------------------------------------------------------------------

def grasp_centres(T: np.ndarray, gripper: Gripper) -> np.ndarray:
    """(N, 3) grasp centres of poses ``T`` (N, 4, 4) in the poses' frame."""
    return T[:, :3, 3] + T[:, :3, 2] * gripper.approach_offset_m


def planar_rects(cam_T_grasp: np.ndarray, width_m: np.ndarray, K: np.ndarray, gripper: Gripper,
                 max_angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Planar rectangles of the grasps whose approach lies within
    ``max_angle_deg`` of the optical axis (pointing away from the camera).

    Returns (K, 5) float64 ``[cx, cy, theta, opening_px, jaw_px]`` (COCO
    pixel coordinates, theta CCW on screen in [-pi/2, pi/2)) and the (K,)
    indices of the grasps they come from. opening_px is the projected
    distance between the two contacts; jaw_px the finger width at the grasp
    centre's depth.
    """
    if len(cam_T_grasp) == 0:
        return np.zeros((0, 5)), np.zeros(0, dtype=np.int64)
    cosang = cam_T_grasp[:, 2, 2]  # approach z . optical axis z
    c = grasp_centres(cam_T_grasp, gripper)
    keep = np.flatnonzero((cosang >= math.cos(math.radians(max_angle_deg))) & (c[:, 2] > 1e-3))
    if len(keep) == 0:
        return np.zeros((0, 5)), keep
    c, x, w = c[keep], cam_T_grasp[keep, :3, 0], width_m[keep]
    p1 = c - x * (w / 2)[:, None]
    p2 = c + x * (w / 2)[:, None]

    q, q1, q2 = project_coco(c, K), project_coco(p1, K), project_coco(p2, K)
    dx, dy = q2[:, 0] - q1[:, 0], q2[:, 1] - q1[:, 1]
    theta = np.arctan2(-dy, dx)  # y points down: counter-clockwise on screen is -dy
    theta = (theta + math.pi / 2) % math.pi - math.pi / 2  # a jaw is symmetric: fold into [-pi/2, pi/2)
    opening = np.hypot(dx, dy)
    jaw = gripper.finger_width_m * 0.5 * (K[0, 0] + K[1, 1]) / c[:, 2]
    rects = np.stack([q[:, 0], q[:, 1], theta, opening, jaw], axis=1)
    return rects, keep


def library_key(mesh_digest: str, gripper: Gripper, params: dict) -> str:
    """Cache key of a grasp library: mesh content, gripper and sampling/trial
    parameters."""
    import hashlib
    import json

    desc = {"v": GRASP_VERSION, "mesh": mesh_digest, "gripper": gripper.as_dict(), "params": params}
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:32]


def view_grasps(sg, world_T_cam: np.ndarray, K: np.ndarray, instance_ids: np.ndarray, annotated, gripper: Gripper,
                max_angle_deg: float) -> dict:
    """One camera view's grasp labels, as the per-frame sidecar stores them.

    ``sg``: the scene's grasps (``grasp_library.SceneGrasps``);
    ``instance_ids``: (H, W) instance image; ``annotated``: the instance ids
    annotated in this frame. 6-DoF arrays cover the annotated objects'
    grasps; rectangles are made for those that held in simulation, clear the
    scene, approach within ``max_angle_deg`` of the optical axis, and whose
    centre pixel shows their own object. Rectangles are ordered by object,
    then best robust rate first.
    """
    sel = np.flatnonzero(np.isin(sg.instance_id, np.asarray(sorted(annotated), dtype=np.int64)))
    cam_T = np.linalg.inv(world_T_cam)[None] @ sg.world_T_grasp[sel]
    iid, width = sg.instance_id[sel], sg.width_m[sel]
    success, robust, free = sg.success[sel], sg.robust[sel], sg.collision_free[sel]
    good = np.flatnonzero((success > 0) & (free > 0))
    rects, keep = planar_rects(cam_T[good], width[good], K, gripper, max_angle_deg)
    idx = good[keep]
    h, w = instance_ids.shape
    if len(idx):
        col, row = np.floor(rects[:, 0]).astype(np.int64), np.floor(rects[:, 1]).astype(np.int64)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        on = np.zeros(len(idx), dtype=bool)
        on[inside] = instance_ids[row[inside], col[inside]] == iid[idx[inside]]
        rects, idx = rects[on], idx[on]
        order = np.lexsort((idx, -robust[idx], iid[idx]))
        rects, idx = rects[order], idx[order]
    return {"cam_T_grasp": cam_T, "instance_id": iid.astype(np.int32), "width_m": width.astype(np.float32),
            "success": success.astype(np.uint8), "robust": robust.astype(np.float32),
            "collision_free": free.astype(np.uint8), "rects": rects.astype(np.float32),
            "rect_index": idx.astype(np.int32), "rect_instance_id": iid[idx].astype(np.int32)}
