"""The run config's sections as typed, frozen pydantic models (types layer:
this module imports nothing else of dropsynth but its field types).

Every field has a default, a type with its range or choices
(``dropsynth.config_types``), and a doc (its JSON Schema description).
Sections compare by their fields only; what ``config.load`` records beside
them (where each key came from, the image folders' listings) travels with a
pickled config but is not part of its value.
"""
from typing import ClassVar, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from dropsynth.config_types import (TEXTURE_KINDS, Bool, Choice, Choices, F, Int, List, Names, Num, Rng,
                                    Selection, Str, Vec, hdri_files, image_files)


class Section(BaseModel):
    """A config section: frozen, unknown keys refused, equal when its fields are."""
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # lists inside: not hashable, like the dataclasses before


class _Listed(Section):
    """A section naming a folder of files that draws index: its listing is
    taken once (``config.load``) and carried, pickled with the config, so
    that workers never scan the folder again."""
    FOLDER: ClassVar[str] = ""
    LISTER: ClassVar = staticmethod(image_files)
    _files: Optional[tuple[str, ...]] = PrivateAttr(None)
    _files_of: Optional[str] = PrivateAttr(None)  # the folder they were listed from

    def listing(self) -> list[str]:
        """The folder's files, sorted by name: as listed at load, else now
        (also when a ``model_copy`` names another folder)."""
        folder = getattr(self, self.FOLDER)
        if self._files is not None and self._files_of == folder:
            return list(self._files)
        return self.LISTER(folder) if folder is not None else []

    def carry_listing(self) -> None:
        """List the folder now and keep the listing with the section."""
        self._files, self._files_of = tuple(self.listing()), getattr(self, self.FOLDER)


class SceneConfig(Section):
    builder: Str = F('tabletop',
        'scene builder: tabletop (objects dropped on a table), bin (dropped into a tote with walls: '
        'dense piles, heavy occlusion), stack (objects placed on top of each other before settling), '
        'clutter (many objects strewn over a floor or a shelf, with distractors), or one registered '
        'through the dropsynth.scene_builders entry point')
    num_objects: Rng(Int(1, 200)) = F((5, 15), 'objects dropped per scene, [min, max] inclusive')
    table_size_m: Vec(Num(0.01, 20.0), 3) = F((1.2, 0.8, 0.04),
        'table top full extents x, y, thickness (m); its top surface is z = 0')
    spawn_area_m: Vec(Num(0.01, 20.0), 2) = F((0.5, 0.35),
        'x, y extents of the area above the table centre where objects are dropped (m)')
    spawn_height_m: Rng(Num(0.0, 10.0)) = F((0.05, 0.35),
        "[min, max] height above the table top of a dropped object's centre (m)")
    bin_inner_m: Vec(Num(0.05, 5.0), 2) = F((0.36, 0.26),
        'bin builder: inside length and width (m); the bin stands centred on the table')
    bin_wall_height_m: Num(0.01, 2.0) = F(0.12, 'bin builder: wall height (m)')
    bin_wall_thickness_m: Num(0.002, 0.2) = F(0.012, 'bin builder: wall thickness (m)')
    stack_height: Rng(Int(1, 50)) = F((2, 4), 'stack builder: [min, max] objects per column')
    stack_jitter_m: Num(0.0, 1.0) = F(0.01,
        "stack builder: sideways offset of each stacked object from its column's axis, up to (m)")
    clutter_surface: Choice('floor', 'shelf') = F('floor',
        'clutter builder: floor (a wide floor) or shelf (a board with a back wall; its front faces '
        '-y, and cameras keep to the front, azimuth -150..-30 deg, unless camera.azimuth_deg is set)')
    clutter_floor_m: Vec(Num(0.1, 50.0), 2) = F((2.0, 2.0), 'clutter builder, floor: floor extents x, y (m)')
    clutter_area_m: Vec(Num(0.01, 50.0), 2) = F((0.9, 0.6),
        'clutter builder, floor: x, y extents of the area where objects are dropped (m)')
    shelf_size_m: Vec(Num(0.05, 20.0), 2) = F((0.9, 0.32), 'clutter builder, shelf: board width x and depth y (m)')
    shelf_wall_height_m: Num(0.01, 5.0) = F(0.35, 'clutter builder, shelf: back wall height (m)')
    single_category: Bool = F(False,
        'one-class crowds: all objects of a scene from one category, drawn per scene by the category '
        'weights and class_shares')
    max_tries: Int(1, 100000) = F(200, 'placement attempts per object before it is skipped (counted as unplaced)')
    categories: Selection = F(None, 'only use assets of these categories (default: all)')
    objects: Selection = F(None, "only use these objects, as 'id' or 'pack/id' (default: all)")
    category_weights: Optional[Names(Num(0.0, 1e6))] = F(None,
        "relative draw weight per category (default 1 each); a category's weight is shared by its "
        'objects')
    category_instances: Optional[Names(Rng(Int(0, 1000)))] = F(None,
        "[min, max] instances per scene of a category, e.g. {mug: [1, 3]}; a scene's object count is "
        'raised (lowered) to the sum of the minimums (maximums) when needed')
    class_shares: Optional[Names(Num(0.0, 1.0))] = F(None,
        'class balancing: requested share of a category among the objects drawn over the run, e.g. '
        '{ball: 0.3}; the other categories share the rest by their weights. Set up front from the '
        'config (every scene on its own, any worker order), by systematic sampling per scene')


