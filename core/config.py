"""Run configuration: typed dataclasses with defaults, loaded from YAML.

Every field has a default, a type and a range check. Errors name the file,
the key path and the problem; unknown keys suggest the nearest valid one.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from dropsynth.errors import ConfigError


def _f(default, *, doc: str, lo=None, hi=None, lo_open=False, choices=None, is_range=False, allow_empty=False):
    """A config field with its documentation and checks. ``is_range``: a
    [min, max] pair whose min must not exceed its max."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "lo_open": lo_open, "choices": choices, "is_range": is_range,
            "allow_empty": allow_empty}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class SceneConfig:
    builder: str = _f("tabletop", doc="scene builder: tabletop (objects dropped on a table), bin (dropped into a "
                                      "tote with walls: dense piles, heavy occlusion), stack (objects placed on "
                                      "top of each other before settling), clutter (many objects strewn over a "
                                      "floor or a shelf, with distractors), or one registered through the "
                                      "dropsynth.scene_builders entry point")
    num_objects: tuple[int, int] = _f((5, 15), is_range=True, doc="objects dropped per scene, [min, max] inclusive", lo=1, hi=200)
    table_size_m: tuple[float, float, float] = _f(
        (1.2, 0.8, 0.04), doc="table top full extents x, y, thickness (m); its top surface is z = 0", lo=0.01,
        hi=20.0)
    spawn_area_m: tuple[float, float] = _f(
        (0.5, 0.35), doc="x, y extents of the area above the table centre where objects are dropped (m)", lo=0.01,
        hi=20.0)
    spawn_height_m: tuple[float, float] = _f(
        (0.05, 0.35), is_range=True, doc="[min, max] height above the table top of a dropped object's centre (m)", lo=0.0,
        hi=10.0)
    bin_inner_m: tuple[float, float] = _f((0.36, 0.26), doc="bin builder: inside length and width (m); the bin "
                                                            "stands centred on the table", lo=0.05, hi=5.0)
    bin_wall_height_m: float = _f(0.12, doc="bin builder: wall height (m)", lo=0.01, hi=2.0)
    bin_wall_thickness_m: float = _f(0.012, doc="bin builder: wall thickness (m)", lo=0.002, hi=0.2)
    stack_height: tuple[int, int] = _f((2, 4), is_range=True, doc="stack builder: [min, max] objects per column",
                                       lo=1, hi=50)
    stack_jitter_m: float = _f(0.01, doc="stack builder: sideways offset of each stacked object from its column's "
                                         "axis, up to (m)", lo=0.0, hi=1.0)
    clutter_surface: str = _f("floor", doc="clutter builder: floor (a wide floor) or shelf (a board with a back "
                                           "wall; its front faces -y, and cameras keep to the front, azimuth -150..-30 deg, unless "
                                           "camera.azimuth_deg is set)", choices=("floor", "shelf"))
    clutter_floor_m: tuple[float, float] = _f((2.0, 2.0), doc="clutter builder, floor: floor extents x, y (m)",
                                              lo=0.1, hi=50.0)
    clutter_area_m: tuple[float, float] = _f((0.9, 0.6), doc="clutter builder, floor: x, y extents of the area "
                                                             "where objects are dropped (m)", lo=0.01, hi=50.0)
    shelf_size_m: tuple[float, float] = _f((0.9, 0.32), doc="clutter builder, shelf: board width x and depth y "
                                                            "(m)", lo=0.05, hi=20.0)
    shelf_wall_height_m: float = _f(0.35, doc="clutter builder, shelf: back wall height (m)", lo=0.01, hi=5.0)
    single_category: bool = _f(False, doc="one-class crowds: all objects of a scene from one category, drawn per "
                                          "scene by the category weights and class_shares")
    max_tries: int = _f(200, doc="placement attempts per object before it is skipped (counted as unplaced)",
                        lo=1, hi=100000)
    categories: Optional[list[str]] = _f(None, doc="only use assets of these categories (default: all)")
    objects: Optional[list[str]] = _f(None, doc="only use these objects, as 'id' or 'pack/id' (default: all)")
    category_weights: Optional[dict[str, float]] = _f(
        None, doc="relative draw weight per category (default 1 each); a category's weight is shared by its "
                  "objects", lo=0.0, hi=1e6)
    category_instances: Optional[dict[str, tuple[int, int]]] = _f(
        None, doc="[min, max] instances per scene of a category, e.g. {mug: [1, 3]}; a scene's object count is "
                  "raised (lowered) to the sum of the minimums (maximums) when needed", lo=0, hi=1000,
        is_range=True)
    class_shares: Optional[dict[str, float]] = _f(
        None, doc="class balancing: requested share of a category among the objects drawn over the run, e.g. "
                  "{ball: 0.3}; the other categories share the rest by their weights. Set up front from the "
                  "config (every scene on its own, any worker order), by systematic sampling per scene", lo=0.0,
        hi=1.0)


@dataclass
class AssetsConfig:
    builtin: bool = _f(True, doc="use the built-in pack")
    packs: list[str] = _f([], doc="extra asset pack folders or archives (relative paths: to the config file)")


@dataclass
class DistractorConfig:
    count: Optional[tuple[int, int]] = _f(None, doc="[min, max] distractors per scene, placed clear of the objects "
                                                    "(null: the builder's default, [4, 10] for clutter, none for the "
                                                    "others)", lo=0, hi=500, is_range=True)
    packs: list[str] = _f(["builtin:distractors"], doc="packs the distractors come from (folders, archives, or "
                                                      "builtin:NAME; relative paths: to the config file)")
    categories: Optional[list[str]] = _f(None, doc="only these categories of the distractor packs (default: all)")
    annotate: bool = _f(False, doc="false: distractors are drawn and occlude, but are 0 (background) in "
                                   "instances/ and never in the annotations; true: annotated, all as one class "
                                   "named class_name")
    class_name: str = _f("distractor", doc="the class of annotated distractors")


TEXTURE_KINDS = ("plain", "noise", "stripes", "checker", "image")


