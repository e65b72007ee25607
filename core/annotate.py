"""Annotation helpers: masks, boxes, areas, exact polygons and RLE.

Pure numpy plus pycocotools; no renderer, no physics. Every function here
works on the exact instance-id image (uint16, 0 = background), so labels are
derived from the same pixels that are written to ``instances/NNNNNN.png``.

Pixel convention (the COCO one, which pycocotools' rasterizer uses): pixel
(row r, column c) covers the square ``[c, c+1] x [r, r+1]``; a polygon vertex
``(x, y)`` is a pixel *corner*. Polygons traced along pixel edges therefore
rasterize back to exactly the mask they came from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dropsynth.errors import DropsynthError

__all__ = [
    "InstanceMask",
    "instance_masks",
    "bbox_from_mask",
    "mask_to_polygons",
    "mask_to_rle",
    "rle_to_mask",
    "largest_component",
]


@dataclass(frozen=True)
class InstanceMask:
    """One instance's visible pixels in one frame.

    ``mask`` is a bool array cropped to ``bbox`` (rows ``y0:y0+h``, columns
    ``x0:x0+w``) to keep memory small; ``full(shape)`` expands it.
    """

    instance_id: int
    area: int  # visible pixel count
    bbox: tuple[int, int, int, int]  # x, y, w, h in pixels, tight around the visible mask
    mask: np.ndarray  # bool (h, w), cropped to bbox

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask as a bool array of ``shape`` (H, W)."""
        out = np.zeros(shape, dtype=bool)
        x, y, w, h = self.bbox
        out[y:y + h, x:x + w] = self.mask
        return out


def instance_masks(ids: np.ndarray) -> dict[int, InstanceMask]:
    """Split an instance-id image into per-instance masks in one pass.

    Parameters
    ----------
    ids : (H, W) uint16 array, 0 = background.

    Returns
    -------
    dict instance_id -> InstanceMask, for every id > 0 present, in id order.
    """
    if ids.ndim != 2:
        raise DropsynthError(f"instance image must be 2-D, got shape {ids.shape}")
    flat = ids.ravel()
    present = np.flatnonzero(np.bincount(flat, minlength=1))
    present = present[present > 0]
    out: dict[int, InstanceMask] = {}
    if present.size == 0:
        return out
    h, w = ids.shape
    rows = np.arange(h)
    cols = np.arange(w)
    # Per-id row and column extents from reductions over the image, instead of
    # an np.nonzero per instance over the whole frame.
    for iid in present.tolist():
        hit = ids == iid
        r_any = hit.any(axis=1)
        c_any = hit.any(axis=0)
        r0, r1 = rows[r_any][[0, -1]]
        c0, c1 = cols[c_any][[0, -1]]
        crop = hit[r0:r1 + 1, c0:c1 + 1]
        out[iid] = InstanceMask(
            instance_id=int(iid),
            area=int(crop.sum()),
            bbox=(int(c0), int(r0), int(c1 - c0 + 1), int(r1 - r0 + 1)),
            mask=crop,
        )
    return out


