"""Statistics report of a finished dataset: the numbers (``stats.json``) and
an HTML page with PNG plots embedded as data URIs (``report.html``).

Like the preview, it reads the written dataset (the COCO file and the depth
PNGs), so it describes what a consumer will load. The output depends only on
the dataset: no timestamps or absolute paths, and PNGs written without
matplotlib's version metadata, so the same dataset gives the same bytes.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from dropsynth.atomic import write_bytes_atomic
from dropsynth.errors import DropsynthError
from dropsynth.writers.dataset import open_dataset
from dropsynth.writers.files import holds_dataset

# COCOeval's object sizes, by annotation ``area`` (mask pixels): small < 32², medium 32²..96², large >= 96².
SMALL_AREA = 32 ** 2
LARGE_AREA = 96 ** 2
MAX_DEPTH_IMAGES = 200  # depth is read from at most this many images, evenly strided over the dataset
DEPTH_SAMPLES_PER_IMAGE = 10_000  # pixels per image (a regular grid) for the median and histogram
SCATTER_MAX = 2000  # camera plot: points drawn up to this many images, density only above
AMODAL_HINT = "generate with --set output.amodal=true"


def _r(x, nd: int = 6):
    """A plain JSON float rounded to ``nd`` decimals (None for no value)."""
    if x is None:
        return None
    return float(round(float(x), nd))


def _summary(values, nd: int = 6) -> dict:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None}
    return {"count": int(v.size), "min": _r(v.min(), nd), "median": _r(np.median(v), nd),
            "mean": _r(v.mean(), nd), "max": _r(v.max(), nd)}


def _hist(values, edges, nd: int = 6) -> dict:
    counts, _ = np.histogram(np.asarray(values, dtype=np.float64), bins=np.asarray(edges, dtype=np.float64))
    return {"edges": [_r(e, nd) for e in edges], "counts": [int(c) for c in counts]}


def _step_edges(lo: float, hi: float, step: float) -> np.ndarray:
    """Edges at multiples of ``step`` covering [lo, hi] (at least one bin; numpy's last bin is closed)."""
    a = math.floor(lo / step)
    b = max(math.ceil(hi / step), a + 1)
    return np.arange(a, b + 1) * step


def _read_depth(path: Path, ann_path: Path) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise DropsynthError(f"{path}: depth image listed in {ann_path} is missing")
    try:
        with Image.open(path) as im:
            mode = im.mode
            arr = np.asarray(im)
    except OSError as e:
        raise DropsynthError(f"{path}: cannot read the depth PNG ({e})".replace("\n", " ")) from None
    if arr.ndim != 2 or arr.dtype not in (np.uint16, np.int32):
        raise DropsynthError(f"{path}: not a 16-bit single-channel depth PNG (mode {mode})")
    return arr


def _collect(root: Path, max_depth_images: int = MAX_DEPTH_IMAGES) -> tuple[dict, dict]:
    """(the JSON numbers, raw arrays the plots need)."""
    ds = open_dataset(root)
    ann_path, coco = ds.coco_path, ds.coco
    images, anns, cats = ds.images, ds.annotations, ds.categories
    try:
        cat_ids = [int(c["id"]) for c in cats]
        cat_names = {int(c["id"]): str(c["name"]) for c in cats}
        image_ids = [int(im["id"]) for im in images]
    except (KeyError, TypeError, ValueError) as e:
        raise DropsynthError(f"{ann_path}: a category or image has no valid id/name ({e!r})") from None
    per_image = {i: 0 for i in image_ids}
    inst = {c: 0 for c in cat_ids}
    imgs_with = {c: set() for c in cat_ids}
    areas, bw, bh, visib = [], [], [], []
    for k, a in enumerate(anns):
        try:
            img_id, cat_id = int(a["image_id"]), int(a["category_id"])
            area = float(a["area"])
            w, h = float(a["bbox"][2]), float(a["bbox"][3])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise DropsynthError(f"{ann_path}: annotation {a.get('id', k) if isinstance(a, dict) else k} "
                                 f"lacks image_id, category_id, area or bbox ({e!r})") from None
        if img_id not in per_image:
            raise DropsynthError(f"{ann_path}: annotation {a.get('id', k)} refers to image {img_id}, not in images")
        if cat_id not in inst:
            raise DropsynthError(f"{ann_path}: annotation {a.get('id', k)} has category {cat_id}, not in categories")
        per_image[img_id] += 1
        inst[cat_id] += 1
        imgs_with[cat_id].add(img_id)
        areas.append(area)
        bw.append(w)
        bh.append(h)
        if a.get("visib_fract") is not None:
            visib.append(float(a["visib_fract"]))

    stats: dict = {"dataset": {"images": len(images), "annotations": len(anns), "categories": len(cats),
                               "mask_format": (coco.get("info") or {}).get("mask_format")}}
    raw: dict = {}

    stats["classes"] = [{"id": c, "name": cat_names[c], "instances": inst[c], "images": len(imgs_with[c])}
                        for c in sorted(cat_ids)]

    counts = np.array([per_image[i] for i in image_ids], dtype=np.int64)
    stats["objects_per_image"] = {
        "min": int(counts.min()) if counts.size else None,
        "median": _r(np.median(counts), 3) if counts.size else None,
        "mean": _r(counts.mean(), 3) if counts.size else None,
        "max": int(counts.max()) if counts.size else None,
        "empty_images": int((counts == 0).sum()),
        # histogram[n] = number of images with n annotated objects
        "histogram": [int(x) for x in np.bincount(counts)] if counts.size else [],
    }

    areas_a = np.asarray(areas, dtype=np.float64)
    side = np.sqrt(areas_a)
    step = 8.0 * max(1, math.ceil((side.max() if side.size else 0.0) / (8.0 * 60)))  # at most ~60 bins
    raw["sqrt_area"] = side
    stats["bbox_sizes"] = {
        "measure": "annotation area (visible mask pixels), as COCOeval uses it",
        "thresholds_px2": [SMALL_AREA, LARGE_AREA],
        "small": int((areas_a < SMALL_AREA).sum()),
        "medium": int(((areas_a >= SMALL_AREA) & (areas_a < LARGE_AREA)).sum()),
        "large": int((areas_a >= LARGE_AREA).sum()),
        "sqrt_area_px": _summary(side, 3),
        "sqrt_area_histogram": _hist(side, _step_edges(0.0, side.max() if side.size else 0.0, step), 3),
        "bbox_width_px": _summary(bw, 3),
        "bbox_height_px": _summary(bh, 3),
    }

    if visib:
        raw["visib"] = np.asarray(visib)
        stats["visible_fraction"] = {
            "computed": True,
            "annotations": len(visib),
            **{k: v for k, v in _summary(visib, 4).items() if k != "count"},
            "fully_visible": int(sum(v >= 1.0 for v in visib)),
            "histogram": _hist(visib, np.linspace(0.0, 1.0, 21), 3),
        }
    else:
        stats["visible_fraction"] = {"computed": False, "how": AMODAL_HINT}

    stats["depth"] = _depth_stats(root, ann_path, images, max_depth_images, raw)
    stats["cameras"] = _camera_stats(ann_path, images, raw)
    return stats, raw


def _depth_stats(root: Path, ann_path: Path, images: list, max_images: int, raw: dict) -> dict:
    with_depth = [im for im in images if im.get("depth_file")]
    if not with_depth:
        return {"available": False, "note": "no image lists a depth_file"}
    n = min(max_images, len(with_depth))
    picks = sorted({int(round(i * (len(with_depth) - 1) / max(n - 1, 1))) for i in range(n)})
    lo, hi, samples, valid, total = [], [], [], 0, 0
    for j in picks:
        im = with_depth[j]
        path = root / im["depth_file"]
        scale = im.get("depth_scale")
        if not isinstance(scale, (int, float)) or not scale > 0:
            raise DropsynthError(f"{ann_path}: image {im.get('id')} has no positive depth_scale")
        d = _read_depth(path, ann_path)
        total += d.size
        m = d > 0
        nv = int(m.sum())
        valid += nv
        if nv:
            vals = d[m]
            lo.append(int(vals.min()) * scale)
            hi.append(int(vals.max()) * scale)
        s = max(1, math.ceil(math.sqrt(d.size / DEPTH_SAMPLES_PER_IMAGE)))
        g = d[::s, ::s].ravel()
        samples.append(g[g > 0].astype(np.float64) * scale)
    vals = np.concatenate(samples) if samples else np.zeros(0)
    raw["depth"] = vals
    out = {
        "available": True,
        "units": "m",
        "images_sampled": len(picks),
        "images_with_depth": len(with_depth),
        "sampling": (f"min and max over every valid pixel of {len(picks)} of {len(with_depth)} images "
                     f"(evenly strided, at most {max_images}); median and histogram over a regular grid of "
                     f"about {DEPTH_SAMPLES_PER_IMAGE} pixels per sampled image; 0 = no surface, left out"),
        "min": _r(min(lo)) if lo else None,
        "median": _r(np.median(vals)) if vals.size else None,
        "max": _r(max(hi)) if hi else None,
        "valid_pixel_fraction": _r(valid / total, 4) if total else None,
    }
    if vals.size:
        a, b = out["min"], out["max"]  # every pixel's range; the grid samples lie inside it
        edges = np.linspace(a, b if b > a else a + 1e-3, 41)
        out["histogram"] = _hist(vals, edges, 4)
    return out


def camera_geometry(world_T_cam) -> tuple[float, float]:
    """(elevation in degrees, distance to the table centre in metres) of one camera.

    The elevation is the angle of the optical axis below the table plane
    (z = 0), i.e. the elevation of the camera centre above the plane as seen
    from the point it looks at: 90 = straight down. The distance is from the
    camera centre to the table centre (the world origin)."""
    t = np.asarray(world_T_cam, dtype=np.float64)
    if t.shape != (4, 4) or not np.isfinite(t).all():
        raise ValueError("world_T_cam must be a finite 4x4 matrix")
    axis = t[:3, 2] / max(np.linalg.norm(t[:3, 2]), 1e-12)  # camera z (forward) in world coordinates
    elevation = math.degrees(math.asin(min(1.0, max(-1.0, -axis[2]))))
    return elevation, float(np.linalg.norm(t[:3, 3]))


def _camera_stats(ann_path: Path, images: list, raw: dict) -> dict:
    el, dist = [], []
    for im in images:
        if "world_T_cam" not in im:
            continue
        try:
            e, d = camera_geometry(im["world_T_cam"])
        except (ValueError, TypeError) as ex:
            raise DropsynthError(f"{ann_path}: image {im.get('id')}: world_T_cam is not a 4x4 pose ({ex})") from None
        el.append(e)
        dist.append(d)
    if not el:
        return {"available": False, "note": "no image has world_T_cam"}
    el_a, d_a = np.asarray(el), np.asarray(dist)
    raw["elevation"], raw["distance"] = el_a, d_a
    e_edges = _step_edges(el_a.min(), el_a.max(), 5.0)
    d_edges = _step_edges(d_a.min(), d_a.max(), 0.05)
    grid, _, _ = np.histogram2d(el_a, d_a, bins=[e_edges, d_edges])
    return {
        "available": True,
        "images": len(el),
        "elevation_definition": "degrees of the optical axis below the table plane z=0 (90 = looking straight down)",
        "distance_definition": "metres from the camera centre to the table centre (world origin)",
        "elevation_deg": _summary(el_a, 4),
        "distance_m": _summary(d_a, 4),
        "coverage": {"elevation_edges_deg": [_r(x, 3) for x in e_edges],
                     "distance_edges_m": [_r(x, 3) for x in d_edges],
                     "counts": [[int(c) for c in row] for row in grid]},  # counts[elevation bin][distance bin]
    }


def dataset_stats(dataset_dir: str | Path, max_depth_images: int = MAX_DEPTH_IMAGES) -> dict:
    """The numbers of the report (plain JSON types) for the dataset in ``dataset_dir``."""
    return _collect(Path(dataset_dir), max_depth_images)[0]


# ---------------------------------------------------------------- plots and HTML

def _figure(w: float = 6.4, h: float = 3.6):
    # Figure + the Agg canvas directly: no pyplot, so no global backend switch and no figure registry.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _plot_classes(stats: dict) -> bytes:
    cls = stats["classes"]
    fig, ax = _figure(6.4, max(2.0, 0.8 + 0.28 * len(cls)))
    names = [c["name"] for c in cls][::-1]
    vals = [c["instances"] for c in cls][::-1]
    bars = ax.barh(range(len(cls)), vals, color="#4c72b0")
    ax.set_yticks(range(len(cls)), names)
    ax.bar_label(bars, padding=2, fontsize=8)
    ax.set_xlabel("instances")
    ax.set_title("Instances per class")
    ax.margins(x=0.1)
    return _png(fig)


def _hist_figure(h: dict, color: str, xlabel: str, ylabel: str, title: str):
    """(figure, axes) with the bars of the histogram ``h`` (``edges``, ``counts``) and their labels."""
    fig, ax = _figure()
    e = h["edges"]
    ax.bar(e[:-1], h["counts"], width=np.diff(e), align="edge", color=color, edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig, ax


def _plot_visib(stats: dict) -> bytes:
    fig, ax = _hist_figure(stats["visible_fraction"]["histogram"], "#55a868", "visible fraction (visib_fract)",
                           "annotations", "Visible fraction")
    ax.set_xlim(0, 1)
    return _png(fig)


def _plot_sizes(stats: dict) -> bytes:
    s = stats["bbox_sizes"]
    fig, ax = _hist_figure(s["sqrt_area_histogram"], "#8172b2", "sqrt(area) (px)", "annotations",
                           f"Object size: small {s['small']}, medium {s['medium']}, large {s['large']}")
    for x in (32, 96):
        ax.axvline(x, color="#c44e52", ls="--", lw=1)
    return _png(fig)


def _plot_objects(stats: dict) -> bytes:
    h = stats["objects_per_image"]["histogram"]
    fig, ax = _figure()
    ax.bar(range(len(h)), h, color="#dd8452")
    ax.set_xlabel("annotated objects in the image")
    ax.set_ylabel("images")
    ax.set_title(f"Objects per image ({stats['objects_per_image']['empty_images']} empty images)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)


def _plot_depth(stats: dict) -> bytes:
    d = stats["depth"]
    fig, ax = _hist_figure(d["histogram"], "#64b5cd", "depth (m)", "sampled pixels",
                           f"Depth of valid pixels ({d['images_sampled']} of {d['images_with_depth']} images)")
    for k, c in (("min", "#333333"), ("median", "#c44e52"), ("max", "#333333")):
        ax.axvline(d[k], color=c, ls="--", lw=1, label=f"{k} {d[k]:.3f} m")
    ax.legend(fontsize=8)
    return _png(fig)


def _plot_cameras(stats: dict, raw: dict) -> bytes:
    c = stats["cameras"]["coverage"]
    fig, ax = _figure(6.4, 4.2)
    counts = np.asarray(c["counts"], dtype=np.float64)
    mesh = ax.pcolormesh(c["distance_edges_m"], c["elevation_edges_deg"], np.ma.masked_equal(counts, 0),
                         cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label="images")
    if len(raw["elevation"]) <= SCATTER_MAX:
        ax.scatter(raw["distance"], raw["elevation"], s=16, c="white", edgecolors="black", linewidths=0.5)
    ax.set_xlabel("distance to the table centre (m)")
    ax.set_ylabel("elevation above the table plane (deg)")
    ax.set_title("Camera coverage")
    return _png(fig)


def _b64_img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{html.escape(alt)}">'


def _table(rows) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _fmt(x, unit: str = "") -> str:
    if x is None:
        return "n/a"
    return f"{x:g}{unit}" if isinstance(x, float) else f"{x}{unit}"


def _mmm(d: dict, unit: str = "") -> str:
    return f"{_fmt(d['min'])} / {_fmt(d['median'])} / {_fmt(d['max'])}{unit}"


def _html(name: str, stats: dict, raw: dict, grid_png: bytes | None) -> str:
    ds = stats["dataset"]
    parts = [f"<h1>dropsynth dataset statistics: {html.escape(name)}</h1>",
             _table([("images", ds["images"]), ("annotations", ds["annotations"]), ("categories", ds["categories"]),
                     ("mask format", ds["mask_format"] or "n/a")])]

    parts.append("<h2>Instances per class</h2>")
    parts.append(_table([(c["name"], f"{c['instances']} instances in {c['images']} images")
                         for c in stats["classes"]]))
    if stats["classes"]:
        parts.append(_b64_img(_plot_classes(stats), "instances per class"))

    parts.append("<h2>Visible fraction</h2>")
    v = stats["visible_fraction"]
    if v["computed"]:
        parts.append(_table([("annotations with visib_fract", v["annotations"]), ("fully visible", v["fully_visible"]),
                             ("min / median / max", f"{_fmt(v['min'])} / {_fmt(v['median'])} / {_fmt(v['max'])}")]))
        parts.append(_b64_img(_plot_visib(stats), "visible fraction histogram"))
    else:
        parts.append("<p>Not computed for this dataset: no annotation has <code>visib_fract</code>. "
                     "Generate with <code>--set output.amodal=true</code> to get it.</p>")

    parts.append("<h2>Object size (COCO small / medium / large)</h2>")
    s = stats["bbox_sizes"]
    parts.append(_table([
        ("measure", s["measure"]),
        ("small (area < 32²)", s["small"]), ("medium (32² ≤ area < 96²)", s["medium"]),
        ("large (area ≥ 96²)", s["large"]),
        ("sqrt(area) min / median / max", _mmm(s["sqrt_area_px"], " px")),
    ]))
    if stats["dataset"]["annotations"]:
        parts.append(_b64_img(_plot_sizes(stats), "object size histogram"))

    parts.append("<h2>Objects per image</h2>")
    o = stats["objects_per_image"]
    parts.append(_table([("empty images", o["empty_images"]),
                         ("min / median / mean / max",
                          f"{_fmt(o['min'])} / {_fmt(o['median'])} / {_fmt(o['mean'])} / {_fmt(o['max'])}")]))
    if stats["dataset"]["images"]:
        parts.append(_b64_img(_plot_objects(stats), "objects per image histogram"))

    parts.append("<h2>Depth range</h2>")
    d = stats["depth"]
    if d["available"] and d.get("histogram"):
        parts.append(_table([("min / median / max", f"{_fmt(d['min'])} / {_fmt(d['median'])} / {_fmt(d['max'])} m"),
                             ("valid pixel fraction", _fmt(d["valid_pixel_fraction"])),
                             ("sampling", d["sampling"])]))
        parts.append(_b64_img(_plot_depth(stats), "depth histogram"))
    else:
        parts.append(f"<p>No depth: {html.escape(d.get('note', 'no valid depth pixel in the sampled images'))}.</p>")

    parts.append("<h2>Camera elevation and distance</h2>")
    c = stats["cameras"]
    if c["available"]:
        e, dm = c["elevation_deg"], c["distance_m"]
        parts.append(_table([("elevation", c["elevation_definition"]), ("distance", c["distance_definition"]),
                             ("elevation min / median / max", _mmm(e, "°")),
                             ("distance min / median / max", _mmm(dm, " m"))]))
        parts.append(_b64_img(_plot_cameras(stats, raw), "camera elevation and distance coverage"))
    else:
        parts.append(f"<p>{html.escape(c['note'])}.</p>")

    parts.append("<h2>Sample frames</h2>")
    if grid_png is not None:
        parts.append(_b64_img(grid_png, "sample frames with masks, boxes and class names"))
    else:
        parts.append("<p>The dataset has no images.</p>")

    style = ("body{font-family:sans-serif;max-width:980px;margin:1em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 8px;"
             "text-align:left;vertical-align:top}th{background:#f4f4f4;font-weight:normal}img{max-width:100%;"
             "display:block;margin:.5em 0}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>dropsynth statistics: {html.escape(name)}</title>\n<style>{style}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


@holds_dataset("stats", "statistics report", swapped=False)
def write_report(dataset_dir: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``stats.json`` (and the sample grid ``preview.png``)
    into ``out_dir`` (default ``DIR/stats``). Returns (html path, json path)."""
    import matplotlib

    from dropsynth.writers.preview import write_preview

    root = Path(dataset_dir)
    stats, raw = _collect(root)
    out = Path(out_dir) if out_dir is not None else root / "stats"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DropsynthError(f"{out}: cannot create the report folder ({e.strerror})") from None
    grid = write_preview(root, out / "preview.png").read_bytes() if stats["dataset"]["images"] else None
    # Fixed style, whatever the user's matplotlibrc says; rc_context restores the settings afterwards.
    with matplotlib.rc_context({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 100, "savefig.dpi": 100,
                                "path.simplify": True, "svg.hashsalt": "dropsynth"}):
        page = _html(root.resolve().name, stats, raw, grid)
    html_path, json_path = out / "report.html", out / "stats.json"
    try:
        write_bytes_atomic(json_path, (json.dumps(stats, indent=1, allow_nan=False) + "\n").encode("utf-8"))
        write_bytes_atomic(html_path, page.encode("utf-8"))
    except OSError as e:
        raise DropsynthError(f"{out}: cannot write the report ({e.strerror})") from None
    return html_path, json_path
