"""dropsynth.assets.catalog: the built-in pack, categories, selection, manifest errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dropsynth.assets import catalog as catalog_mod
from dropsynth.assets.catalog import AssetCatalog, load_catalog, load_pack
from dropsynth.errors import AssetError, DropsynthError
from dropsynth.types import Asset

BUILTIN_YAML = Path(catalog_mod.__file__).parent / "builtin" / "pack.yaml"

CUBE_OBJ = """\
v -0.5 -0.5 -0.5
v 0.5 -0.5 -0.5
v 0.5 0.5 -0.5
v -0.5 0.5 -0.5
v -0.5 -0.5 0.5
v 0.5 -0.5 0.5
v 0.5 0.5 0.5
v -0.5 0.5 0.5
f 1 3 2
f 1 4 3
f 5 6 7
f 5 7 8
f 1 2 6
f 1 6 5
f 2 3 7
f 2 7 6
f 3 4 8
f 3 8 7
f 4 1 5
f 4 5 8
"""


@pytest.fixture(scope="module")
def builtin() -> AssetCatalog:
    return load_catalog()


@pytest.fixture()
def pack_dir(tmp_path):
    """A valid pack folder with one mesh file; tests rewrite its pack.yaml."""
    (tmp_path / "cube.obj").write_text(CUBE_OBJ)
    return tmp_path


def write_manifest(folder: Path, objects: list, **top) -> Path:
    data = {"name": "extra", "version": "1.0", "license": "CC0", "author": "tests", **top, "objects": objects}
    p = folder / "pack.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def cube(**kw) -> dict:
    return {"id": "cube", "category": "cube", "mesh": "cube.obj", "scale": 0.05, **kw}


def pack_error(path) -> str:
    with pytest.raises(AssetError) as ei:
        load_pack(path)
    return str(ei.value)


# --- the built-in pack ----------------------------------------------------------------


def test_builtin_pack_loads_and_files_exist(builtin):
    assert builtin.assets
    assert all(isinstance(a, Asset) for a in builtin.assets)
    for a in builtin.assets:
        assert a.pack == "builtin"
        assert (a.mesh_path is None) != (a.primitive_kind is None), a.id
        if a.mesh_path:
            assert Path(a.mesh_path).is_file(), a.mesh_path
        if a.collision_path:
            assert Path(a.collision_path).is_file(), a.collision_path
        assert all(s > 0 for s in a.scale)
        assert a.supercategory and a.supercategory.lower() != "none"


def test_categories_come_from_the_pack_file(builtin):
    data = yaml.safe_load(BUILTIN_YAML.read_text())
    expected = []
    for o in data["objects"]:
        pair = (o["category"], o.get("supercategory", data["name"]))
        if pair[0] not in [c for c, _ in expected]:
            expected.append(pair)
    assert builtin.categories == expected
    assert [a.id for a in builtin.assets] == [o["id"] for o in data["objects"]]
    for a, o in zip(builtin.assets, data["objects"]):
        assert a.category == o["category"]
        if "mass_kg" in o:
            assert a.mass_kg == o["mass_kg"]
        if "scale" in o:
            s = o["scale"]
            assert a.scale == (tuple(float(v) for v in s) if isinstance(s, list) else (float(s),) * 3)


def test_category_ids_are_1_to_k(builtin):
    ids = builtin.category_ids()
    assert sorted(ids.values()) == list(range(1, len(builtin.categories) + 1))
    assert list(ids) == [c for c, _ in builtin.categories]
    assert len(set(ids)) == len(ids), "category names are unique"


def test_select_keeps_only_given_categories(builtin):
    cats = [c for c, _ in builtin.categories]
    chosen = [cats[-1], cats[0]]
    sub = builtin.select(chosen)
    assert {a.category for a in sub.assets} == set(chosen)
    assert len(sub.assets) == sum(a.category in chosen for a in builtin.assets)
    assert builtin.select(None) == builtin and builtin.select([]) == builtin


def test_select_unknown_category_suggests_nearest(builtin):
    with pytest.raises(AssetError) as ei:
        builtin.select(["mugs"], source="run.yaml")
    msg = str(ei.value)
    assert msg.startswith("run.yaml")
    assert "mugs" in msg and "did you mean 'mug'" in msg
    assert issubclass(AssetError, DropsynthError)


def test_extra_pack_appends_categories(pack_dir, builtin):
    write_manifest(pack_dir, [cube(), cube(id="cube2"), {"id": "pebble", "category": "pebble",
                                                        "primitive": "sphere", "size_m": [[0.01, 0.02]]}])
    cat = load_catalog([pack_dir])
    k = len(builtin.categories)
    assert cat.categories[:k] == builtin.categories
    assert cat.categories[k:] == [("cube", "extra"), ("pebble", "extra")]
    assert cat.category_ids()["pebble"] == k + 2
    cubes = [a for a in cat.assets if a.pack == "extra" and a.category == "cube"]
    assert [a.id for a in cubes] == ["cube", "cube2"]
    assert cubes[0].scale == (0.05, 0.05, 0.05)
    assert Path(cubes[0].mesh_path) == pack_dir / "cube.obj"


def test_pack_accepts_manifest_path_or_folder(pack_dir):
    p = write_manifest(pack_dir, [cube()])
    assert load_pack(p) == load_pack(pack_dir)


# --- broken manifests --------------------------------------------------------------------


def test_missing_mesh_file(pack_dir):
    p = write_manifest(pack_dir, [cube(), cube(id="b", mesh="missing.obj")])
    msg = pack_error(p)
    assert msg.startswith(str(p))
    assert "objects[1].mesh" in msg and "missing.obj" in msg


def test_missing_collision_file(pack_dir):
    p = write_manifest(pack_dir, [cube(collision="nope_col.obj")])
    msg = pack_error(p)
    assert msg.startswith(str(p)) and "objects[0].collision" in msg


def test_duplicate_id(pack_dir):
    p = write_manifest(pack_dir, [cube(), cube(category="other")])
    msg = pack_error(p)
    assert msg.startswith(str(p))
    assert "objects[1].id" in msg and "duplicate" in msg and "cube" in msg


@pytest.mark.parametrize("scale", [0, -1.0, "big", [1, 2], [1, 0, 1], True])
def test_bad_scale(pack_dir, scale):
    p = write_manifest(pack_dir, [cube(scale=scale)])
    msg = pack_error(p)
    assert msg.startswith(str(p)) and "objects[0].scale" in msg


def test_unknown_object_key(pack_dir):
    p = write_manifest(pack_dir, [cube(), cube(id="b", mass=0.2)])
    msg = pack_error(p)
    assert msg.startswith(str(p)) and "objects[1].mass" in msg and "unknown key" in msg
    assert "mass_kg" in msg, "the valid keys are listed"


def test_unknown_top_level_key(pack_dir):
    p = write_manifest(pack_dir, [cube()], licence="CC0")
    msg = pack_error(p)
    assert msg.startswith(str(p)) and "licence" in msg and "unknown key" in msg


@pytest.mark.parametrize("obj, field", [
    ({"id": "x", "category": "x"}, "objects[0]"),  # neither mesh nor primitive
    (cube(primitive="box", size_m=[[0.1, 0.2]] * 3), "objects[0]"),  # both
    ({"id": "x", "category": "x", "primitive": "cone", "size_m": [[0.1, 0.2]]}, "objects[0].primitive"),
    ({"id": "x", "category": "x", "primitive": "box", "size_m": [[0.1, 0.2]]}, "objects[0].size_m"),
    ({"id": "x", "category": "x", "primitive": "sphere", "size_m": [[0.3, 0.1]]}, "objects[0].size_m[0]"),
    ({"id": "x", "category": "x", "primitive": "sphere", "size_m": [[0.0, 0.1]]}, "objects[0].size_m[0]"),
    (cube(mass_kg=0), "objects[0].mass_kg"),
    (cube(friction=-0.1), "objects[0].friction"),
    (cube(color=[1, 0]), "objects[0].color"),
    (cube(category=""), "objects[0].category"),
    (cube(supercategory="none"), "objects[0].supercategory"),
])
def test_invalid_object_fields(pack_dir, obj, field):
    p = write_manifest(pack_dir, [obj])
    msg = pack_error(p)
    assert msg.startswith(f"{p}: {field}"), msg


def test_missing_required_top_level_keys(pack_dir):
    p = pack_dir / "pack.yaml"
    p.write_text("name: extra\nversion: 1\nobjects: []\n")
    assert "license" in pack_error(p)
    p.write_text("name: extra\nlicense: CC0\nobjects: []\n")
    assert "version" in pack_error(p)
    p.write_text("name: extra\nversion: 1\nlicense: CC0\nobjects: []\n")
    msg = pack_error(p)
    assert msg.startswith(str(p)) and "objects" in msg


def test_manifest_not_found_and_invalid_yaml(tmp_path):
    msg = pack_error(tmp_path)
    assert str(tmp_path / "pack.yaml") in msg and "not found" in msg
    p = tmp_path / "pack.yaml"
    p.write_text("name: [extra\n")
    msg = pack_error(p)
    assert msg.startswith(str(p)) and "YAML" in msg


def test_two_packs_with_one_name_is_an_error(pack_dir):
    write_manifest(pack_dir, [cube(id="duck")], name="builtin")
    with pytest.raises(AssetError) as ei:
        load_catalog([pack_dir])
    assert str(pack_dir) in str(ei.value) and "'builtin' is already loaded" in str(ei.value)


def test_colour_above_one_is_rejected(pack_dir):
    p = write_manifest(pack_dir, [cube(color=[2.0, 0.0, 0.0])])
    msg = pack_error(p)
    assert msg.startswith(f"{p}: objects[0].color")