def bbox_from_mask(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight ``(x, y, w, h)`` box of a bool mask in pixels, or None if empty."""
    r_any = mask.any(axis=1)
    if not r_any.any():
        return None
    c_any = mask.any(axis=0)
    r = np.flatnonzero(r_any)
    c = np.flatnonzero(c_any)
    return int(c[0]), int(r[0]), int(c[-1] - c[0] + 1), int(r[-1] - r[0] + 1)


# --- polygons -----------------------------------------------------------------

# Direction codes of unit boundary edges, screen coordinates (y down):
# 0 = +x, 1 = +y, 2 = -x, 3 = -y. Edges run clockwise on screen around the
# foreground, so the inside is always on the right of the direction of travel.
_DX = np.array([1, 0, -1, 0])
_DY = np.array([0, 1, 0, -1])


def _boundary_loops(mask: np.ndarray) -> list[np.ndarray]:
    """Closed loops of pixel-corner vertices along the mask's boundary.

    Each loop is an (N, 2) int array of (x, y) corners with only the corner
    vertices kept (collinear ones dropped). Outer boundaries run clockwise on
    screen (positive signed area in y-down coordinates), holes anticlockwise.
    Foreground is 4-connected: pixels touching only at a corner get separate
    loops.
    """
    m = np.pad(mask.astype(bool), 1)
    inner = m[1:-1, 1:-1]
    r, c = np.nonzero(inner & ~m[:-2, 1:-1])  # top edges: (c, r) -> (c+1, r)
    starts = [np.stack([c, r], 1)]
    dirs = [np.zeros(r.size, np.int8)]
    r, c = np.nonzero(inner & ~m[1:-1, 2:])  # right edges: (c+1, r) -> (c+1, r+1)
    starts.append(np.stack([c + 1, r], 1))
    dirs.append(np.full(r.size, 1, np.int8))
    r, c = np.nonzero(inner & ~m[2:, 1:-1])  # bottom edges: (c+1, r+1) -> (c, r+1)
    starts.append(np.stack([c + 1, r + 1], 1))
    dirs.append(np.full(r.size, 2, np.int8))
    r, c = np.nonzero(inner & ~m[1:-1, :-2])  # left edges: (c, r+1) -> (c, r)
    starts.append(np.stack([c, r + 1], 1))
    dirs.append(np.full(r.size, 3, np.int8))
    start = np.concatenate(starts)
    d = np.concatenate(dirs)
    n = start.shape[0]
    if n == 0:
        return []
    width = mask.shape[1] + 1
    key = start[:, 1] * width + start[:, 0]
    # Outgoing edges per start vertex: one, or two at a corner-touch ("pinch");
    # first[k] / second[k]: the lower / higher edge index starting at vertex k.
    order = np.argsort(key, kind="stable")
    skey = key[order]
    dup = np.zeros(n, bool)
    dup[1:] = skey[1:] == skey[:-1]
    size = (mask.shape[0] + 1) * width
    first = np.full(size, -1, np.int64)
    first[skey[~dup]] = order[~dup]
    second = np.full(size, -1, np.int64)
    second[skey[dup]] = order[dup]
    end_key = (start[:, 1] + _DY[d]) * width + (start[:, 0] + _DX[d])
    # The edge after each edge. At a pinch turn right (towards the inside) so
    # that the loop hugs one 4-connected component.
    nxt = first[end_key]
    alt = second[end_key]
    want = (d + 1) % 4
    turn = (alt >= 0) & (d[nxt] != want) & (d[np.maximum(alt, 0)] == want)
    nxt = np.where(turn, alt, nxt).tolist()
    used = bytearray(n)
    loops = []
    for e0 in range(n):
        if used[e0]:
            continue
        seq = []
        e = e0
        while not used[e]:
            used[e] = 1
            seq.append(e)
            e = nxt[e]
        seq = np.asarray(seq)
        ds = d[seq]
        corner = ds != np.roll(ds, 1)  # keep vertices where the direction changes
        loops.append(start[seq][corner])
    return loops


def _signed_area(loop: np.ndarray) -> float:
    x = loop[:, 0].astype(np.float64)
    y = loop[:, 1].astype(np.float64)
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _point_in_loop(pt: tuple[float, float], loop: np.ndarray) -> bool:
    """Even-odd test of a point (not on a vertex line) against a closed loop."""
    x, y = pt
    xs = loop[:, 0].astype(np.float64)
    ys = loop[:, 1].astype(np.float64)
    xe = np.roll(xs, -1)
    ye = np.roll(ys, -1)
    cross = (ys > y) != (ye > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = xs + (y - ys) * (xe - xs) / (ye - ys)
    return bool(np.count_nonzero(cross & (xint > x)) % 2)


def _bridge(outer: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Join a hole into its outer loop with a zero-width vertical cut.

    pycocotools fills polygons even-odd along image columns; a vertical cut
    adds no column crossings, so the joined polygon rasterizes to exactly the
    outer region minus the hole.
    """
    hx, hy = hole[0]
    # A vertical line through the hole's first vertex meets the outer loop on
    # a horizontal edge above it (the outer loop encloses the hole).
    best = None
    n = outer.shape[0]
    for i in range(n):
        a = outer[i]
        b = outer[(i + 1) % n]
        if a[1] == b[1] and a[1] < hy and min(a[0], b[0]) <= hx <= max(a[0], b[0]):
            if best is None or a[1] > best[1]:
                best = (i, int(a[1]))
    if best is None:  # cannot happen for a hole enclosed by outer; keep the hole unfilled-safe
        raise DropsynthError("internal error: hole not enclosed by its outer boundary")
    i, oy = best
    join = np.array([[hx, oy]])
    return np.concatenate([outer[: i + 1], join, hole, hole[:1], join, outer[i + 1:]])


def mask_to_polygons(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> list[list[float]]:
    """Exact COCO polygons of a bool mask.

    Parameters
    ----------
    mask : (H, W) bool array (may be a crop).
    offset : (x, y) added to every vertex, for a mask cropped from a frame.

    Returns
    -------
    list of flat ``[x1, y1, x2, y2, ...]`` float lists, one per 4-connected
    part, each with at least 8 numbers. Holes are joined into their part by a
    zero-width cut, so ``pycocotools.mask.frPyObjects`` + ``decode`` gives back
    exactly ``mask``.
    """
    loops = _boundary_loops(mask)
    outers = [lp for lp in loops if _signed_area(lp) > 0]
    holes = [lp for lp in loops if _signed_area(lp) < 0]
    if holes:
        # Each hole belongs to the smallest outer loop that contains it.
        areas = [_signed_area(o) for o in outers]
        members: list[list[np.ndarray]] = [[] for _ in outers]
        for hole in holes:
            probe = (hole[0, 0] + 0.5, hole[0, 1] - 0.5)  # a pixel just above the hole's corner
            best = None
            for j, outer in enumerate(outers):
                if _point_in_loop(probe, outer) and (best is None or areas[j] < areas[best]):
                    best = j
            if best is None:
                raise DropsynthError("internal error: hole outside every outer boundary")
            members[best].append(hole)
        joined = []
        for outer, hs in zip(outers, members):
            for hole in sorted(hs, key=lambda h: int(h[:, 1].min())):
                outer = _bridge(outer, hole)
            joined.append(outer)
        outers = joined
    ox, oy = offset
    polys = []
    for lp in outers:
        pts = lp.astype(np.float64)
        pts[:, 0] += ox
        pts[:, 1] += oy
        polys.append([float(v) for v in pts.ravel()])
    return polys


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected part of a bool mask (holes kept), same shape."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask.astype(bool)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return labels == int(np.argmax(counts))


# --- RLE ----------------------------------------------------------------------


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a full-frame bool mask, JSON-ready.

    Returns ``{"size": [H, W], "counts": str}``.
    """
    from pycocotools import mask as mask_util

    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_to_mask(rle: dict) -> np.ndarray:
    """Decode a COCO RLE (counts as str or bytes) to an (H, W) bool mask."""
    from pycocotools import mask as mask_util

    r = dict(rle)
    if isinstance(r["counts"], str):
        r["counts"] = r["counts"].encode("ascii")
    return mask_util.decode(r).astype(bool)


# --- per-frame annotation -----------------------------------------------------


def annotate_frame(instance_ids: np.ndarray, settled, camera, *, mask_format: str = "polygon",
                   min_visible_px: int = 1, largest_part_only: bool = False, amodal: dict | None = None,
                   min_visible_fraction: float = 0.0) -> list:
    """Annotations of every object visible in one frame.

    Parameters
    ----------
    instance_ids : (H, W) uint16 instance-id image of the frame.
    settled : SettledScene the frame was rendered from.
    camera : CameraSpec of the frame.
    mask_format : "polygon" (exact pixel-edge polygons) or "rle".
    min_visible_px : objects with fewer visible pixels are left out.
    largest_part_only : keep only the largest 4-connected visible part (bbox
        and area then describe that part, so all three agree).
    amodal : optional dict instance_id -> (H, W) bool amodal mask (the
        object rendered alone); adds px_count_all, visib_fract, bbox_amodal.
    min_visible_fraction : with ``amodal``, objects whose visible fraction is
        lower are left out.

    Returns
    -------
    list of dropsynth.types.Annotation, in instance-id order.
    """
    from dropsynth.types import Annotation

    masks = instance_masks(instance_ids)
    cam_T_world = np.linalg.inv(camera.world_T_cam)
    shape = instance_ids.shape
    out = []
    for obj in settled.objects():
        m = masks.get(obj.instance_id) if obj.annotate else None
        if m is None:
            continue
        crop, (x0, y0, _, _) = m.mask, m.bbox
        if largest_part_only:
            crop = largest_component(crop)
            bx, by, bw, bh = bbox_from_mask(crop)
            crop = crop[by:by + bh, bx:bx + bw]
            x0, y0 = x0 + bx, y0 + by
        area = int(crop.sum())
        if area < min_visible_px:
            continue
        extra = {}
        if amodal is not None:
            # The object alone covers what is visible of it in the scene; the
            # union guards against a stray pixel so that all four keys agree.
            full_mask = m.full(shape)
            if obj.instance_id in amodal:
                full_mask |= amodal[obj.instance_id]
            count_all = int(full_mask.sum())
            fract = m.area / count_all
            if fract < min_visible_fraction:
                continue
            extra = {"px_count_all": count_all, "visib_fract": float(fract), "bbox_amodal": bbox_from_mask(full_mask),
                     "segmentation_amodal": mask_to_rle(full_mask)}
        bbox = (x0, y0, crop.shape[1], crop.shape[0])
        if mask_format == "rle":
            full = np.zeros(shape, dtype=bool)
            full[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
            seg = mask_to_rle(full)
        else:
            seg = mask_to_polygons(crop, offset=(x0, y0))
        out.append(Annotation(
            instance_id=obj.instance_id, asset_id=f"{obj.asset.pack}/{obj.asset.id}", category=obj.asset.category,
            area=area, bbox=bbox, segmentation=seg,
            cam_T_obj=cam_T_world @ settled.poses[obj.instance_id], px_count_visib=int(m.area), **extra))
    return out
