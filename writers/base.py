"""What flows from the generator into the writers, and what a writer is.

A ``Sample`` is one camera view of one settled scene, complete in memory: the
final pixels (after the camera effects and sensor noise), the labels, and the
optional ground truth, exactly as a run writes them. ``Generator.samples``
yields them; a ``Writer`` turns them into files.

A writer says which top-level entries of the output folder it writes
(``entries``): the folder handling (``writers/outdir.py``) derives from them
what ``--overwrite`` moves aside, where ``--resume`` looks for temporaries,
and run.json's file list, so no folder name is listed twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # types only: writers do not import the layers above them
    import numpy as np

    from dropsynth.types import Annotation, CameraSpec, Frame, SceneSpec, SettledScene


@dataclass(frozen=True)
class Scene:
    """A built and settled scene: ``spec`` as the builder drew it (cameras,
    lights, background), ``settled`` after physics."""

    index: int
    spec: "SceneSpec"
    settled: "SettledScene"

    @property
    def cameras(self):
        return self.spec.cameras


@dataclass(frozen=True)
class Sample:
    """One view, in memory.

    ``frame``: the images as written (rgb after camera effects and sensor
    noise; depth in metres; instance ids). ``annotations``: the objects
    labelled in it. ``extras``: optional per-pixel ground truth as written
    (``class``, ``normals``, ``nocs`` uint8/uint16 images, ``depth_noisy`` in
    metres). ``annotation_keys``: extra COCO keys per instance id (3-D boxes,
    keypoints). ``grasps``: the view's grasp arrays (``writers.grasps``
    ``FRAME_KEYS``) when grasps are on. ``renderer``: "raster" or "cycles" in
    runs that use Cycles, else None.
    """

    scene: Scene
    view: int
    image_index: int
    camera: "CameraSpec"
    frame: "Frame"
    annotations: list["Annotation"]
    extras: dict[str, "np.ndarray"] = field(default_factory=dict)
    annotation_keys: dict[int, dict] = field(default_factory=dict)
    grasps: dict[str, Any] | None = None
    renderer: str | None = None


@dataclass
class Written:
    """What a writer wrote for one sample: ``files`` (COCO image-record key ->
    path relative to the output folder) and ``annotation_keys`` (instance id ->
    extra COCO annotation keys)."""

    files: dict[str, str] = field(default_factory=dict)
    annotation_keys: dict[int, dict] = field(default_factory=dict)

    def update(self, other: "Written") -> None:
        self.files.update(other.files)
        for iid, keys in other.annotation_keys.items():
            self.annotation_keys.setdefault(iid, {}).update(keys)


@runtime_checkable
class Writer(Protocol):
    """Writes samples into an output folder.

    ``entries``: the top-level names (folders or files) it writes in this run;
    ``temp_dirs``: the folders (relative) where it leaves temporaries while
    writing; ``listing``: its run.json ``files`` entries (name -> relative
    path). ``write(sample)`` writes one sample's files; ``finish()`` completes
    what it has written (e.g. renames a shard's COCO part into place).
    """

    entries: tuple[str, ...]
    temp_dirs: tuple[str, ...]
    listing: dict[str, str]

    def write(self, sample: Sample) -> Written: ...

    def finish(self) -> None: ...
