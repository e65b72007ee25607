"""Asset packs through the CLI: a corpus of broken packs (each refused by
``assets validate``, ``generate`` and ``assets add`` with a ``file: field:
message`` line), warnings, valid packs as folders and archives, installation,
pack discovery, and end-to-end datasets made from the example pack."""
from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
import yaml
from PIL import Image

from .helpers import run_cli
from dropsynth.pipeline import default_workers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "example_pack"
EXAMPLE_CATEGORIES = ["can", "bowl", "bracket", "nut", "block"]
EXAMPLE_IDS = ["soda_can", "cereal_bowl", "l_bracket", "hex_nut", "toy_block"]
TINY = ["--scenes", "1", "--views-per-scene", "1", "--width", "64", "--height", "48", "--no-progress",
        "--workers", "1"]


# --- environment ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    """Every test gets its own DROPSYNTH_HOME and DROPSYNTH_CACHE under
    tmp_path and no DROPSYNTH_ASSETS, so the real home is never touched."""
    home, cache = tmp_path / "dshome", tmp_path / "dscache"
    monkeypatch.setenv("DROPSYNTH_HOME", str(home))
    monkeypatch.setenv("DROPSYNTH_CACHE", str(cache))
    monkeypatch.delenv("DROPSYNTH_ASSETS", raising=False)
    return SimpleNamespace(home=home, cache=cache, packs=home / "packs")


@pytest.fixture(scope="session")
def _session_collision_cache(tmp_path_factory) -> Path:
    """Collision meshes (V-HACD, seconds per concave object) of the example
    and built-in packs, computed once into a temporary folder."""
    from dropsynth.assets.catalog import load_catalog
    from dropsynth.scenes.physics import collision_shape

    cache = tmp_path_factory.mktemp("dropsynth_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DROPSYNTH_CACHE", str(cache))
        mp.setenv("DROPSYNTH_HOME", str(cache / "home"))
        mp.delenv("DROPSYNTH_ASSETS", raising=False)
        for a in load_catalog([EXAMPLE], builtin=True, installed=False).assets:
            if not a.primitive_kind:
                collision_shape(a)
    return cache / "collision"


@pytest.fixture()
def warm(env, _session_collision_cache):
    """Seed this test's private cache with the precomputed collision meshes."""
    shutil.copytree(_session_collision_cache, env.cache / "collision", dirs_exist_ok=True)
    return env


# --- helpers ------------------------------------------------------------------------------


def lines_of(res) -> list[str]:
    return [ln for ln in res.output.splitlines() if ln.strip()]


