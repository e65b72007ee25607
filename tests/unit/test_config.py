"""dropsynth.config: defaults, YAML loading, clear errors, --set parsing."""
from __future__ import annotations

import json
import math

import pytest

from dropsynth import config
from dropsynth.config import RunConfig
from dropsynth.errors import ConfigError, DropsynthError


@pytest.fixture()
def write(tmp_path):
    """write(text) -> path of a YAML file holding ``text``."""
    def _write(text: str, name: str = "run.yaml"):
        p = tmp_path / name
        p.write_text(text)
        return p
    return _write


def load_error(path) -> str:
    with pytest.raises(ConfigError) as ei:
        config.load(path)
    msg = str(ei.value)
    assert msg.startswith(str(path) + ":"), f"message must start with the file path: {msg!r}"
    return msg


# --- defaults -------------------------------------------------------------------


def test_defaults_load():
    cfg = config.load(None)
    assert isinstance(cfg, RunConfig)
    assert cfg == RunConfig()
    assert cfg.seed == 0 and cfg.scenes == 8 and cfg.views_per_scene == 4
    assert cfg.scene.builder == "tabletop"
    assert cfg.camera.width == 640 and cfg.camera.height == 480
    assert cfg.output.mask_format == "polygon"
    assert cfg.scene.num_objects[0] <= cfg.scene.num_objects[1]
    assert cfg.camera.znear_m < cfg.camera.zfar_m


def test_empty_file_gives_defaults(write):
    assert config.load(write("")) == RunConfig()
    assert config.load(write("camera:\n")) == RunConfig()


def test_values_from_file_and_overrides(write):
    p = write("seed: 5\ncamera:\n  width: 320\n  height: 240\nscene:\n  num_objects: [2, 4]\n")
    cfg = config.load(p)
    assert cfg.seed == 5
    assert (cfg.camera.width, cfg.camera.height) == (320, 240)
    assert cfg.scene.num_objects == (2, 4)
    assert cfg.camera.fov_y_deg == RunConfig().camera.fov_y_deg, "keys not given keep their defaults"
    cfg = config.load(p, {"camera": {"width": 160}, "output": {"mask_format": "rle"}})
    assert (cfg.camera.width, cfg.camera.height) == (160, 240), "overrides merge into nested sections"
    assert cfg.output.mask_format == "rle"
    assert cfg.seed == 5


def test_integral_float_accepted_for_int_and_int_for_float(write):
    cfg = config.load(write("camera:\n  width: 320.0\n  fov_y_deg: 60\n"))
    assert cfg.camera.width == 320 and type(cfg.camera.width) is int
    assert cfg.camera.fov_y_deg == 60.0 and type(cfg.camera.fov_y_deg) is float


def test_defaults_are_not_shared_between_instances():
    a, b = RunConfig(), RunConfig()
    a.lights.kinds.append("spot")
    assert b.lights.kinds == ["directional", "point"]


# --- unknown keys ------------------------------------------------------------------


def test_unknown_top_level_key_names_file_key_and_suggestion(write):
    p = write("sceens: 3\n")
    msg = load_error(p)
    assert "sceens" in msg
    assert "did you mean 'scenes'" in msg


def test_unknown_nested_key_names_the_key_path(write):
    p = write("output:\n  mask_fromat: rle\n")
    msg = load_error(p)
    assert "output.mask_fromat" in msg
    assert "did you mean 'mask_format'" in msg


def test_unknown_key_deeper_in_a_real_looking_file(write):
    p = write("seed: 1\nphysics:\n  max_steps: 100\n  hold_step: 3\n")
    msg = load_error(p)
    assert "physics.hold_step" in msg and "did you mean 'hold_steps'" in msg


def test_unknown_key_fovy_suggests_fov_y_deg(write):
    p = write("camera:\n  fovy: 30\n")
    msg = load_error(p)
    assert "camera.fovy" in msg
    assert "did you mean 'fov_y_deg'" in msg


