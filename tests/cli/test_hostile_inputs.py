"""Bad inputs that used to get through (issue 16): config values hidden by
flags, files that are not UTF-8, duplicate keys, empty selections, split
ratios, and pack cases that need more than a pack folder. Each is handled
perfectly: exit != 0, one line naming the file (or the flag) and the key or
path, no traceback, nothing written."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .helpers import run_cli, tree_hashes

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "example_pack"
TINY = ["--scenes", "1", "--views-per-scene", "1", "--width", "64", "--height", "48", "--no-progress",
        "--workers", "1"]
_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"

# name: (config file bytes or None, extra generate arguments, what names the source ("FILE" = the
# config file), words the line must hold)
CASES: dict[str, tuple[bytes | None, list[str], str, tuple[str, ...]]] = {
    # a bad value in the file is not hidden by a flag that sets the same key or section
    "camera_not_a_mapping_under_width": (b"camera: 5\n", ["--width", "80"], "FILE", ("camera", "mapping")),
    "camera_list_under_height": (b"camera: [1, 2]\n", ["--height", "40"], "FILE", ("camera", "mapping")),
    "scenes_word_under_scenes": (b"scenes: ten\n", ["--scenes", "1"], "FILE", ("scenes", "integer", "'ten'")),
    "views_negative_under_views": (b"views_per_scene: -2\n", ["--views-per-scene", "1"], "FILE",
                                   ("views_per_scene", ">= 1")),
    "width_null_under_width": (b"camera:\n  width: null\n", ["--width", "64"], "FILE", ("camera.width", "integer")),
    "height_word_under_height": (b"camera:\n  height: tall\n", ["--height", "48"], "FILE", ("camera.height",)),
    "seed_string_under_seed": (b"seed: abc\n", ["--seed", "3"], "FILE", ("seed", "integer")),
    "mask_format_under_flag": (b"output:\n  mask_format: poly\n", ["--mask-format", "rle"], "FILE",
                               ("output.mask_format", "polygon")),
    "preset_under_flag": (b"preset: tinny\n", ["--preset", "tiny"], "FILE", ("preset", "'tiny'")),
    "builtin_string_under_flag": (b"assets:\n  builtin: nope\n", ["--no-builtin"], "FILE",
                                  ("assets.builtin", "true or false")),
    "width_in_file_under_set": (b"camera:\n  width: wide\n", ["--set", "camera.width=64"], "FILE",
                                ("camera.width",)),
    # --set values are named as --set, not <defaults>
    "set_width_word_with_flag": (None, ["--set", "camera.width=abc", "--width", "64"], "--set",
                                 ("camera.width", "integer", "'abc'")),
    "set_unknown_key": (None, ["--set", "camera.widht=64"], "--set", ("camera.widht", "'width'")),
    "set_range_reversed": (None, ["--set", "scene.num_objects=[9, 2]"], "--set",
                           ("scene.num_objects", "greater than max")),
    "set_section_as_value": (None, ["--set", "camera=5", "--width", "64"], "--set", ("camera", "mapping")),
    "set_cx_outside_image": (None, ["--set", "camera.cx=500"], "--set", ("camera.cx", "inside the image")),
    "set_unknown_category": (None, ["--set", "scene.categories=[nope]"], "--set",
                             ("scene.categories", "unknown category 'nope'")),
    # files that are not UTF-8 text
    "latin1_config": ("scenes: 2\n# café\n".encode("latin-1"), [], "FILE", ("not UTF-8", "0xe9")),
    "utf16_config": ("scenes: 2\n".encode("utf-16"), [], "FILE", ("not UTF-8",)),
    "png_as_config": (_PNG, [], "FILE", ("not UTF-8", "0x89")),
    # duplicate keys
    "duplicate_top_key": (b"scenes: 3\nseed: 1\nscenes: 4\n", [], "FILE",
                          ("line 3", "duplicate key 'scenes'", "first at line 1")),
    "duplicate_nested_key": (b"camera:\n  width: 64\n  width: 80\n", [], "FILE", ("duplicate key 'width'",)),
    "duplicate_section": (b"camera:\n  width: 64\ncamera:\n  height: 48\n", [], "FILE", ("duplicate key 'camera'",)),
    "duplicate_flow_key": (b"scene: {categories: [mug], categories: [duck]}\n", [], "FILE",
                           ("duplicate key 'categories'",)),
    "duplicate_key_in_set": (None, ["--set", "scene.category_weights={mug: 1, mug: 2}"], "--set",
                             ("duplicate key 'mug'",)),
    # empty selections, which meant "all"
    "categories_empty": (b"scene:\n  categories: []\n", [], "FILE", ("scene.categories", "empty list")),
    "objects_empty": (b"scene:\n  objects: []\n", [], "FILE", ("scene.objects", "empty list")),
    "distractor_categories_empty": (b"distractors:\n  categories: []\n", [], "FILE",
                                    ("distractors.categories", "empty list")),
    "set_categories_empty": (None, ["--set", "scene.categories=[]"], "--set", ("scene.categories", "empty list")),
}


def _snapshot(root: Path) -> dict:
    return tree_hashes(root, ())


def assert_perfect(res, before: dict, root: Path, named: str, words) -> str:
    """exit != 0, one line naming the source and holding ``words``, no traceback, nothing written."""
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    for w in (named, *words):
        assert w in lines[0], (w, lines[0])
    assert _snapshot(root) == before, "nothing may be written"
    return lines[0]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_config_source_is_handled_perfectly(name, tmp_path):
    text, extra, named, words = CASES[name]
    args = ["generate", "--out", str(tmp_path / "out"), *TINY, *extra]
    if text is not None:
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_bytes(text)
        args += ["--config", str(cfg)]
        named = str(cfg) if named == "FILE" else named
    before = _snapshot(tmp_path)
    line = assert_perfect(run_cli(*args), before, tmp_path, named, words)
    assert line.startswith(f"Error: {named}"), line


@pytest.mark.parametrize("name", ["latin1_config", "duplicate_top_key", "categories_empty"])
def test_config_show_refuses_the_same_files(name, tmp_path):
    text, _, _, words = CASES[name]
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(text)
    before = _snapshot(tmp_path)
    assert_perfect(run_cli("config", "show", "--config", str(cfg)), before, tmp_path, str(cfg), words)


SPLITS = {
    "sum_above_one": (["train=0.9", "val=0.9"], ("--split", "sum to 1.8")),
    "three_summing_above_one": (["train=0.8", "val=0.2", "test=0.2"], ("--split", "sum to 1.2")),
    "named_twice": (["train=0.8", "train=0.2"], ("--split train=0.2", "given twice")),
    "ratio_above_one": (["train=1.5"], ("--split train=1.5", "0 to 1")),
    "ratio_negative": (["train=-0.1", "val=0.5"], ("--split train=-0.1", "0 to 1")),
}


@pytest.mark.parametrize("name", list(SPLITS))
@pytest.mark.render
def test_bad_split_ratios_are_refused(name, tmp_path, poly_dataset):
    items, words = SPLITS[name]
    args = [a for it in items for a in ("--split", it)]
    before = _snapshot(poly_dataset)
    res = run_cli("export", "yolo", str(poly_dataset), *args, "--out", str(tmp_path / "y"))
    assert_perfect(res, before, poly_dataset, "--split", words)
    assert not (tmp_path / "y").exists()


# --- packs: cases that need more than the corpus in test_assets.py ----------------------------


def _pack(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "pack"))


def _assert_pack_refused(tmp_path: Path, pack: Path, words) -> None:
    """generate and add refuse ``pack`` perfectly; validate names it too."""
    before = _snapshot(tmp_path)
    for args in (["generate", "--out", str(tmp_path / "out"), "--assets", str(pack), "--no-builtin", *TINY],
                 ["assets", "add", str(pack)]):
        assert_perfect(run_cli(*args), before, tmp_path, str(pack), words)
    res = run_cli("assets", "validate", str(pack))
    assert res.exit_code == 1 and all(w in res.output for w in words), res.output


def test_symlink_out_of_the_pack_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DROPSYNTH_HOME", str(tmp_path / "home"))
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(EXAMPLE / "can.obj", tmp_path / "elsewhere" / "can.obj")
    pack = _pack(tmp_path)
    (pack / "can.obj").unlink()
    (pack / "can.obj").symlink_to(tmp_path / "elsewhere" / "can.obj")
    _assert_pack_refused(tmp_path, pack, ("objects[0].mesh", "outside the pack"))


def test_urdf_mesh_out_of_the_pack_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DROPSYNTH_HOME", str(tmp_path / "home"))
    pack = _pack(tmp_path)
    shutil.move(pack / "block_visual.obj", tmp_path / "block_visual.obj")
    urdf = pack / "block.urdf"
    urdf.write_text(urdf.read_text().replace('filename="block_visual.obj"', 'filename="../block_visual.obj"'))
    assert "../block_visual.obj" in urdf.read_text()
    _assert_pack_refused(tmp_path, pack, ("objects[4].urdf", "block.urdf", "outside the pack"))


def test_archive_total_size_limit_is_checked_before_extracting(tmp_path, monkeypatch):
    """Many files, each under the per-file limit, over the total (limits
    lowered so the test stays small)."""
    import tarfile

    from dropsynth.assets import archive

    monkeypatch.setenv("DROPSYNTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DROPSYNTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 20_000)
    tgz = tmp_path / "big.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        t.add(EXAMPLE, arcname="example")
    _assert_pack_refused(tmp_path, tgz, ("unpacked in all", "limit"))
    assert not (tmp_path / "cache" / "packs").exists() or not list((tmp_path / "cache" / "packs").iterdir())


# --- what generate reports, and what it leaves ----------------------------------------------


@pytest.mark.render
def test_workers_reported_are_the_workers_that_ran(tmp_path):
    out = tmp_path / "w"
    res = run_cli("generate", "--out", str(out), "--scenes", "2", "--views-per-scene", "1", "--width", "64",
                  "--height", "48", "--no-progress", "--set", "output.shard_scenes=1", "--workers", "1000")
    assert res.exit_code == 0, res.output
    assert "with 2 local worker(s)" in res.output, res.output
    assert json.loads((out / "run.json").read_text())["execution"]["workers"] == 2


@pytest.mark.render
def test_overwrite_that_fails_before_the_first_frame_keeps_the_previous_output(tmp_path):
    """--overwrite with a pack whose only mesh is degenerate: the run fails
    while building the first scene, and the previous dataset is back, byte
    for byte, with no marker or run_config of the failed run."""
    out = tmp_path / "ds"
    assert run_cli("generate", "--out", str(out), *TINY).exit_code == 0
    before = _snapshot(out)
    bad = tmp_path / "flat"
    bad.mkdir()
    (bad / "flat.obj").write_text("v 0 0 0\nv 0.05 0 0\nv 0.05 0.05 0\nv 0 0.05 0\nf 1 2 3\nf 1 3 4\n")
    (bad / "pack.yaml").write_text("name: flat\nversion: '1'\nlicense: CC0\nauthor: t\nobjects:\n"
                                   "  - {id: sheet, category: sheet, mesh: flat.obj, mass_kg: 0.1}\n")
    res = run_cli("generate", "--out", str(out), *TINY, "--assets", str(bad), "--no-builtin", "--overwrite")
    assert res.exit_code != 0 and "degenerate" in res.output and "Traceback" not in res.output, res.output
    assert _snapshot(out) == before


@pytest.mark.render
def test_failure_in_an_existing_empty_folder_leaves_it_empty(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    bad = tmp_path / "tri"
    bad.mkdir()
    (bad / "tri.obj").write_text("v 0 0 0\nv 0.05 0 0\nv 0 0.05 0\nf 1 2 3\n")
    (bad / "pack.yaml").write_text("name: tri\nversion: '1'\nlicense: CC0\nauthor: t\nobjects:\n"
                                   "  - {id: tri, category: tri, mesh: tri.obj, mass_kg: 0.1}\n")
    res = run_cli("generate", "--out", str(out), *TINY, "--assets", str(bad), "--no-builtin")
    assert res.exit_code != 0 and "tri.obj" in res.output and "degenerate" in res.output, res.output
    assert out.is_dir() and not list(out.iterdir())
