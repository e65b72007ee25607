"""Grasps in PyBullet: trials with a free-floating parallel-jaw gripper, grasp
libraries made of tried antipodal candidates, and the grasps of a settled
scene, checked for collisions against it (their files, the cache and the run
folder's copies, are ``dropsynth.grasp_library``'s).

It drives PyBullet through a ``PhysicsWorld`` (``scenes/physics.py`` stays
the only module that imports pybullet).

A trial (as ACRONYM's, in a rigid-body simulator): the gripper hangs with its
approach axis pointing down; the object is placed so that the grasp pose
holds; gravity is off while the jaws close with the gripper's force; then
gravity comes on, the gripper lifts 10 cm and shakes (along the approach
axis, and twisting about it). The grasp succeeds when both fingers still
touch the object at the end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dropsynth import seeding
from dropsynth.assets.mesh import obj_parts, object_radius, prepare, primitive_mesh
from dropsynth.config import PhysicsConfig
from dropsynth.geometry import axis_angle, matrix_to_quat, pose
from dropsynth.grasps import Gripper, sample_antipodal
from dropsynth.scenes.physics import PhysicsWorld, collision_shape
from dropsynth.types import Asset, GraspLibrary, ObjectSpec, Primitive

HZ = 240
CLOSE_STEPS, LIFT_STEPS, SHAKE_STEPS = 120, 120, 240
LIFT_M = 0.10
SHAKE_M, SHAKE_RAD, SHAKE_HZ = 0.02, 0.35, 2.0
PENETRATION_M = 1e-3  # deeper than this counts as a collision (PyBullet's closest points are exact to ~0.1 mm)
# Trials run at fixed settings, spelled out so that a change of the scene
# physics defaults cannot change a cached library (bump GRASP_VERSION when
# these change).
TRIAL_PHYSICS = PhysicsConfig(time_step_s=1.0 / HZ, solver_iterations=50, rolling_friction=0.002,
                              spinning_friction=0.002)
# Gripper pose in trials: approach (+z) pointing down, high above anything.
WORLD_T_GRIPPER = np.array([[1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, -1.0, 1.0], [0, 0, 0, 1]])


@dataclass(frozen=True)
class TrialResult:
    success: bool
    reason: str  # "held" | "collision" | "missed" | "dropped"


def _gripper_body(world: PhysicsWorld, gripper: Gripper, mass_kg: float) -> int:
    """A gripper multibody: palm as the base, two fingers on prismatic joints
    along +x. Joint 0 (left, -x side) closes with q > 0, joint 1 (right) with
    q < 0; q = 0 is fully open."""
    pb, cid = world.pb, world.cid
    palm, left, right = gripper.boxes(gripper.max_opening_m)
    palm_shape = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=palm[0].tolist(),
                                         collisionFramePosition=palm[1].tolist(), physicsClientId=cid)
    finger = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=left[0].tolist(), physicsClientId=cid)
    body = pb.createMultiBody(
        mass_kg, palm_shape, -1, [0, 0, 5], [0, 0, 0, 1],
        linkMasses=[0.05, 0.05] if mass_kg > 0 else [0, 0], linkCollisionShapeIndices=[finger, finger],
        linkVisualShapeIndices=[-1, -1], linkPositions=[left[1].tolist(), right[1].tolist()],
        linkOrientations=[[0, 0, 0, 1]] * 2, linkInertialFramePositions=[[0, 0, 0]] * 2,
        linkInertialFrameOrientations=[[0, 0, 0, 1]] * 2, linkParentIndices=[0, 0],
        linkJointTypes=[pb.JOINT_PRISMATIC] * 2, linkJointAxis=[[1, 0, 0], [1, 0, 0]], physicsClientId=cid)
    half = gripper.max_opening_m / 2
    pb.changeDynamics(body, 0, jointLowerLimit=0.0, jointUpperLimit=half, lateralFriction=1.0, physicsClientId=cid)
    pb.changeDynamics(body, 1, jointLowerLimit=-half, jointUpperLimit=0.0, lateralFriction=1.0, physicsClientId=cid)
    return body


def _set_pose(world: PhysicsWorld, body: int, T: np.ndarray) -> None:
    world.pb.resetBasePositionAndOrientation(body, T[:3, 3].tolist(), matrix_to_quat(T[:3, :3]),
                                             physicsClientId=world.cid)


def _set_opening(world: PhysicsWorld, body: int, gripper: Gripper, opening_m: float) -> None:
    q = max(0.0, (gripper.max_opening_m - opening_m) / 2)
    world.pb.resetJointState(body, 0, q, physicsClientId=world.cid)
    world.pb.resetJointState(body, 1, -q, physicsClientId=world.cid)


def _penetrates(world: PhysicsWorld, a: int, b: int) -> bool:
    pts = world.pb.getClosestPoints(a, b, 0.0, physicsClientId=world.cid)
    return any(p[8] < -PENETRATION_M for p in pts)


class GraspTrials:
    """Runs grasp trials for one object in its own PyBullet client."""

    def __init__(self, gripper: Gripper):
        self.gripper = gripper
        self.cfg = TRIAL_PHYSICS
        self.world = PhysicsWorld()

    def close(self) -> None:
        self.world.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _setup(self, obj: ObjectSpec, gravity: bool) -> tuple[int, int]:
        w = self.world
        w._reset(self.cfg)
        w._inertial_T_obj = {}
        if not gravity:
            w.pb.setGravity(0, 0, 0, physicsClientId=w.cid)
        body = w.add_object(obj, self.cfg)
        grip = _gripper_body(w, self.gripper, 1.0)
        return body, grip

    def open_collisions(self, obj: ObjectSpec, obj_T_grasp: np.ndarray) -> np.ndarray:
        """(N,) bool: the fully open gripper at each pose penetrates the object
        (object at its own frame's origin)."""
        obj = ObjectSpec(obj.instance_id, obj.asset, np.eye(4), obj.primitive)
        body, grip = self._setup(obj, gravity=False)
        out = np.zeros(len(obj_T_grasp), dtype=bool)
        for i, T in enumerate(obj_T_grasp):
            _set_pose(self.world, grip, T)
            out[i] = _penetrates(self.world, grip, body)
        return out

    def trial(self, obj: ObjectSpec, obj_T_grasp: np.ndarray, friction_scale: float = 1.0,
              obj_delta: np.ndarray | None = None, world_T_gripper: np.ndarray | None = None) -> TrialResult:
        """Try one grasp. ``obj_delta`` (4, 4) perturbs the object's pose in
        its own frame; ``friction_scale`` multiplies its friction;
        ``world_T_gripper``: where the gripper hangs (default: approach
        straight down, 1 m up; keep the approach vertical)."""
        w, pb, cid, g = self.world, self.world.pb, self.world.cid, self.gripper
        G = WORLD_T_GRIPPER if world_T_gripper is None else np.asarray(world_T_gripper, dtype=np.float64)
        world_T_obj = G @ np.linalg.inv(obj_T_grasp)
        if obj_delta is not None:
            world_T_obj = world_T_obj @ obj_delta
        body, grip = self._setup(ObjectSpec(obj.instance_id, obj.asset, world_T_obj, obj.primitive), gravity=False)
        pb.changeDynamics(body, -1, lateralFriction=obj.asset.friction * friction_scale, physicsClientId=cid)
        _set_pose(w, grip, G)
        if _penetrates(w, grip, body):
            return TrialResult(False, "collision")
        pos0 = G[:3, 3]
        quat0 = matrix_to_quat(G[:3, :3])
        hold = pb.createConstraint(grip, -1, -1, -1, pb.JOINT_FIXED, [0, 0, 0], [0, 0, 0], pos0.tolist(),
                                   childFrameOrientation=quat0, physicsClientId=cid)
        pb.changeConstraint(hold, pos0.tolist(), quat0, maxForce=2000, physicsClientId=cid)
        half = g.max_opening_m / 2
        pb.setJointMotorControlArray(grip, [0, 1], pb.POSITION_CONTROL, targetPositions=[half, -half],
                                     forces=[g.force_n, g.force_n], physicsClientId=cid)
        for _ in range(CLOSE_STEPS):
            pb.stepSimulation(physicsClientId=cid)
        if not self._held(grip, body):
            return TrialResult(False, "missed")
        pb.setGravity(0, 0, -9.81, physicsClientId=cid)
        for k in range(1, LIFT_STEPS + 1):
            p = pos0 + np.array([0, 0, LIFT_M * k / LIFT_STEPS])
            pb.changeConstraint(hold, p.tolist(), quat0, maxForce=2000, physicsClientId=cid)
            pb.stepSimulation(physicsClientId=cid)
        top = pos0 + np.array([0, 0, LIFT_M])
        approach = G[:3, 2]
        for k in range(1, SHAKE_STEPS + 1):
            s = math.sin(2 * math.pi * SHAKE_HZ * k / HZ)
            p = top + approach * SHAKE_M * s
            r = axis_angle(approach, SHAKE_RAD * s) @ G[:3, :3]
            pb.changeConstraint(hold, p.tolist(), matrix_to_quat(r), maxForce=2000, physicsClientId=cid)
            pb.stepSimulation(physicsClientId=cid)
        return TrialResult(True, "held") if self._held(grip, body) else TrialResult(False, "dropped")

    def _held(self, grip: int, body: int) -> bool:
        pb, cid = self.world.pb, self.world.cid
        return all(pb.getContactPoints(grip, body, linkIndexA=link, physicsClientId=cid) for link in (0, 1))


class SceneGripper:
    """Collision checks of gripper poses against a settled scene, in the
    scene's own PyBullet world (call after ``PhysicsWorld.settle``)."""

    def __init__(self, world: PhysicsWorld, gripper: Gripper):
        self.world, self.gripper = world, gripper
        self.body = _gripper_body(world, gripper, 0.0)
        _set_opening(world, self.body, gripper, gripper.max_opening_m)
        self.reach_m = math.hypot(gripper.approach_offset_m + gripper.tip_m,
                                  gripper.max_opening_m / 2 + gripper.finger_thickness_m + gripper.palm_width_m / 2)

    def collisions(self, target: int, world_T_grasp: np.ndarray, radii: dict[int, float]) -> np.ndarray:
        """(N,) bool: the open gripper at each pose penetrates the table, a
        fixture or an object other than instance ``target``. ``radii``:
        instance_id -> bounding radius (m), to skip far objects."""
        w = self.world
        static = [w.table] + list(getattr(w, "fixture_bodies", []))
        centres = {iid: w.pb.getBasePositionAndOrientation(b, physicsClientId=w.cid)[0]
                   for iid, b in w.bodies.items() if iid != target}
        out = np.zeros(len(world_T_grasp), dtype=bool)
        for i, T in enumerate(world_T_grasp):
            _set_pose(w, self.body, T)
            mid = T[:3, 3] + T[:3, 2] * (self.gripper.approach_offset_m / 2)
            near = [w.bodies[iid] for iid, c in centres.items()
                    if np.linalg.norm(np.asarray(c) - mid) < self.reach_m + radii.get(iid, 0.3)]
            out[i] = any(_penetrates(w, self.body, b) for b in static + near)
        _set_pose(w, self.body, np.array([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 50.0], [0, 0, 0, 1]]))
        return out