class AssetsConfig(Section):
    builtin: Bool = F(True, 'use the built-in pack')
    packs: List(Str) = F([], 'extra asset pack folders or archives (relative paths: to the config file)')


class DistractorConfig(Section):
    count: Optional[Rng(Int(0, 500))] = F(None,
        "[min, max] distractors per scene, placed clear of the objects (null: the builder's default, "
        '[4, 10] for clutter, none for the others)')
    packs: List(Str) = F(['builtin:distractors'],
        'packs the distractors come from (folders, archives, or builtin:NAME; relative paths: to the '
        'config file)')
    categories: Selection = F(None, 'only these categories of the distractor packs (default: all)')
    annotate: Bool = F(False,
        'false: distractors are drawn and occlude, but are 0 (background) in instances/ and never in '
        'the annotations; true: annotated, all as one class named class_name')
    class_name: Str = F('distractor', 'the class of annotated distractors')


class MaterialsConfig(_Listed):
    FOLDER: ClassVar[str] = "texture_folder"

    randomize: Choices('objects', 'table', 'fixtures', empty=True) = F([],
        'surfaces that get random materials (base colour, roughness, metallic, texture), drawn per '
        'scene from the materials stream: objects (primitives, and meshes unless '
        'keep_asset_textures), table (the table, floor or shelf board), fixtures (bin and shelf '
        'walls); empty: plain colours as before')
    keep_asset_textures: Bool = F(True, 'meshes keep their own texture and colour when objects are randomized')
    color: Rng(Num(0.0, 1.0)) = F((0.05, 0.95),
        "[min, max] of each base colour channel (and of a texture's two colours)")
    roughness: Rng(Num(0.0, 1.0)) = F((0.3, 0.95), '[min, max] roughness')
    metallic: Rng(Num(0.0, 1.0)) = F((0.0, 0.3), '[min, max] metallic')
    textures: Choices(*TEXTURE_KINDS) = F(['plain', 'noise', 'stripes', 'checker'],
        'texture kinds drawn from (uniformly): plain (base colour only), noise, stripes, checker, '
        'image (from texture_folder)')
    texture_folder: Optional[Str] = F(None,
        'folder of PNG/JPEG images for the image texture kind (relative: to the config file)')
    texture_tile_m: Rng(Num(0.001, 100.0)) = F((0.04, 0.3), '[min, max] size of one texture tile on a surface (m)')
    texture_frequency: Rng(Int(1, 256)) = F((2, 8), '[min, max] periods of a procedural texture per tile')


