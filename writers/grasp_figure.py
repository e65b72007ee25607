"""A picture of a grasp library: the object's mesh with gripper markers
(ACRONYM style: a stem along the approach axis, a bar across the palm and
two fingers), green for grasps held in simulation, red for the others."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dropsynth.atomic import atomic_path


def gripper_lines(T: np.ndarray, width_m: float, gripper) -> np.ndarray:
    """(5, 2, 3) line segments of a gripper marker at pose ``T`` (4, 4) with
    the jaws ``width_m`` apart, in T's parent frame."""
    zb, zt = gripper.finger_base_z, gripper.approach_offset_m + gripper.tip_m
    h = width_m / 2 + gripper.finger_thickness_m / 2
    local = np.array([
        [[0, 0, 0], [0, 0, zb]],  # stem
        [[-h, 0, zb], [h, 0, zb]],  # palm bar
        [[-h, 0, zb], [-h, 0, zt]],  # left finger
        [[h, 0, zb], [h, 0, zt]],  # right finger
        [[-h, 0, gripper.approach_offset_m], [h, 0, gripper.approach_offset_m]],  # closing line through the contacts
    ], dtype=np.float64)
    pts = local.reshape(-1, 3) @ T[:3, :3].T + T[:3, 3]
    return pts.reshape(5, 2, 3)


def draw_library(lib, vertices: np.ndarray, faces: np.ndarray, gripper, out: Path, count: int = 40,
                 title: str = "") -> Path:
    """Write a PNG of ``count`` grasps of ``lib`` (held ones first, best
    robust rate first) on the mesh (``vertices`` (V, 3), ``faces`` (F, 3),
    the library's object frame)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

    order = np.lexsort((np.arange(len(lib.success)), -lib.robust, -lib.success.astype(np.int64)))[:count]
    fig = plt.figure(figsize=(10, 5), dpi=110)
    for k, (elev, azim) in enumerate(((25, 35), (70, 120))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        ax.add_collection3d(Poly3DCollection(vertices[faces], facecolor=(0.75, 0.75, 0.78, 0.35),
                                             edgecolor=(0.5, 0.5, 0.55, 0.15), linewidths=0.2))
        segs, colours = [], []
        for i in order:
            lines = gripper_lines(lib.obj_T_grasp[i], float(lib.width_m[i]), gripper)
            segs += list(lines)
            c = (0.1, 0.65, 0.2, 0.9) if lib.success[i] else (0.85, 0.15, 0.1, 0.7)
            colours += [c] * len(lines)
        if segs:
            ax.add_collection3d(Line3DCollection(segs, colors=colours, linewidths=0.9))
        pts = np.concatenate([vertices] + [s for s in segs]) if segs else vertices
        centre, half = pts.mean(axis=0), (pts.max(axis=0) - pts.min(axis=0)).max() / 2
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
            setter(c - half, c + half)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=elev, azim=azim)
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_zlabel("z (m)")
    held = int(lib.success.sum())
    fig.suptitle(f"{title}: {len(lib.success)} grasps, {held} held (green) / {len(lib.success) - held} not (red); "
                 f"{len(order)} drawn")
    out = Path(out)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return out
