"""Sensor effects applied after rendering: seeded, each optional.

RGB: Gaussian read noise and signal-dependent shot noise, Gaussian blur,
colour jitter (brightness, contrast, saturation), JPEG artefacts.

Depth: the axial noise model of Nguyen, Izadi and Lovell, "Modeling Kinect
Sensor Noise for Improved 3D Reconstruction and Tracking" (3DIMPVT 2012):
sigma_z(z) = 0.0012 + 0.0019 (z - 0.4)^2 metres, scaled by ``depth_noise``;
dropout of pixels at depth discontinuities (where structured-light and
stereo sensors lose the pattern or the match), and random holes (blobs of
missing depth). Missing depth is 0, as in the clean depth.

The clean images are the ground truth: effects only ever return new arrays.
"""
from __future__ import annotations

import io

import numpy as np

from dropsynth.config import SensorConfig


def rgb_effects(rgb: np.ndarray, cfg: SensorConfig, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 -> a new (H, W, 3) uint8 with the enabled effects."""
    from PIL import Image, ImageFilter

    out = rgb.astype(np.float32) / 255.0
    if cfg.color_jitter > 0:
        j = cfg.color_jitter
        b, c, s = (1.0 + rng.uniform(-j, j, 3))
        gray = out.mean(axis=2, keepdims=True)
        out = gray + (out - gray) * s  # saturation
        out = (out - out.mean()) * c + out.mean()  # contrast
        out = out * b  # brightness
    if cfg.shot_noise > 0:
        # Poisson-like: variance proportional to the signal.
        out = out + rng.normal(size=out.shape).astype(np.float32) * np.sqrt(np.clip(out, 0, 1) * cfg.shot_noise)
    if cfg.gaussian_noise > 0:
        out = out + rng.normal(0.0, cfg.gaussian_noise, out.shape).astype(np.float32)
    img = Image.fromarray((np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    if cfg.blur_px > 0:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.0, cfg.blur_px))))
    if cfg.jpeg_quality is not None:
        lo, hi = cfg.jpeg_quality
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(lo, hi + 1)))
        buf.seek(0)
        with Image.open(buf) as j:
            img = j.convert("RGB")
    return np.asarray(img)


def depth_effects(depth_m: np.ndarray, cfg: SensorConfig, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 metres (0 = none) -> a new noisy depth, 0 where dropped."""
    from scipy import ndimage

    z = depth_m.astype(np.float64)
    valid = z > 0
    out = z.copy()
    if cfg.depth_noise > 0:
        sigma = cfg.depth_noise * (0.0012 + 0.0019 * (z - 0.4) ** 2)
        out = out + rng.normal(size=z.shape) * sigma
    if cfg.depth_edge_dropout > 0:
        # Discontinuities: a neighbour more than 2 % of the depth away.
        zmax = ndimage.maximum_filter(np.where(valid, z, 0.0), size=3)
        zmin = ndimage.minimum_filter(np.where(valid, z, np.inf), size=3)
        edge = valid & ((zmax - zmin) > 0.02 * np.where(valid, z, 1.0))
        edge = ndimage.binary_dilation(edge, iterations=1)
        out[edge & (rng.random(z.shape) < cfg.depth_edge_dropout)] = 0.0
    if cfg.depth_holes > 0:
        h, w = z.shape
        n = rng.poisson(cfg.depth_holes)
        yy, xx = np.mgrid[:h, :w]
        for _ in range(n):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            ry, rx = rng.uniform(2, max(3, h / 30)), rng.uniform(2, max(3, w / 30))
            out[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0] = 0.0
    out[~valid] = 0.0
    return np.clip(out, 0.0, None).astype(np.float32)


def enabled(cfg: SensorConfig) -> tuple[bool, bool]:
    """(any RGB effect, any depth effect)."""
    rgb = cfg.gaussian_noise > 0 or cfg.shot_noise > 0 or cfg.blur_px > 0 or cfg.color_jitter > 0 \
        or cfg.jpeg_quality is not None
    depth = cfg.depth_noise > 0 or cfg.depth_edge_dropout > 0 or cfg.depth_holes > 0
    return rgb, depth
