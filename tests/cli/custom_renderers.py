"""Renderers of a user's own, for tests/cli/test_custom_renderer.py: module
level, so that spawned workers import them by name.

``Discs`` is pure numpy (no GL): each object's bounding sphere projected as
a disc of one colour per instance, with exact ids and constant depth (the
sphere centre's z), nearer discs over farther ones; distractors are drawn
(they occlude) with id 0, as the raster backend does. Background: depth 0,
ids 0, the scene's plain colour. ``AmodalDiscs`` adds ``amodal_masks``.
``InvertedRaster`` wraps the raster backend and inverts its RGB.
"""
from __future__ import annotations

import numpy as np

from dropsynth.types import Frame


def disc_colour(instance_id: int) -> np.ndarray:
    return np.array([(37 * instance_id) % 256, (91 * instance_id + 40) % 256, 200], np.uint8)


class Discs:
    made = 0  # renderers made in this process (a test counts them)

    def __init__(self, width: int, height: int, cfg=None):
        self.size = (width, height)
        self.closed = False
        self._discs = []  # (world centre, radius m, instance id or 0, colour)
        self._last = None
        type(self).made += 1

    def set_scene(self, settled) -> None:
        from dropsynth.groundtruth import object_bounds

        self._background = np.rint(np.asarray(settled.spec.background_rgb[:3]) * 255).astype(np.uint8)
        self._discs = []
        for o in settled.objects():
            radius = float(np.linalg.norm(np.abs(object_bounds(o)).max(axis=0)))
            pose = settled.poses[o.instance_id]
            self._discs.append((pose[:3, 3].copy(), radius, o.instance_id if o.annotate else 0,
                                disc_colour(o.instance_id)))

    def _project(self, camera):
        """(u, v, z, radius px, id, colour) of each disc in front of the camera, far to near."""
        cam_T_world = np.linalg.inv(camera.world_T_cam)
        out = []
        for centre, r, iid, colour in self._discs:
            x, y, z = cam_T_world[:3, :3] @ centre + cam_T_world[:3, 3]
            if z > max(r, 1e-3):
                K = camera.K
                out.append((K[0, 0] * x / z + K[0, 2], K[1, 1] * y / z + K[1, 2], z, K[0, 0] * r / z, iid, colour))
        return sorted(out, key=lambda d: -d[2])

    def _disc_mask(self, u, v, rpx, h, w):
        yy, xx = np.mgrid[0:h, 0:w]
        return (xx - u) ** 2 + (yy - v) ** 2 <= rpx ** 2

    def render(self, camera, view=None) -> Frame:
        w, h = self.size
        rgb = np.empty((h, w, 3), np.uint8)
        rgb[:] = self._background
        depth = np.zeros((h, w), np.float32)
        ids = np.zeros((h, w), np.uint16)
        for u, v, z, rpx, iid, colour in self._project(camera):
            m = self._disc_mask(u, v, rpx, h, w)
            rgb[m], depth[m], ids[m] = colour, z, iid
        self._last = camera
        return Frame(rgb=rgb, depth_m=depth, instance_ids=ids)

    def close(self) -> None:
        self.closed = True


class AmodalDiscs(Discs):
    def amodal_masks(self, instance_ids=None) -> dict:
        w, h = self.size
        return {iid: self._disc_mask(u, v, rpx, h, w) for u, v, z, rpx, iid, _ in self._project(self._last)
                if iid and (instance_ids is None or iid in instance_ids)}


def make_discs(width, height, cfg):
    """A factory function (not a class)."""
    return Discs(width, height, cfg)


class InvertedRaster:
    """The raster backend with its RGB inverted (255 - rgb); ids and depth as they are."""

    def __init__(self, width: int, height: int, cfg):
        from dropsynth.generator import default_renderer

        self.inner = default_renderer(width, height, cfg)
        self.draws_background = self.inner.draws_background
        self.gl_renderer = self.inner.gl_renderer

    def set_scene(self, settled) -> None:
        self.inner.set_scene(settled)

    def render(self, camera, view=None) -> Frame:
        f = self.inner.render(camera, view)
        return Frame(rgb=255 - f.rgb, depth_m=f.depth_m, instance_ids=f.instance_ids)

    def close(self) -> None:
        self.inner.close()


class BadFrames(Discs):
    """Returns a broken frame of the kind ``mode`` names, for the refusals."""

    mode = "rgb_shape"

    def render(self, camera, view=None) -> Frame:
        f = super().render(camera, view)
        if self.mode == "rgb_shape":
            return Frame(rgb=f.rgb[:, :, :1], depth_m=f.depth_m, instance_ids=f.instance_ids)
        if self.mode == "depth_dtype":
            return Frame(rgb=f.rgb, depth_m=f.depth_m.astype(np.float64), instance_ids=f.instance_ids)
        if self.mode == "ids_dtype":
            return Frame(rgb=f.rgb, depth_m=f.depth_m, instance_ids=f.instance_ids.astype(np.int32))
        if self.mode == "unknown_id":
            ids = f.instance_ids.copy()
            ids[0, 0] = 999
            return Frame(rgb=f.rgb, depth_m=f.depth_m, instance_ids=ids)
        if self.mode == "nan_depth":
            d = f.depth_m.copy()
            d[1, 1] = np.nan
            return Frame(rgb=f.rgb, depth_m=d, instance_ids=f.instance_ids)
        return f.rgb  # "not_a_frame"


class NoClose:
    def __init__(self, width, height, cfg):
        pass

    def set_scene(self, settled):
        pass

    def render(self, camera, view=None):
        pass


class RenderNeedsThree(Discs):
    def render(self, camera, view, extra):  # noqa: D102  (one required argument too many)
        raise AssertionError("never called")


class WrongSize(Discs):
    """Renders at half the size it was made for."""

    def __init__(self, width, height, cfg=None):
        super().__init__(width // 2, height // 2, cfg)