# --- grasp libraries: candidates on a mesh, each tried -----------------------------------------------------------

@dataclass(frozen=True)
class LibraryParams:
    """How a library is made: candidates kept, perturbed trials per
    candidate, and the perturbations."""

    candidates: int = 64
    robust_trials: int = 4
    pose_noise_m: float = 0.005
    pose_noise_deg: float = 5.0
    friction_noise: float = 0.3


def params_from_config(gcfg, primitive: bool = False) -> LibraryParams:
    return LibraryParams(candidates=gcfg.primitive_candidates if primitive else gcfg.candidates,
                         robust_trials=0 if primitive else gcfg.robust_trials, pose_noise_m=gcfg.pose_noise_m,
                         pose_noise_deg=gcfg.pose_noise_deg, friction_noise=gcfg.friction_noise)


def object_mesh(asset: Asset, primitive: Primitive | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) vertices and (F, 3) faces of the surface grasps are sampled on,
    in the object's frame (centre of mass, metres): the collision hull when
    the object collides as one convex part, else the visual mesh."""
    import trimesh

    if primitive is not None:
        m = primitive_mesh(primitive)
    else:
        m = prepare(asset).visual
        shape = collision_shape(asset)
        if shape.parts == 1:
            # One convex collision part: physics sees that hull, not the visual's
            # thin walls and studs, so candidates are drawn on it.
            m = obj_parts(shape.obj_path)[0]
    # A fresh copy with consistent outward winding: the sampler reads inside and outside from it.
    m = trimesh.Trimesh(np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64), process=False)
    trimesh.repair.fix_normals(m)
    return np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64)


def _delta(rng: np.random.Generator, params: LibraryParams) -> np.ndarray:
    """A small random rigid motion: normal translation and a rotation about a
    random axis by a normal angle."""
    axis = rng.normal(size=3)
    angle = math.radians(params.pose_noise_deg) * rng.normal()
    return pose(axis_angle(axis, angle), rng.normal(size=3) * params.pose_noise_m)


def build(asset: Asset, gripper: Gripper, params: LibraryParams, rng: np.random.Generator,
          primitive: Primitive | None = None, trials=None,
          progress: Callable[[int], None] | None = None) -> GraspLibrary:
    """Sample ``params.candidates`` antipodal grasps that clear the object
    with the jaws fully open, try each (nominal + ``robust_trials``
    perturbed), and return the labelled library. ``trials``: a
    ``GraspTrials`` to reuse (one is made otherwise)."""
    own = trials is None
    trials = trials or GraspTrials(gripper)
    try:
        obj = ObjectSpec(1, asset, np.eye(4), primitive)
        vertices, faces = object_mesh(asset, primitive)
        T_parts, w_parts, c_parts = [], [], []
        need = params.candidates
        for _ in range(12):
            if need <= 0:
                break
            cand = sample_antipodal(vertices, faces, 3 * need, gripper, asset.friction, rng)
            if len(cand["width_m"]) == 0:
                continue
            clear = ~trials.open_collisions(obj, cand["obj_T_grasp"])
            idx = np.flatnonzero(clear)[:need]
            T_parts.append(cand["obj_T_grasp"][idx])
            w_parts.append(cand["width_m"][idx])
            c_parts.append(cand["contacts"][idx])
            need -= len(idx)
        T = np.concatenate(T_parts) if T_parts else np.zeros((0, 4, 4))
        width = np.concatenate(w_parts) if w_parts else np.zeros(0)
        contacts = np.concatenate(c_parts) if c_parts else np.zeros((0, 2, 3))
        n, k = len(T), params.robust_trials
        # All perturbations are drawn before any trial, so the library does
        # not depend on how trials are scheduled.
        deltas = [[_delta(rng, params) for _ in range(k)] for _ in range(n)]
        fscale = 1 + params.friction_noise * (2 * rng.random((n, k)) - 1)
        success = np.zeros(n, dtype=np.uint8)
        robust = np.zeros(n, dtype=np.float32)
        for i in range(n):
            ok = trials.trial(obj, T[i]).success
            wins = [ok] + [trials.trial(obj, T[i], float(fscale[i, j]), deltas[i][j]).success for j in range(k)]
            success[i] = ok
            robust[i] = np.float32(sum(wins) / len(wins))
            if progress is not None:
                progress(1)
        return GraspLibrary(asset.key, T, width, contacts, success, robust)
    finally:
        if own:
            trials.close()


# --- grasps in a settled scene --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SceneGrasps:
    """Every library grasp of every object left in a settled scene, in the
    world frame. instance_id (M,) int32; world_T_grasp (M, 4, 4); width_m
    (M,); success (M,) uint8; robust (M,) float32; collision_free (M,) uint8:
    the open gripper at that pose clears the table, the fixtures and the
    other objects."""

    instance_id: np.ndarray
    world_T_grasp: np.ndarray
    width_m: np.ndarray
    success: np.ndarray
    robust: np.ndarray
    collision_free: np.ndarray


class SceneGraspLabeler:
    """Grasps of a settled scene's objects, made on demand: an object's
    library is placed at its settled pose and every grasp is checked against
    the rest of the scene in ``world`` (the PhysicsWorld that settled it,
    still loaded). Only objects that some view annotates are ever labelled,
    so a primitive's own library (primitives vary in size per instance) is
    built only when needed, from the stream ``grasps`` of (seed, scene,
    instance id): the result does not depend on which view asks first.
    Distractors are obstacles here, never labelled."""

    def __init__(self, world, settled, libraries: dict[str, GraspLibrary], gripper: Gripper, gcfg, seed: int,
                 trials=None, skip_assets: frozenset = frozenset()):
        self.world, self.settled, self.libraries, self.gripper = world, settled, libraries, gripper
        self.gcfg, self.seed, self.trials, self.skip = gcfg, seed, trials, skip_assets
        self.objs = {o.instance_id: o for o in settled.objects()}
        self.radii = {i: object_radius(o.asset, o.primitive) for i, o in self.objs.items()}
        self.checker = SceneGripper(world, gripper)
        self._done: dict[int, tuple] = {}

    def _label(self, iid: int) -> tuple | None:
        o = self.objs.get(iid)
        if o is None or not getattr(o, "annotate", True) or o.asset.key in self.skip:
            return None
        if o.primitive is not None:
            rng = seeding.view_rng(self.seed, self.settled.spec.scene_index, iid, "grasps")
            lib = build(o.asset, self.gripper, params_from_config(self.gcfg, primitive=True), rng,
                        primitive=o.primitive, trials=self.trials)
        else:
            lib = self.libraries.get(o.asset.key)
            if lib is None:
                return None
        W = self.settled.poses[iid] @ lib.obj_T_grasp
        free = ~self.checker.collisions(iid, W, self.radii)
        return (np.full(len(W), iid, dtype=np.int32), W, lib.width_m, lib.success, lib.robust, free.astype(np.uint8))

    def grasps(self, instance_ids) -> SceneGrasps:
        """The grasps of these objects (in instance-id order)."""
        parts = []
        for iid in sorted(int(i) for i in instance_ids):
            if iid not in self._done:
                self._done[iid] = self._label(iid)
            if self._done[iid] is not None:
                parts.append(self._done[iid])
        if not parts:
            return SceneGrasps(np.zeros(0, np.int32), np.zeros((0, 4, 4)), np.zeros(0), np.zeros(0, np.uint8),
                               np.zeros(0, np.float32), np.zeros(0, np.uint8))
        return SceneGrasps(*[np.concatenate(c) for c in zip(*parts)])

