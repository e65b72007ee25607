"""Camera effects on a rendered view (CPU: numpy and Pillow), before the sensor noise.

In this order, on the 8-bit sRGB frame (background composited): motion blur
from camera shake, thin-lens defocus from depth, lateral chromatic
aberration, then one gain per pixel that holds the contact darkening
(ambient occlusion), the vignetting and the white balance. Only the RGB
changes: depth, ids and every label are untouched.

- Motion blur: a small rotation of the camera during the exposure moves the
  whole image by about the same few pixels, so the frame is convolved with
  one line kernel (length ``shake_px``, direction ``shake_angle``; 5x5).
- Defocus: a thin lens of aperture diameter A focused at z_f (the median
  depth at the image centre, as autofocus) blurs a point at depth z into a
  circle of diameter c = A f_px |1/z_f - 1/z| pixels (background: z = inf),
  capped at ``MAX_COC_PX``. The frame is blended per pixel between itself
  and one Gaussian blur of the largest circle, by c / c_max.
- Chromatic aberration: red scaled outwards and blue inwards about the
  principal point, ``ca_px`` apart in the farthest corner (bilinear).
- Ambient occlusion: screen-space, at a quarter of the resolution, from the
  depth alone (camera-frame positions and their normals): 8 samples within
  ``radius_m`` around each point; a sample above the point's tangent plane
  occludes by its cosine, fading with distance. Upsampled bilinearly (the
  darkening is smooth) and applied as a gain of 1 - strength x occlusion.
- Vignetting: (1 - v r^2) with r = 1 in the farthest corner.
- White balance: per-channel gains (``Lens.wb_gains``).

Gains are in linear light and converted to the sRGB frame (x^(1/2.2)).
"""
from __future__ import annotations

import numpy as np

MAX_COC_PX = 2.0
AO_STEP = 4  # quarter resolution
_AO_DIRS = np.array([[np.cos(a), np.sin(a)] for a in np.arange(8) * np.pi / 4 + np.pi / 8])
_AO_RADII = np.array([0.35, 0.7, 1.0, 0.5, 0.85, 0.25, 0.6, 0.95])


def _motion_blur(img, length: float, angle: float):
    from PIL import ImageFilter

    k = np.zeros((5, 5))
    for t in np.linspace(-length / 2, length / 2, 17):
        x, y = 2 + t * np.cos(angle), 2 + t * np.sin(angle)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= x0 + dx < 5 and 0 <= y0 + dy < 5:
                k[y0 + dy, x0 + dx] += w
    k /= k.sum()
    return img.filter(ImageFilter.Kernel((5, 5), [float(v) for v in k.ravel()], scale=1.0))


def circle_of_confusion(depth_m: np.ndarray, fx: float, aperture_m: float) -> np.ndarray:
    """Blur circle diameter (px) per pixel, focused at the centre's median depth."""
    h, w = depth_m.shape
    centre = depth_m[h * 3 // 8:h * 5 // 8, w * 3 // 8:w * 5 // 8]
    valid = centre[centre > 0]
    zf = float(np.median(valid)) if valid.size else float(np.median(depth_m[depth_m > 0])) \
        if np.any(depth_m > 0) else 1.0
    inv = np.where(depth_m > 0, 1.0 / np.maximum(depth_m, 1e-6), 0.0)
    return np.minimum(aperture_m * fx * np.abs(1.0 / zf - inv), MAX_COC_PX).astype(np.float32)


def _defocus(rgb: np.ndarray, depth_m: np.ndarray, fx: float, aperture_m: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    coc = circle_of_confusion(depth_m, fx, aperture_m)
    cmax = float(coc.max())
    if cmax < 0.25:
        return rgb
    blur = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius=cmax / 2)), np.int16)
    w = (coc * (256.0 / cmax)).astype(np.int16)[..., None]
    base = rgb.astype(np.int16)
    return (base + (((blur - base) * w) >> 8)).astype(np.uint8)


def _chromatic(img, K: np.ndarray, ca_px: float):
    from PIL import Image

    w, h = img.size
    cx, cy = K[0, 2] + 0.5, K[1, 2] + 0.5  # PIL: pixel centres at +0.5
    r = max(np.hypot(x - cx, y - cy) for x in (0, w) for y in (0, h))
    s = ca_px / r / 2
    bands = list(img.split())
    for i, k in ((0, 1 + s), (2, 1 - s)):  # output (x, y) <- input c + (x - c) / k
        a = 1.0 / k
        bands[i] = bands[i].transform((w, h), Image.AFFINE, (a, 0, cx - a * cx, 0, a, cy - a * cy),
                                      resample=Image.BILINEAR)
    return Image.merge("RGB", bands)