@dataclass
class MaterialsConfig:
    randomize: list[str] = _f([], doc="surfaces that get random materials (base colour, roughness, metallic, "
                                      "texture), drawn per scene from the materials stream: objects (primitives, "
                                      "and meshes unless keep_asset_textures), table (the table, floor or shelf "
                                      "board), fixtures (bin and shelf walls); empty: plain colours as before",
                              choices=("objects", "table", "fixtures"), allow_empty=True)
    keep_asset_textures: bool = _f(True, doc="meshes keep their own texture and colour when objects are randomized")
    color: tuple[float, float] = _f((0.05, 0.95), is_range=True, doc="[min, max] of each base colour channel "
                                                                      "(and of a texture's two colours)", lo=0.0,
                                    hi=1.0)
    roughness: tuple[float, float] = _f((0.3, 0.95), is_range=True, doc="[min, max] roughness", lo=0.0, hi=1.0)
    metallic: tuple[float, float] = _f((0.0, 0.3), is_range=True, doc="[min, max] metallic", lo=0.0, hi=1.0)
    textures: list[str] = _f(["plain", "noise", "stripes", "checker"], doc="texture kinds drawn from (uniformly): "
                                                                           "plain (base colour only), noise, "
                                                                           "stripes, checker, image (from "
                                                                           "texture_folder)", choices=TEXTURE_KINDS)
    texture_folder: Optional[str] = _f(None, doc="folder of PNG/JPEG images for the image texture kind "
                                                 "(relative: to the config file)")
    texture_tile_m: tuple[float, float] = _f((0.04, 0.3), is_range=True, doc="[min, max] size of one texture "
                                                                             "tile on a surface (m)", lo=0.001,
                                             hi=100.0)
    texture_frequency: tuple[int, int] = _f((2, 8), is_range=True, doc="[min, max] periods of a procedural "
                                                                       "texture per tile", lo=1, hi=256)


@dataclass
class BackgroundConfig:
    kinds: list[str] = _f(["color"], doc="drawn per scene (uniformly) from: color (a plain colour), noise, stripes, "
                                         "checker (procedural), image (from image_folder); composited where "
                                         "nothing is drawn (depth 0)",
                          choices=("color", "noise", "stripes", "checker", "image"))
    image_folder: Optional[str] = _f(None, doc="folder of PNG/JPEG background images (relative: to the config file)")
    frequency: tuple[int, int] = _f((3, 24), is_range=True, doc="[min, max] periods of a procedural background "
                                                                "across the image", lo=1, hi=1024)


@dataclass
class PhysicsConfig:
    time_step_s: float = _f(1.0 / 240.0, doc="fixed simulation step (s)", lo=1e-4, hi=0.05)
    max_steps: int = _f(2400, doc="step cap per scene; objects still moving then are left as they are",
                        lo=1, hi=1000000)
    lin_vel_tol_m_s: float = _f(0.005, doc="an object is at rest below this linear speed (m/s)", lo=0.0,
                                lo_open=True, hi=10.0)
    ang_vel_tol_rad_s: float = _f(0.05, doc="an object is at rest below this angular speed (rad/s)", lo=0.0,
                                  lo_open=True, hi=100.0)
    hold_steps: int = _f(12, doc="every object must stay at rest this many consecutive steps", lo=1,
                         hi=100000)
    solver_iterations: int = _f(50, doc="constraint solver iterations per step (PyBullet's default is 50)",
                                lo=1, hi=1000)
    rolling_friction: float = _f(0.005, doc="rolling friction of every object (0.002 let a ball roll for 10 s "
                                 "on a 2 m floor; 0.005 settles 8 of 8 clutter scenes, in 28% fewer steps on "
                                 "the table)", lo=0.0, hi=1.0)
    spinning_friction: float = _f(0.002, doc="spinning friction of every object", lo=0.0, hi=1.0)
    calm_steps: int = _f(720, doc="a scene still moving at max_steps gets this many more steps under the calming "
                                  "rule: no rolling friction on bodies that are not round (it makes resting boxes "
                                  "and meshes jitter), velocities damped, and a body at rest when no point of it "
                                  "moves faster than lin_vel_tol_m_s (0: off)", lo=0, hi=1000000)
    redraws: int = _f(2, doc="a scene that the calming rule cannot bring to rest is dropped again with new spawn "
                             "orientations from its own resettle stream, up to this many times (0: off)", lo=0,
                      hi=100)


@dataclass
class CameraConfig:
    width: int = _f(640, doc="image width (px)", lo=16, hi=8192)
    height: int = _f(480, doc="image height (px)", lo=16, hi=8192)
    fov_y_deg: float = _f(45.0, doc="vertical field of view (deg), used unless fx/fy are given", lo=1.0,
                          hi=170.0)
    fx: Optional[float] = _f(None, doc="focal length x (px); with fy overrides fov_y_deg", lo=1.0, hi=1e6)
    fy: Optional[float] = _f(None, doc="focal length y (px)", lo=1.0, hi=1e6)
    cx: Optional[float] = _f(None, doc="principal point x (px), default width / 2", lo=0.0, hi=1e5)
    cy: Optional[float] = _f(None, doc="principal point y (px), default height / 2", lo=0.0, hi=1e5)
    distance_m: tuple[float, float] = _f((0.7, 1.2), is_range=True, doc="[min, max] camera distance from the look-at point",
                                         lo=0.05, hi=100.0)
    elevation_deg: tuple[float, float] = _f((30.0, 80.0), is_range=True, doc="[min, max] elevation above the table plane",
                                            lo=-90.0, hi=90.0)
    azimuth_deg: tuple[float, float] = _f((0.0, 360.0), is_range=True, doc="[min, max] azimuth around the table's z axis",
                                          lo=-720.0, hi=720.0)
    look_at_jitter_m: float = _f(0.05, doc="look-at point drawn uniformly within this radius of the table centre",
                                 lo=0.0, hi=10.0)
    roll_deg: tuple[float, float] = _f((0.0, 0.0), doc="[min, max] roll about the optical axis (deg)", lo=-180.0,
                                       hi=180.0, is_range=True)
    focal_jitter: float = _f(0.0, doc="fx and fy each scaled by 1 +- up to this fraction, per view", lo=0.0, hi=0.5)
    principal_jitter_px: float = _f(0.0, doc="cx and cy each shifted by up to this many pixels, per view", lo=0.0,
                                    hi=1000.0)
    fixed_K: Optional[list[float]] = _f(None, doc="fixed-camera mode (a calibrated real camera): 3x3 intrinsics, "
                                                  "row-major, OpenCV convention; with fixed_world_T_cam",
                                        lo=-1e6, hi=1e6)
    fixed_world_T_cam: Optional[list[float]] = _f(None, doc="fixed-camera mode: 4x4 camera pose in the world "
                                                            "(table top z = 0), row-major, OpenCV axes",
                                                  lo=-1e6, hi=1e6)
    calibration_file: Optional[str] = _f(None, doc="fixed-camera mode from a calibration file (OpenCV YAML/JSON, "
                                                   "ROS camera_info YAML): sets fixed_K, and width and height unless "
                                                   "given (K is then scaled to them); with fixed_world_T_cam")
    znear_m: float = _f(0.05, doc="near clipping distance (m)", lo=0.001, hi=10.0)
    zfar_m: float = _f(6.0, doc="far clipping distance (m); depth beyond 6.5535 m cannot be stored", lo=0.01,
                       hi=6.5535)


