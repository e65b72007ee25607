"""Statistics report: the numbers agree with what the COCO file and the depth
PNGs hold, every plot is an embedded PNG, and the output is byte-stable."""
from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dropsynth.errors import DropsynthError
from dropsynth.writers.stats import dataset_stats, write_report

pytestmark = pytest.mark.render

IMG_RE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def amodal_ds(amodal_dataset) -> Path:
    return amodal_dataset  # the session's; the report is written into its stats/ folder


@pytest.fixture(scope="module")
def plain_ds(poly_dataset) -> Path:
    return poly_dataset  # the session's; read only


@pytest.fixture(scope="module")
def emptied_ds(amodal_ds, tmp_path_factory) -> Path:
    """A copy of amodal_ds whose second image has lost all its annotations."""
    out = tmp_path_factory.mktemp("stats_emptied") / "ds"
    shutil.copytree(amodal_ds, out, ignore=shutil.ignore_patterns("stats"))
    p = out / "annotations" / "instances.json"
    coco = json.loads(p.read_text())
    gone = coco["images"][1]["id"]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] != gone]
    p.write_text(json.dumps(coco))
    return out


@pytest.fixture(scope="module")
def amodal_report(amodal_ds):
    return write_report(amodal_ds)


def _coco(ds: Path) -> dict:
    return json.loads((ds / "annotations" / "instances.json").read_text())


@pytest.mark.parametrize("which", ["amodal_ds", "plain_ds", "emptied_ds"])
def test_counts_agree_with_the_coco_file(which, request):
    ds = request.getfixturevalue(which)
    coco, st = _coco(ds), dataset_stats(ds)
    anns = coco["annotations"]
    assert st["dataset"] == {"images": len(coco["images"]), "annotations": len(anns),
                             "categories": len(coco["categories"]), "mask_format": coco["info"]["mask_format"]}
    inst = Counter(a["category_id"] for a in anns)
    imgs = Counter(c for c, _ in {(a["category_id"], a["image_id"]) for a in anns})
    assert [(c["id"], c["name"], c["instances"], c["images"]) for c in st["classes"]] == \
        [(c["id"], c["name"], inst[c["id"]], imgs[c["id"]]) for c in sorted(coco["categories"], key=lambda c: c["id"])]
    assert sum(c["instances"] for c in st["classes"]) == len(anns)

    per_image = Counter(a["image_id"] for a in anns)
    n = [per_image[im["id"]] for im in coco["images"]]
    o = st["objects_per_image"]
    assert o["empty_images"] == sum(k == 0 for k in n)
    assert o["histogram"] == [sum(k == i for k in n) for i in range(max(n) + 1)]
    assert (o["min"], o["max"]) == (min(n), max(n))
    assert o["mean"] == pytest.approx(sum(n) / len(n), abs=1e-3)
    if which == "emptied_ds":
        assert o["empty_images"] >= 1 and o["histogram"][0] == o["empty_images"]

    area = [a["area"] for a in anns]
    s = st["bbox_sizes"]
    assert s["thresholds_px2"] == [32 ** 2, 96 ** 2]
    assert s["small"] == sum(x < 32 ** 2 for x in area)
    assert s["medium"] == sum(32 ** 2 <= x < 96 ** 2 for x in area)
    assert s["large"] == sum(x >= 96 ** 2 for x in area)
    assert s["small"] + s["medium"] + s["large"] == len(anns)
    h = s["sqrt_area_histogram"]
    assert h["counts"] == np.histogram(np.sqrt(area), bins=h["edges"])[0].tolist()
    assert s["sqrt_area_px"]["max"] == pytest.approx(math.sqrt(max(area)), abs=1e-3)


def test_visible_fraction_histogram_or_how_to_get_it(amodal_ds, plain_ds, tmp_path):
    v = dataset_stats(amodal_ds)["visible_fraction"]
    fr = [a["visib_fract"] for a in _coco(amodal_ds)["annotations"]]
    assert v["computed"] and v["annotations"] == len(fr)
    assert v["histogram"]["counts"] == np.histogram(fr, bins=v["histogram"]["edges"])[0].tolist()
    assert v["fully_visible"] == sum(f >= 1.0 for f in fr)
    assert 0 < v["min"] <= v["median"] <= v["max"] <= 1

    p = dataset_stats(plain_ds)["visible_fraction"]
    assert p["computed"] is False and "--set output.amodal=true" in p["how"]
    html_path, _ = write_report(plain_ds, tmp_path / "plain_stats")
    assert "--set output.amodal=true" in html_path.read_text()


