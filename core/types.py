"""Records passed between stages. Imports only numpy.

Conventions: transforms are ``a_T_b`` 4x4 float64 (maps points in frame b to
frame a); cameras follow OpenCV (x right, y down, z forward); lengths are
metres, masses kilograms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Primitive:
    """A procedural shape. ``size_m``: box (x, y, z) full extents; cylinder
    (radius, height); sphere (radius,)."""

    kind: str  # "box" | "cylinder" | "sphere"
    size_m: tuple[float, ...]


@dataclass(frozen=True)
class Asset:
    """One object type from an asset pack.

    The visual geometry is ``mesh_path`` (a mesh file), ``visual_primitive``
    (a fixed-size shape from a URDF), or ``primitive_kind`` (a procedural
    shape whose size is drawn per instance from ``primitive_size_m``, one
    (low, high) range per dimension). ``scale`` brings mesh units to metres;
    ``mesh_T`` (16 floats, row-major 4x4) is applied after scaling (a URDF
    visual origin). Collision geometry: ``collision_path`` (scaled by
    ``collision_scale``, then ``collision_T``) or ``collision_primitive``;
    when neither is set it is derived from the visual mesh.
    """

    pack: str
    id: str
    category: str
    supercategory: str
    license: str
    mesh_path: str | None = None
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    collision_path: str | None = None
    primitive_kind: str | None = None
    primitive_size_m: tuple[tuple[float, float], ...] = ()
    mass_kg: float | None = None
    density_kg_m3: float = 500.0
    friction: float = 0.6
    restitution: float = 0.0
    color_rgba: tuple[float, float, float, float] | None = None
    urdf_path: str | None = None
    visual_primitive: tuple | None = None  # ("box", (x, y, z)) | ("cylinder", (r, h)) | ("sphere", (r,))
    mesh_T: tuple[float, ...] | None = None
    collision_primitive: tuple | None = None
    collision_scale: tuple[float, float, float] | None = None
    collision_T: tuple[float, ...] | None = None
    collision_mode: str = "auto"  # "auto" | "hull" | "decompose" (when no collision geometry is given)
    pack_dir: str = ""

    @property
    def key(self) -> str:
        """``pack/id``, unique across loaded packs."""
        return f"{self.pack}/{self.id}"


@dataclass(frozen=True)
class Texture:
    """A texture image. ``kind``: "noise" | "stripes" | "checker"
    (procedural, from ``seed``, ``colors`` and ``frequency``: periods per
    tile) or "image" (the file ``path``). On surfaces one tile spans
    ``tile_m`` metres; as a background it fills the image."""

    kind: str
    colors: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    frequency: int = 4
    angle_deg: float = 0.0
    seed: int = 0
    path: str | None = None
    tile_m: float = 0.1


@dataclass(frozen=True)
class Material:
    """A PBR (metallic-roughness) surface: ``base_color`` RGBA in 0..1 (used
    when there is no texture), ``roughness`` and ``metallic`` in 0..1, and an
    optional texture that replaces the base colour."""

    base_color: tuple[float, float, float, float]
    roughness: float
    metallic: float
    texture: Texture | None = None


@dataclass(frozen=True)
class ObjectSpec:
    """An object instance in a scene, before physics.

    ``instance_id`` >= 1 is unique within the scene and is the value written
    to the instance image. ``primitive`` is set for procedural assets (its
    per-instance size); ``color_rgba`` overrides the asset's colour when set.
    ``annotate`` False: a distractor, simulated and drawn (it occludes) but 0
    in the instance image and never annotated.
    """

    instance_id: int
    asset: Asset
    world_T_obj: np.ndarray  # (4, 4) float64, object frame = centre of mass
    primitive: Primitive | None = None
    color_rgba: tuple[float, float, float, float] | None = None
    annotate: bool = True
    material: Material | None = None  # replaces the asset's own look (config materials) when set


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera. ``K``: (3, 3) float64 intrinsics in pixels;
    ``world_T_cam``: (4, 4) float64 pose, OpenCV axes."""

    K: np.ndarray
    width: int
    height: int
    world_T_cam: np.ndarray
    znear_m: float = 0.05
    zfar_m: float = 10.0


