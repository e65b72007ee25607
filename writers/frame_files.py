"""The per-frame writers of a run, and the COCO part that indexes them.

Each writer encodes what a ``Sample`` holds with the functions of
``writers/images.py``, ``writers/grasps.py`` and ``writers/coco.py``, and
says which top-level entries it writes (``ENTRIES``: all it may write;
``entries``: those of this run). ``CocoPartWriter`` runs the file writers for
each sample and collects the shard's COCO records; ``finish()`` makes its
frames durable and renames the part into place, so a shard is complete
exactly when its part exists.

Record keys keep the order of the writers (images, ground truth, sensor,
grasps): the COCO bytes depend on it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dropsynth.writers.base import Sample, Written

GRASP_FORMAT_DIRS = {"jacquard": "grasps_jacquard", "cornell": "grasps_cornell", "maps": "grasp_maps"}


class ImagesWriter:
    """rgb/, depth/ (uint16, 0.1 mm) and instances/ (uint16 ids) PNGs. Its
    folders are made on the first write or at ``finish`` (a writer made only
    to ask what a run writes touches nothing)."""

    ENTRIES = ("rgb", "depth", "instances")

    def __init__(self, root: Path, compress_level: int = 1):
        self.root, self.level = Path(root), compress_level
        self.images = None
        self.entries = self.temp_dirs = self.ENTRIES
        self.listing = {k: f"{k}/" for k in self.ENTRIES}

    def _open(self):
        if self.images is None:
            from dropsynth.writers.images import ImageWriter

            self.images = ImageWriter(self.root, self.level)  # makes the folders
        return self.images

    def write(self, sample: Sample) -> Written:
        f = sample.frame
        return Written(self._open().write(sample.image_index, f.rgb, f.depth_m, f.instance_ids))

    def finish(self) -> None:
        self._open()


class _ExtrasWriter:
    """One PNG per frame and kind in ``<kind>/`` from ``sample.extras``."""

    ENTRIES: tuple[str, ...] = ()

    def __init__(self, root: Path, compress_level: int, kinds):
        self.root, self.level = Path(root), compress_level
        self.entries = self.temp_dirs = tuple(k for k in self.ENTRIES if k in set(kinds))
        self.listing = {k: f"{k}/" for k in self.entries}

    def _encode(self, kind: str, array: np.ndarray) -> np.ndarray:
        return array

    def write(self, sample: Sample) -> Written:
        from dropsynth.writers.images import frame_name, save_png

        name, files = frame_name(sample.image_index), {}
        for k in self.entries:
            (self.root / k).mkdir(exist_ok=True)
            save_png(self.root / k / name, self._encode(k, sample.extras[k]), self.level)
            files[f"{k}_file"] = f"{k}/{name}"
        return Written(files)

    def finish(self) -> None:
        pass


class GroundTruthWriter(_ExtrasWriter):
    """class/, normals/, nocs/ PNGs (output.ground_truth); the 3-D boxes and
    keypoints go into the COCO records from ``sample.annotation_keys``."""

    ENTRIES = ("class", "normals", "nocs")


class SensorWriter(_ExtrasWriter):
    """depth_noisy/ (uint16, 0.1 mm) beside the clean depth (config sensor)."""

    ENTRIES = ("depth_noisy",)

    def _encode(self, kind: str, array: np.ndarray) -> np.ndarray:
        from dropsynth.writers.images import depth_to_png_units

        return depth_to_png_units(array)


class GraspFilesWriter:
    """grasps/NNNNNN.npz per frame, and the Jacquard, Cornell and GG-CNN map
    files asked for (grasps.formats); the COCO records get each object's
    planar grasps (at most ``per_annotation``) and its grasp count."""

    ENTRIES = ("grasps", *GRASP_FORMAT_DIRS.values())

    def __init__(self, root: Path, formats, per_annotation: int):
        self.root = Path(root)
        self.formats = tuple(formats)
        self.per_annotation = per_annotation
        self.entries = ("grasps", *(GRASP_FORMAT_DIRS[f] for f in self.formats))
        self.temp_dirs = (*self.entries, "grasps/library")
        self.listing = {d: f"{d}/" for d in self.entries}
        self._made = False

    def _open(self) -> None:
        if not self._made:
            for d in self.entries:
                (self.root / d).mkdir(parents=True, exist_ok=True)
            self._made = True

    def write(self, sample: Sample) -> Written:
        from dropsynth.writers import grasps as gw
        from dropsynth.writers.images import frame_name

        self._open()
        v, out = sample.grasps, self.root
        name = Path(frame_name(sample.image_index)).stem
        files = {"grasps_file": f"grasps/{name}.npz"}
        gw.write_frame_grasps(out / files["grasps_file"], **v)
        rects = v["rects"]
        if "jacquard" in self.formats:
            files["grasps_jacquard_file"] = f"{GRASP_FORMAT_DIRS['jacquard']}/{name}_grasps.txt"
            gw.write_jacquard(out / files["grasps_jacquard_file"], rects)
        if "cornell" in self.formats:
            files["grasps_cornell_file"] = f"{GRASP_FORMAT_DIRS['cornell']}/{name}cpos.txt"
            gw.write_cornell(out / files["grasps_cornell_file"], rects)
        if "maps" in self.formats:
            files["grasp_maps_file"] = f"{GRASP_FORMAT_DIRS['maps']}/{name}.npz"
            ids = sample.frame.instance_ids
            maps = gw.grasp_maps(rects, ids.shape[0], ids.shape[1],
                                 quality=v["robust"][v["rect_index"]] if len(rects) else None)
            gw.write_grasp_maps(out / files["grasp_maps_file"], maps)
        keys = {}
        for a in sample.annotations:
            mine = np.flatnonzero(v["rect_instance_id"] == a.instance_id)[:self.per_annotation]
            keys[a.instance_id] = {
                "grasps_2d": [[round(float(x), 3) for x in rects[k]] for k in mine],
                "grasps_count": int(np.sum(v["instance_id"] == a.instance_id)),
            }
        return Written(files, keys)

    def finish(self) -> None:
        self._open()


class CocoPartWriter:
    """One shard's COCO part (annotations/parts/shard_NNNNNN.json): runs the
    file writers for every sample and keeps its image and annotation records.
    ``stats`` (a dict the caller fills) is written into the part."""

    ENTRIES = ("annotations",)

    def __init__(self, root: Path, shard: int, scenes: tuple[int, int], file_writers: list, category_ids: dict,
                 stats: dict):
        self.root = Path(root)
        self.shard, self.scenes = shard, scenes
        self.file_writers = list(file_writers)
        self.category_ids = category_ids
        self.stats = stats
        self.entries = (*self.ENTRIES, *(e for w in self.file_writers for e in w.entries))
        self.temp_dirs = ("annotations", "annotations/parts", *(d for w in self.file_writers for d in w.temp_dirs))
        self.listing = {"coco": "annotations/instances.json"}
        for w in self.file_writers:
            self.listing.update(w.listing)
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self.written: list[Path] = []

    def write(self, sample: Sample) -> Written:
        from dropsynth.writers.coco import annotation_record, image_record
        from dropsynth.writers.images import DEPTH_SCALE_M

        out = Written(annotation_keys={iid: dict(k) for iid, k in sample.annotation_keys.items()})
        for w in self.file_writers:
            out.update(w.write(sample))
        self.written += [self.root / f for f in out.files.values()]
        rec = image_record(sample.image_index, out.files, sample.camera, sample.scene.index, sample.view,
                           DEPTH_SCALE_M)
        rec.update((k, v) for k, v in out.files.items() if k not in ImagesWriter.ENTRIES)
        if sample.renderer is not None:  # only in runs that use Cycles: other runs keep their bytes
            rec["renderer"] = sample.renderer
        self.images.append(rec)
        self.annotations += [{**annotation_record(a, sample.image_index + 1, self.category_ids[a.category]),
                              **out.annotation_keys.get(a.instance_id, {})} for a in sample.annotations]
        return out

    def finish(self) -> None:
        from dropsynth.atomic import fsync_paths, write_json_atomic
        from dropsynth.writers.coco import part_path

        for w in self.file_writers:
            w.finish()
        # The part says "this shard is complete": its frames must be on disk first.
        fsync_paths(self.written)
        write_json_atomic(part_path(self.root, self.shard),
                          {"shard": self.shard, "scenes": list(self.scenes), "stats": self.stats,
                           "images": self.images, "annotations": self.annotations}, durable=True)


FILE_WRITERS = (ImagesWriter, GroundTruthWriter, SensorWriter, GraspFilesWriter)