def test_camera_elevations_agree_with_world_T_cam(amodal_ds):
    coco, st = _coco(amodal_ds), dataset_stats(amodal_ds)
    el, dist = [], []
    for im in coco["images"]:
        t = np.array(im["world_T_cam"])
        c, f = t[:3, 3], t[:3, 2]  # centre; optical axis (OpenCV z forward)
        p = c + f * (-c[2] / f[2])  # where the optical axis meets the table plane z = 0
        el.append(math.degrees(math.atan2(c[2] - p[2], math.hypot(*(c[:2] - p[:2])))))
        dist.append(float(np.linalg.norm(c)))
    cam = st["cameras"]
    assert cam["images"] == len(coco["images"])
    for key, vals in (("elevation_deg", el), ("distance_m", dist)):
        s = cam[key]
        assert s["min"] == pytest.approx(min(vals), abs=1e-3)
        assert s["max"] == pytest.approx(max(vals), abs=1e-3)
        assert s["median"] == pytest.approx(float(np.median(vals)), abs=1e-3)
    # the default config samples elevations in [30, 80] degrees
    assert 30 - 1e-6 <= cam["elevation_deg"]["min"] <= cam["elevation_deg"]["max"] <= 80 + 1e-6
    cov = cam["coverage"]
    grid = np.histogram2d(el, dist, bins=[cov["elevation_edges_deg"], cov["distance_edges_m"]])[0]
    assert cov["counts"] == grid.astype(int).tolist()
    assert grid.sum() == len(el)


def _depth_values(ds: Path) -> tuple[float, float]:
    lo, hi = math.inf, -math.inf
    for im in _coco(ds)["images"]:
        d = np.asarray(Image.open(ds / im["depth_file"]))
        v = d[d > 0]
        lo, hi = min(lo, v.min() * im["depth_scale"]), max(hi, v.max() * im["depth_scale"])
    return lo, hi


def test_depth_range_lies_in_the_depth_pngs(amodal_ds):
    lo, hi = _depth_values(amodal_ds)
    d = dataset_stats(amodal_ds)["depth"]
    n = len(_coco(amodal_ds)["images"])
    assert d["available"] and d["images_sampled"] == n == d["images_with_depth"]
    assert d["min"] == pytest.approx(lo, abs=1e-6) and d["max"] == pytest.approx(hi, abs=1e-6)
    assert lo - 1e-6 <= d["min"] < d["median"] < d["max"] <= hi + 1e-6
    assert 0 < d["valid_pixel_fraction"] <= 1
    # strided sampling of fewer images still stays inside what the PNGs hold
    d2 = dataset_stats(amodal_ds, max_depth_images=2)["depth"]
    assert d2["images_sampled"] == 2 and "2 of %d images" % n in d2["sampling"]
    assert lo - 1e-6 <= d2["min"] <= d2["median"] <= d2["max"] <= hi + 1e-6


def _pngs(html: str) -> list[Image.Image]:
    out = []
    for b64 in IMG_RE.findall(html):
        data = base64.b64decode(b64, validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        im = Image.open(io.BytesIO(data))
        im.verify()
        im = Image.open(io.BytesIO(data))
        assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
        im.load()
        out.append(im)
    return out


def test_report_embeds_every_plot_as_a_png(amodal_ds, amodal_report, plain_ds, tmp_path):
    html_path, json_path = amodal_report
    assert html_path == amodal_ds / "stats" / "report.html" and json_path == amodal_ds / "stats" / "stats.json"
    assert json.loads(json_path.read_text()) == dataset_stats(amodal_ds)
    html = html_path.read_text()
    assert html.count("<img ") == len(IMG_RE.findall(html))  # every image is an embedded PNG, nothing linked
    # classes, visible fraction, sizes, objects per image, depth, cameras, sample grid
    pngs = _pngs(html)
    assert len(pngs) == 7
    for im in pngs[:-1]:
        assert "Software" not in im.info  # no matplotlib version in the bytes
    grid = (amodal_ds / "stats" / "preview.png").read_bytes()
    assert base64.b64encode(grid).decode() in html
    # without visib_fract there is no visible-fraction plot
    assert len(_pngs(write_report(plain_ds, tmp_path / "plain")[0].read_text())) == 6


def test_same_dataset_gives_the_same_bytes(amodal_ds, amodal_report, tmp_path):
    first = [p.read_bytes() for p in amodal_report]
    again = write_report(amodal_ds)
    assert again == amodal_report
    assert [p.read_bytes() for p in again] == first
    elsewhere = write_report(amodal_ds, tmp_path / "other")
    assert [p.read_bytes() for p in elsewhere] == first
    assert b"/tmp" not in first[1] and str(amodal_ds).encode() not in first[0]  # no paths, so it can move


def _one_line(err: pytest.ExceptionInfo, *words: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg.strip()
    for w in words:
        assert w in msg, (w, msg)
    return msg


def test_folder_without_annotations_is_one_line_error(tmp_path):
    (tmp_path / "rgb").mkdir()
    with pytest.raises(DropsynthError) as e:
        write_report(tmp_path)
    _one_line(e, str(tmp_path / "annotations" / "instances.json"), "not found")
    assert not (tmp_path / "stats").exists()


def test_broken_inputs_name_the_file(amodal_ds, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(amodal_ds, ds, ignore=shutil.ignore_patterns("stats"))
    victim = ds / _coco(ds)["images"][0]["depth_file"]
    victim.unlink()
    with pytest.raises(DropsynthError) as e:
        dataset_stats(ds)
    _one_line(e, str(victim), "missing")

    (ds / "annotations" / "instances.json").write_text('{"images": [')
    with pytest.raises(DropsynthError) as e:
        write_report(ds)
    _one_line(e, str(ds / "annotations" / "instances.json"), "not valid JSON")