def test_unknown_key_in_overrides_is_an_error():
    with pytest.raises(ConfigError) as ei:
        config.load(None, {"camera": {"widht": 100}})
    assert "camera.widht" in str(ei.value) and "'width'" in str(ei.value)


# --- wrong values -------------------------------------------------------------------


@pytest.mark.parametrize("text, key, words", [
    ("camera:\n  width: abc\n", "camera.width", "integer"),
    ("camera:\n  width: 320.5\n", "camera.width", "integer"),
    ("camera:\n  width: true\n", "camera.width", "integer"),
    ("camera:\n  fov_y_deg: wide\n", "camera.fov_y_deg", "number"),
    ("output:\n  preview: 1\n", "output.preview", "true or false"),
    ("scene:\n  builder: 3\n", "scene.builder", "string"),
    ("scene:\n  table_size_m: [1, 2]\n", "scene.table_size_m", "3"),
    ("scene:\n  num_objects: 5\n", "scene.num_objects", "list"),
    ("scene:\n  categories: mug\n", "scene.categories", "list"),
    ("camera: 5\n", "camera", "mapping"),
    ("lights:\n  kinds: [laser]\n", "lights.kinds[0]", "directional"),
    ("output:\n  mask_format: rel\n", "output.mask_format", "did you mean 'rle'"),
], ids=lambda v: v if isinstance(v, str) and "\n" not in v else None)
def test_wrong_types(write, text, key, words):
    msg = load_error(write(text))
    assert f": {key}:" in msg, msg
    assert words in msg, msg


@pytest.mark.parametrize("text, key", [
    ("camera:\n  width: 8\n", "camera.width"),
    ("camera:\n  height: 100000\n", "camera.height"),
    ("seed: -1\n", "seed"),
    ("scenes: 0\n", "scenes"),
    ("physics:\n  lin_vel_tol_m_s: 0\n", "physics.lin_vel_tol_m_s"),
    ("physics:\n  time_step_s: 1.0\n", "physics.time_step_s"),
    ("camera:\n  fov_y_deg: .nan\n", "camera.fov_y_deg"),
    ("camera:\n  zfar_m: 10\n", "camera.zfar_m"),
    ("output:\n  png_compress_level: 10\n", "output.png_compress_level"),
    ("lights:\n  ambient: [0.1, 1.5]\n", "lights.ambient[1]"),
    ("scene:\n  num_objects: [0, 5]\n", "scene.num_objects[0]"),
    ("render:\n  msaa: 3\n", "render.msaa"),
], ids=lambda v: v if isinstance(v, str) and "\n" not in v else None)
def test_out_of_range(write, text, key):
    msg = load_error(write(text))
    assert f": {key}:" in msg, msg
    assert "must be" in msg


@pytest.mark.parametrize("section, key, value", [
    ("scene", "num_objects", "[9, 3]"),
    ("scene", "spawn_height_m", "[0.3, 0.1]"),
    ("camera", "distance_m", "[2.0, 1.0]"),
    ("camera", "elevation_deg", "[80, 30]"),
    ("camera", "azimuth_deg", "[90, 0]"),
    ("lights", "count", "[3, 1]"),
    ("lights", "ambient", "[0.4, 0.1]"),
    ("lights", "color_temperature_k", "[8000, 3000]"),
])
def test_min_greater_than_max(write, section, key, value):
    msg = load_error(write(f"{section}:\n  {key}: {value}\n"))
    assert f"{section}.{key}" in msg and "greater than max" in msg


@pytest.mark.parametrize("key, value", [("elevation_deg", "[80, 30]"), ("distance_m", "[3.0, 1.0]")])
def test_min_greater_than_max_light_ranges(write, key, value):
    msg = load_error(write(f"lights:\n  {key}: {value}\n"))
    assert f"lights.{key}" in msg


