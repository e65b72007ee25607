"""Grasps in PyBullet: trials with a free-floating parallel-jaw gripper, and
collision checks of gripper poses against a settled scene.

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

import numpy as np

from dropsynth.config import PhysicsConfig
from dropsynth.grasps import Gripper
from dropsynth.scenes.physics import PhysicsWorld, matrix_to_quat
from dropsynth.types import ObjectSpec

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


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


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
            r = _rotation(approach, SHAKE_RAD * s) @ G[:3, :3]
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
