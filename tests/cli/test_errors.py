"""Bad input: one clear line, exit code != 0, no traceback, no output that looks complete."""
from __future__ import annotations

import pytest

from .helpers import run_cli

TINY = ["--scenes", "1", "--views-per-scene", "1", "--width", "64", "--height", "48", "--no-progress", "--workers", "1"]


def _one_line_error(res, *words):
    assert res.exit_code != 0
    text = res.output.strip()
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.mark.render
def test_non_empty_output_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _one_line_error(run_cli("generate", "--out", str(out), *TINY), str(out), "not empty", "--overwrite")
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.render
def test_overwrite_refuses_a_folder_that_is_not_a_dropsynth_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _one_line_error(run_cli("generate", "--out", str(out), "--overwrite", *TINY), "not a dropsynth output")
    assert (out / "notes.txt").exists()


@pytest.mark.render
def test_overwrite_replaces_a_previous_run(tmp_path):
    out = tmp_path / "out"
    assert run_cli("generate", "--out", str(out), *TINY).exit_code == 0
    (out / "rgb" / "999999.png").write_bytes(b"stale")
    res = run_cli("generate", "--out", str(out), "--overwrite", *TINY)
    assert res.exit_code == 0, res.output
    assert not (out / "rgb" / "999999.png").exists() and (out / "run.json").exists()


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(run_cli("generate", "--out", str(blocker / "sub"), *TINY), "--out", "cannot write")


@pytest.mark.parametrize("flag", ["--scenes", "--views-per-scene", "--width", "--height"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_non_positive_counts(tmp_path, flag, value):
    args = [a for a in TINY]
    if flag in args:
        i = args.index(flag)
        del args[i:i + 2]
    out = tmp_path / "out"
    _one_line_error(run_cli("generate", "--out", str(out), *args, flag, value), flag, "positive")
    assert not out.exists()


def test_unknown_config_key_names_key_and_suggests(tmp_path):
    cfg = tmp_path / "scene.yaml"
    cfg.write_text("camera:\n  fovy: 50\n")
    out = tmp_path / "out"
    line = _one_line_error(run_cli("generate", "--out", str(out), "--config", str(cfg), *TINY),
                           str(cfg), "camera.fovy", "fov_y_deg")
    assert "unknown key" in line
    assert not out.exists()


def test_bad_config_value_names_file_and_key(tmp_path):
    cfg = tmp_path / "scene.yaml"
    cfg.write_text("scene:\n  num_objects: [9, 3]\n")
    _one_line_error(run_cli("generate", "--out", str(tmp_path / "o"), "--config", str(cfg), *TINY),
                    str(cfg), "scene.num_objects", "greater than max")


def test_unknown_set_key(tmp_path):
    _one_line_error(run_cli("generate", "--out", str(tmp_path / "o"), "--set", "camera.widht=3", *TINY),
                    "camera.widht", "width")


def test_missing_config_file(tmp_path):
    _one_line_error(run_cli("generate", "--out", str(tmp_path / "o"), "--config", str(tmp_path / "nope.yaml"),
                            *TINY), "nope.yaml", "not found")


def test_missing_gl_libraries_name_the_debian_packages(tmp_path, monkeypatch):
    from dropsynth.render import gl

    monkeypatch.setattr(gl, "_ready", False)
    monkeypatch.setattr(gl.ctypes.util, "find_library", lambda name: None if name == "EGL" else f"lib{name}.so")
    out = tmp_path / "out"
    _one_line_error(run_cli("generate", "--out", str(out), *TINY), "libegl1", "apt-get install")
    assert not out.exists()


def test_preview_of_a_folder_that_is_not_a_dataset(tmp_path):
    _one_line_error(run_cli("preview", str(tmp_path)), "instances.json", "not found")


def test_config_show_prints_resolved_defaults():
    import yaml

    res = run_cli("config", "show", "--set", "camera.width=320")
    assert res.exit_code == 0, res.output
    cfg = yaml.safe_load(res.output)
    assert cfg["camera"]["width"] == 320 and cfg["camera"]["height"] == 480 and cfg["scene"]["builder"] == "tabletop"