def test_fx_without_fy(write):
    msg = load_error(write("camera:\n  fx: 500\n"))
    assert "fx" in msg and "fy" in msg
    msg = load_error(write("camera:\n  fy: 500\n"))
    assert "fx" in msg and "fy" in msg
    cfg = config.load(write("camera:\n  fx: 500\n  fy: 510\n"))
    assert (cfg.camera.fx, cfg.camera.fy) == (500.0, 510.0)


@pytest.mark.parametrize("near, far", [(2.0, 1.0), (1.0, 1.0)])
def test_znear_not_below_zfar(write, near, far):
    msg = load_error(write(f"camera:\n  znear_m: {near}\n  zfar_m: {far}\n"))
    assert "znear_m" in msg and "zfar_m" in msg


def test_principal_point_outside_image(write):
    msg = load_error(write("camera:\n  width: 320\n  cx: 400\n"))
    assert "camera.cx" in msg


def test_spawn_area_larger_than_table(write):
    msg = load_error(write("scene:\n  table_size_m: [1.0, 0.5, 0.04]\n  spawn_area_m: [0.8, 0.6]\n"))
    assert "scene.spawn_area_m" in msg


def test_invalid_yaml(write):
    msg = load_error(write("camera: [1, 2\nseed: 3\n"))
    assert "YAML" in msg


def test_top_level_not_a_mapping(write):
    msg = load_error(write("- 1\n- 2\n"))
    assert "mapping" in msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope" / "run.yaml"
    msg = load_error(p)
    assert "not found" in msg


def test_config_error_is_a_dropsynth_error():
    assert issubclass(ConfigError, DropsynthError)


# --- --set ---------------------------------------------------------------------------


def test_parse_set_nested_and_typed():
    out = config.parse_set(["camera.width=320", "scene.num_objects=[3, 6]", "output.mask_format=rle",
                            "seed=7", "output.preview=false", "camera.fov_y_deg=50.5",
                            "scene.categories=[mug, duck]", "camera.height=240"])
    assert out == {
        "camera": {"width": 320, "fov_y_deg": 50.5, "height": 240},
        "scene": {"num_objects": [3, 6], "categories": ["mug", "duck"]},
        "output": {"mask_format": "rle", "preview": False},
        "seed": 7,
    }
    cfg = config.load(None, out)
    assert cfg.camera.width == 320 and cfg.scene.num_objects == (3, 6) and cfg.output.preview is False


def test_parse_set_value_may_contain_equals():
    assert config.parse_set(["scene.builder=a=b"]) == {"scene": {"builder": "a=b"}}


def test_parse_set_later_item_wins():
    assert config.parse_set(["seed=1", "seed=2"]) == {"seed": 2}


@pytest.mark.parametrize("item", ["camerawidth", "camera.width"])
def test_parse_set_without_equals(item):
    with pytest.raises(ConfigError) as ei:
        config.parse_set([item])
    assert item in str(ei.value) and "KEY=VALUE" in str(ei.value)


def test_parse_set_invalid_yaml_value():
    with pytest.raises(ConfigError) as ei:
        config.parse_set(["scene.num_objects=[1, 2"])
    assert "scene.num_objects" in str(ei.value)


def test_parse_set_unknown_key_is_reported_by_load():
    with pytest.raises(ConfigError) as ei:
        config.load(None, config.parse_set(["camera.widht=320"]))
    assert "camera.widht" in str(ei.value) and "did you mean 'width'" in str(ei.value)


# --- to_dict -----------------------------------------------------------------------------