def one_line_error(res, *words) -> str:
    """exit != 0, exactly one non-empty line of output, click's 'Error: ', no traceback."""
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output, res.output
    lines = lines_of(res)
    assert len(lines) == 1, res.output
    assert lines[0].startswith("Error: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def quiet_coco(path: Path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def read_yaml(d: Path) -> dict:
    return yaml.safe_load((d / "pack.yaml").read_text())


def write_yaml(d: Path, data) -> None:
    (d / "pack.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def copy_example(dest: Path) -> Path:
    shutil.copytree(EXAMPLE, dest)
    return dest


def tar_folder(folder: Path, archive: Path, top: str | None = "pack", extra=()) -> Path:
    """.tar.gz of ``folder`` (inside one top folder ``top``, or at the top when
    None), plus ``extra`` (TarInfo, bytes or None) members."""
    with tarfile.open(archive, "w:gz") as t:
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            t.add(p, arcname=f"{top}/{rel}" if top else rel, recursive=False)
        for info, data in extra:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return archive


def zip_folder(folder: Path, archive: Path, top: str | None = "pack", extra=()) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                rel = p.relative_to(folder).as_posix()
                z.write(p, f"{top}/{rel}" if top else rel)
        for info, data in extra:
            z.writestr(info, data)
    return archive


def cube_obj(side: float, drop_last_face: bool = False) -> str:
    """An axis-aligned cube (outward-facing triangles); optionally without its
    top face (an open box)."""
    h = side / 2
    v = [(-h, -h, -h), (h, -h, -h), (h, h, -h), (-h, h, -h), (-h, -h, h), (h, -h, h), (h, h, h), (-h, h, h)]
    faces = [(1, 3, 2), (1, 4, 3), (1, 2, 6), (1, 6, 5), (2, 3, 7), (2, 7, 6), (3, 4, 8), (3, 8, 7),
             (4, 1, 5), (4, 5, 8), (5, 6, 7), (5, 7, 8)]
    if drop_last_face:
        faces = faces[:-2]
    return "".join(f"v {x} {y} {z}\n" for x, y, z in v) + "".join(f"f {a} {b} {c}\n" for a, b, c in faces)


def scratch_pack(d: Path, mesh_text: str, name: str = "scratch", **obj) -> Path:
    """A one-object pack made from scratch around ``mesh.obj``."""
    d.mkdir(parents=True)
    (d / "mesh.obj").write_text(mesh_text)
    o = {"id": "thing", "category": "thing", "mesh": "mesh.obj", "unit": "m", "mass_kg": 0.2, **obj}
    write_yaml(d, {"name": name, "version": "1.0", "license": "CC0-1.0", "author": "tests", "objects": [o]})
    return d


# --- the corpus of broken packs -----------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    """A broken pack. ``build(tmp_path)`` returns its path (folder or archive).

    kind: "manifest" (found without loading meshes: generate refuses before
    it touches --out), "mesh" (found when a mesh is loaded), "size" (found
    only by validate, which measures meshes), "archive" (an unsafe archive:
    the field is the offending member), "bad_archive" (not an archive, or
    over the limits; the field is the member when one is to blame).
    field: what must follow "FILE: " on validate's line (None: no field,
    the message follows the file); words: must appear on that line.
    """

    build: Callable[[Path], Path]
    field: str | None
    words: tuple[str, ...] = ()
    kind: str = "manifest"


def _edit(fn) -> Callable[[Path], Path]:
    """Copy the example pack and change its manifest with fn(data)."""

    def build(tmp: Path) -> Path:
        d = copy_example(tmp / "broken")
        data = read_yaml(d)
        fn(data)
        write_yaml(d, data)
        return d

    return build


def _files(fn) -> Callable[[Path], Path]:
    """Copy the example pack and change its files with fn(folder)."""

    def build(tmp: Path) -> Path:
        d = copy_example(tmp / "broken")
        fn(d)
        return d

    return build


def _obj(i: int, **changes):
    """Manifest edit: set (or, with None, delete) keys of objects[i]."""

    def fn(data):
        for k, v in changes.items():
            if v is None:
                data["objects"][i].pop(k)
            else:
                data["objects"][i][k] = v

    return fn


def _top(**changes):
    def fn(data):
        for k, v in changes.items():
            if v is None:
                data.pop(k)
            else:
                data[k] = v

    return fn


def _junk_mesh(suffix: str):
    def fn(d: Path):
        rng = np.random.default_rng(7)
        # Random bytes that decode as no text and no valid binary header.
        (d / f"junk{suffix}").write_bytes(b"\x00\xff\xfe" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
        data = read_yaml(d)
        data["objects"][0]["mesh"] = f"junk{suffix}"
        write_yaml(d, data)

    return fn


def _empty_obj(d: Path):
    (d / "empty.obj").write_text("# vertices but no faces\nv 0 0 0\nv 0.05 0 0\nv 0 0.05 0\n")
    data = read_yaml(d)
    data["objects"][0]["mesh"] = "empty.obj"
    write_yaml(d, data)


def _fbx(d: Path):
    (d / "chair.fbx").write_bytes(b"Kaydara FBX Binary  \x00\x1a\x00" + b"\x00" * 64)
    data = read_yaml(d)
    data["objects"][0]["mesh"] = "chair.fbx"
    write_yaml(d, data)


def _invalid_yaml(d: Path):
    (d / "pack.yaml").write_text("name: example\nversion: '1.0'\nobjects: [\n  - id: {unclosed\n")


def _multi_link_urdf(d: Path):
    text = (d / "block.urdf").read_text()
    extra = ('  <link name="lid"><visual><geometry><box size="0.01 0.01 0.01"/></geometry></visual></link>\n'
             '  <joint name="hinge" type="revolute"><parent link="base_link"/><child link="lid"/></joint>\n'
             '</robot>')
    (d / "block.urdf").write_text(text.replace("</robot>", extra))


def _mug(side: float, unit: str):
    def build(tmp: Path) -> Path:
        return scratch_pack(tmp / "broken", cube_obj(side), id="mug", category="mug", unit=unit, mass_kg=0.3)

    return build


def _tar_with(make_member) -> Callable[[Path], Path]:
    """The valid example pack as .tar.gz plus one unsafe member."""

    def build(tmp: Path) -> Path:
        info, data = make_member(tmp)
        return tar_folder(EXAMPLE, tmp / "broken.tar.gz", top="example", extra=[(info, data)])

    return build


def _tar_file(name: str):
    def make(tmp):
        info = tarfile.TarInfo(name(tmp) if callable(name) else name)
        data = b"pwned\n"
        info.size = len(data)
        return info, data

    return make


def _tar_link(name: str, target: str, kind: bytes):
    def make(tmp):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = target
        return info, None

    return make


def _zip_with(make_member) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        info, data = make_member()
        return zip_folder(EXAMPLE, tmp / "broken.zip", top="example", extra=[(info, data)])

    return build


def _zip_dotdot():
    return zipfile.ZipInfo("example/../../pwned.txt"), b"pwned\n"


def _zip_symlink():
    info = zipfile.ZipInfo("example/evil_link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, b"/etc/passwd"


BROKEN: dict[str, Broken] = {
    # manifest
    "missing_manifest": Broken(_files(lambda d: (d / "pack.yaml").unlink()), None, ("manifest not found",)),
    "invalid_yaml": Broken(_files(_invalid_yaml), None, ("not valid YAML",)),
    "missing_name": Broken(_edit(_top(name=None)), "name", ("missing",)),
    "missing_version": Broken(_edit(_top(version=None)), "version", ("missing",)),
    "missing_license": Broken(_edit(_top(license=None)), "license", ("missing",)),
    "missing_objects": Broken(_edit(_top(objects=None)), "objects", ("non-empty list",)),
    "missing_id": Broken(_edit(_obj(1, id=None)), "objects[1].id", ("non-empty string",)),
    "missing_category": Broken(_edit(_obj(2, category=None)), "objects[2].category", ("non-empty string",)),
    "scale_is_string": Broken(_edit(_obj(0, unit=None, scale="0.5")), "objects[0].scale", ("'0.5'",)),
    "mass_is_string": Broken(_edit(_obj(0, mass_kg="heavy")), "objects[0].mass_kg",
                             ("must be a number", "'heavy'")),
    "friction_negative": Broken(_edit(_obj(0, friction=-0.2)), "objects[0].friction", (">= 0", "-0.2")),
    "unknown_object_key": Broken(_edit(_obj(0, frction=0.4)), "objects[0].frction",
                                 ("unknown key", "did you mean 'friction'")),
    "unknown_top_key": Broken(_edit(_top(autor="me")), "autor", ("unknown key", "did you mean 'author'")),
    "mass_zero": Broken(_edit(_obj(0, mass_kg=0)), "objects[0].mass_kg", ("> 0",)),
    "mass_negative": Broken(_edit(_obj(0, mass_kg=-0.35)), "objects[0].mass_kg", ("> 0", "-0.35")),
    "density_zero": Broken(_edit(_obj(1, density_kg_m3=0)), "objects[1].density_kg_m3", ("> 0",)),
    "duplicate_ids": Broken(_edit(_obj(3, id="soda_can")), "objects[3].id", ("duplicate", "'soda_can'")),
    "unit_and_scale": Broken(_edit(_obj(0, scale=0.5)), "objects[0].scale", ("'unit' or 'scale'",)),
    "missing_mesh_file": Broken(_files(lambda d: (d / "can.obj").unlink()), "objects[0].mesh",
                                ("file not found", "can.obj")),
    "missing_collision_file": Broken(_edit(_obj(0, collision="can_collision.obj")), "objects[0].collision",
                                     ("file not found", "can_collision.obj")),
    "unsupported_fbx": Broken(_files(_fbx), "objects[0].mesh", ("unsupported format", ".fbx")),
    "multi_link_urdf": Broken(_files(_multi_link_urdf), "objects[4].urdf", ("block.urdf", "single-link")),
    "urdf_mesh_missing": Broken(_files(lambda d: (d / "block_visual.obj").unlink()), "objects[4].urdf",
                                ("block.urdf", "file not found", "block_visual.obj")),
    # mesh contents
    "garbage_obj": Broken(_files(_junk_mesh(".obj")), "objects[0].mesh", ("junk.obj",), "mesh"),
    "garbage_stl": Broken(_files(_junk_mesh(".stl")), "objects[0].mesh", ("junk.stl",), "mesh"),
    "garbage_glb": Broken(_files(_junk_mesh(".glb")), "objects[0].mesh", ("junk.glb", "cannot read mesh"), "mesh"),
    "empty_obj": Broken(_files(_empty_obj), "objects[0].mesh", ("empty.obj", "empty"), "mesh"),
    "mug_40_m": Broken(_mug(40.0, "m"), "objects[0].unit", ("40 m across", "'mug'", "unit", "unit: mm"), "size"),
    "mug_0.1_mm": Broken(_mug(0.1, "mm"), "objects[0].unit", ("0.0001 m across", "unit", "unit: m "), "size"),
    # unsafe archives (the field is the member)
    "tar_absolute": Broken(_tar_with(_tar_file(lambda tmp: str(tmp / "abs_target" / "pwned.txt"))),
                           "<absolute>", ("unsafe archive member", "absolute path"), "archive"),
    "tar_dotdot": Broken(_tar_with(_tar_file("example/../../pwned.txt")), "example/../../pwned.txt",
                         ("unsafe archive member", "'..'"), "archive"),
    "tar_symlink": Broken(_tar_with(_tar_link("example/evil_link", "/etc/passwd", tarfile.SYMTYPE)),
                          "example/evil_link", ("unsafe archive member", "symbolic link"), "archive"),
    "tar_hardlink": Broken(_tar_with(_tar_link("example/evil_hard", "example/pack.yaml", tarfile.LNKTYPE)),
                           "example/evil_hard", ("unsafe archive member", "hard link"), "archive"),
    "zip_dotdot": Broken(_zip_with(_zip_dotdot), "example/../../pwned.txt", ("unsafe archive member", "'..'"),
                         "archive"),
    "zip_symlink": Broken(_zip_with(_zip_symlink), "example/evil_link", ("unsafe archive member", "symbolic link"),
                          "archive"),
}


# --- issue 16: degenerate meshes, textures that are not images, paths out of
# the pack, strict manifests, archives that are not archives or too large.

def _mesh_file(name: str, text: str, collision: bool = False):
    def fn(d: Path):
        (d / name).write_text(text)
        data = read_yaml(d)
        data["objects"][0]["collision" if collision else "mesh"] = name
        write_yaml(d, data)

    return fn


_TRIANGLE = "v 0 0 0\nv 0.05 0 0\nv 0 0.05 0\nf 1 2 3\n"
_FLAT = "v 0 0 0\nv 0.05 0 0\nv 0.05 0.05 0\nv 0 0.05 0\nf 1 2 3\nf 1 3 4\n"
_LINE = "v 0 0 0\nv 0.01 0 0\nv 0.02 0 0\nv 0.03 0 0\nf 1 2 3\nf 2 3 4\n"
_TWO_POINTS = "v 0 0 0\nv 0.05 0 0\nf 1 2 2\nf 2 1 1\n"


def _texture(data: bytes):
    def fn(d: Path):
        (d / "can.png").write_bytes(data)

    return fn


def _outside(ref_of, key: str = "mesh"):
    def fn(d: Path):
        (d.parent / "other").mkdir(exist_ok=True)
        (d.parent / "other" / "cube.obj").write_text(cube_obj(0.05))
        data = read_yaml(d)
        data["objects"][0][key] = ref_of(d)
        write_yaml(d, data)

    return fn


def _manifest_text(fn_text):
    def fn(d: Path):
        (d / "pack.yaml").write_bytes(fn_text((d / "pack.yaml").read_text()))

    return fn


def _raw_archive(name: str, make: Callable[[], bytes]) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(make())
        return path

    return build


def _tar_huge_member() -> bytes:
    """One tar header declaring a 4 GiB file (what an 18 MB archive of zeros holds)."""
    import gzip

    info = tarfile.TarInfo("example/zeros.bin")
    info.size = 4 * 2**30
    return gzip.compress(info.tobuf(tarfile.GNU_FORMAT))


def _tar_many_members() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as t:
        for i in range(10_001):
            t.addfile(tarfile.TarInfo(f"example/f{i:05d}.txt"), io.BytesIO(b""))
    return buf.getvalue()


def _zip_huge_member() -> bytes:
    """A zip whose central directory declares a 4 GiB member."""
    import struct

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("example/zeros.bin", b"\0" * 16)
    data = bytearray(buf.getvalue())
    cd = data.find(b"PK\x01\x02")
    data[cd + 24:cd + 28] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def _zip_many_members() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(10_001):
            z.writestr(f"example/f{i:05d}.txt", b"")
    return buf.getvalue()


BROKEN.update({
    "mesh_one_triangle": Broken(_files(_mesh_file("tri.obj", _TRIANGLE)), "objects[0].mesh",
                                ("tri.obj", "degenerate", "3 distinct points"), "mesh"),
    "mesh_two_points": Broken(_files(_mesh_file("two.obj", _TWO_POINTS)), "objects[0].mesh",
                              ("two.obj", "degenerate", "2 distinct points"), "mesh"),
    "mesh_flat_square": Broken(_files(_mesh_file("flat.obj", _FLAT)), "objects[0].mesh",
                               ("flat.obj", "degenerate", "one plane"), "mesh"),
    "mesh_on_a_line": Broken(_files(_mesh_file("line.obj", _LINE)), "objects[0].mesh",
                             ("line.obj", "degenerate", "one line"), "mesh"),
    "collision_one_triangle": Broken(_files(_mesh_file("tri_col.obj", _TRIANGLE, collision=True)),
                                     "objects[0].collision", ("tri_col.obj", "degenerate"), "mesh"),
    "texture_is_text": Broken(_files(_texture(b"this is not a picture\n")), "objects[0].mesh",
                              ("can.mtl", "map_Kd", "can.png", "not an image")),
    "texture_is_truncated_png": Broken(_files(_texture(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")),
                                       "objects[0].mesh", ("can.png", "not an image")),
    "mesh_path_climbs_out": Broken(_files(_outside(lambda d: "../other/cube.obj")), "objects[0].mesh",
                                   ("../other/cube.obj", "outside the pack")),
    "mesh_path_absolute": Broken(_files(_outside(lambda d: "/etc/passwd")), "objects[0].mesh",
                                 ("/etc/passwd", "absolute path")),
    "mesh_path_absolute_inside": Broken(_files(_outside(lambda d: str(d / "can.obj"))), "objects[0].mesh",
                                        ("absolute path",)),
    "collision_path_climbs_out": Broken(_files(_outside(lambda d: "../other/cube.obj", "collision")),
                                        "objects[0].collision", ("outside the pack",)),
    "manifest_duplicate_key": Broken(_files(_manifest_text(lambda t: (t + "name: again\n").encode())), None,
                                     ("duplicate key 'name'", "first at line")),
    "manifest_not_utf8": Broken(_files(_manifest_text(lambda t: ("# caf\xe9\n" + t).encode("latin-1"))), None,
                                ("not UTF-8",)),
    "tar_gz_not_an_archive": Broken(_raw_archive("pack.tar.gz", lambda: b"just some text\n"), None,
                                    ("cannot read archive", "not a tar archive"), "bad_archive"),
    "tgz_empty": Broken(_raw_archive("pack.tgz", lambda: b""), None, ("cannot read archive",), "bad_archive"),
    "zip_not_an_archive": Broken(_raw_archive("pack.zip", lambda: b"PK but not really\n"), None,
                                 ("cannot read archive",), "bad_archive"),
    "tar_member_4_gib": Broken(_raw_archive("huge.tar.gz", _tar_huge_member), "example/zeros.bin",
                               ("4,096 MiB unpacked", "limit of 512 MiB per file"), "bad_archive"),
    "zip_member_4_gib": Broken(_raw_archive("huge.zip", _zip_huge_member), "example/zeros.bin",
                               ("MiB unpacked", "limit of 512 MiB per file"), "bad_archive"),
    "tar_10001_members": Broken(_raw_archive("many.tar.gz", _tar_many_members), None,
                                ("more than 10,000 members",), "bad_archive"),
    "zip_10001_members": Broken(_raw_archive("many.zip", _zip_many_members), None,
                                ("more than 10,000 members",), "bad_archive"),
})
ALL = sorted(BROKEN)
NOT_ARCHIVE = [n for n in ALL if BROKEN[n].kind not in ("archive", "bad_archive")]


def build_case(name: str, tmp_path: Path) -> tuple[Broken, Path, str, str | None]:
    """(case, path, the file its line must name, the field its line must name)."""
    case = BROKEN[name]
    path = case.build(tmp_path)
    if case.kind == "bad_archive":
        return case, path, str(path), case.field
    if case.kind == "archive":
        field = case.field
        if field == "<absolute>":
            field = str(tmp_path / "abs_target" / "pwned.txt")
        return case, path, str(path), field
    return case, path, str(path / "pack.yaml"), case.field


def assert_problem_line(res, file: str, field: str | None, words) -> str:
    """validate's output has a line 'FILE: FIELD: message' holding ``words``."""
    prefix = f"{file}: {field}: " if field else f"{file}: "
    hits = [ln for ln in lines_of(res) if ln.startswith(prefix) and all(w in ln for w in words)]
    assert hits, f"no line starting {prefix!r} with {words}:\n{res.output}"
    return hits[0]


def assert_no_unsafe_leftovers(tmp_path: Path, env) -> None:
    """Nothing an unsafe archive holds was written anywhere; no extracted pack is cached."""
    assert not list(tmp_path.rglob("pwned.txt"))
    assert not list(tmp_path.rglob("evil_*"))
    packs_cache = env.cache / "packs"
    if packs_cache.exists():
        assert not [p for p in packs_cache.iterdir()], list(packs_cache.iterdir())


# validate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_validate_refuses_broken_pack(name, tmp_path, env):
    case, path, file, field = build_case(name, tmp_path)
    res = run_cli("assets", "validate", str(path))
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert_problem_line(res, file, field, case.words)
    assert lines_of(res)[-1].startswith(f"{path}: ") and "error(s)" in lines_of(res)[-1]
    if case.kind in ("archive", "bad_archive"):
        assert_no_unsafe_leftovers(tmp_path, env)


@pytest.mark.parametrize("name", NOT_ARCHIVE)
def test_validate_refuses_broken_pack_as_archive(name, tmp_path):
    """The same problem, found inside a .tar.gz, is reported against the archive."""
    case, folder, _, field = build_case(name, tmp_path)
    archive = tar_folder(folder, tmp_path / f"{name}.tar.gz")
    res = run_cli("assets", "validate", str(archive))
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    if name == "missing_manifest":
        assert_problem_line(res, str(archive), None, ("no pack.yaml",))
    else:
        assert_problem_line(res, f"{archive}/pack/pack.yaml", field, case.words)


def test_mesh_problem_in_archive_names_the_archive_not_a_temporary_folder(tmp_path):
    _, folder, _, _ = build_case("garbage_obj", tmp_path)
    archive = tar_folder(folder, tmp_path / "garbage.tar.gz")
    res = run_cli("assets", "validate", str(archive))
    line = assert_problem_line(res, f"{archive}/pack/pack.yaml", "objects[0].mesh", ("junk.obj",))
    assert f"{archive}/pack/junk.obj" in line, line
    assert str(Path(tempfile.gettempdir()) / "tmp") not in res.output, res.output


# generate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.render
def test_generate_refuses_broken_pack(name, tmp_path):
    case, path, file, field = build_case(name, tmp_path)
    out = tmp_path / "out"
    res = run_cli("generate", "--out", str(out), "--assets", str(path), "--no-builtin", *TINY)
    if case.kind in ("mesh", "size"):
        # Meshes are loaded (and measured) while building scenes: the line names the mesh file, and
        # the failure, before the first frame, leaves --out as it was (here: not there).
        line = one_line_error(res, case.words[0])
        assert re.search(r": \w+\.(mesh|collision|unit): ", line), line  # the asset's key
        assert not out.exists(), sorted(p.name for p in out.iterdir())
    else:
        # Manifest and archive problems stop generate before it touches --out.
        line = one_line_error(res, file, f"{file}: {field}: " if field else f"{file}: ")
        assert not out.exists()
    assert all(w in line for w in case.words), line


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.render
def test_generate_names_unreadable_mesh_in_any_worker(workers, tmp_path):
    """A mesh that cannot be read is found while building a scene, in this
    process or in a spawned worker: one line naming the file either way."""
    _, path, _, _ = build_case("garbage_glb", tmp_path)
    out = tmp_path / "out"
    res = run_cli("generate", "--out", str(out), "--assets", str(path), "--no-builtin", "--scenes", "2",
                  "--views-per-scene", "1", "--width", "64", "--height", "48", "--no-progress",
                  "--set", "output.shard_scenes=1", "--workers", workers)
    one_line_error(res, str(path / "junk.glb"), "soda_can.mesh", "cannot read mesh")
    assert not out.exists(), "a failure before the first frame leaves no .dropsynth or run_config.json behind"


# add -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_add_refuses_broken_pack_archive(name, tmp_path, env):
    case, path, _, field = build_case(name, tmp_path)
    archive = path if case.kind in ("archive", "bad_archive") else tar_folder(path, tmp_path / f"{name}.tar.gz")
    res = run_cli("assets", "add", str(archive))
    line = one_line_error(res, str(archive), "nothing was installed" if case.kind != "archive" else "unsafe")
    if field and case.kind != "archive":
        assert f": {field}: " in line, line
    assert not env.packs.exists() or not list(env.packs.iterdir())
    assert_no_unsafe_leftovers(tmp_path, env)


def test_add_refuses_broken_pack_folder(tmp_path, env):
    _, path, file, _ = build_case("mass_zero", tmp_path)
    one_line_error(run_cli("assets", "add", str(path)), file, "objects[0].mass_kg", "nothing was installed")
    assert not env.packs.exists() or not list(env.packs.iterdir())


# --- warnings -------------------------------------------------------------------------------


@pytest.mark.parametrize("mass", [{"mass_kg": 0.2}, {"density_kg_m3": 1000}], ids=["mass_kg", "density"])
def test_open_mesh_is_a_warning_about_mass(mass, tmp_path):
    d = tmp_path / "open"
    d.mkdir()
    (d / "box.obj").write_text(cube_obj(0.05, drop_last_face=True))
    o = {"id": "open_box", "category": "box", "mesh": "box.obj", "unit": "m", **mass}
    write_yaml(d, {"name": "open", "version": "1", "license": "CC0-1.0", "author": "tests", "objects": [o]})
    res = run_cli("assets", "validate", str(d))
    assert res.exit_code == 0, res.output
    line = assert_problem_line(res, str(d / "pack.yaml"), "objects[0].mesh", ("not watertight", "mass"))
    assert line.endswith("[warning]"), line
    if "mass_kg" in mass:
        assert "given mass_kg" in line
    else:
        assert "convex hull" in line
    assert lines_of(res)[-1] == f"{d}: valid (1 warning(s))"


def test_closed_mesh_has_no_warning(tmp_path):
    d = scratch_pack(tmp_path / "closed", cube_obj(0.05))
    res = run_cli("assets", "validate", str(d))
    assert res.exit_code == 0, res.output
    assert lines_of(res) == [f"{d}: valid (0 warning(s))"]


# --- valid packs --------------------------------------------------------------------------


def test_validate_example_folder():
    res = run_cli("assets", "validate", str(EXAMPLE))
    assert res.exit_code == 0, res.output
    assert lines_of(res) == [f"{EXAMPLE}: valid (0 warning(s))"]


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
@pytest.mark.parametrize("top", ["example", None], ids=["in_folder", "at_top"])
def test_validate_example_archive(fmt, top, tmp_path):
    make = tar_folder if fmt == "tar.gz" else zip_folder
    archive = make(EXAMPLE, tmp_path / f"example.{fmt}", top=top)
    res = run_cli("assets", "validate", str(archive))
    assert res.exit_code == 0, res.output
    assert lines_of(res)[-1] == f"{archive}: valid (0 warning(s))"


def test_archive_with_two_top_folders_is_refused(tmp_path, env):
    staging = tmp_path / "staging"
    copy_example(staging / "a")
    copy_example(staging / "b")
    archive = tar_folder(staging, tmp_path / "two.tar.gz", top=None)
    res = run_cli("assets", "validate", str(archive))
    assert res.exit_code == 1 and "no pack.yaml" in res.output, res.output
    one_line_error(run_cli("assets", "add", str(archive)), str(archive))
    assert not env.packs.exists() or not list(env.packs.iterdir())


# --- installing -----------------------------------------------------------------------------


@pytest.mark.render
def test_add_list_force_and_generate_with_installed_pack(tmp_path, warm):
    archive = tar_folder(EXAMPLE, tmp_path / "example.tar.gz", top="example")
    res = run_cli("assets", "add", str(archive))
    assert res.exit_code == 0, res.output
    dest = warm.packs / "example"
    assert (dest / "pack.yaml").read_text() == (EXAMPLE / "pack.yaml").read_text()
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in EXAMPLE.iterdir())
    assert sorted(p.name for p in warm.packs.iterdir()) == ["example"]  # no staging left behind

    res = run_cli("assets", "list")
    assert res.exit_code == 0, res.output
    head = [ln for ln in lines_of(res) if ln.startswith("example  ")]
    assert len(head) == 1 and "5 objects" in head[0] and "CC0-1.0" in head[0] and str(dest) in head[0], res.output
    for oid, cat in zip(EXAMPLE_IDS, EXAMPLE_CATEGORIES):
        assert any(ln.split()[:3] == [oid, "category", cat] for ln in lines_of(res)), (oid, res.output)
    cats_line = [ln for ln in lines_of(res) if "categories:" in ln][0]
    assert all(c in cats_line.split(": ", 1)[1].split(", ") for c in EXAMPLE_CATEGORIES), cats_line
    assert "builtin" in res.output  # installed packs come on top of the built-in one

    # again: refused without --force, nothing changed
    (dest / "marker").write_text("old")
    one_line_error(run_cli("assets", "add", str(archive)), "already installed", "--force")
    assert (dest / "marker").exists()
    res = run_cli("assets", "add", "--force", str(archive))
    assert res.exit_code == 0, res.output
    assert not (dest / "marker").exists() and (dest / "pack.yaml").is_file()
    assert sorted(p.name for p in warm.packs.iterdir()) == ["example"]

    # generate with default settings picks the installed pack up
    out = tmp_path / "out"
    res = run_cli("generate", "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output
    data = json.loads((out / "annotations" / "instances.json").read_text())
    names = [c["name"] for c in data["categories"]]
    builtin = list(dict.fromkeys(o["category"] for o in read_yaml(ROOT / "assets" / "builtin")["objects"]))
    assert names == builtin + EXAMPLE_CATEGORIES
    run = json.loads((out / "run.json").read_text())
    assert [p["name"] for p in run["packs"]] == ["builtin", "example"]


# --- discovery ------------------------------------------------------------------------------


def test_env_var_adds_pack_to_list(monkeypatch):
    res = run_cli("assets", "list", "--no-builtin")
    one_line_error(res, "no asset packs")
    monkeypatch.setenv("DROPSYNTH_ASSETS", str(EXAMPLE))
    res = run_cli("assets", "list", "--no-builtin")
    assert res.exit_code == 0, res.output
    assert lines_of(res)[0].startswith("example  (5 objects, licence: CC0-1.0)")
    assert f"5 categories: {', '.join(EXAMPLE_CATEGORIES)}" in res.output


@pytest.mark.render
def test_two_distinct_packs_with_repeated_assets_flag(tmp_path, warm):
    other = scratch_pack(tmp_path / "cubes", cube_obj(0.04), name="cubes", id="cube", category="cube",
                         supercategory="toy")
    res = run_cli("assets", "list", "--no-builtin", "--assets", str(EXAMPLE), "--assets", str(other))
    assert res.exit_code == 0, res.output
    assert [ln.split()[0] for ln in lines_of(res) if not ln.startswith(" ")][:2] == ["example", "cubes"]
    assert f"6 categories: {', '.join(EXAMPLE_CATEGORIES + ['cube'])}" in res.output

    out = tmp_path / "out"
    res = run_cli("generate", "--out", str(out), "--assets", str(EXAMPLE), "--assets", str(other),
                  "--no-builtin", *TINY)
    assert res.exit_code == 0, res.output
    data = json.loads((out / "annotations" / "instances.json").read_text())
    assert [c["name"] for c in data["categories"]] == EXAMPLE_CATEGORIES + ["cube"]


def test_two_packs_with_the_same_name_are_refused(tmp_path):
    twin = copy_example(tmp_path / "twin")
    for args in (("assets", "list", "--no-builtin"), ("generate", "--out", str(tmp_path / "out"), "--no-builtin",
                                                      *TINY)):
        res = run_cli(*args, "--assets", str(EXAMPLE), "--assets", str(twin))
        one_line_error(res, str(twin), "name:", "'example'", "already loaded", str(EXAMPLE))
    assert not (tmp_path / "out").exists()


def test_env_var_pack_clashing_with_flag_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DROPSYNTH_ASSETS", str(EXAMPLE))
    twin = copy_example(tmp_path / "twin")
    one_line_error(run_cli("assets", "list", "--assets", str(twin)), "already loaded")


# --- end to end -------------------------------------------------------------------------------


def _generate(out: Path, *extra: str, size=("160", "120"), scenes="2", views="2", workers=("--workers", "1")):
    res = run_cli("generate", "--out", str(out), "--assets", str(EXAMPLE), "--no-builtin", "--scenes", scenes,
                  "--views-per-scene", views, "--width", size[0], "--height", size[1], "--seed", "5",
                  "--set", "scene.num_objects=[6,8]", "--no-progress", *workers, *extra)
    assert res.exit_code == 0, res.output
    return json.loads((out / "annotations" / "instances.json").read_text())


@pytest.mark.render
def test_end_to_end_with_example_pack(tmp_path, warm):
    out = tmp_path / "ds"
    # The command as documented, with default workers; one scene per shard so
    # that spawned worker processes (which must find the pack too) share the work.
    _generate(out, "--set", "output.shard_scenes=1", workers=())
    coco = quiet_coco(out / "annotations" / "instances.json")
    cats = [coco.cats[i] for i in sorted(coco.cats)]
    assert [c["name"] for c in cats] == EXAMPLE_CATEGORIES
    assert [c["id"] for c in cats] == [1, 2, 3, 4, 5]
    manifest = read_yaml(EXAMPLE)
    assert [c["supercategory"] for c in cats] == [o["supercategory"] for o in manifest["objects"][:4]] + ["toy"]
    assert len(coco.imgs) == 4
    n, seen_assets = 0, set()
    for img_id, img in coco.imgs.items():
        with Image.open(out / img["instances_file"]) as im:
            ids = np.asarray(im)
        assert ids.shape == (120, 160)
        for a in coco.loadAnns(coco.getAnnIds(imgIds=[img_id])):
            assert a["asset_id"].startswith("example/"), a["asset_id"]
            oid = a["asset_id"].split("/", 1)[1]
            assert EXAMPLE_CATEGORIES[EXAMPLE_IDS.index(oid)] == coco.cats[a["category_id"]]["name"]
            assert np.array_equal(coco.annToMask(a).astype(bool), ids == a["inst_id"]), a["id"]
            seen_assets.add(oid)
            n += 1
    assert n >= 10
    assert len(seen_assets) >= 3, seen_assets
    run = json.loads((out / "run.json").read_text())
    assert run["packs"] == [{"name": "example", "objects": 5}]
    assert run["execution"]["workers_asked"] == default_workers()
    # one scene per shard: as many workers ran as there were shards, up to the cores
    assert run["execution"]["workers"] == min(default_workers(), run["config"]["scenes"])
    data = json.loads((out / "annotations" / "instances.json").read_text())
    assert [lic["name"] for lic in data["licenses"]] == ["CC0-1.0"]


@pytest.mark.render
def test_example_pack_from_archive_generates_the_same_dataset(tmp_path, warm):
    a = _generate(tmp_path / "a", size=("64", "48"), scenes="1", views="1")
    archive = zip_folder(EXAMPLE, tmp_path / "example.zip", top="example")
    res = run_cli("generate", "--out", str(tmp_path / "b"), "--assets", str(archive), "--no-builtin",
                  "--scenes", "1", "--views-per-scene", "1", "--width", "64", "--height", "48", "--seed", "5",
                  "--set", "scene.num_objects=[6,8]", "--no-progress", "--workers", "1")
    assert res.exit_code == 0, res.output
    b = json.loads((tmp_path / "b" / "annotations" / "instances.json").read_text())
    assert a["categories"] == b["categories"]
    strip = lambda anns: [{k: v for k, v in x.items() if k != "segmentation"} for x in anns]  # noqa: E731
    assert strip(a["annotations"]) == strip(b["annotations"])
    # the archive was extracted once into the cache, safely
    assert len(list((warm.cache / "packs").iterdir())) == 1


@pytest.mark.render
def test_selected_categories_only(tmp_path, warm):
    data = _generate(tmp_path / "ds", "--set", "scene.categories=[can,nut]", size=("96", "72"))
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "can"), (2, "nut")]
    assert data["annotations"]
    assert {a["category_id"] for a in data["annotations"]} <= {1, 2}
    assert {a["asset_id"] for a in data["annotations"]} <= {"example/soda_can", "example/hex_nut"}


def test_unknown_category_is_one_line_with_suggestion(tmp_path):
    out = tmp_path / "ds"
    res = run_cli("generate", "--out", str(out), "--assets", str(EXAMPLE), "--no-builtin",
                  "--set", "scene.categories=[can,bolw]", *TINY)
    one_line_error(res, "scene.categories", "'bolw'", "did you mean 'bowl'")
    assert not out.exists()


@pytest.mark.render
def test_category_weights_zero_leave_only_cans(tmp_path, warm):
    data = _generate(tmp_path / "ds", "--set", "scene.category_weights={can: 5, bowl: 0, bracket: 0, nut: 0, "
                                               "block: 0}", size=("96", "72"))
    can_id = {c["name"]: c["id"] for c in data["categories"]}["can"]
    assert data["annotations"]
    assert {a["category_id"] for a in data["annotations"]} == {can_id}
    assert {a["asset_id"] for a in data["annotations"]} == {"example/soda_can"}