class BackgroundConfig(_Listed):
    FOLDER: ClassVar[str] = "image_folder"

    kinds: Choices('color', 'noise', 'stripes', 'checker', 'image') = F(['color'],
        'drawn per scene (uniformly) from: color (a plain colour), noise, stripes, checker '
        '(procedural), image (from image_folder); composited where nothing is drawn (depth 0)')
    image_folder: Optional[Str] = F(None, 'folder of PNG/JPEG background images (relative: to the config file)')
    frequency: Rng(Int(1, 1024)) = F((3, 24), '[min, max] periods of a procedural background across the image')


class PhysicsConfig(Section):
    time_step_s: Num(0.0001, 0.05) = F(1.0 / 240.0, 'fixed simulation step (s)')
    max_steps: Int(1, 1000000) = F(2400, 'step cap per scene; objects still moving then are left as they are')
    lin_vel_tol_m_s: Num(gt=0.0, hi=10.0) = F(0.005, 'an object is at rest below this linear speed (m/s)')
    ang_vel_tol_rad_s: Num(gt=0.0, hi=100.0) = F(0.05, 'an object is at rest below this angular speed (rad/s)')
    hold_steps: Int(1, 100000) = F(12, 'every object must stay at rest this many consecutive steps')
    solver_iterations: Int(1, 1000) = F(50, "constraint solver iterations per step (PyBullet's default is 50)")
    rolling_friction: Num(0.0, 1.0) = F(0.005,
        'rolling friction of every object (0.002 let a ball roll for 10 s on a 2 m floor; 0.005 '
        'settles 8 of 8 clutter scenes, in 28% fewer steps on the table)')
    spinning_friction: Num(0.0, 1.0) = F(0.002, 'spinning friction of every object')
    calm_steps: Int(0, 1000000) = F(720,
        'a scene still moving at max_steps gets this many more steps under the calming rule: no '
        'rolling friction on bodies that are not round (it makes resting boxes and meshes jitter), '
        'velocities damped, and a body at rest when no point of it moves faster than lin_vel_tol_m_s '
        '(0: off)')
    redraws: Int(0, 100) = F(2,
        'a scene that the calming rule cannot bring to rest is dropped again with new spawn '
        'orientations from its own resettle stream, up to this many times (0: off)')


class CameraConfig(Section):
    width: Int(16, 8192) = F(640, 'image width (px)')
    height: Int(16, 8192) = F(480, 'image height (px)')
    fov_y_deg: Num(1.0, 170.0) = F(45.0, 'vertical field of view (deg), used unless fx/fy are given')
    fx: Optional[Num(1.0, 1e6)] = F(None, 'focal length x (px); with fy overrides fov_y_deg')
    fy: Optional[Num(1.0, 1e6)] = F(None, 'focal length y (px)')
    cx: Optional[Num(0.0, 100000.0)] = F(None, 'principal point x (px), default width / 2')
    cy: Optional[Num(0.0, 100000.0)] = F(None, 'principal point y (px), default height / 2')
    distance_m: Rng(Num(0.05, 100.0)) = F((0.7, 1.2), '[min, max] camera distance from the look-at point')
    elevation_deg: Rng(Num(-90.0, 90.0)) = F((30.0, 80.0), '[min, max] elevation above the table plane')
    azimuth_deg: Rng(Num(-720.0, 720.0)) = F((0.0, 360.0), "[min, max] azimuth around the table's z axis")
    look_at_jitter_m: Num(0.0, 10.0) = F(0.05,
        'look-at point drawn uniformly within this radius of the table centre')
    roll_deg: Rng(Num(-180.0, 180.0)) = F((0.0, 0.0), '[min, max] roll about the optical axis (deg)')
    focal_jitter: Num(0.0, 0.5) = F(0.0, 'fx and fy each scaled by 1 +- up to this fraction, per view')
    principal_jitter_px: Num(0.0, 1000.0) = F(0.0, 'cx and cy each shifted by up to this many pixels, per view')
    fixed_K: Optional[List(Num(-1e6, 1e6))] = F(None,
        'fixed-camera mode (a calibrated real camera): 3x3 intrinsics, row-major, OpenCV convention; '
        'with fixed_world_T_cam')
    fixed_world_T_cam: Optional[List(Num(-1e6, 1e6))] = F(None,
        'fixed-camera mode: 4x4 camera pose in the world (table top z = 0), row-major, OpenCV axes')
    calibration_file: Optional[Str] = F(None,
        'fixed-camera mode from a calibration file (OpenCV YAML/JSON, ROS camera_info YAML): sets '
        'fixed_K, and width and height unless given (K is then scaled to them); with '
        'fixed_world_T_cam')
    znear_m: Num(0.001, 10.0) = F(0.05, 'near clipping distance (m)')
    zfar_m: Num(0.01, 6.5535) = F(6.0, 'far clipping distance (m); depth beyond 6.5535 m cannot be stored')