def _assert_plain(v, path="cfg"):
    if isinstance(v, dict):
        for k, x in v.items():
            assert type(k) is str, path
            _assert_plain(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _assert_plain(x, f"{path}[{i}]")
    else:
        assert v is None or type(v) in (str, int, float, bool), f"{path}: {type(v).__name__}"
        if type(v) is float:
            assert math.isfinite(v), path


def test_to_dict_is_plain_json_and_round_trips(write):
    cfg = config.load(write("seed: 9\ncamera:\n  fx: 400\n  fy: 400\nscene:\n  categories: [mug]\n"))
    d = cfg.to_dict()
    _assert_plain(d)
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert d["scene"]["num_objects"] == [5, 15], "tuples become lists"
    assert d["camera"]["fx"] == 400.0 and d["seed"] == 9
    assert config.from_dict(json.loads(text)) == cfg, "the dict loads back to the same config"
    assert config.from_dict(RunConfig().to_dict()) == RunConfig()


def test_describe_covers_every_leaf_key():
    rows = config.describe()
    paths = [r[0] for r in rows]
    assert len(paths) == len(set(paths))
    leaves = set()

    def walk(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                leaves.add(prefix + k)
    walk(RunConfig().to_dict())
    assert set(paths) == leaves
    assert all(doc for _, doc, _ in rows), "every field is documented"


def test_parse_set_scalar_then_nested_is_a_config_error():
    with pytest.raises(ConfigError) as ei:
        config.parse_set(["seed=1", "seed.x=2"])
    assert "seed.x" in str(ei.value)


def test_empty_light_kinds_is_a_config_error(write):
    msg = load_error(write("lights:\n  kinds: []\n"))
    assert "lights.kinds" in msg


def test_json_schema_accepts_every_valid_config_and_rejects_bad_ones():
    jsonschema = pytest.importorskip("jsonschema")
    from dropsynth.config import json_schema, load

    schema = json_schema()
    v = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert not list(v.iter_errors(load(None).to_dict()))
    custom = load(None, {"scene": {"num_objects": [2, 3], "category_weights": {"mug": 2.0}},
                         "output": {"splits": {"train": 0.9, "val": 0.1}, "ground_truth": ["nocs"]}}).to_dict()
    assert not list(v.iter_errors(custom))
    for bad in ({"camera": {"fovy": 3}}, {"scenes": 0}, {"output": {"mask_format": "png"}},
                {"camera": {"distance_m": [1.0]}}, {"lights": {"kinds": ["laser"]}}, {"render": {"msaa": 3}}):
        assert list(v.iter_errors(bad)), bad
    # every key documented
    def walk(s):
        for name, sub in s["properties"].items():
            if sub.get("type") == "object" and "properties" in sub:
                walk(sub)
            else:
                assert sub.get("description"), name
    walk(schema)


def test_config_schema_command():
    import json

    from click.testing import CliRunner

    from dropsynth.cli import main

    res = CliRunner().invoke(main, ["config", "schema"])
    assert res.exit_code == 0
    assert json.loads(res.output)["properties"]["camera"]["properties"]["width"]["default"] == 640


def test_preset_packs_are_kept_when_the_user_adds_packs(tmp_path):
    from dropsynth import config as config_mod

    cfg = config_mod.load(None, {"preset": "thin", "assets": {"packs": [str(tmp_path)]}})
    assert cfg.assets.packs == ["builtin:thin", str(tmp_path)]
    again = config_mod.apply_preset(config_mod.apply_preset({"preset": "thin", "assets": {"packs": ["p"]}}, "x"), "x")
    assert again["assets"]["packs"] == ["builtin:thin", "p"]


def test_shelf_cameras_keep_to_the_front_unless_azimuth_is_set():
    from dropsynth import config as config_mod
    from dropsynth.assets.catalog import discover_packs, for_run
    from dropsynth.scenes import builders

    packs = [str(p) for p in discover_packs([], builtin=True)]
    for az, front in ((None, True), ([60, 120], False)):
        over = {"scene": {"builder": "clutter", "clutter_surface": "shelf"}, "views_per_scene": 12}
        if az is not None:
            over["camera"] = {"azimuth_deg": az}
        cfg = config_mod.load(None, over)
        spec = builders.get("clutter")(cfg, for_run(cfg, packs), 0, 0)
        ys = [c.world_T_cam[1, 3] for c in spec.cameras]
        assert all(y < 0 for y in ys) if front else all(y > 0 for y in ys)


# --- typed, frozen models (issue 15) ----------------------------------------------------------


def _image_folder(path, n=3):
    from PIL import Image

    path.mkdir()
    for i in range(n):
        Image.new("RGB", (4, 4), (i, 0, 0)).save(path / f"{i}.png")
    return path


def test_config_is_frozen_and_copies_with_updates():
    import pydantic

    cfg = config.load(None)
    with pytest.raises(pydantic.ValidationError):
        cfg.camera.width = 320
    small = cfg.model_copy(update={"camera": cfg.camera.model_copy(update={"width": 320})})
    assert small.camera.width == 320 and cfg.camera.width == 640 and small.camera.height == 480


def test_pickled_config_is_equal_without_validating_or_listing_folders_again(tmp_path, monkeypatch):
    import pickle

    folder = _image_folder(tmp_path / "bg")
    cfg = config.load(None, {"background": {"kinds": ["image"], "image_folder": str(folder)},
                             "camera": {"width": 320}})
    blob = pickle.dumps(cfg)
    for f in folder.iterdir():  # a worker on another machine: the folder is not there
        f.unlink()
    folder.rmdir()

    def refuse(*a, **k):
        raise AssertionError("validated again")

    monkeypatch.setattr(RunConfig, "model_validate", classmethod(refuse))
    again = pickle.loads(blob)
    assert again == cfg and again.camera.width == 320
    assert [p.rsplit("/", 1)[-1] for p in again.background.listing()] == ["0.png", "1.png", "2.png"]
    assert config.source_of(again, "camera.width") == "--set", "where each key came from travels too"


def test_the_folder_listing_is_taken_once_at_load(tmp_path):
    folder = _image_folder(tmp_path / "tex")
    cfg = config.load(None, {"materials": {"randomize": ["table"], "textures": ["image"],
                                           "texture_folder": str(folder)}})
    (folder / "9.png").write_bytes((folder / "0.png").read_bytes())  # added after the run started
    assert len(cfg.materials.listing()) == 3


@pytest.mark.parametrize("text, key, words", [
    ("render:\n  msaa: false\n", "render.msaa", "integer"),
    ("scene:\n  category_weights: {mug: abc}\n", "scene.category_weights.mug", "must be a number, got 'abc'"),
    ("scene:\n  categories: [1]\n", "scene.categories[0]", "must be a string"),
    ("output:\n  splits: {train: -1}\n", "output.splits.train", "must be >= 0.0, got -1.0"),
    ("camera:\n  distance_m: [1.0, .inf]\n", "camera.distance_m[1]", "finite"),
    ("camera: [1, 2]\n", "camera", "mapping of keys to values"),
    ("sensor:\n  jpeg_quality: [90, 10]\n", "sensor.jpeg_quality", "greater than max"),
    ("render:\n  surface_kinds: [wod]\n", "render.surface_kinds[0]", "did you mean 'wood'"),
])
def test_more_wrong_values_name_the_key_and_the_value(write, text, key, words):
    msg = load_error(write(text))
    assert f": {key}: " in msg and words in msg, msg


def test_config_imports_no_higher_layer():
    import subprocess
    import sys

    code = ("import sys, dropsynth.config; print(' '.join(m for m in sys.modules if m.split('.')[:2] in "
            "(['dropsynth', 'scenes'], ['dropsynth', 'writers'], ['dropsynth', 'render'], ['dropsynth', 'assets'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"dropsynth.config imports {out}"


def test_builder_names_are_the_registry_and_unknown_ones_get_a_suggestion():
    from dropsynth.scenes import builders

    for name in config.BUILDERS:
        assert callable(builders.get_builder(name)), name
    assert set(config.BUILDERS) <= set(builders.available())
    with pytest.raises(ConfigError) as ei:
        builders.get_builder("clutr", "run.yaml")
    assert str(ei.value).startswith("run.yaml: scene.builder: unknown builder 'clutr'; did you mean 'clutter'?")


def test_builders_get_their_sections_and_streams_not_the_run_config():
    import dataclasses

    from dropsynth.assets.catalog import discover_packs, for_run
    from dropsynth.scenes import builders
    from dropsynth.scenes.builders import tabletop

    cfg = config.load(None, {"views_per_scene": 2})
    catalog = for_run(cfg, [str(p) for p in discover_packs([], builtin=True)])
    ctx = builders.context(cfg, 7, 3)
    assert {f.name for f in dataclasses.fields(ctx)} == {"scene_index", "views", "scene", "camera", "lights",
                                                        "materials", "background", "distractors", "streams"}
    spec = tabletop.build(ctx, catalog)
    old_style = builders.get("tabletop")(cfg, catalog, 7, 3)
    assert spec.scene_index == 3 and len(spec.cameras) == 2
    assert [o.world_T_obj.tolist() for o in spec.objects] == [o.world_T_obj.tolist() for o in old_style.objects]
    other = tabletop.build(dataclasses.replace(ctx, streams=builders.Streams(8, 3)), catalog)
    assert [o.world_T_obj.tolist() for o in other.objects] != [o.world_T_obj.tolist() for o in spec.objects]


def test_find_spot_rejects_overlaps_and_gives_up_after_max_tries():
    import numpy as np

    from dropsynth.scenes.builders.tabletop import CLEARANCE_M, find_spot

    occupied = [(np.array([0.0, 0.0]), 0.1)]
    rng = np.random.default_rng(1)
    for _ in range(50):
        spot = find_spot(rng, (0.3, 0.3), 0.05, occupied, 100)
        assert spot is not None and np.linalg.norm(spot) > 0.15 + CLEARANCE_M
    rng, twin = np.random.default_rng(2), np.random.default_rng(2)
    assert find_spot(rng, (0.05, 0.05), 0.05, occupied, 7) is None, "the area is covered: no spot"
    twin.uniform(size=14)  # 7 tries of (x, y), no more
    assert rng.uniform() == twin.uniform()


def test_schema_is_inline_and_describe_defaults_are_copies():
    schema = config.json_schema()
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text and '"title"' not in text.replace('"title": "dropsynth', "")
    assert schema["properties"]["physics"]["properties"]["lin_vel_tol_m_s"]["exclusiveMinimum"] == 0.0
    assert schema["properties"]["render"]["properties"]["msaa"]["enum"] == [0, 2, 4, 8]
    rows = {k: d for k, _, d in config.describe()}
    rows["lights.kinds"].append("spot")
    assert RunConfig().lights.kinds == ["directional", "point"]


def test_a_section_copied_with_another_folder_lists_that_folder(tmp_path):
    from PIL import Image

    for name, n in (("a", 2), ("b", 3)):
        (tmp_path / name).mkdir()
        for k in range(n):
            Image.new("RGB", (4, 4)).save(tmp_path / name / f"{k}.png")
    cfg = config.load(None, [("--set", config.parse_set([f"materials.texture_folder={tmp_path / 'a'}",
                                                        "materials.textures=[image]"]))])
    assert len(cfg.materials.listing()) == 2
    assert len(cfg.materials.model_copy(update={"texture_folder": str(tmp_path / "b")}).listing()) == 3


def test_a_builder_with_the_old_signature_is_refused_in_one_line(monkeypatch):
    import sys
    import types

    from dropsynth.errors import ConfigError
    from dropsynth.scenes import builders

    mod = types.ModuleType("third_party_builders")
    mod.old = lambda cfg, catalog, seed, scene_index: None
    mod.new = lambda ctx, catalog: None
    monkeypatch.setitem(sys.modules, "third_party_builders", mod)
    monkeypatch.setattr(builders, "available", lambda: {"old": "third_party_builders:old",
                                                         "new": "third_party_builders:new"})
    assert builders.get_builder("new") is mod.new
    with pytest.raises(ConfigError) as e:
        builders.get_builder("old", "run.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("run.yaml: scene.builder: 'old'") and "(ctx, catalog)" in msg
