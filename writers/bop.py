"""Export a finished dropsynth dataset in the BOP format.

The layout and the files follow the BOP toolkit's ``docs/bop_datasets_format.md``
(https://github.com/thodan/bop_toolkit), so that ``bop_toolkit_lib.inout``
(``load_scene_camera``, ``load_scene_gt``, ``load_json``, ``load_ply``) reads
them::

    <out>/
      camera.json                       fx, fy, cx, cy, width, height, depth_scale
                                        (only when every image shares them)
      models/obj_<obj_id:06d>.ply       one model per obj_id, millimetres
      models/obj_<obj_id:06d>.png       its texture, for textured meshes
      models/models_info.json           {obj_id: {diameter, min_x, min_y, min_z,
                                        size_x, size_y, size_z}} in mm (+ symmetries
                                        of primitives, see below)
      <split>/<scene_id:06d>/
        rgb/<im_id:06d>.png             hard link to the dataset's PNG (copy across
        depth/<im_id:06d>.png           file systems); depth unchanged: 0.1 mm units
        mask/<im_id:06d>_<gt_id:06d>.png        amodal silhouette, 0/255
        mask_visib/<im_id:06d>_<gt_id:06d>.png  visible part, 0/255
        scene_camera.json   {im_id: {cam_K, depth_scale, cam_R_w2c, cam_t_w2c}}
        scene_gt.json       {im_id: [{cam_R_m2c, cam_t_m2c, obj_id}]}
        scene_gt_info.json  {im_id: [{bbox_obj, bbox_visib, px_count_all,
                             px_count_valid, px_count_visib, visib_fract}]}
      dropsynth_obj_ids.json            {obj_id: "pack/id"}
      dropsynth_export.json             provenance, whether amodal data was there,
                                        and every primitive model's kind and size

``scene_id`` is the dataset's scene index and ``im_id`` the view index inside
the scene; ``gt_id`` is the position in the image's ``scene_gt`` list, which
keeps the COCO annotation order (instance-id order). Matrices are row-major
lists, translations in millimetres, ``depth_scale`` is BOP's (millimetres per
depth unit: 0.1 for dropsynth's 0.1 mm PNGs, i.e. 1000 x the COCO
``depth_scale`` in metres). ``cam_R_w2c``/``cam_t_w2c`` invert ``world_T_cam``.

Conventions that differ from BOP's own datasets, on purpose:

* The model frame is dropsynth's object frame, the centre of mass (BOP puts the
  origin at the centre of the 3D bounding box and z "up"); ``cam_R_m2c``,
  ``cam_t_m2c`` are exactly the COCO ``cam_T_obj`` (metres -> mm), and
  ``models_info`` gives ``min_*`` so the bounding box is still known.
* ``scene_gt`` lists the objects that are annotated in the COCO file, i.e.
  those that passed ``output.min_visible_px`` / ``output.min_visible_fraction``.
  Objects hidden below those thresholds are not listed (the COCO file has no
  pose for them).
* Visibility is exact (from the instance-id image), not estimated from depth
  with BOP's 15 mm tolerance. Boxes are ``[x, y, w, h]`` with ``w = x_max -
  x_min`` as ``bop_toolkit_lib.misc.calc_2d_bbox`` computes them (one less
  than the COCO pixel-count width).
* The amodal silhouette (``mask/``, ``bbox_obj``, ``px_count_all``) is the one
  dropsynth renders: inside the image only, so truncation by the image border
  does not lower ``visib_fract`` (the toolkit renders a 3x larger canvas).
  ``px_count_all`` counts the pixels of the written ``mask/`` PNG (the COCO
  ``segmentation_amodal``), so ``visib_fract = px_count_visib / px_count_all``
  holds for the files; ``px_count_valid`` counts the silhouette's pixels with
  a depth value.

Datasets made without amodal data (``output.amodal`` off): nothing is made up.
``mask/`` is not written, and ``bbox_obj``, ``px_count_all``,
``px_count_valid`` and ``visib_fract`` are left out of ``scene_gt_info.json``
(so that code relying on them fails loudly instead of reading a fake value);
``dropsynth_export.json`` says ``"amodal": false``.

Models: the export reads files only (the COCO file, the PNGs, run.json's
pack paths and the packs); it imports no config, scene builder or physics.
Every mesh or URDF asset used gets one obj_id (its visual mesh from
``prepare(asset).visual`` scaled by 1000, unreferenced vertices dropped,
vertex normals, vertex colours, and texture coordinates plus a texture PNG
when the mesh is textured), read from the run's packs (``pack_paths`` in
``run.json``, and its config's distractor packs). Primitives draw their size
per instance, which their COCO annotations record (``primitive``: kind,
``size_m``, ``color_rgba``; see ``writers.coco.primitive_record``): each
distinct (asset, size) gets its own obj_id (in practice one per primitive
instance per scene, shared by the scene's views) and its instance colour;
a dataset whose primitive annotations lack that key (made before it was
written) is refused. Every annotation is checked: the model projected with
``K`` and ``cam_T_obj`` must bound the object's pixels (the amodal box when
there is one); otherwise the export stops with an error instead of writing
wrong models (e.g. changed packs or an edited file). Primitive models carry
BOP symmetries in ``models_info`` (box: 180 degree turns about each axis;
cylinder: continuous about z plus a flip; sphere: continuous about z and x,
the closest BOP can express). Obj ids: the mesh assets used, in catalog
order (packs, then distractor packs), then the primitive models in order of
first appearance.

Everything is written into a temporary folder next to ``out`` and renamed at
the end. A non-empty ``out`` is replaced only with ``overwrite=True`` and only
when it is a previous BOP export (it holds ``.dropsynth_bop``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dropsynth.errors import DropsynthError
from dropsynth.geometry import pose, rotation_about
from dropsynth.writers.dataset import open_dataset
from dropsynth.writers.files import check_replaceable, export_folder, holds_dataset, link_or_copy

MARKER = ".dropsynth_bop"
MM = 1000.0
OUTWARD_TOL_PX = 0.75  # a pixel centre of the object can lie at most this far outside its projected model
INWARD_TOL_PX = 3.0  # the amodal box may lie this far inside the projected model (sharp corners cover no centre)
_SPLIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# --- small helpers ------------------------------------------------------------


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except FileNotFoundError:
        raise DropsynthError(f"{path}: not found") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DropsynthError(f"{path}: cannot read PNG ({e})") from None


def _save_mask(path: Path, mask: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(path, format="PNG", compress_level=1)



def _bop_bbox(mask: np.ndarray) -> list[int]:
    """``[x, y, w, h]`` as bop_toolkit_lib.misc.calc_2d_bbox: w = x_max - x_min."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [-1, -1, -1, -1]
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min())]