class LightConfig(_Listed):
    FOLDER: ClassVar[str] = "hdri_folder"
    LISTER: ClassVar = staticmethod(hdri_files)

    count: Rng(Int(0, 16)) = F((1, 3), '[min, max] number of lights')
    kinds: Choices('directional', 'point', 'spot') = F(['directional', 'point'], 'light types to draw from')
    directional_intensity: Rng(Num(0.0, 1000.0)) = F((1.5, 4.0), 'directional light intensity range (W/m^2)')
    point_intensity: Rng(Num(0.0, 10000.0)) = F((2.0, 8.0), 'point/spot light intensity range (cd)')
    color_temperature_k: Rng(Num(1000.0, 40000.0)) = F((3000.0, 8000.0), 'light colour temperature range (K)')
    elevation_deg: Rng(Num(0.0, 90.0)) = F((25.0, 89.0), 'elevation of lights above the table')
    distance_m: Rng(Num(0.05, 100.0)) = F((0.8, 2.0), 'distance of point/spot lights from the table centre')
    ambient: Rng(Num(0.0, 1.0)) = F((0.15, 0.4), 'ambient light level range (0..1)')
    hdri: Bool = F(True,
        'Cycles and the rasterizer\'s render.ibl: light the world with an equirectangular HDR '
        'environment drawn per view (false: a uniform world of the ambient level, and no ibl)')
    hdri_folder: Optional[Str] = F(None,
        "Cycles and render.ibl: folder of .hdr/.exr equirectangular environments (e.g. Poly Haven's; relative: to "
        "the config file); null: the built-in set (Blender's 8 CC0 studio-light HDRIs, shipped inside"
        ' bpy)')
    hdri_strength: Rng(Num(0.0, 100.0)) = F((0.3, 1.0),
        'Cycles and render.ibl: [min, max] strength of the environment light, drawn per view')
    hdri_rotation_deg: Rng(Num(-720.0, 720.0)) = F((0.0, 360.0),
        'Cycles and render.ibl: [min, max] rotation of the environment about the world z axis, '
        'drawn per view')


