"""Camera effects that need a pixel's neighbours, on the CPU (numpy, Pillow),
after the render and before the sensor noise: motion blur from camera shake,
thin-lens defocus from depth, lateral chromatic aberration, in that order,
on the 8-bit sRGB frame. Only the RGB changes: depth, ids and every label are
untouched. (Exposure, tone mapping, white balance and vignetting are in the
shaders, ambient occlusion is baked with the shadows: ``render.shadows``.)

- Motion blur (in ``Lens.shake_px`` of the views that shake, a share
  ``render.motion_blur_share``): a small rotation of the camera during the
  exposure moves the whole image by about the same few pixels: one 3-tap kernel [a, 1-2a, a]
  along the streak (its direction rounded to 45 degrees), a matched to the
  variance of a line of length ``shake_px`` (L^2 / 12); two passes above
  what one can hold. Integer arithmetic, the one-pixel border left as is.
- Defocus: a thin lens of aperture diameter A focused at z_f (the median
  depth at the image centre, as autofocus) blurs a point at depth z into a
  circle of diameter c = A f_px |1/z_f - 1/z| pixels (background: z = inf),
  capped at ``MAX_COC_PX``. Pixels whose circle is over half the largest
  take one box blur of the largest circle, the others stay sharp.
- Chromatic aberration: red scaled outwards and blue inwards about the
  principal point, ``ca_px`` apart in the farthest corner (bilinear).
"""
from __future__ import annotations

import numpy as np

MAX_COC_PX = 2.0
_DIRS = ((0, 1), (1, 1), (1, 0), (1, -1))  # (dy, dx) for 0, 45, 90, 135 degrees


def _line_pass(x16: np.ndarray, dy: int, dx: int, a: int) -> np.ndarray:
    """One [a, 256 - 2a, a] / 256 pass along (dy, dx) of a (H, W, 3) uint16 image (interior only)."""
    h, w = x16.shape[:2]
    out = x16.copy()
    c = x16[1:h - 1, 1:w - 1]
    p = x16[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]
    m = x16[1 - dy:h - 1 - dy, 1 - dx:w - 1 - dx]
    acc = c * np.uint16(256 - 2 * a)
    side = p + m
    side *= np.uint16(a)
    acc += side  # at most 256 x 255: fits
    acc >>= 8
    out[1:h - 1, 1:w - 1] = acc
    return out


def motion_blur(rgb: np.ndarray, length_px: float, angle: float) -> np.ndarray:
    k = int(np.rint(angle / (np.pi / 4))) % 4
    dy, dx = _DIRS[k]
    step2 = dy * dy + dx * dx
    var = length_px ** 2 / 12.0
    passes = max(1, int(np.ceil(var / (0.5 * step2))))  # one pass holds at most a = 1/4: variance step2 / 2
    a = int(np.rint(256 * var / passes / (2 * step2)))
    if a <= 0:
        return rgb
    x = rgb.astype(np.uint16)
    for _ in range(passes):
        x = _line_pass(x, dy, dx, min(a, 64))
    return x.astype(np.uint8)


def circle_of_confusion(depth_m: np.ndarray, fx: float, aperture_m: float) -> np.ndarray:
    """Blur circle diameter (px) per pixel, focused at the centre's median depth."""
    h, w = depth_m.shape
    centre = depth_m[h * 3 // 8:h * 5 // 8, w * 3 // 8:w * 5 // 8]
    valid = centre[centre > 0]
    if valid.size:
        zf = float(np.median(valid))
    else:
        zf = float(np.median(depth_m[depth_m > 0])) if np.any(depth_m > 0) else 1.0
    inv = np.divide(1.0, depth_m, out=np.zeros(depth_m.shape, np.float32), where=depth_m > 0)
    coc = np.abs(inv - np.float32(1.0 / zf))
    coc *= np.float32(aperture_m * fx)
    return np.minimum(coc, np.float32(MAX_COC_PX), out=coc)


def defocus(rgb: np.ndarray, depth_m: np.ndarray, fx: float, aperture_m: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    coc = circle_of_confusion(depth_m, fx, aperture_m)
    cmax = float(coc.max())
    if cmax < 0.25:
        return rgb
    blur = np.asarray(Image.fromarray(rgb).filter(ImageFilter.BoxBlur(cmax / 2)))
    # Two levels (in focus: c < c_max / 2; else the blur of c_max): at most 2 px, the step does
    # not show, and a per-pixel blend cost twice the time.
    return np.where((coc > np.float32(cmax / 2))[..., None], blur, rgb)


def chromatic_aberration(rgb: np.ndarray, K: np.ndarray, ca_px: float) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(rgb)
    w, h = img.size
    cx, cy = K[0, 2] + 0.5, K[1, 2] + 0.5  # PIL: pixel centres at +0.5
    r = max(np.hypot(x - cx, y - cy) for x in (0, w) for y in (0, h))
    s = ca_px / r / 2
    bands = list(img.split())
    for i, k in ((0, 1 + s), (2, 1 - s)):  # output (x, y) <- input c + (x - c) / k
        a = 1.0 / k
        bands[i] = bands[i].transform((w, h), Image.AFFINE, (a, 0, cx - a * cx, 0, a, cy - a * cy),
                                      resample=Image.BILINEAR)
    return np.asarray(Image.merge("RGB", bands))


def apply(rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, lens) -> np.ndarray:
    """The view's neighbourhood camera effects on ``rgb`` (H, W, 3) uint8: a
    new array, or ``rgb`` itself when they are all off."""
    out = rgb
    if lens.shake_px >= 0.2:
        out = motion_blur(out, lens.shake_px, lens.shake_angle)
    if lens.aperture_m > 0:
        out = defocus(out, depth_m, float(K[0, 0]), lens.aperture_m)
    if lens.ca_px >= 0.05:
        out = chromatic_aberration(out, K, lens.ca_px)
    return out