@dataclass
class LightConfig:
    count: tuple[int, int] = _f((1, 3), is_range=True, doc="[min, max] number of lights", lo=0, hi=16)
    kinds: list[str] = _f(["directional", "point"], doc="light types to draw from",
                          choices=("directional", "point", "spot"))
    directional_intensity: tuple[float, float] = _f((1.5, 4.0), is_range=True, doc="directional light intensity range (W/m^2)",
                                                    lo=0.0, hi=1000.0)
    point_intensity: tuple[float, float] = _f((2.0, 8.0), is_range=True, doc="point/spot light intensity range (cd)", lo=0.0,
                                              hi=10000.0)
    color_temperature_k: tuple[float, float] = _f((3000.0, 8000.0), is_range=True, doc="light colour temperature range (K)",
                                                  lo=1000.0, hi=40000.0)
    elevation_deg: tuple[float, float] = _f((25.0, 89.0), is_range=True, doc="elevation of lights above the table", lo=0.0,
                                            hi=90.0)
    distance_m: tuple[float, float] = _f((0.8, 2.0), is_range=True, doc="distance of point/spot lights from the table centre",
                                         lo=0.05, hi=100.0)
    ambient: tuple[float, float] = _f((0.15, 0.4), is_range=True, doc="ambient light level range (0..1)", lo=0.0, hi=1.0)
    # Image-based world light, used by the Cycles backend only (render.backend: cycles).
    hdri: bool = _f(True, doc="Cycles: light the world with an equirectangular HDR environment drawn per view "
                              "(false: a uniform world of the ambient level)")
    hdri_folder: Optional[str] = _f(None, doc="Cycles: folder of .hdr/.exr equirectangular environments (e.g. "
                                              "Poly Haven's; relative: to the config file); null: the built-in "
                                              "set (Blender's 8 CC0 studio-light HDRIs, shipped inside bpy)")
    hdri_strength: tuple[float, float] = _f((0.3, 1.0), is_range=True, doc="Cycles: [min, max] strength of the "
                                            "environment light, drawn per view", lo=0.0, hi=100.0)
    hdri_rotation_deg: tuple[float, float] = _f((0.0, 360.0), is_range=True, doc="Cycles: [min, max] rotation "
                                                "of the environment about the world z axis, drawn per view",
                                                lo=-720.0, hi=720.0)


@dataclass
class OutputConfig:
    mask_format: Literal["polygon", "rle"] = _f("polygon", doc="COCO segmentation format",
                                               choices=("polygon", "rle"))
    largest_part_only: bool = _f(False, doc="polygons: keep only the largest visible part of each object "
                                            "(bbox and area then describe that part)")
    polygon_convention: Literal["edges", "centers"] = _f(
        "edges", doc="COCO polygon vertices at pixel corners (edges: exact for pycocotools, FiftyOne, torchvision, "
                     "Datumaro) or at pixel centres (centers: exact for cv2.fillPoly, supervision)",
        choices=("edges", "centers"))
    min_visible_px: int = _f(20, doc="objects with fewer visible pixels are not annotated", lo=1, hi=10**8)
    min_visible_fraction: float = _f(0.0, doc="objects with a smaller visible fraction (visible / amodal pixels) "
                                             "are not annotated; above 0 it turns amodal on", lo=0.0, hi=1.0)
    amodal: bool = _f(False, doc="render each object alone for its amodal (unoccluded) silhouette: adds "
                                 "bbox_amodal, px_count_all and visib_fract to the COCO annotations (one extra "
                                 "render pass per visible object)")
    ground_truth: list[str] = _f([], doc="extra per-frame ground truth: class (class/ uint16 category ids), "
                                        "normals (normals/ RGB, n = rgb / 255 * 2 - 1, camera frame), nocs "
                                        "(nocs/ RGB object coordinates), bbox3d (8 box corners per object in "
                                        "the COCO file)", choices=("class", "normals", "nocs", "bbox3d"),
                                 allow_empty=True)
    keypoints: bool = _f(False, doc="COCO keypoints: the 8 projected 3-D box corners per object, with keypoint "
                                    "names and skeleton in the categories")
    splits: Optional[dict[str, float]] = _f(None, doc="train/val/test ratios by scene (all views of a scene in one "
                                                     "split), e.g. {train: 0.8, val: 0.1, test: 0.1}: writes "
                                                     "annotations/instances_<split>.json and splits the exports",
                                            lo=0.0, hi=1e6)
    export: list[str] = _f([], doc="more formats written at the end: yolo (boxes), yolo-seg (polygons), bop, "
                                  "datumaro (COCO as images/<split>/ and annotations/instances_<split>.json)",
                           choices=("yolo", "yolo-seg", "bop", "datumaro"), allow_empty=True)  # = writers.EXPORTERS
    stats: bool = _f(False, doc="write the statistics report (stats/report.html, stats/stats.json) at the end")
    keep_empty_images: bool = _f(True, doc="write images in which no object is annotated")
    png_compress_level: int = _f(1, doc="zlib deflate level for PNG files: 0 stored, 1 fastest .. 9 "
                                        "smallest", lo=0, hi=9)
    preview: bool = _f(True, doc="write preview.png at the end of generate")
    preview_frames: int = _f(12, doc="frames shown in the preview grid", lo=1, hi=256)
    shard_scenes: int = _f(4, doc="scenes per shard, the unit of work that workers take and --resume keeps or "
                                  "redoes", lo=1, hi=100000)


@dataclass
class SensorConfig:
    gaussian_noise: float = _f(0.0, doc="RGB read noise, standard deviation in 0..1 intensity units (0: off)",
                               lo=0.0, hi=0.5)
    shot_noise: float = _f(0.0, doc="RGB shot noise: variance = this x intensity (0: off)", lo=0.0, hi=0.1)
    blur_px: float = _f(0.0, doc="RGB Gaussian blur, radius drawn from [0, this] pixels (0: off)", lo=0.0,
                        hi=20.0)
    color_jitter: float = _f(0.0, doc="RGB brightness, contrast and saturation each scaled by 1 +- up to this "
                                      "(0: off)", lo=0.0, hi=0.9)
    jpeg_quality: Optional[tuple[int, int]] = _f(None, doc="RGB JPEG artefacts: quality drawn from [min, max] "
                                                           "(null: off)", lo=1, hi=100, is_range=True)
    depth_noise: float = _f(0.0, doc="depth_noisy/: axial noise as a multiple of Nguyen et al. 2012's Kinect model "
                                     "0.0012 + 0.0019 (z - 0.4)^2 m (0: off)", lo=0.0, hi=50.0)
    depth_edge_dropout: float = _f(0.0, doc="depth_noisy/: probability of losing a pixel at a depth "
                                            "discontinuity (0: off)", lo=0.0, hi=1.0)
    depth_holes: float = _f(0.0, doc="depth_noisy/: mean number of random holes per frame (0: off)", lo=0.0,
                            hi=1000.0)