def ambient_occlusion(depth_m: np.ndarray, K: np.ndarray, radius_m: float, step: int = AO_STEP) -> np.ndarray:
    """(h // step, w // step) occlusion in 0..1 (0: open) from depth (0 = nothing)."""
    z = depth_m[step // 2::step, step // 2::step].astype(np.float64)
    hh, ww = z.shape
    v, u = np.mgrid[0:hh, 0:ww]
    px, py = u * step + step // 2, v * step + step // 2
    P = np.stack([(px - K[0, 2]) * z / K[0, 0], (py - K[1, 2]) * z / K[1, 1], z], axis=-1)
    valid = z > 0
    # Normals from neighbouring points (forward differences, backward at the last row and column).
    dx = np.zeros_like(P)
    dy = np.zeros_like(P)
    dx[:, :-1], dx[:, -1] = P[:, 1:] - P[:, :-1], P[:, -1] - P[:, -2]
    dy[:-1], dy[-1] = P[1:] - P[:-1], P[-1] - P[-2]
    n = np.cross(dx, dy)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    n *= np.where(n[..., 2:3] > 0, -1.0, 1.0)  # towards the camera
    r_px = np.clip(radius_m * K[0, 0] / np.maximum(z, 1e-6) / step, 1.0, 16.0)
    occ = np.zeros_like(z)
    for (cs, sn), rr in zip(_AO_DIRS, _AO_RADII):
        su = np.clip(np.rint(u + cs * rr * r_px), 0, ww - 1).astype(np.intp)
        sv = np.clip(np.rint(v + sn * rr * r_px), 0, hh - 1).astype(np.intp)
        d = P[sv, su] - P
        dist = np.linalg.norm(d, axis=-1)
        cos = np.einsum("ijk,ijk->ij", d, n) / np.maximum(dist, 1e-9)
        fade = np.clip(1.0 - (dist / radius_m) ** 2, 0.0, 1.0)
        occ += np.where(valid[sv, su], np.maximum(cos - 0.1, 0.0) * fade, 0.0)
    return np.where(valid, np.clip(occ / len(_AO_RADII) * 3.0, 0.0, 1.0), 0.0)


def _gain(shape, K: np.ndarray, depth_m, lens, ao_radius_m: float) -> np.ndarray:
    """(H, W) float32 linear gain: ambient occlusion x vignetting (built at a quarter of the size)."""
    from PIL import Image

    h, w = shape
    hh, ww = h // AO_STEP, w // AO_STEP
    g = np.ones((hh, ww))
    if lens.vignette > 0:
        v, u = np.mgrid[0:hh, 0:ww]
        x, y = u * AO_STEP + AO_STEP // 2 - K[0, 2], v * AO_STEP + AO_STEP // 2 - K[1, 2]
        r2max = max((cx - K[0, 2]) ** 2 + (cy - K[1, 2]) ** 2 for cx in (0, w) for cy in (0, h))
        g *= 1.0 - lens.vignette * (x * x + y * y) / r2max
    if lens.ao_strength > 0:
        g *= 1.0 - lens.ao_strength * ambient_occlusion(depth_m, K, ao_radius_m)
    g = np.power(np.clip(g, 1e-4, 1.0), 1 / 2.2).astype(np.float32)
    return np.asarray(Image.fromarray(g, mode="F").resize((w, h), Image.BILINEAR), np.float32)


def apply(rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, lens, ao_radius_m: float = 0.04) -> np.ndarray:
    """The view's camera effects on ``rgb`` (H, W, 3) uint8; a new array
    (``rgb`` itself when every effect is off)."""
    from PIL import Image

    out = rgb
    if lens.shake_px >= 0.2:
        out = np.asarray(_motion_blur(Image.fromarray(out), lens.shake_px, lens.shake_angle))
    if lens.aperture_m > 0:
        out = _defocus(out, depth_m, float(K[0, 0]), lens.aperture_m)
    if lens.ca_px >= 0.05:
        out = np.asarray(_chromatic(Image.fromarray(out), K, lens.ca_px))
    wb = np.power(np.asarray(lens.wb_gains, np.float32), np.float32(1 / 2.2))
    if lens.vignette > 0 or lens.ao_strength > 0:
        f = out.astype(np.float32)
        f *= _gain(depth_m.shape, K, depth_m, lens, ao_radius_m)[..., None]
        f *= wb
    elif np.any(wb != 1):
        f = out * wb
    else:
        return out if out is not rgb else rgb
    f += 0.5
    np.clip(f, 0.0, 255.0, out=f)
    return f.astype(np.uint8)


def enabled(lens) -> bool:
    return (lens.shake_px >= 0.2 or lens.aperture_m > 0 or lens.ca_px >= 0.05 or lens.vignette > 0
            or lens.ao_strength > 0 or any(g != 1.0 for g in lens.wb_gains))