class OutputConfig(Section):
    mask_format: Choice('polygon', 'rle') = F('polygon', 'COCO segmentation format')
    largest_part_only: Bool = F(False,
        'polygons: keep only the largest visible part of each object (bbox and area then describe '
        'that part)')
    polygon_convention: Choice('edges', 'centers') = F('edges',
        'COCO polygon vertices at pixel corners (edges: exact for pycocotools, FiftyOne, torchvision,'
        ' Datumaro) or at pixel centres (centers: exact for cv2.fillPoly, supervision)')
    min_visible_px: Int(1, 10**8) = F(20, 'objects with fewer visible pixels are not annotated')
    min_visible_fraction: Num(0.0, 1.0) = F(0.0,
        'objects with a smaller visible fraction (visible / amodal pixels) are not annotated; above 0'
        ' it turns amodal on')
    amodal: Bool = F(False,
        'render each object alone for its amodal (unoccluded) silhouette: adds bbox_amodal, '
        'px_count_all and visib_fract to the COCO annotations (one extra render pass per visible '
        'object)')
    ground_truth: Choices('class', 'normals', 'nocs', 'bbox3d', empty=True) = F([],
        'extra per-frame ground truth: class (class/ uint16 category ids), normals (normals/ RGB, n ='
        ' rgb / 255 * 2 - 1, camera frame), nocs (nocs/ RGB object coordinates), bbox3d (8 box '
        'corners per object in the COCO file)')
    keypoints: Bool = F(False,
        'COCO keypoints: the 8 projected 3-D box corners per object, with keypoint names and skeleton'
        ' in the categories')
    splits: Optional[Names(Num(0.0, 1e6))] = F(None,
        'train/val/test ratios by scene (all views of a scene in one split), e.g. {train: 0.8, val: '
        '0.1, test: 0.1}: writes annotations/instances_<split>.json and splits the exports')
    export: Choices('yolo', 'yolo-seg', 'bop', 'datumaro', empty=True) = F([],
        'more formats written at the end: yolo (boxes), yolo-seg (polygons), bop, datumaro (COCO as '
        'images/<split>/ and annotations/instances_<split>.json)')
    stats: Bool = F(False, 'write the statistics report (stats/report.html, stats/stats.json) at the end')
    keep_empty_images: Bool = F(True, 'write images in which no object is annotated')
    png_compress_level: Int(0, 9) = F(1, 'zlib deflate level for PNG files: 0 stored, 1 fastest .. 9 smallest')
    preview: Bool = F(True, 'write preview.png at the end of generate')
    preview_frames: Int(1, 256) = F(12, 'frames shown in the preview grid')
    shard_scenes: Int(1, 100000) = F(4,
        'scenes per shard, the unit of work that workers take and --resume keeps or redoes')


class SensorConfig(Section):
    gaussian_noise: Num(0.0, 0.5) = F(0.0, 'RGB read noise, standard deviation in 0..1 intensity units (0: off)')
    shot_noise: Num(0.0, 0.1) = F(0.0, 'RGB shot noise: variance = this x intensity (0: off)')
    blur_px: Num(0.0, 20.0) = F(0.0, 'RGB Gaussian blur, radius drawn from [0, this] pixels (0: off)')
    color_jitter: Num(0.0, 0.9) = F(0.0,
        'RGB brightness, contrast and saturation each scaled by 1 +- up to this (0: off)')
    jpeg_quality: Optional[Rng(Int(1, 100))] = F(None,
        'RGB JPEG artefacts: quality drawn from [min, max] (null: off)')
    depth_noise: Num(0.0, 50.0) = F(0.0,
        "depth_noisy/: axial noise as a multiple of Nguyen et al. 2012's Kinect model 0.0012 + 0.0019"
        ' (z - 0.4)^2 m (0: off)')
    depth_edge_dropout: Num(0.0, 1.0) = F(0.0,
        'depth_noisy/: probability of losing a pixel at a depth discontinuity (0: off)')
    depth_holes: Num(0.0, 1000.0) = F(0.0, 'depth_noisy/: mean number of random holes per frame (0: off)')


SURFACE_KINDS = ("wood", "laminate", "fabric", "concrete", "tiles", "brushed_metal", "plastic")