@dataclass(frozen=True)
class LightSpec:
    """A light. ``kind``: "directional" | "point" | "spot"; ``world_T_light``
    (4, 4) with the light shining along its -z axis (pyrender's convention);
    ``color``: linear RGB in [0, 1]; ``intensity``: W/m^2 for directional,
    candela for point/spot (pyrender units)."""

    kind: str
    world_T_light: np.ndarray
    color: tuple[float, float, float]
    intensity: float


@dataclass(frozen=True)
class Fixture:
    """A static box of the scene (a bin wall, a shelf board): full extents
    (m), pose of its centre, colour. It collides, is drawn, and is background
    (0) in the instance image."""

    size_m: tuple[float, float, float]
    world_T: np.ndarray  # (4, 4)
    rgba: tuple[float, float, float, float]
    material: Material | None = None  # replaces rgba when set


@dataclass(frozen=True)
class SceneSpec:
    """A scene before physics: support surface, objects, cameras, lights."""

    scene_index: int
    table_size_m: tuple[float, float, float]  # full extents; the top surface is z = 0
    objects: tuple[ObjectSpec, ...]
    cameras: tuple[CameraSpec, ...]
    lights: tuple[LightSpec, ...]
    ambient_rgb: tuple[float, float, float]
    table_rgba: tuple[float, float, float, float]
    background_rgb: tuple[float, float, float]
    unplaced: int = 0  # objects the builder drew but could not place collision-free
    fixtures: tuple[Fixture, ...] = ()  # static boxes besides the table (bin walls, ...)
    workspace_m: tuple[float, float] | None = None  # (x, y) extents an object's centre must end in; None: the table
    table_material: Material | None = None  # replaces table_rgba when set
    background: Texture | None = None  # composited where nothing is drawn (depth 0); None: background_rgb


@dataclass(frozen=True)
class SettledScene:
    """A scene after physics.

    ``poses`` maps instance_id -> world_T_obj (4, 4) for the objects that
    stayed on the table; ``removed`` lists the instance ids that left it.
    """

    spec: SceneSpec
    poses: dict[int, np.ndarray]
    removed: tuple[int, ...]
    steps: int
    at_rest: bool
    # How a scene that hit physics.max_steps came to rest (scenes.physics): "" (before the cap),
    # "calmed" (the post-cap rule), "redrawn" (new spawn orientations from its resettle stream).
    settled_by: str = ""
    redraws: int = 0

    def objects(self) -> list[ObjectSpec]:
        """The object specs still in the scene, in instance-id order."""
        return [o for o in self.spec.objects if o.instance_id in self.poses]


@dataclass(frozen=True)
class Frame:
    """Rendered images of one camera view.

    rgb: (H, W, 3) uint8; depth_m: (H, W) float32 metres along the optical
    axis, 0 = no surface; instance_ids: (H, W) uint16, 0 = background or
    table, otherwise the instance_id.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    instance_ids: np.ndarray


@dataclass(frozen=True)
class Annotation:
    """One object's label in one frame (visible part only unless named)."""

    instance_id: int
    asset_id: str
    category: str
    area: int
    bbox: tuple[int, int, int, int]  # x, y, w, h pixels
    segmentation: object  # list of polygons or an RLE dict (JSON-ready)
    cam_T_obj: np.ndarray  # (4, 4)
    px_count_visib: int
    px_count_all: int | None = None  # amodal pixel count (in the image), when computed
    visib_fract: float | None = None  # px_count_visib / px_count_all
    bbox_amodal: tuple[int, int, int, int] | None = None  # x, y, w, h of the amodal mask
    segmentation_amodal: dict | None = None  # COCO RLE of the amodal mask
    primitive: Primitive | None = None  # a procedural object's shape and size, for exporters (BOP models)
    color_rgba: tuple[float, float, float, float] | None = None  # its instance colour, when it has one


@dataclass(frozen=True)
class GraspLibrary:
    """An object's grasps, tried in simulation (see ``dropsynth.grasps``).

    obj_T_grasp: (N, 4, 4) float64 gripper poses in the object frame (centre
    of mass, metres); width_m: (N,) jaw span at the contacts; contacts: (N, 2,
    3) contact points; success: (N,) uint8, 1 = held through lift and shake;
    robust: (N,) float32 success rate over the nominal and the perturbed
    trials.
    """

    asset_key: str
    obj_T_grasp: np.ndarray
    width_m: np.ndarray
    contacts: np.ndarray
    success: np.ndarray
    robust: np.ndarray
