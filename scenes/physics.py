"""PyBullet physics: drop a SceneSpec's objects and simulate until at rest.

The only module that imports pybullet. Every call passes ``physicsClientId``
so several worlds can live in one process.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

from dropsynth.assets.mesh import CollisionShape, object_mass, prepare
from dropsynth.assets.mesh import collision_shape as _collision_shape
from dropsynth.config import PhysicsConfig
from dropsynth.geometry import matrix_to_quat, pose, quat_to_matrix, rot_z
from dropsynth.types import ObjectSpec, SceneSpec, SettledScene

log = logging.getLogger(__name__)

FALL_Z_M = -0.05  # an object whose centre drops this far below the table top has left the table
TABLE_FRICTION = 0.7
CALM_DAMPING = 0.9  # Bullet's damping: velocity x (1 - d)^dt per step, 1% less per step at 240 Hz


def _connect_quietly():
    """Import pybullet and connect(DIRECT) without the "pybullet build time"
    banner that its C code writes to stderr (it would break the progress bar
    and clutter logs of long runs)."""
    import os
    import sys

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr: nothing to protect
        import pybullet as pb

        return pb, pb.connect(pb.DIRECT)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import pybullet as pb

            cid = pb.connect(pb.DIRECT)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return pb, cid


class PhysicsWorld:
    """A PyBullet DIRECT client, reset for every scene (reuse one per process)."""

    def __init__(self):
        self.pb, self.cid = _connect_quietly()
        self.bodies: dict[int, int] = {}  # instance_id -> body id of the objects in the world now
        self._inertial_T_obj: dict[int, np.ndarray] = {}
        self._mesh_shapes: dict[str, int] = {}  # collision OBJ -> shape id, until the next reset

    def close(self) -> None:
        if self.cid is not None and self.pb.isConnected(physicsClientId=self.cid):
            self.pb.disconnect(physicsClientId=self.cid)
        self.cid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- building -------------------------------------------------------------

    def _reset(self, cfg: PhysicsConfig) -> None:
        pb, cid = self.pb, self.cid
        pb.resetSimulation(physicsClientId=cid)
        self._mesh_shapes = {}
        pb.setGravity(0, 0, -9.81, physicsClientId=cid)
        # Same inputs -> same contacts, whatever ran in this client before.
        pb.setPhysicsEngineParameter(fixedTimeStep=cfg.time_step_s, deterministicOverlappingPairs=1,
                                     numSolverIterations=cfg.solver_iterations, physicsClientId=cid)

    def _collision_shape(self, obj: ObjectSpec) -> int:
        pb, cid = self.pb, self.cid
        p = obj.primitive
        if p is not None:
            if p.kind == "box":
                return pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[s / 2 for s in p.size_m],
                                               physicsClientId=cid)
            if p.kind == "cylinder":
                return pb.createCollisionShape(pb.GEOM_CYLINDER, radius=p.size_m[0], height=p.size_m[1],
                                               physicsClientId=cid)
            return pb.createCollisionShape(pb.GEOM_SPHERE, radius=p.size_m[0], physicsClientId=cid)
        # Each 'o' group of the OBJ becomes one convex hull of a compound shape;
        # the parts are already in the object's centre-of-mass frame, in metres.
        # Objects of one asset in a scene share it (parsing the OBJ again cost
        # about 1 ms per object; resetSimulation frees the shapes).
        path = collision_shape(obj.asset).obj_path
        shape = self._mesh_shapes.get(path)
        if shape is None:
            shape = self._mesh_shapes[path] = pb.createCollisionShape(pb.GEOM_MESH, fileName=path,
                                                                      physicsClientId=cid)
        return shape

    def add_object(self, obj: ObjectSpec, cfg: PhysicsConfig) -> int:
        """Add one dynamic object at ``obj.world_T_obj``; returns its body id."""
        pb, cid = self.pb, self.cid
        shape = self._collision_shape(obj)
        t = obj.world_T_obj
        mass = object_mass(obj.asset, obj.primitive)
        extra = {}
        if obj.primitive is None:
            # Inertia from the mesh: principal axes as the inertial frame, moments on its diagonal.
            prep = prepare(obj.asset)
            extra = {"baseInertialFramePosition": [0.0, 0.0, 0.0],
                     "baseInertialFrameOrientation": matrix_to_quat(prep.inertia_R)}
        # Maximal coordinates (a btRigidBody, not a one-link btMultiBody):
        # measured 15% less time per step on the standard scene, and
        # shallower contacts (deepest 0.1 mm instead of 0.6 mm).
        body = pb.createMultiBody(mass, shape, -1, t[:3, 3].tolist(), matrix_to_quat(t[:3, :3]),
                                  useMaximalCoordinates=True, physicsClientId=cid, **extra)
        dyn = {}
        if obj.primitive is None:
            dyn["localInertiaDiagonal"] = (mass * prep.inertia_diag).tolist()
            dyn["mass"] = mass  # without it PyBullet zeroes a maximal-coordinate body's mass (NaN poses)
            self._inertial_T_obj[body] = pose(prep.inertia_R.T, (0.0, 0.0, 0.0))
        pb.changeDynamics(body, -1, lateralFriction=obj.asset.friction, restitution=obj.asset.restitution,
                          rollingFriction=cfg.rolling_friction, spinningFriction=cfg.spinning_friction,
                          contactProcessingThreshold=0.0, physicsClientId=cid, **dyn)
        return body

    def load(self, spec: SceneSpec, cfg: PhysicsConfig) -> dict[int, int]:
        """Reset the world and add the table and the scene's objects at their
        spawn poses; returns instance_id -> body id."""
        pb, cid = self.pb, self.cid
        self._reset(cfg)
        sx, sy, sz = spec.table_size_m
        table = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[sx / 2, sy / 2, sz / 2], physicsClientId=cid)
        self.table = pb.createMultiBody(0, table, -1, [0, 0, -sz / 2], physicsClientId=cid)
        pb.changeDynamics(self.table, -1, lateralFriction=TABLE_FRICTION, physicsClientId=cid)
        self.fixture_bodies = []
        for fx in spec.fixtures:
            shape = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[v / 2 for v in fx.size_m], physicsClientId=cid)
            body = pb.createMultiBody(0, shape, -1, fx.world_T[:3, 3].tolist(), matrix_to_quat(fx.world_T[:3, :3]),
                                      physicsClientId=cid)
            pb.changeDynamics(body, -1, lateralFriction=TABLE_FRICTION, physicsClientId=cid)
            self.fixture_bodies.append(body)
        bodies = {}
        self._inertial_T_obj = {}
        for obj in spec.objects:
            bodies[obj.instance_id] = self.add_object(obj, cfg)
        self.bodies = dict(bodies)
        return bodies

    def poses(self, bodies: dict[int, int]) -> dict[int, np.ndarray]:
        """instance_id -> world_T_obj. PyBullet reports the inertial frame's
        pose; the object frame differs from it by the principal-axes rotation."""
        out = {}
        for iid, body in bodies.items():
            pos, quat = self.pb.getBasePositionAndOrientation(body, physicsClientId=self.cid)
            t = pose(quat_to_matrix(quat), pos)
            fix = self._inertial_T_obj.get(body)
            out[iid] = t if fix is None else t @ fix
        return out

    # -- simulating -----------------------------------------------------------

    def settle(self, spec: SceneSpec, cfg: PhysicsConfig, seed: int | None = None) -> SettledScene:
        """Drop the objects and step until every one has stayed at rest for
        ``cfg.hold_steps`` steps, or ``cfg.max_steps`` is reached. Objects
        that fall off the table are removed as soon as they do.

        A scene still moving at the cap (a body that jitters, creeps or rocks
        on its contacts) gets ``cfg.calm_steps`` more under the calming rule
        (``_calm``); if that fails too and ``seed`` is given, it is dropped
        again, up to ``cfg.redraws`` times, with every object turned about
        the vertical by an angle from the scene's "resettle" stream (same
        spawn points, so still collision-free; a stack keeps its flat sides
        down). Scenes at rest before the cap are never touched by either.
        """
        st = self._settle(spec, cfg)
        if st.at_rest or seed is None or cfg.redraws == 0:
            return st
        from dropsynth import seeding

        rng = seeding.scene_rng(seed, spec.scene_index, "resettle")
        for k in range(1, cfg.redraws + 1):
            objs = []
            for o in spec.objects:
                rz = rot_z(float(rng.uniform(0.0, 2 * np.pi)))
                objs.append(dataclasses.replace(o, world_T_obj=pose(rz @ o.world_T_obj[:3, :3], o.world_T_obj[:3, 3])))
            st = self._settle(dataclasses.replace(spec, objects=tuple(objs)), cfg)
            if st.at_rest:
                log.info("scene %d: at rest after %d redraw(s)", spec.scene_index, k)
                return dataclasses.replace(st, settled_by="redrawn", redraws=k)
        return dataclasses.replace(st, redraws=cfg.redraws)

    def _settle(self, spec: SceneSpec, cfg: PhysicsConfig) -> SettledScene:
        pb, cid = self.pb, self.cid
        bodies = self.load(spec, cfg)
        hx, hy = [v / 2 for v in (spec.workspace_m or spec.table_size_m[:2])]
        lin2, ang2 = cfg.lin_vel_tol_m_s ** 2, cfg.ang_vel_tol_rad_s ** 2
        removed = []
        calm = 0
        steps = 0
        at_rest = not bodies
        # The rest check runs after every step for every body: PyBullet's calls
        # positional and the body list rebuilt only when one falls (about a
        # tenth of the settle time, outside stepSimulation, before).
        step, velocity, where = pb.stepSimulation, pb.getBaseVelocity, pb.getBasePositionAndOrientation
        items = list(bodies.items())
        while steps < cfg.max_steps and bodies:
            step(cid)
            steps += 1
            still = True
            fell = False
            for iid, body in items:
                (vx, vy, vz), (wx, wy, wz) = velocity(body, cid)  # unpacked: no index per component
                if vx * vx + vy * vy + vz * vz > lin2 or wx * wx + wy * wy + wz * wz > ang2:
                    still = False
                    if where(body, cid)[0][2] < FALL_Z_M:
                        self._remove(iid, body, bodies, removed)
                        fell = True
            if fell:
                items = list(bodies.items())
            calm = calm + 1 if still else 0
            if calm >= cfg.hold_steps:
                at_rest = True
                break
        settled_by = ""
        if not at_rest and bodies and cfg.calm_steps > 0:
            extra, at_rest = self._calm(spec, bodies, cfg, removed)
            steps += extra
            settled_by = "calmed" if at_rest else ""
        if not bodies:
            at_rest = True
        poses = self.poses(bodies)
        # Anything resting outside the workspace (off the table, caught on its edge, or
        # outside a bin's walls) is removed and counted.
        for iid, t in list(poses.items()):
            x, y, z = t[:3, 3]
            if abs(x) > hx or abs(y) > hy or z < FALL_Z_M:
                del poses[iid]
                removed.append(iid)
                self.pb.removeBody(bodies.pop(iid), physicsClientId=cid)
                self.bodies.pop(iid, None)
        if not at_rest:
            log.warning("scene %d: objects still moving after %d steps", spec.scene_index, steps)
        return SettledScene(spec=spec, poses=poses, removed=tuple(sorted(removed)), steps=steps, at_rest=at_rest,
                            settled_by=settled_by)

    def _remove_if_fallen(self, iid: int, body: int, bodies: dict, removed: list) -> None:
        pos = self.pb.getBasePositionAndOrientation(body, physicsClientId=self.cid)[0]
        if pos[2] < FALL_Z_M:
            self._remove(iid, body, bodies, removed)

    def _remove(self, iid: int, body: int, bodies: dict, removed: list) -> None:
        self.pb.removeBody(body, physicsClientId=self.cid)
        del bodies[iid]
        self.bodies.pop(iid, None)
        removed.append(iid)

    def _calm(self, spec: SceneSpec, bodies: dict, cfg: PhysicsConfig, removed: list) -> tuple[int, bool]:
        """The calming rule, for a scene still moving at the cap. Why scenes
        get stuck (measured on the standard job's stack, clutter and bin
        scenes): Bullet's rolling friction acts at every contact point, and on
        a box or mesh lying on several of them it leaves a residual spin that
        the solver re-adds each step (a rod or jenga block rocking at 0.1
        rad/s on the floor, going nowhere); a body wedged between two others
        creeps at a few mm/s. The rule: no rolling friction except on spheres
        and cylinders, linear and angular damping ``CALM_DAMPING``, and rest
        measured as the fastest point of each body (|v| + |w| r, r: half the
        diagonal of its bounding box) below ``lin_vel_tol_m_s``, for
        ``hold_steps`` steps. Returns (steps taken, at rest)."""
        pb, cid = self.pb, self.cid
        round_ = {o.instance_id for o in spec.objects if o.primitive is not None
                  and o.primitive.kind in ("sphere", "cylinder")}
        radius = {}
        for iid, body in bodies.items():
            lo, hi = pb.getAABB(body, physicsClientId=cid)
            radius[iid] = 0.5 * float(np.linalg.norm(np.subtract(hi, lo)))
            extra = {} if iid in round_ else {"rollingFriction": 0.0}
            pb.changeDynamics(body, -1, linearDamping=CALM_DAMPING, angularDamping=CALM_DAMPING,
                              physicsClientId=cid, **extra)
        tol = cfg.lin_vel_tol_m_s
        calm = 0
        for step in range(1, cfg.calm_steps + 1):
            pb.stepSimulation(physicsClientId=cid)
            still = True
            for iid, body in list(bodies.items()):
                v, w = pb.getBaseVelocity(body, physicsClientId=cid)
                if float(np.linalg.norm(v)) + float(np.linalg.norm(w)) * radius[iid] > tol:
                    still = False
                    self._remove_if_fallen(iid, body, bodies, removed)
            calm = calm + 1 if still else 0
            if calm >= cfg.hold_steps or not bodies:
                return step, True
        return cfg.calm_steps, False


def collision_shape(asset) -> CollisionShape:
    """An asset's collision parts (``assets.mesh.collision_shape``), with
    PyBullet's V-HACD as the decomposition of concave meshes."""
    return _collision_shape(asset, convex_decomposition)


def convex_decomposition(in_obj: str, out_obj: str, **params) -> None:
    """V-HACD (PyBullet's built-in copy) of an OBJ into an OBJ of convex parts.

    ``params``: V-HACD settings (resolution, concavity, maxNumVerticesPerCH,
    minVolumePerCH, ...). Its log goes to a temporary file.
    """
    import os
    import tempfile

    pb, cid = _connect_quietly()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "vhacd.log")
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:  # V-HACD prints progress to stdout
                    os.dup2(null.fileno(), 1)
                    pb.vhacd(in_obj, out_obj, log, physicsClientId=cid, **params)
            finally:
                os.dup2(saved, 1)
                os.close(saved)
    finally:
        pb.disconnect(physicsClientId=cid)