def _write_bop_json(path: Path, content: dict) -> None:
    """As bop_toolkit_lib.inout.save_json: one key per line, numeric key order."""
    items = sorted(content.items(), key=lambda kv: int(kv[0]))
    lines = [f'  "{k}": {json.dumps(v, sort_keys=True)}' for k, v in items]
    path.write_text("{\n" + ",\n".join(lines) + ("\n" if lines else "") + "}")


def _mat(value, shape, where: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        a = None
    if a is None or a.shape != shape or not np.all(np.isfinite(a)):
        raise DropsynthError(f"{where}: must be a {shape[0]}x{shape[1]} matrix of numbers")
    return a


# --- models -------------------------------------------------------------------


@dataclass
class _Model:
    obj_id: int
    asset_id: str
    mesh: object  # trimesh.Trimesh in metres, centre-of-mass frame, referenced vertices only
    color_rgba: tuple | None = None  # overrides the mesh's own colours
    primitive: object | None = None  # dropsynth.types.Primitive
    first_seen: tuple = ()  # (scene_id, instance_id) of the first instance
    instances: list = field(default_factory=list)
    hull: np.ndarray | None = None  # convex hull vertices (m), for the projection check


def _clean_mesh(mesh):
    m = mesh.copy()
    m.remove_unreferenced_vertices()
    return m


def _diameter(pts: np.ndarray) -> float:
    """Largest distance between two vertices (exact: the pair lies on the hull)."""
    if len(pts) < 2:
        return 0.0
    try:
        from scipy.spatial import ConvexHull

        pts = pts[ConvexHull(pts).vertices]
    except Exception:  # flat or degenerate point sets: use every vertex
        pass
    best = 0.0
    for i in range(0, len(pts), 1024):
        d = np.linalg.norm(pts[i:i + 1024, None, :] - pts[None, :, :], axis=2)
        best = max(best, float(d.max()))
    return best


def _turn(axis: str, deg: float) -> np.ndarray:
    """(4, 4) rotation about ``axis``, snapped to exact 0, 1, -1 (no -0.0)."""
    return pose(np.rint(rotation_about(axis, deg) * 1e12) / 1e12 + 0.0, (0.0, 0.0, 0.0))


def _symmetries(prim) -> dict:
    """BOP symmetry entries of a primitive centred at its centre of mass."""
    if prim is None:
        return {}
    flat = lambda T: [float(v) + 0.0 for v in T.reshape(-1)]  # noqa: E731
    if prim.kind == "box":
        return {"symmetries_discrete": [flat(_turn(a, 180)) for a in "xyz"]}
    if prim.kind == "cylinder":
        return {"symmetries_continuous": [{"axis": [0, 0, 1], "offset": [0, 0, 0]}],
                "symmetries_discrete": [flat(_turn("x", 180))]}
    return {"symmetries_continuous": [{"axis": [0, 0, 1], "offset": [0, 0, 0]},
                                      {"axis": [1, 0, 0], "offset": [0, 0, 0]}]}


def _vertex_data(model: _Model):
    """(colours uint8 Nx3, uv Nx2 or None, texture PIL image or None)."""
    mesh = model.mesh
    n = len(mesh.vertices)
    if model.color_rgba is not None:
        rgb = np.clip(np.rint(np.asarray(model.color_rgba[:3]) * 255), 0, 255).astype(np.uint8)
        return np.tile(rgb, (n, 1)), None, None
    vis = mesh.visual
    if getattr(vis, "kind", None) == "texture":
        uv = getattr(vis, "uv", None)
        image = getattr(getattr(vis, "material", None), "image", None)
        try:
            colors = np.asarray(vis.to_color().vertex_colors)[:, :3].astype(np.uint8)
        except Exception:
            colors = np.full((n, 3), 200, np.uint8)
        if uv is not None and len(uv) == n and image is not None:
            return colors, np.asarray(uv, dtype=np.float64), image
        return colors, None, None
    try:
        colors = np.asarray(vis.vertex_colors)[:, :3].astype(np.uint8)
        if len(colors) == n:
            return colors, None, None
    except Exception:
        pass
    return np.full((n, 3), 128, np.uint8), None, None


def _write_ply(path: Path, model: _Model) -> dict:
    """Binary little-endian PLY in mm, with only the property types that
    bop_toolkit_lib.inout.load_ply reads (float, uchar, int); returns its
    models_info entry."""
    mesh = model.mesh
    verts = np.asarray(mesh.vertices, dtype=np.float64) * MM
    normals = np.asarray(mesh.vertex_normals, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    colors, uv, image = _vertex_data(model)
    header = ["ply", "format binary_little_endian 1.0", "comment dropsynth BOP export: "
              f"{model.asset_id}, millimetres, origin = centre of mass"]
    tex_name = None
    if image is not None:
        tex_name = path.with_suffix(".png").name
        header.append(f"comment TextureFile {tex_name}")
    header += [f"element vertex {len(verts)}"]
    header += [f"property float {p}" for p in ("x", "y", "z", "nx", "ny", "nz")]
    header += [f"property uchar {p}" for p in ("red", "green", "blue")]
    vfields = [("p", "<f4", (3,)), ("n", "<f4", (3,)), ("c", "u1", (3,))]
    if uv is not None:
        header += ["property float texture_u", "property float texture_v"]
        vfields.append(("uv", "<f4", (2,)))
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    v = np.zeros(len(verts), dtype=np.dtype(vfields))
    v["p"], v["n"], v["c"] = verts, normals, colors
    if uv is not None:
        v["uv"] = uv
    f = np.zeros(len(faces), dtype=np.dtype([("k", "u1"), ("i", "<i4", (3,))]))
    f["k"], f["i"] = 3, faces
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(v.tobytes())
        fh.write(f.tobytes())
    if image is not None:
        image.save(path.with_suffix(".png"), format="PNG")
    pts = verts.astype(np.float32).astype(np.float64)  # what a reader of the PLY gets
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    info = {"diameter": _diameter(pts), "min_x": float(lo[0]), "min_y": float(lo[1]), "min_z": float(lo[2]),
            "size_x": float(hi[0] - lo[0]), "size_y": float(hi[1] - lo[1]), "size_z": float(hi[2] - lo[2])}
    info.update(_symmetries(model.primitive))
    return info


PRIMITIVE_DIMS = {"box": 3, "cylinder": 2, "sphere": 1}  # numbers in a primitive's size_m


def _numbers(value, n: int, lo: float, hi: float) -> tuple[float, ...] | None:
    """``value`` as ``n`` finite numbers in [lo, hi], or None."""
    if not isinstance(value, list) or len(value) != n:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    out = tuple(float(v) for v in value)
    return out if all(np.isfinite(v) and lo <= v <= hi for v in out) else None


def _primitive_of(ann: dict, where: str):
    """(Primitive, colour or None) from an annotation's ``primitive`` record
    (``writers.coco.primitive_record``); None when it has none."""
    from dropsynth.types import Primitive

    rec = ann.get("primitive")
    if rec is None:
        return None
    kind = rec.get("kind") if isinstance(rec, dict) else None
    if kind not in PRIMITIVE_DIMS:
        raise DropsynthError(f"{where}: primitive.kind: must be one of {', '.join(PRIMITIVE_DIMS)}, got {kind!r}")
    size = _numbers(rec.get("size_m"), PRIMITIVE_DIMS[kind], 1e-9, np.inf)
    if size is None:
        raise DropsynthError(f"{where}: primitive.size_m: a {kind} needs {PRIMITIVE_DIMS[kind]} positive numbers "
                             f"(metres), got {rec.get('size_m')!r}")
    color = None
    if rec.get("color_rgba") is not None:
        color = _numbers(rec["color_rgba"], 4, 0.0, 1.0)
        if color is None:
            raise DropsynthError(f"{where}: primitive.color_rgba: must be 4 numbers in 0..1, "
                                 f"got {rec['color_rgba']!r}")
    return Primitive(kind, size), color


class _Models:
    """Assigns obj ids and finds each annotation's model: a procedural
    object's from its annotation's ``primitive`` record, a mesh asset's from
    the run's packs (``run.json``: ``pack_paths``, and the distractor packs
    of its config), read only when a mesh object is annotated."""

    def __init__(self, ds):
        self.ds = ds
        self.run_path = ds.run_path
        self.assets: dict[str, object] | None = None  # asset key -> Asset, once the packs are read
        self.order: dict[str, int] = {}  # asset key -> catalog position (packs, then distractors)
        self._distractors_read = False
        self._read = 0
        self.meshes: dict[str, _Model] = {}  # asset key -> model
        self.prims: dict[tuple, _Model] = {}  # (asset key, kind, size) -> model

    def _add(self, assets) -> None:
        for a in assets:  # a key read twice keeps its last place, as in the run's catalog
            self.assets[a.key] = a
            self.order[a.key] = self._read
            self._read += 1

    def _read_packs(self) -> None:
        from dropsynth.assets.catalog import load_catalog

        run = self.ds.require_run("the BOP export needs the run's asset packs (pack_paths) for its mesh models")
        packs = run.get("pack_paths")
        if not isinstance(packs, list) or not packs:
            raise DropsynthError(f"{self.run_path}: no 'pack_paths' (made by an older dropsynth?); the asset packs "
                                 f"are needed for the models")
        self.assets = {}
        self._add(load_catalog(packs, builtin=False, installed=False).assets)

    def _read_distractor_packs(self) -> None:
        """The packs of the run's distractors (annotated distractors have asset ids of their own)."""
        from dropsynth.assets.catalog import load_pack, pack_location
        from dropsynth.errors import AssetError

        self._distractors_read = True
        try:
            refs = self.ds.run["config"]["distractors"]["packs"] or []
        except (KeyError, TypeError):
            return
        for ref in refs:
            try:
                self._add(load_pack(pack_location(ref)))
            except AssetError as e:
                raise AssetError(f"{self.run_path}: distractors.packs: {e}") from None

    def asset(self, key: str, where: str):
        if self.assets is None:
            self._read_packs()
        if key not in self.assets and not self._distractors_read:
            self._read_distractor_packs()
        a = self.assets.get(key)
        if a is None:
            raise DropsynthError(f"{where}: asset_id {key!r} is not in the packs of {self.run_path} "
                                 f"({', '.join(self.assets) or 'none'})")
        return a

    def model_for(self, ann: dict, scene_id: int, where: str) -> _Model:
        from dropsynth.assets.mesh import prepare, primitive_mesh

        key = ann["asset_id"]
        iid = int(ann["inst_id"])
        prim = _primitive_of(ann, where)
        if prim is None:
            asset = self.asset(key, where)
            if asset.primitive_kind:
                raise DropsynthError(f"{where}: no 'primitive' key, and {key} is a procedural {asset.primitive_kind} "
                                     f"whose size is drawn per object: the dataset was made by an older dropsynth; "
                                     f"generate it again to export it")
            m = self.meshes.get(key)
            if m is None:
                m = self.meshes[key] = _Model(0, key, _clean_mesh(prepare(asset).visual), asset.color_rgba,
                                              first_seen=(scene_id, iid))
            return m
        primitive, color = prim
        pkey = (key, primitive.kind, primitive.size_m)
        m = self.prims.get(pkey)
        if m is None:
            m = self.prims[pkey] = _Model(0, key, primitive_mesh(primitive), color, primitive=primitive,
                                          first_seen=(scene_id, iid))
        if (scene_id, iid) not in m.instances:
            m.instances.append((scene_id, iid))
        return m

    def assign_ids(self) -> list[_Model]:
        models = sorted(self.meshes.values(), key=lambda m: self.order[m.asset_id])
        models += sorted(self.prims.values(), key=lambda m: m.first_seen)
        for i, m in enumerate(models):
            m.obj_id = i + 1
        return models


def _check_projection(model: _Model, cam_T_obj: np.ndarray, K: np.ndarray, size: tuple[int, int],
                      visib_box: list, amodal_box: list | None, where: str, run_path: Path) -> None:
    """The model in its pose must bound the object's pixels: every pixel centre
    inside the projected vertices' box (visible and amodal), and the amodal
    box no more than a few pixels inside it."""
    if model.hull is None:
        try:
            model.hull = np.asarray(model.mesh.convex_hull.vertices, dtype=np.float64)
        except Exception:  # degenerate (flat) meshes: every vertex
            model.hull = np.asarray(model.mesh.vertices, dtype=np.float64)
    verts = model.hull
    p = verts @ cam_T_obj[:3, :3].T + cam_T_obj[:3, 3]
    if np.any(p[:, 2] <= 1e-6):
        return  # reaches behind the camera: its projection is not a box
    uv = (p @ K.T)[:, :2] / p[:, 2:3]
    w, h = size
    lo = np.clip(uv.min(axis=0), 0, [w - 1, h - 1])
    hi = np.clip(uv.max(axis=0), 0, [w - 1, h - 1])
    bad = []
    for name, box in (("bbox", visib_box), ("bbox_amodal", amodal_box)):
        if box is None:
            continue
        b0 = np.array([box[0], box[1]], dtype=np.float64)
        b1 = b0 + np.array([box[2], box[3]], dtype=np.float64) - 1
        if np.any(b0 < lo - OUTWARD_TOL_PX) or np.any(b1 > hi + OUTWARD_TOL_PX):
            bad.append(f"{name} {list(box)} reaches outside the projected model "
                       f"[{lo[0]:.1f}, {lo[1]:.1f}, {hi[0]:.1f}, {hi[1]:.1f}]")
        if name == "bbox_amodal" and (np.any(b0 > lo + INWARD_TOL_PX) or np.any(b1 < hi - INWARD_TOL_PX)):
            bad.append(f"{name} {list(box)} is smaller than the projected model "
                       f"[{lo[0]:.1f}, {lo[1]:.1f}, {hi[0]:.1f}, {hi[1]:.1f}]")
    if bad:
        if model.primitive is not None:
            what, why = "the recorded primitive", "its 'primitive' record does not describe the object (edited?)"
        else:
            what, why = "the asset's mesh", f"the dataset was made with other packs than {run_path} names"
        raise DropsynthError(f"{where}: {what} ({model.asset_id}) does not match the object's pixels: {bad[0]}; "
                             f"{why}")


# --- output folder ------------------------------------------------------------


def _prepare_out(out: Path, src: Path, overwrite: bool) -> None:
    if out.resolve() == src.resolve() or src.resolve().is_relative_to(out.resolve()):
        raise DropsynthError(f"{out}: the BOP output must not be the dataset folder or contain it")
    check_replaceable(out, overwrite, MARKER, "BOP")


# --- the export ---------------------------------------------------------------


@holds_dataset("bop", "BOP export")
def export_bop(dataset_dir, out_dir=None, split: str = "train_pbr", overwrite: bool = False) -> Path:
    """Write the dataset in ``dataset_dir`` in BOP format to ``out_dir``
    (default ``<dataset_dir>/bop``); returns the output folder. See the module
    docstring for the layout and the conventions."""
    src = Path(dataset_dir)
    if not isinstance(split, str) or not _SPLIT_RE.match(split):
        raise DropsynthError(f"split: must be a folder name such as 'train_pbr', got {split!r}")
    ds = open_dataset(src)
    coco, coco_path, run_path = ds.coco, ds.coco_path, ds.run_path
    out = Path(out_dir) if out_dir is not None else src / "bop"
    _prepare_out(out, src, overwrite)

    images = coco["images"]
    need_img = ("id", "width", "height", "scene_id", "view_id", "K", "world_T_cam", "file_name", "depth_file",
                "depth_scale", "instances_file")
    for i, img in enumerate(images):
        missing = [k for k in need_img if k not in img]
        if missing:
            raise DropsynthError(f"{coco_path}: images[{i}]: missing {', '.join(missing)} (not a dropsynth dataset?)")
    anns_by_image: dict[int, list] = {img["id"]: [] for img in images}
    need_ann = ("image_id", "inst_id", "asset_id", "cam_T_obj", "bbox", "px_count_visib")
    amodal_flags = set()
    for j, a in enumerate(coco["annotations"]):
        if "inst_id" not in a and "instance_id" in a:  # datasets written before the key was renamed
            a["inst_id"] = a["instance_id"]
        missing = [k for k in need_ann if k not in a]
        if missing:
            raise DropsynthError(f"{coco_path}: annotations[{j}]: missing {', '.join(missing)}")
        if a["image_id"] not in anns_by_image:
            raise DropsynthError(f"{coco_path}: annotations[{j}]: image_id {a['image_id']} has no image")
        anns_by_image[a["image_id"]].append(a)
        amodal_flags.add("segmentation_amodal" in a)
    if len(amodal_flags) > 1:
        raise DropsynthError(f"{coco_path}: some annotations have segmentation_amodal and others do not")
    amodal = amodal_flags == {True}
    keyed = {}
    for img in images:
        k = (int(img["scene_id"]), int(img["view_id"]))
        if k in keyed:
            raise DropsynthError(f"{coco_path}: two images are scene {k[0]} view {k[1]}")
        keyed[k] = img

    from dropsynth.annotate import rle_to_mask

    models = _Models(ds)
    with export_folder(out, "BOP") as tmp:
        (tmp / MARKER).write_text(json.dumps({"tool": "dropsynth", "format": "bop"}) + "\n")
        per_scene: dict[int, dict] = {}
        gt_models: dict[tuple[int, int], list] = {}
        for (scene_id, im_id) in sorted(keyed):
            img = keyed[(scene_id, im_id)]
            where_img = f"{coco_path}: image {img['id']} ({img['file_name']})"
            K = _mat(img["K"], (3, 3), f"{where_img}: K")
            wTc = _mat(img["world_T_cam"], (4, 4), f"{where_img}: world_T_cam")
            size = (int(img["width"]), int(img["height"]))
            sdir = tmp / split / f"{scene_id:06d}"
            if scene_id not in per_scene:
                for sub in ("rgb", "depth", "mask_visib") + (("mask",) if amodal else ()):
                    (sdir / sub).mkdir(parents=True, exist_ok=True)
                per_scene[scene_id] = {"camera": {}, "gt": {}, "info": {}}
            name = f"{im_id:06d}"
            link_or_copy(src / img["file_name"], sdir / "rgb" / f"{name}.png")
            link_or_copy(src / img["depth_file"], sdir / "depth" / f"{name}.png")
            depth_scale_mm = float(img["depth_scale"]) * MM
            R_c2w, t_c2w = wTc[:3, :3], wTc[:3, 3]
            per_scene[scene_id]["camera"][im_id] = {
                "cam_K": [float(v) for v in K.reshape(-1)], "depth_scale": depth_scale_mm,
                "cam_R_w2c": [float(v) for v in R_c2w.T.reshape(-1)],
                "cam_t_w2c": [float(v) for v in (-R_c2w.T @ t_c2w) * MM]}
            ids = _read_png(src / img["instances_file"])
            depth = _read_png(src / img["depth_file"])
            if ids.shape != (size[1], size[0]) or depth.shape != ids.shape:
                raise DropsynthError(f"{src / img['instances_file']}: shape {ids.shape} does not match the image "
                                     f"size {size[0]}x{size[1]} (or the depth PNG's {depth.shape})")
            gts, infos, mdl = [], [], []
            for gt_id, a in enumerate(anns_by_image[img["id"]]):
                where = f"{coco_path}: annotation {a.get('id', '?')} (image {img['id']}, instance {a['inst_id']})"
                T = _mat(a["cam_T_obj"], (4, 4), f"{where}: cam_T_obj")
                model = models.model_for(a, scene_id, where)
                _check_projection(model, T, K, size, a["bbox"], a.get("bbox_amodal"), where, run_path)
                visib = ids == int(a["inst_id"])
                n_visib = int(visib.sum())
                if n_visib != int(a["px_count_visib"]):
                    raise DropsynthError(f"{where}: px_count_visib is {a['px_count_visib']} but "
                                         f"{img['instances_file']} has {n_visib} pixels of it")
                _save_mask(sdir / "mask_visib" / f"{name}_{gt_id:06d}.png", visib)
                info = {"bbox_visib": _bop_bbox(visib), "px_count_visib": n_visib}
                if amodal:
                    try:
                        full = rle_to_mask(a["segmentation_amodal"])
                    except Exception as e:
                        raise DropsynthError(f"{where}: segmentation_amodal is not a COCO RLE ({e})") from None
                    if full.shape != visib.shape:
                        raise DropsynthError(f"{where}: segmentation_amodal has size {list(full.shape)}, the image "
                                             f"{[size[1], size[0]]}")
                    _save_mask(sdir / "mask" / f"{name}_{gt_id:06d}.png", full)
                    n_all = int(full.sum())
                    info.update(bbox_obj=_bop_bbox(full), px_count_all=n_all,
                                px_count_valid=int((depth[full] > 0).sum()),
                                visib_fract=float(n_visib / n_all) if n_all else 0.0)
                gts.append({"cam_R_m2c": [float(v) for v in T[:3, :3].reshape(-1)],
                            "cam_t_m2c": [float(v) for v in T[:3, 3] * MM], "obj_id": 0})
                infos.append(info)
                mdl.append(model)
            per_scene[scene_id]["gt"][im_id] = gts
            per_scene[scene_id]["info"][im_id] = infos
            gt_models[(scene_id, im_id)] = mdl

        ordered = models.assign_ids()
        for (scene_id, im_id), mdl in gt_models.items():
            for gt, m in zip(per_scene[scene_id]["gt"][im_id], mdl):
                gt["obj_id"] = m.obj_id
        for scene_id, d in per_scene.items():
            sdir = tmp / split / f"{scene_id:06d}"
            _write_bop_json(sdir / "scene_camera.json", d["camera"])
            _write_bop_json(sdir / "scene_gt.json", d["gt"])
            _write_bop_json(sdir / "scene_gt_info.json", d["info"])

        mdir = tmp / "models"
        mdir.mkdir()
        models_info = {}
        for m in ordered:
            models_info[m.obj_id] = _write_ply(mdir / f"obj_{m.obj_id:06d}.ply", m)
        _write_bop_json(mdir / "models_info.json", models_info)
        _write_bop_json(tmp / "dropsynth_obj_ids.json", {m.obj_id: m.asset_id for m in ordered})

        cams = {(img["width"], img["height"], json.dumps(img["K"]), img["depth_scale"]) for img in images}
        if len(cams) == 1:
            img = images[0]
            K = np.asarray(img["K"], dtype=np.float64)
            (tmp / "camera.json").write_text(json.dumps(
                {"cx": float(K[0, 2]), "cy": float(K[1, 2]), "fx": float(K[0, 0]), "fy": float(K[1, 1]),
                 "width": int(img["width"]), "height": int(img["height"]),
                 "depth_scale": float(img["depth_scale"]) * MM}, indent=2, sort_keys=True))
        export_info = {
            "tool": "dropsynth", "source": str(src.resolve()), "split": split, "amodal": amodal,
            "scenes": len(per_scene), "images": len(images), "annotations": len(coco["annotations"]),
            "models": len(ordered),
            "model_frame": "centre of mass (dropsynth's object frame), millimetres",
            "bbox": "[x, y, w, h] with w = x_max - x_min, as bop_toolkit_lib.misc.calc_2d_bbox",
            "primitives": {str(m.obj_id): {"asset_id": m.asset_id, "kind": m.primitive.kind,
                                           "size_m": [float(s) for s in m.primitive.size_m],
                                           "instances": [{"scene_id": s, "inst_id": i} for s, i in m.instances]}
                           for m in ordered if m.primitive is not None},
        }
        (tmp / "dropsynth_export.json").write_text(json.dumps(export_info, indent=2))
    return out


def export_registered(dataset_dir, *, ratios=None, seed=None) -> Path:
    """Registry entry ``bop``: into DATASET/bop (BOP has no train/val splits of
    its own; ``ratios`` and ``seed`` are not used)."""
    return export_bop(dataset_dir, overwrite=True)
