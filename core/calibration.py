"""Camera calibration files: the intrinsics of a real camera (digital twin).

Read formats (by content, whatever the file's suffix):

- OpenCV ``cv::FileStorage`` YAML (``%YAML:1.0``, ``!!opencv-matrix``) or
  JSON (``"type_id": "opencv-matrix"``), as written by OpenCV's calibration
  sample: ``camera_matrix``, ``distortion_coefficients``, ``image_width``,
  ``image_height``;
- ROS ``camera_info`` YAML (``camera_calibration``'s ost.yaml:
  ``camera_matrix: {rows, cols, data}``, ``distortion_model``,
  ``distortion_coefficients``) and the message itself (``rostopic echo``:
  ``K``/``k``, ``D``/``d``, ``width``, ``height``);
- plain YAML or JSON with the same names (or ``K``, ``D``, ``dist_coeffs``,
  ``image_size: [w, h]``), matrices as nested or flat lists.

Lens distortion is not rendered yet, so a file with non-zero distortion is
refused (rectify the images and use the rectified camera matrix instead).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dropsynth.errors import ConfigError

__all__ = ["Calibration", "read_calibration"]

_K_NAMES = ("camera_matrix", "cameraMatrix", "K", "k", "intrinsics")
_D_NAMES = ("distortion_coefficients", "dist_coeffs", "distCoeffs", "distortion", "D", "d")
_W_NAMES = ("image_width", "width", "imageWidth")
_H_NAMES = ("image_height", "height", "imageHeight")
_SIZE_NAMES = ("image_size", "imageSize", "size")


@dataclass(frozen=True)
class Calibration:
    K: np.ndarray  # (3, 3) float64, OpenCV convention (pixel centres at integer coordinates)
    width: int
    height: int
    distortion: np.ndarray  # (N,) float64, OpenCV order (k1, k2, p1, p2[, k3, ...]); may be empty

    def scaled(self, width: int, height: int) -> np.ndarray:
        """K for the image resized to ``width`` x ``height`` (pixel centres:
        c' = (c + 0.5) * s - 0.5)."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return K


def _parse(path: Path) -> dict:
    import yaml

    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the calibration file ({e.strerror or e})") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
    else:
        if text.startswith("%YAML:"):  # OpenCV's directive, which PyYAML does not accept
            text = text.split("\n", 1)[1] if "\n" in text else ""

        class Loader(yaml.SafeLoader):
            pass

        Loader.add_multi_constructor("tag:yaml.org,2002:opencv-", lambda ld, suffix, node: ld.construct_mapping(
            node, deep=True))
        try:
            data = yaml.load(text, Loader=Loader)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a calibration file must be a mapping (camera_matrix, image_width, ...)")
    return data


def _matrix(value, path: Path, key: str) -> np.ndarray:
    if isinstance(value, dict):  # {rows, cols, data}, with or without OpenCV's type_id / dt
        if "data" not in value:
            raise ConfigError(f"{path}: {key}: a matrix mapping needs 'data' (and rows, cols)")
        data = value["data"]
        rows, cols = value.get("rows"), value.get("cols")
    else:
        data, rows, cols = value, None, None
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: {key}: expected numbers, got {data!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{path}: {key}: numbers must be finite")
    if rows is not None and cols is not None:
        if arr.size != int(rows) * int(cols):
            raise ConfigError(f"{path}: {key}: {arr.size} numbers for a {rows}x{cols} matrix")
        arr = arr.reshape(int(rows), int(cols))
    return arr


def _first(data: dict, names, path: Path, what: str, required: bool = True):
    for n in names:
        if n in data:
            return n, data[n]
    if required:
        raise ConfigError(f"{path}: no {what} (looked for {', '.join(names)})")
    return None, None


def read_calibration(path: str | Path) -> Calibration:
    """Read a calibration file; ConfigError naming the file and the key on
    anything missing, malformed or not supported (non-zero distortion)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: calibration file not found")
    data = _parse(path)
    key, value = _first(data, _K_NAMES, path, "camera matrix")
    K = _matrix(value, path, key)
    if K.size != 9:
        raise ConfigError(f"{path}: {key}: needs 9 numbers (3x3), got {K.size}")
    K = K.reshape(3, 3)
    if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]) or K[1, 0] != 0:
        raise ConfigError(f"{path}: {key}: must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0")
    size_key, size = _first(data, _SIZE_NAMES, path, "image size", required=False)
    if size is not None:
        try:
            pair = (size["width"], size["height"]) if isinstance(size, dict) else size
            width, height = (int(v) for v in pair)
        except (TypeError, ValueError, KeyError):
            raise ConfigError(f"{path}: {size_key}: expected [width, height], got {size!r}") from None
    else:
        wk, width = _first(data, _W_NAMES, path, "image width")
        hk, height = _first(data, _H_NAMES, path, "image height")
        for k, v in ((wk, width), (hk, height)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
                raise ConfigError(f"{path}: {k}: expected a whole number of pixels, got {v!r}")
        width, height = int(width), int(height)
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise ConfigError(f"{path}: image size {width}x{height} is out of range (1..16384)")
    dkey, dvalue = _first(data, _D_NAMES, path, "distortion", required=False)
    dist = np.zeros(0) if dvalue is None else _matrix(dvalue, path, dkey).reshape(-1)
    model = data.get("distortion_model")
    if np.any(dist != 0):
        raise ConfigError(
            f"{path}: {dkey}: non-zero lens distortion {[round(float(v), 6) for v in dist]}"
            f"{f' ({model})' if model else ''} is not rendered yet: rectify the camera's images "
            f"(cv2.undistort, or ROS image_proc's image_rect) and give that camera's matrix (OpenCV's "
            f"getOptimalNewCameraMatrix, or the first 3 columns of ROS's projection_matrix) with zero distortion")
    return Calibration(K=K, width=width, height=height, distortion=dist)