class RenderConfig(Section):
    msaa: Choice(0, 2, 4, 8) = F(0,
        'anti-aliasing of the RGB image: multisample count 0 (off: one pass gives RGB, ids and '
        'depth), 2, 4 or 8 (a separate RGB pass; about 20 ms more per 640x480 view on llvmpipe at 4);'
        ' ids and depth stay exact either way')
    backend: Choice('raster', 'cycles') = F('raster',
        'who makes the RGB: raster (the OpenGL rasterizer) or cycles (Blender Cycles for a share of '
        'the views, see cycles_share); ids, depth, masks and poses always come from the raster pass')
    cycles_share: Num(0.0, 1.0) = F(1.0,
        'with backend cycles: the share of views path-traced, chosen per view from its own seeded '
        'stream (the others are rasterized)')
    cycles_samples: Int(1, 65536) = F(64, 'Cycles: samples per pixel')
    cycles_denoise: Bool = F(True, 'Cycles: OpenImageDenoise on the result')
    cycles_bounces: Int(0, 1024) = F(4,
        'Cycles: maximum light bounces (diffuse, glossy, transmission each capped by it)')
    cycles_device: Choice('auto', 'cpu', 'cuda', 'optix') = F('auto',
        'Cycles: auto (OptiX, else CUDA, else CPU), cpu, cuda or optix (a GPU kind that is not '
        'present falls back to the CPU)')
    cycles_threads: Int(0, 4096) = F(0, 'Cycles: CPU threads per worker; 0: the cores divided by the workers')
    cycles_light_size_m: Num(0.0, 10.0) = F(0.05,
        'Cycles: radius of point and spot lights (m); sun lights get the same angular size seen from '
        '1 m; larger gives softer shadows')
    cycles_dof_fstop: Optional[Num(0.1, 1000.0)] = F(None,
        'Cycles: depth of field with this f-number (36 mm sensor width), focused on the table centre;'
        ' null: off')
    cycles_motion_blur_m: Num(0.0, 1.0) = F(0.0,
        'Cycles: camera motion blur; the camera moves up to this far (m), in a random direction per '
        'view, during the exposure, centred on the labelled pose (0: off)')
    quality: Choice('fast', 'realistic') = F('fast',
        'render quality level: fast (no shadows, plain surfaces, no lens effects) or realistic (every'
        ' effect below that is null turns on, mild); each effect key set to true or false overrides '
        'the level')
    shadows: Optional[Bool] = F(None,
        'shadow maps for every light (directional: orthographic, spot and point: perspective towards '
        'the scene), soft-edged (PCF)')
    shadow_map_px: Int(128, 8192) = F(512,
        "shadow map size per light (px), over the casters' bounding sphere (1024: 7 ms more per scene"
        ' on llvmpipe)')
    shadow_softness_px: Rng(Num(0.0, 16.0)) = F((1.0, 2.5),
        '[min, max] PCF filter radius in shadow-map texels, per scene')
    ao: Optional[Bool] = F(None,
        'contact darkening of the table top by the objects standing on it: ambient occlusion baked '
        'once per scene from a top-down depth map (objects among themselves: render.ssao)')
    ao_radius_m: Num(0.001, 1.0) = F(0.04, 'baked ambient occlusion: sampling radius (m)')
    ao_strength: Rng(Num(0.0, 1.0)) = F((0.5, 0.9),
        '[min, max] ambient occlusion strength per view (0: none, 1: full), for render.ao and '
        'render.ssao')
    tonemap: Optional[Bool] = F(None, 'exposure and ACES filmic tone mapping of the rendered radiance')
    exposure_ev: Rng(Num(-8.0, 8.0)) = F((-0.4, 0.4), '[min, max] exposure offset per view (EV, stops)')
    white_balance: Optional[Bool] = F(None, 'white-balance error: red/blue and green gains off neutral')
    white_balance_shift: Num(0.0, 0.5) = F(0.06,
        'white balance: red/blue gain 1 +- up to this, green tint half of it, per view')
    vignette: Optional[Bool] = F(None, 'vignetting: radial light fall-off towards the corners')
    vignette_strength: Rng(Num(0.0, 0.9)) = F((0.1, 0.35),
        '[min, max] light lost in the image corners (fraction), per view')
    chromatic_aberration: Optional[Bool] = F(None,
        'lateral chromatic aberration: red and blue scaled apart about the principal point')
    chromatic_aberration_px: Rng(Num(0.0, 1.0)) = F((0.0, 0.8),
        '[min, max] red-blue shift in the image corners (px), per view')
    defocus: Optional[Bool] = F(None, 'thin-lens defocus blur from depth, focused on the look-at distance')
    aperture_mm: Rng(Num(0.0, 50.0)) = F((0.5, 2.5),
        '[min, max] thin-lens aperture diameter (mm), per view; blur circles are capped at 2 px')
    motion_blur: Optional[Bool] = F(None,
        'motion blur from camera shake during the exposure (a small rotation: the same streak over '
        'the image)')
    motion_blur_px: Rng(Num(0.0, 4.0)) = F((0.0, 1.5), '[min, max] streak length (px), per view')
    motion_blur_share: Num(0.0, 1.0) = F(0.3,
        'share of the views whose camera shakes (motion blur), drawn per view')
    surfaces: Optional[Bool] = F(None,
        'procedural PBR materials (colour, roughness and normal maps) for the table, floor, shelf and'
        ' bin walls that materials.randomize leaves plain')
    surface_kinds: Choices(*SURFACE_KINDS) = F(list(SURFACE_KINDS),
        'procedural surface kinds drawn from (uniformly), per scene')
    object_variation: Optional[Bool] = F(None,
        "each object's look varied around its own: hue, saturation, brightness, roughness, and wear "
        'patches')
    object_hue_deg: Num(0.0, 180.0) = F(10.0, 'object variation: hue shift up to +- this (deg)')
    object_wear: Rng(Num(0.0, 1.0)) = F((0.0, 0.5),
        '[min, max] wear per object (worn patches: lighter, greyer, rougher)')
    ibl: Optional[Bool] = F(None,
        'image-based lighting in the rasterizer: diffuse (spherical harmonics) and prefiltered '
        'specular light from the HDR environment that Cycles would draw for the view '
        '(lights.hdri_folder, else bpy\'s built-in set, else 4 procedural studio environments; file, '
        'rotation and strength as lights.hdri_*), instead of the ambient light; off when lights.hdri '
        'is false')
    ibl_background: Bool = F(True,
        'with ibl: the environment is the background where nothing is hit (false: the scene\'s '
        'background colour or image)')
    ssao: Optional[Bool] = F(None,
        'screen-space ambient occlusion: contact darkening where any surfaces meet (objects on '
        'objects, the table, bin walls), from the frame\'s depth, on the raster RGB; strength per '
        'view from ao_strength')
    ssao_radius_m: Num(0.001, 1.0) = F(0.03, 'screen-space ambient occlusion: sampling radius (m)')

    def effect_on(self, effect: str) -> bool:
        """Whether a realism effect key (shadows, ibl, ...) is on: its own
        true/false, or null and the realistic level."""
        v = getattr(self, effect)
        return self.quality == "realistic" if v is None else v