@dataclass
class RenderConfig:
    msaa: int = _f(0, doc="anti-aliasing of the RGB image: multisample count 0 (off: one pass gives RGB, ids "
                          "and depth), 2, 4 or 8 (a separate RGB pass; about 20 ms more per 640x480 view on "
                          "llvmpipe at 4); ids and depth stay exact either way", choices=(0, 2, 4, 8))
    # Blender Cycles (the [cycles] extra): path-traced RGB; labels always come from the raster pass.
    backend: str = _f("raster", doc="who makes the RGB: raster (the OpenGL rasterizer) or cycles (Blender Cycles "
                                    "for a share of the views, see cycles_share); ids, depth, masks and poses "
                                    "always come from the raster pass", choices=("raster", "cycles"))
    cycles_share: float = _f(1.0, doc="with backend cycles: the share of views path-traced, chosen per view from "
                                      "its own seeded stream (the others are rasterized)", lo=0.0, hi=1.0)
    cycles_samples: int = _f(64, doc="Cycles: samples per pixel", lo=1, hi=65536)
    cycles_denoise: bool = _f(True, doc="Cycles: OpenImageDenoise on the result")
    cycles_bounces: int = _f(4, doc="Cycles: maximum light bounces (diffuse, glossy, transmission each capped "
                                    "by it)", lo=0, hi=1024)
    cycles_device: str = _f("auto", doc="Cycles: auto (OptiX, else CUDA, else CPU), cpu, cuda or optix (a GPU "
                                        "kind that is not present falls back to the CPU)",
                            choices=("auto", "cpu", "cuda", "optix"))
    cycles_threads: int = _f(0, doc="Cycles: CPU threads per worker; 0: the cores divided by the workers",
                             lo=0, hi=4096)
    cycles_light_size_m: float = _f(0.05, doc="Cycles: radius of point and spot lights (m); sun lights get the "
                                              "same angular size seen from 1 m; larger gives softer shadows",
                                    lo=0.0, hi=10.0)
    cycles_dof_fstop: Optional[float] = _f(None, doc="Cycles: depth of field with this f-number (36 mm sensor "
                                                     "width), focused on the table centre; null: off", lo=0.1,
                                           hi=1000.0)
    cycles_motion_blur_m: float = _f(0.0, doc="Cycles: camera motion blur; the camera moves up to this far (m), "
                                              "in a random direction per view, during the exposure, centred on "
                                              "the labelled pose (0: off)", lo=0.0, hi=1.0)
    # --- realism (issue 14): null = on with quality realistic, off with fast -----------------
    quality: str = _f("fast", doc="render quality level: fast (no shadows, plain surfaces, no lens effects) or "
                                  "realistic (every effect below that is null turns on, mild); each effect key "
                                  "set to true or false overrides the level", choices=("fast", "realistic"))
    shadows: Optional[bool] = _f(None, doc="shadow maps for every light (directional: orthographic, spot and "
                                           "point: perspective towards the scene), soft-edged (PCF)")
    shadow_map_px: int = _f(512, doc="shadow map size per light (px), over the casters' bounding sphere (1024: "
                                     "7 ms more per scene on llvmpipe)", lo=128, hi=8192)
    shadow_softness_px: tuple[float, float] = _f((1.0, 2.5), is_range=True, doc="[min, max] PCF filter radius "
                                                 "in shadow-map texels, per scene", lo=0.0, hi=16.0)
    ao: Optional[bool] = _f(None, doc="contact darkening: screen-space ambient occlusion from the frame's depth")
    ao_radius_m: float = _f(0.04, doc="ambient occlusion: sampling radius (m)", lo=0.001, hi=1.0)
    ao_strength: tuple[float, float] = _f((0.5, 0.9), is_range=True, doc="[min, max] ambient occlusion strength "
                                          "per view (0: none, 1: full)", lo=0.0, hi=1.0)
    tonemap: Optional[bool] = _f(None, doc="exposure and ACES filmic tone mapping of the rendered radiance")
    exposure_ev: tuple[float, float] = _f((-0.4, 0.4), is_range=True, doc="[min, max] exposure offset per view "
                                          "(EV, stops)", lo=-8.0, hi=8.0)
    white_balance: Optional[bool] = _f(None, doc="white-balance error: red/blue and green gains off neutral")
    white_balance_shift: float = _f(0.06, doc="white balance: red/blue gain 1 +- up to this, green tint half of "
                                    "it, per view", lo=0.0, hi=0.5)
    vignette: Optional[bool] = _f(None, doc="vignetting: radial light fall-off towards the corners")
    vignette_strength: tuple[float, float] = _f((0.1, 0.35), is_range=True, doc="[min, max] light lost in the "
                                                "image corners (fraction), per view", lo=0.0, hi=0.9)
    chromatic_aberration: Optional[bool] = _f(None, doc="lateral chromatic aberration: red and blue scaled "
                                                        "apart about the principal point")
    chromatic_aberration_px: tuple[float, float] = _f((0.0, 0.8), is_range=True, doc="[min, max] red-blue "
                                                      "shift in the image corners (px), per view", lo=0.0, hi=1.0)
    defocus: Optional[bool] = _f(None, doc="thin-lens defocus blur from depth, focused on the look-at distance")
    aperture_mm: tuple[float, float] = _f((0.5, 2.5), is_range=True, doc="[min, max] thin-lens aperture "
                                          "diameter (mm), per view; blur circles are capped at 2 px", lo=0.0,
                                          hi=50.0)
    motion_blur: Optional[bool] = _f(None, doc="motion blur from camera shake during the exposure (a small "
                                               "rotation: the same streak over the image)")
    motion_blur_px: tuple[float, float] = _f((0.0, 1.5), is_range=True, doc="[min, max] streak length (px), per "
                                             "view", lo=0.0, hi=4.0)
    motion_blur_share: float = _f(0.3, doc="share of the views whose camera shakes (motion blur), drawn per view",
                                  lo=0.0, hi=1.0)
    surfaces: Optional[bool] = _f(None, doc="procedural PBR materials (colour, roughness and normal maps) for the "
                                            "table, floor, shelf and bin walls that materials.randomize leaves plain")
    surface_kinds: list[str] = _f(["wood", "laminate", "fabric", "concrete", "tiles", "brushed_metal", "plastic"],
                                  doc="procedural surface kinds drawn from (uniformly), per scene",
                                  choices=("wood", "laminate", "fabric", "concrete", "tiles", "brushed_metal",
                                           "plastic"))
    object_variation: Optional[bool] = _f(None, doc="each object's look varied around its own: hue, saturation, "
                                                    "brightness, roughness, and wear patches")
    object_hue_deg: float = _f(10.0, doc="object variation: hue shift up to +- this (deg)", lo=0.0, hi=180.0)
    object_wear: tuple[float, float] = _f((0.0, 0.5), is_range=True, doc="[min, max] wear per object (worn "
                                          "patches: lighter, greyer, rougher)", lo=0.0, hi=1.0)
    # --- realism, session 2 (issue 14): image-based lighting and screen-space occlusion ---------------
    ibl: Optional[bool] = _f(None, doc="image-based lighting in the rasterizer: diffuse (spherical harmonics) and "
                                       "prefiltered specular light from the HDR environment that Cycles would "
                                       "draw for the view (lights.hdri_folder, else bpy's built-in set, else 4 "
                                       "procedural studio environments; file, rotation and strength as "
                                       "lights.hdri_*), instead of the ambient light; off when lights.hdri is "
                                       "false")
    ibl_background: bool = _f(True, doc="with ibl: the environment is the background where nothing is hit "
                                        "(false: the scene's background colour or image)")
    ssao: Optional[bool] = _f(None, doc="screen-space ambient occlusion: contact darkening where any surfaces "
                                        "meet (objects on objects, the table, bin walls), from the frame's depth, "
                                        "on the raster RGB; strength per view from ao_strength")
    ssao_radius_m: float = _f(0.03, doc="screen-space ambient occlusion: sampling radius (m)", lo=0.001, hi=1.0)


