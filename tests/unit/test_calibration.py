"""Camera calibration files (digital twin): OpenCV YAML/JSON, ROS camera_info."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dropsynth import config as config_mod
from dropsynth.calibration import read_calibration
from dropsynth.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
K = [[1050.0, 0.0, 639.5], [0.0, 1050.0, 479.5], [0.0, 0.0, 1.0]]


@pytest.mark.parametrize("name", ["bin_camera.yaml", "bin_camera_ros.yaml"])
def test_shipped_opencv_and_ros_files(name):
    cal = read_calibration(REPO / "configs" / "calibration" / name)
    assert (cal.width, cal.height) == (1280, 960) and np.array_equal(cal.K, K)
    assert not cal.distortion.any() and cal.distortion.size == 5


def test_opencv_json_ros_message_and_plain_forms(tmp_path):
    mat = {"type_id": "opencv-matrix", "rows": 3, "cols": 3, "dt": "d", "data": sum(K, [])}
    (tmp_path / "cv.json").write_text(json.dumps({"image_width": 1280, "image_height": 960, "camera_matrix": mat,
                                                  "distortion_coefficients": {"type_id": "opencv-matrix", "rows": 5,
                                                                              "cols": 1, "dt": "d",
                                                                              "data": [0] * 5}}))
    (tmp_path / "echo.yaml").write_text("height: 960\nwidth: 1280\ndistortion_model: plumb_bob\n"
                                        f"d: [0, 0, 0, 0, 0]\nk: {sum(K, [])}\n")
    (tmp_path / "plain.yaml").write_text(f"image_size: [1280, 960]\nK: {K}\n")
    for f in ("cv.json", "echo.yaml", "plain.yaml"):
        cal = read_calibration(tmp_path / f)
        assert (cal.width, cal.height) == (1280, 960) and np.array_equal(cal.K, K), f


def test_scaling_keeps_pixel_centres():
    cal = read_calibration(REPO / "configs" / "calibration" / "bin_camera.yaml")
    # the principal point at the image centre stays there: (639.5 + 0.5) / 2 - 0.5 = 319.5
    assert np.allclose(cal.scaled(640, 480), [[525, 0, 319.5], [0, 525, 239.5], [0, 0, 1]])


@pytest.mark.parametrize("text, words", [
    ("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 500, 240, 0, 0, "
     "1]}\ndistortion_model: plumb_bob\ndistortion_coefficients: {rows: 1, cols: 5, data: [-0.1, 0.02, 0, 0, 0]}\n",
     r"distortion_coefficients: non-zero lens distortion \[-0.1, 0.02, 0.0, 0.0, 0.0\] \(plumb_bob\) is not "
     r"rendered yet: rectify"),
    ("image_width: 640\nimage_height: 480\n", r"no camera matrix \(looked for camera_matrix"),
    ("image_width: 640\nimage_height: 480\ncamera_matrix: [1, 2, 3]\n", "camera_matrix: needs 9 numbers"),
    ("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [500, 0, 320]}\n",
     "3 numbers for a 3x3 matrix"),
    ("image_width: 640.5\nimage_height: 480\nK: [500, 0, 320, 0, 500, 240, 0, 0, 1]\n",
     "image_width: expected a whole number"),
    ("image_height: 480\nK: [500, 0, 320, 0, 500, 240, 0, 0, 1]\n", "no image width"),
    ("K: [-500, 0, 320, 0, 500, 240, 0, 0, 1]\nimage_size: [640, 480]\n", "fx, fy > 0"),
    ("[1, 2]\n", "must be a mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_calibration_files_name_the_file_and_the_key(tmp_path, text, words):
    p = tmp_path / "cam.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=words) as e:
        read_calibration(p)
    assert str(e.value).startswith(str(p)) and "\n" not in str(e.value)


def _twin(tmp_path: Path, **camera) -> Path:
    import yaml

    (tmp_path / "cams").mkdir(exist_ok=True)
    (tmp_path / "cams" / "cam.yaml").write_text((REPO / "configs" / "calibration" / "bin_camera.yaml").read_text())
    cfg = {"camera": {"calibration_file": "cams/cam.yaml", "fixed_world_T_cam": np.eye(4).ravel().tolist(),
                      **camera}}
    (tmp_path / "twin.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "twin.yaml"


def test_config_takes_k_and_size_from_the_file_relative_to_the_config(tmp_path):
    cfg = config_mod.load(_twin(tmp_path))
    assert (cfg.camera.width, cfg.camera.height) == (1280, 960)
    assert cfg.camera.fixed_K == sum(K, []) and cfg.camera.calibration_file is None
    small = config_mod.load(_twin(tmp_path), {"camera": {"width": 320, "height": 240}})
    assert small.camera.fixed_K == [262.5, 0.0, 159.5, 0.0, 262.5, 119.5, 0.0, 0.0, 1.0]
    # the resolved config (what workers and run.json get) needs no file any more
    again = config_mod.from_dict(small.to_dict(), "<job>")
    assert again.camera.fixed_K == small.camera.fixed_K


@pytest.mark.parametrize("camera, words", [
    ({"fixed_K": [500, 0, 320, 0, 500, 240, 0, 0, 1]}, "give either it or camera.fixed_K"),
    ({"width": 400, "height": 400}, "does not keep the calibrated 1280x960 image's aspect ratio"),
    ({"calibration_file": "cams/missing.yaml"}, r"camera.calibration_file: .*missing.yaml: calibration file not found"),
])
def test_config_errors_name_the_config_and_the_key(tmp_path, camera, words):
    path = _twin(tmp_path, **camera)
    with pytest.raises(ConfigError, match=words) as e:
        config_mod.load(path)
    assert str(e.value).startswith(str(path))