class GraspConfig(Section):
    enabled: Bool = F(False,
        'grasp labels per visible object: grasps/<frame>.npz (6-DoF, camera frame), grasps_2d in '
        'COCO, grasp libraries in grasps/library/ (ACRONYM HDF5)')
    formats: Choices('jacquard', 'cornell', 'maps', empty=True) = F([],
        'more grasp files per frame: jacquard (x;y;theta;opening;jaw), cornell (cpos.txt corners), '
        'maps (GG-CNN quality/angle/width .npz)')
    max_opening_m: Num(0.005, 0.5) = F(0.08, 'gripper: largest jaw opening (m)')
    finger_depth_m: Num(0.005, 0.3) = F(0.045, 'gripper: finger length along the approach axis (m)')
    finger_width_m: Num(0.002, 0.2) = F(0.02, 'gripper: finger pad width (m)')
    finger_thickness_m: Num(0.001, 0.1) = F(0.012, 'gripper: finger thickness along the closing axis (m)')
    approach_offset_m: Num(0.01, 1.0) = F(0.1034,
        'gripper: distance from the hand frame to the grasp centre along the approach axis (m)')
    palm_width_m: Num(0.005, 0.5) = F(0.06, 'gripper: palm extent across the closing axis (m)')
    force_n: Num(0.1, 10000.0) = F(20.0,
        "gripper: grip force per finger (N); PyBullet's stiff contacts eject light objects at a "
        "Franka's full 70 N")
    candidates: Int(1, 100000) = F(64,
        "grasps per mesh asset's library (antipodal candidates that clear the object, each tried in "
        'simulation)')
    primitive_candidates: Int(1, 10000) = F(16,
        'grasps per primitive instance (primitives vary in size, so each instance gets its own small '
        'library)')
    robust_trials: Int(0, 100) = F(4,
        "extra trials per grasp with the object's pose and friction perturbed, for the robust success"
        ' rate (0: success only)')
    pose_noise_m: Num(0.0, 0.1) = F(0.005, 'robust trials: object position noise, standard deviation (m)')
    pose_noise_deg: Num(0.0, 90.0) = F(5.0, 'robust trials: object rotation noise, standard deviation (deg)')
    friction_noise: Num(0.0, 0.9) = F(0.3, 'robust trials: friction scaled by 1 +- up to this fraction')
    planar_max_angle_deg: Num(0.0, 90.0) = F(20.0,
        'planar rectangles only for grasps whose approach is within this angle of the optical axis')
    per_annotation: Int(0, 1000) = F(5, 'grasps_2d rectangles kept per COCO annotation (best robust rate first)')