@dataclass
class GraspConfig:
    enabled: bool = _f(False, doc="grasp labels per visible object: grasps/<frame>.npz (6-DoF, camera frame), "
                       "grasps_2d in COCO, grasp libraries in grasps/library/ (ACRONYM HDF5)")
    formats: list[str] = _f([], doc="more grasp files per frame: jacquard (x;y;theta;opening;jaw), cornell "
                            "(cpos.txt corners), maps (GG-CNN quality/angle/width .npz)",
                            choices=["jacquard", "cornell", "maps"], allow_empty=True)
    max_opening_m: float = _f(0.08, doc="gripper: largest jaw opening (m)", lo=0.005, hi=0.5)
    finger_depth_m: float = _f(0.045, doc="gripper: finger length along the approach axis (m)", lo=0.005, hi=0.3)
    finger_width_m: float = _f(0.02, doc="gripper: finger pad width (m)", lo=0.002, hi=0.2)
    finger_thickness_m: float = _f(0.012, doc="gripper: finger thickness along the closing axis (m)", lo=0.001,
                                   hi=0.1)
    approach_offset_m: float = _f(0.1034, doc="gripper: distance from the hand frame to the grasp centre along "
                                  "the approach axis (m)", lo=0.01, hi=1.0)
    palm_width_m: float = _f(0.06, doc="gripper: palm extent across the closing axis (m)", lo=0.005, hi=0.5)
    force_n: float = _f(20.0, doc="gripper: grip force per finger (N); PyBullet's stiff contacts eject light "
                        "objects at a Franka's full 70 N", lo=0.1, hi=10000.0)
    candidates: int = _f(64, doc="grasps per mesh asset's library (antipodal candidates that clear the object, "
                         "each tried in simulation)", lo=1, hi=100000)
    primitive_candidates: int = _f(16, doc="grasps per primitive instance (primitives vary in size, so each "
                                   "instance gets its own small library)", lo=1, hi=10000)
    robust_trials: int = _f(4, doc="extra trials per grasp with the object's pose and friction perturbed, for the "
                            "robust success rate (0: success only)", lo=0, hi=100)
    pose_noise_m: float = _f(0.005, doc="robust trials: object position noise, standard deviation (m)", lo=0.0,
                             hi=0.1)
    pose_noise_deg: float = _f(5.0, doc="robust trials: object rotation noise, standard deviation (deg)", lo=0.0,
                               hi=90.0)
    friction_noise: float = _f(0.3, doc="robust trials: friction scaled by 1 +- up to this fraction", lo=0.0,
                               hi=0.9)
    planar_max_angle_deg: float = _f(20.0, doc="planar rectangles only for grasps whose approach is within this "
                                     "angle of the optical axis", lo=0.0, hi=90.0)
    per_annotation: int = _f(5, doc="grasps_2d rectangles kept per COCO annotation (best robust rate first)",
                             lo=0, hi=1000)


@dataclass
class RunConfig:
    preset: Optional[str] = _f(None, doc="edge-case preset applied before this file's keys: occlusion, tiny, "
                                         "truncation, thin, crowd (see dropsynth.presets)",
                               choices=("occlusion", "tiny", "truncation", "thin", "crowd"))
    seed: int = _f(0, doc="master seed; every random draw derives from it", lo=0, hi=2**63 - 1)
    scenes: int = _f(8, doc="settled scenes to generate", lo=1, lo_open=False, hi=10**9)
    views_per_scene: int = _f(4, doc="camera views rendered per settled scene", lo=1, hi=10**6)
    scene: SceneConfig = field(default_factory=SceneConfig)
    assets: AssetsConfig = field(default_factory=AssetsConfig)
    distractors: DistractorConfig = field(default_factory=DistractorConfig)
    materials: MaterialsConfig = field(default_factory=MaterialsConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lights: LightConfig = field(default_factory=LightConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    grasps: GraspConfig = field(default_factory=GraspConfig)

    def to_dict(self) -> dict:
        """Plain-JSON/YAML view of the whole config (tuples become lists)."""
        return _to_plain(dataclasses.asdict(self))


def _to_plain(v):
    if isinstance(v, dict):
        return {k: _to_plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_to_plain(x) for x in v]
    return v


# --- loading and checking -----------------------------------------------------


def _where(source: str, path: str) -> str:
    return f"{source}: {path}" if path else source


def _check_number(v, f: dataclasses.Field, source: str, path: str):
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"{_where(source, path)}: must be a finite number, got {v}")
    if lo is not None and (v < lo or (f.metadata.get("lo_open") and v <= lo)):
        op = ">" if f.metadata.get("lo_open") else ">="
        raise ConfigError(f"{_where(source, path)}: must be {op} {lo}, got {v}")
    if hi is not None and v > hi:
        raise ConfigError(f"{_where(source, path)}: must be <= {hi}, got {v}")


def _coerce_scalar(v, typ, f, source, path):
    if typ is bool:
        if not isinstance(v, bool):
            raise ConfigError(f"{_where(source, path)}: must be true or false, got {v!r}")
        return v
    if typ is int:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise ConfigError(f"{_where(source, path)}: must be an integer, got {v!r}")
        _check_number(v, f, source, path)
        choices = f.metadata.get("choices")
        if choices and v not in choices:
            raise ConfigError(f"{_where(source, path)}: must be one of {', '.join(map(str, choices))}, got {v}")
        return v
    if typ is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{_where(source, path)}: must be a number, got {v!r}")
        v = float(v)
        _check_number(v, f, source, path)
        return v
    if typ is str:
        if not isinstance(v, str):
            raise ConfigError(f"{_where(source, path)}: must be a string, got {v!r}")
        choices = f.metadata.get("choices")
        if choices and v not in choices:
            raise ConfigError(f"{_where(source, path)}: must be one of {', '.join(choices)}, got {v!r}"
                              + _suggest(v, choices))
        return v
    raise TypeError(typ)


def _coerce(v, typ, f, source, path):
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin is typing.Union:  # Optional[X]
        if v is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        if typing.get_origin(inner) is list and isinstance(v, (list, tuple)) and not v:
            # null means "all"; an empty list would silently mean the same
            raise ConfigError(f"{_where(source, path)}: an empty list selects nothing; leave the key out (or "
                              f"null) for all")
        return _coerce(v, inner, f, source, path)
    if origin is Literal:
        return _coerce_scalar(v, str, f, source, path)
    if origin is tuple:
        n = len(args)
        if not isinstance(v, (list, tuple)) or len(v) != n:
            raise ConfigError(f"{_where(source, path)}: must be a list of {n} numbers, got {v!r}")
        out = tuple(_coerce_scalar(x, args[i], f, source, f"{path}[{i}]") for i, x in enumerate(v))
        if f.metadata.get("is_range") and out[0] > out[1]:
            raise ConfigError(f"{_where(source, path)}: min {out[0]} is greater than max {out[1]}")
        return out
    if origin is dict:
        if not isinstance(v, dict):
            raise ConfigError(f"{_where(source, path)}: must be a mapping of names to values, got {v!r}")
        if typing.get_origin(args[1]) is None:
            return {str(k): _coerce_scalar(x, args[1], f, source, f"{path}.{k}") for k, x in v.items()}
        return {str(k): _coerce(x, args[1], f, source, f"{path}.{k}") for k, x in v.items()}
    if origin is list:
        if not isinstance(v, (list, tuple)):
            raise ConfigError(f"{_where(source, path)}: must be a list, got {v!r}")
        if f.metadata.get("choices") and not v and not f.metadata.get("allow_empty"):
            raise ConfigError(f"{_where(source, path)}: must name at least one of {', '.join(f.metadata['choices'])}")
        return [_coerce_scalar(x, args[0], f, source, f"{path}[{i}]") for i, x in enumerate(v)]
    return _coerce_scalar(v, typ, f, source, path)


_UNIT_SUFFIXES = ("_deg", "_rad", "_m", "_s", "_kg", "_k", "_px", "_m3", "_m_s", "_rad_s")


def _bare(name: str) -> str:
    """Key without unit suffix and underscores: fov_y_deg -> fovy."""
    for suffix in sorted(_UNIT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", "").lower()


def _suggest(key: str, valid) -> str:
    """"; did you mean 'x'?" for the nearest valid key, comparing names both
    as written and without unit suffixes and underscores (fovy -> fov_y_deg)."""
    valid = list(valid)
    scored = []
    for v in valid:
        r1 = difflib.SequenceMatcher(None, key.lower(), v.lower()).ratio()
        r2 = difflib.SequenceMatcher(None, _bare(key), _bare(v)).ratio()
        scored.append((max(r1, r2), v))
    best = max(scored, default=(0.0, None))
    return f"; did you mean {best[1]!r}?" if best[0] >= 0.6 else ""


def _build(cls, data: dict, source: str, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{_where(source, prefix)}: must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            path = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(f"{_where(source, path)}: unknown key{_suggest(str(key), fields)}"
                              f" (valid: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        path = f"{prefix}.{name}" if prefix else name
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            kwargs[name] = _build(typ, data[name] if data[name] is not None else {}, source, path)
        else:
            kwargs[name] = _coerce(data[name], typ, f, source, path)
    return cls(**kwargs)


def _cross_checks(cfg: RunConfig, source: str) -> None:
    c = cfg.camera
    if (c.fx is None) != (c.fy is None):
        raise ConfigError(f"{source}: camera.fx: fx and fy must be given together")
    for name in ("cx", "cy"):
        v = getattr(c, name)
        limit = c.width if name == "cx" else c.height
        if v is not None and v > limit:
            raise ConfigError(f"{source}: camera.{name}: must lie inside the image (<= {limit}), got {v}")
    if (c.fixed_K is None) != (c.fixed_world_T_cam is None):
        raise ConfigError(f"{source}: camera.fixed_K: fixed_K and fixed_world_T_cam must be given together")
    if c.fixed_K is not None:
        import numpy as np

        if len(c.fixed_K) != 9:
            raise ConfigError(f"{source}: camera.fixed_K: needs 9 numbers (3x3 row-major), got {len(c.fixed_K)}")
        if len(c.fixed_world_T_cam) != 16:
            raise ConfigError(f"{source}: camera.fixed_world_T_cam: needs 16 numbers (4x4 row-major), got "
                              f"{len(c.fixed_world_T_cam)}")
        K = np.array(c.fixed_K).reshape(3, 3)
        if K[0, 0] <= 0 or K[1, 1] <= 0 or np.any(K[2] != [0, 0, 1]):
            raise ConfigError(f"{source}: camera.fixed_K: must be [fx, 0, cx, 0, fy, cy, 0, 0, 1] with fx, fy > 0")
        T = np.array(c.fixed_world_T_cam).reshape(4, 4)
        R = T[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0.99 or np.any(T[3] != [0, 0, 0, 1]):
            raise ConfigError(f"{source}: camera.fixed_world_T_cam: the rotation part is not a rotation, or the "
                              f"last row is not [0, 0, 0, 1]")
    if c.znear_m >= c.zfar_m:
        raise ConfigError(f"{source}: camera.znear_m: must be less than camera.zfar_m ({c.zfar_m})")
    if cfg.output.splits is not None:
        from dropsynth.writers.splits import normalize_ratios

        try:
            normalize_ratios(cfg.output.splits)
        except ConfigError as e:
            raise ConfigError(f"{source}: output.splits: {e}") from None
    from dropsynth.scenes import builders

    if cfg.scene.builder not in builders.available():
        raise ConfigError(f"{source}: scene.builder: unknown builder {cfg.scene.builder!r}"
                          f"{_suggest(cfg.scene.builder, builders.available())} (available: "
                          f"{', '.join(builders.available())})")
    if cfg.scene.builder == "clutter" and any(a > f for a, f in zip(cfg.scene.clutter_area_m, cfg.scene.clutter_floor_m)):
        raise ConfigError(f"{source}: scene.clutter_area_m: {list(cfg.scene.clutter_area_m)} is larger than the "
                          f"floor {list(cfg.scene.clutter_floor_m)}")
    t = cfg.scene.table_size_m
    a = cfg.scene.spawn_area_m
    b, wt = cfg.scene.bin_inner_m, cfg.scene.bin_wall_thickness_m
    if cfg.scene.builder == "bin" and (b[0] + 2 * wt > t[0] or b[1] + 2 * wt > t[1]):
        raise ConfigError(f"{source}: scene.bin_inner_m: the bin {list(b)} with its walls does not fit on the table "
                          f"{list(t[:2])}")
    if a[0] > t[0] or a[1] > t[1]:
        raise ConfigError(f"{source}: scene.spawn_area_m: {list(a)} is larger than the table {list(t[:2])}")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_files(folder: str) -> list[str]:
    """The PNG/JPEG files of a folder, sorted by name (the order draws index)."""
    return sorted(str(p) for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _check_folders(cfg: RunConfig, source: str) -> None:
    for path, folder, needed in (("materials.texture_folder", cfg.materials.texture_folder,
                                  "image" in cfg.materials.textures and cfg.materials.randomize),
                                 ("background.image_folder", cfg.background.image_folder,
                                  "image" in cfg.background.kinds)):
        if folder is None:
            if needed:
                raise ConfigError(f"{source}: {path}: needed for the image kind; name a folder of PNG/JPEG images")
            continue
        if not Path(folder).is_dir():
            raise ConfigError(f"{source}: {path}: folder not found: {folder}")
        files = image_files(folder)
        if needed and not files:
            raise ConfigError(f"{source}: {path}: no PNG or JPEG images in {folder}")
        if needed:
            from PIL import Image

            for f in files:  # headers only: a broken file fails here, not hours into a run
                try:
                    with Image.open(f) as im:
                        if im.size[0] < 1 or im.size[1] < 1:
                            raise OSError("empty image")
                except Exception as e:
                    raise ConfigError(f"{source}: {path}: {f}: not a readable image ({e})") from None


HDRI_SUFFIXES = (".hdr", ".exr")


def hdri_files(folder: str) -> list[str]:
    """The .hdr/.exr files of a folder, sorted by name (the order draws index)."""
    return sorted(str(p) for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in HDRI_SUFFIXES)


def _check_hdri_folder(cfg: RunConfig, source: str) -> None:
    folder = cfg.lights.hdri_folder
    if folder is None or not (cfg.render.backend == "cycles" and cfg.lights.hdri):
        return
    if not Path(folder).is_dir():
        raise ConfigError(f"{source}: lights.hdri_folder: folder not found: {folder}")
    if not hdri_files(folder):
        raise ConfigError(f"{source}: lights.hdri_folder: no .hdr or .exr files in {folder}")


def apply_preset(data: dict, source: str) -> dict:
    """The preset's keys with ``data``'s own on top (``data`` unchanged
    without a preset). Applying it again to the result changes nothing."""
    from dropsynth.presets import PRESETS

    name = (data or {}).get("preset")
    if name is None:
        return data or {}
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(f"{_where(source, 'preset')}: must be one of {', '.join(PRESETS)}, got {name!r}"
                          + (_suggest(name, PRESETS) if isinstance(name, str) else ""))
    out = _merge(PRESETS[name], data)
    # A preset's packs hold the objects its categories name: the user's packs add to them.
    want = PRESETS[name].get("assets", {}).get("packs")
    mine = (data.get("assets") or {}).get("packs") if isinstance(data.get("assets"), dict) else None
    if want and isinstance(mine, list):
        out["assets"] = dict(out["assets"], packs=list(want) + [p for p in mine if p not in want])
    return out


def from_dict(data: dict | None, source: str = "<config>", base_dir: Path | None = None,
              check_folders: bool = True) -> RunConfig:
    """Build and check a RunConfig from a parsed YAML mapping (after its
    preset, if any). Relative pack paths are resolved against ``base_dir``
    (the config file's folder). ``check_folders=False`` skips checking the
    image folders (reading a finished run's config, when only poses matter)."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    cfg = _build(RunConfig, apply_preset(data or {}, source), source, "")
    if cfg.camera.calibration_file is not None:
        _apply_calibration(cfg, data or {}, source, base_dir)
    _cross_checks(cfg, source)
    if base_dir is not None:
        def resolve(p: str) -> str:
            return p if p.startswith("builtin:") or Path(p).is_absolute() else str(base_dir / p)

        cfg.assets.packs = [resolve(p) for p in cfg.assets.packs]
        cfg.distractors.packs = [resolve(p) for p in cfg.distractors.packs]
        for sec, key in ((cfg.materials, "texture_folder"), (cfg.background, "image_folder"),
                         (cfg.lights, "hdri_folder")):
            if getattr(sec, key) is not None:
                setattr(sec, key, resolve(getattr(sec, key)))
    if check_folders:
        _check_folders(cfg, source)
        _check_hdri_folder(cfg, source)
    return cfg


def _apply_calibration(cfg: RunConfig, data: dict, source: str, base_dir: Path | None) -> None:
    """camera.calibration_file -> fixed_K, width, height (K scaled to a size
    given in the config). The file is read once: the resolved config keeps
    the K it gave and drops the path, so workers and finished runs need no
    file."""
    from dropsynth.calibration import read_calibration

    c = cfg.camera
    if c.fixed_K is not None:
        raise ConfigError(f"{source}: camera.calibration_file: give either it or camera.fixed_K, not both")
    path = Path(c.calibration_file)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        cal = read_calibration(path)
    except ConfigError as e:
        raise ConfigError(f"{source}: camera.calibration_file: {e}") from None
    given = data.get("camera") if isinstance(data.get("camera"), dict) else {}
    if "width" not in given and "height" not in given:
        c.width, c.height = cal.width, cal.height
    elif abs(c.width / c.height - cal.width / cal.height) > 0.01:
        raise ConfigError(f"{source}: camera.width: {c.width}x{c.height} does not keep the calibrated "
                          f"{cal.width}x{cal.height} image's aspect ratio")
    c.fixed_K = [float(v) for v in cal.scaled(c.width, c.height).reshape(-1)]
    c.calibration_file = None


def load(path: str | Path | None, overrides: dict | list | None = None) -> RunConfig:
    """Load a YAML config file (or the defaults when ``path`` is None) and
    apply ``overrides`` on top: a nested mapping (reported as ``--set``), or a
    list of ``(source, mapping)`` layers applied in order, e.g.
    ``[("--set", ...), ("--width", {"camera": {"width": 320}})]``.

    Every source is checked on its own first, so a later one never hides a
    bad value in an earlier one (``camera: 5`` in the file with ``--width``),
    and an error names the source the value came from.
    """
    import yaml

    from dropsynth import yamlio

    data: dict = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            data = yamlio.loads(yamlio.read_text(p)) or {}
        except (yamlio.NotUtf8Error, yamlio.DuplicateKeyError) as e:
            raise ConfigError(f"{source}: {e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{source}: not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    if isinstance(overrides, dict):
        layers = [("--set", overrides)] if overrides else []
    else:
        layers = [(name, layer) for name, layer in overrides or [] if layer]
    origin: dict[str, str] = {}
    merged = data
    for name, layer in [(source, data)] + layers:
        _build(RunConfig, layer, name, "")  # this source's own keys and values, before any other hides them
        origin.update(dict.fromkeys(_leaf_paths(layer), name))
        if layer is not data:
            merged = _merge(merged, layer)
    try:
        cfg = from_dict(merged, _MERGED, Path(path).parent if path is not None else None)
    except ConfigError as e:
        raise _named(e, origin, source) from None
    # Not fields: errors found later (against the asset packs) name the source of the key.
    cfg._source = source
    cfg._origin = origin
    cfg._source_of = functools.partial(source_of, cfg)
    return cfg


_MERGED = "<merged>"  # placeholder source of the merged config's checks, replaced by the key's own source


def _leaf_paths(d: dict, prefix: str = ""):
    for k, v in (d or {}).items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            yield from _leaf_paths(v, path)
        else:
            yield path


def _origin_of(origin: dict, key: str, fallback: str) -> str:
    found = [src for k, src in origin.items() if k == key or k.startswith(key + ".") or key.startswith(k + ".")]
    other = [src for src in found if src != fallback]
    return other[-1] if other else fallback


def source_of(cfg, key: str) -> str:
    """Where ``cfg``'s value of ``key`` (a dotted path, or a section) came
    from: a --set or a flag, else the config file, else ``<defaults>``."""
    return _origin_of(getattr(cfg, "_origin", {}), key, getattr(cfg, "_source", "config"))


def _named(e: ConfigError, origin: dict, file_source: str) -> ConfigError:
    """A merged-config error with its placeholder source replaced by the
    source of the key it names."""
    msg = str(e)
    if not msg.startswith(_MERGED + ": "):
        return e
    rest = msg[len(_MERGED) + 2:]
    key = rest.split(":", 1)[0].split("[", 1)[0].strip()
    return ConfigError(f"{_origin_of(origin, key, file_source)}: {rest}")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_set(items: typing.Iterable[str]) -> dict:
    """``["camera.width=320", "scene.num_objects=[3, 6]"]`` -> nested mapping
    (values parsed as YAML)."""
    import yaml

    from dropsynth import yamlio

    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. camera.width=320")
        key, raw = item.split("=", 1)
        try:
            value = yamlio.loads(raw)
        except yamlio.DuplicateKeyError as e:
            raise ConfigError(f"--set {item}: duplicate key {e.key!r} in the value") from None
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: value is not valid YAML") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item}: {part} is a value, not a section; it cannot hold keys")
        node[parts[-1]] = value
    return out


def describe() -> list[tuple[str, str, Any]]:
    """(key path, doc, default) of every config field, for docs and --help."""
    rows = []

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            path = f"{prefix}.{f.name}" if prefix else f.name
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], path)
            else:
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                rows.append((path, f.metadata.get("doc", ""), default))

    walk(RunConfig, "")
    return rows


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the run config: every key with its
    type, range, choices, default and description; unknown keys are invalid."""

    def scalar(typ, f) -> dict:
        meta = f.metadata
        if typ is bool:
            return {"type": "boolean"}
        if typ in (int, float):
            out: dict = {"type": "integer" if typ is int else "number"}
            if meta.get("lo") is not None:
                out["exclusiveMinimum" if meta.get("lo_open") else "minimum"] = meta["lo"]
            if meta.get("hi") is not None:
                out["maximum"] = meta["hi"]
            if meta.get("choices"):
                out["enum"] = list(meta["choices"])
            return out
        out = {"type": "string"}
        if meta.get("choices"):
            out["enum"] = list(meta["choices"])
        return out

    def field_schema(typ, f) -> dict:
        origin, args = typing.get_origin(typ), typing.get_args(typ)
        if origin is typing.Union:
            inner = [a for a in args if a is not type(None)][0]
            return {"anyOf": [field_schema(inner, f), {"type": "null"}]}
        if origin is Literal:
            return {"type": "string", "enum": list(args)}
        if origin is tuple:
            items = [scalar(a, f) for a in args]
            return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
        if origin is list:
            return {"type": "array", "items": scalar(args[0], f)}
        if origin is dict:
            return {"type": "object", "additionalProperties": field_schema(args[1], f)}
        return scalar(typ, f)

    def obj(cls) -> dict:
        hints = typing.get_type_hints(cls)
        props = {}
        for f in dataclasses.fields(cls):
            typ = hints[f.name]
            if dataclasses.is_dataclass(typ):
                props[f.name] = obj(typ)
                continue
            s = field_schema(typ, f)
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            s["default"] = _to_plain(default)
            if f.metadata.get("doc"):
                s["description"] = f.metadata["doc"]
            props[f.name] = s
        return {"type": "object", "properties": props, "additionalProperties": False}

    schema = obj(RunConfig)
    schema.update({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "dropsynth run config"})
    return schema