class RunConfig(Section):
    preset: Optional[Choice('occlusion', 'tiny', 'truncation', 'thin', 'crowd')] = F(None,
        "edge-case preset applied before this file's keys: occlusion, tiny, truncation, thin, crowd "
        '(see dropsynth.presets)')
    seed: Int(0, 2**63 - 1) = F(0, 'master seed; every random draw derives from it')
    scenes: Int(1, 10**9) = F(8, 'settled scenes to generate')
    views_per_scene: Int(1, 1000000) = F(4, 'camera views rendered per settled scene')
    scene: SceneConfig = Field(default_factory=SceneConfig)
    assets: AssetsConfig = Field(default_factory=AssetsConfig)
    distractors: DistractorConfig = Field(default_factory=DistractorConfig)
    materials: MaterialsConfig = Field(default_factory=MaterialsConfig)
    background: BackgroundConfig = Field(default_factory=BackgroundConfig)
    physics: PhysicsConfig = Field(default_factory=PhysicsConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    lights: LightConfig = Field(default_factory=LightConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    sensor: SensorConfig = Field(default_factory=SensorConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    grasps: GraspConfig = Field(default_factory=GraspConfig)

    # Not fields: where each key came from (errors found later, against the asset packs, name it).
    _source: str = PrivateAttr("config")
    _origin: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data):
        """``camera:`` with nothing under it (null) is the section's defaults."""
        if isinstance(data, dict):
            return {k: ({} if v is None and k in SECTIONS else v) for k, v in data.items()}
        return data

    def to_dict(self) -> dict:
        """Plain-JSON/YAML view of the whole config (tuples become lists)."""
        return self.model_dump(mode="json")

    def _source_of(self, key: str) -> str:
        return origin_of(self._origin, key, self._source)


SECTIONS = tuple(name for name, f in RunConfig.model_fields.items() if isinstance(f.annotation, type)
                 and issubclass(f.annotation, Section))


def origin_of(origin: dict, key: str, fallback: str) -> str:
    """The source of ``key`` (a dotted path, or a section) in ``origin``
    (leaf path -> source): the last that is not ``fallback``, else it."""
    found = [src for k, src in origin.items() if k == key or k.startswith(key + ".") or key.startswith(k + ".")]
    other = [src for src in found if src != fallback]
    return other[-1] if other else fallback
