"""Render quality levels and the seeded draws of the realism effects.

``render.quality`` (fast | realistic) sets every effect whose own key is
null; a key set to true or false overrides the level. Each effect draws
from a stream of its own (``dropsynth.seeding``: surfaces, looks and
shadows per scene, lens per view), always all of its values whatever is
on, so turning one effect on or off never changes what another draws, and
the fast level draws nothing (its frames are those of before).

Numpy only: the renderer (``pyrender_backend``) and the camera effects
(``post``) read these records.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from dropsynth import seeding

EFFECTS = ("shadows", "ao", "tonemap", "white_balance", "vignette", "chromatic_aberration", "defocus",
           "motion_blur", "surfaces", "object_variation", "ibl", "ssao")
CAMERA_EFFECTS = ("ao", "white_balance", "vignette", "chromatic_aberration", "defocus", "motion_blur")


def effects(rcfg) -> frozenset:
    """The effects that are on for a RenderConfig."""
    return frozenset(e for e in EFFECTS if rcfg.effect_on(e))


# --- per view: camera -----------------------------------------------------------


@dataclass(frozen=True)
class Lens:
    """A view's camera effects (identity values for the effects that are off)."""

    exposure: float = 1.0  # linear gain before tone mapping
    wb_gains: tuple = (1.0, 1.0, 1.0)  # linear RGB gains
    vignette: float = 0.0  # fraction of light lost in the corners
    ca_px: float = 0.0  # red-blue separation in the corners (px)
    aperture_m: float = 0.0  # thin-lens aperture diameter
    shake_px: float = 0.0  # motion-blur streak length
    shake_angle: float = 0.0  # its direction on the image (rad)
    ao_strength: float = 0.0
    # image-based lighting: the view's (file, rotation, strength) draws in 0..1, those Cycles uses
    # for it (cycles_plan.environment_draws); None: off
    environment: tuple | None = None
    ssao_strength: float = 0.0  # screen-space ambient occlusion (render.ssao), the same draw as ao_strength


def view_lens(rcfg, seed: int, scene: int, view: int) -> Lens:
    """The camera effects of one view, from its "lens" stream."""
    on = effects(rcfg)
    rng = seeding.view_rng(seed, scene, view, "lens")
    ev = float(rng.uniform(*rcfg.exposure_ev))
    s = rcfg.white_balance_shift
    rb, tint = float(rng.uniform(-s, s)), float(rng.uniform(-s / 2, s / 2))
    vig = float(rng.uniform(*rcfg.vignette_strength))
    ca = float(rng.uniform(*rcfg.chromatic_aberration_px))
    ap = float(rng.uniform(*rcfg.aperture_mm)) / 1000.0
    shake = float(rng.uniform(*rcfg.motion_blur_px))
    angle = float(rng.uniform(0.0, np.pi))
    ao = float(rng.uniform(*rcfg.ao_strength))
    shakes = bool(rng.random() < rcfg.motion_blur_share)  # drawn last: the other draws stay as they were
    return Lens(exposure=2.0 ** ev if "tonemap" in on else 1.0,
                wb_gains=(1.0 + rb, 1.0 + tint, 1.0 - rb) if "white_balance" in on else (1.0, 1.0, 1.0),
                vignette=vig if "vignette" in on else 0.0,
                ca_px=ca if "chromatic_aberration" in on else 0.0,
                aperture_m=ap if "defocus" in on else 0.0,
                shake_px=shake if "motion_blur" in on and shakes else 0.0, shake_angle=angle,
                ao_strength=ao if "ao" in on else 0.0,
                environment=_environment_draws(seed, scene, view) if "ibl" in on else None,
                ssao_strength=ao if "ssao" in on else 0.0)


def _environment_draws(seed: int, scene: int, view: int) -> tuple:
    from dropsynth.render.cycles_plan import _view_draws

    return tuple(float(x) for x in _view_draws(seed, scene, view)[1:4])


# --- per scene: objects ---------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """An object's variation around its own material."""

    hue: float = 0.0  # rotation of the hue (rad)
    saturation: float = 1.0  # scale
    value: float = 1.0  # brightness scale
    roughness: float = 0.0  # added
    wear: float = 0.0  # 0..1: share and strength of worn patches
    wear_seed: float = 0.0  # offset of the wear pattern


def object_looks(rcfg, seed: int, scene: int, instance_ids) -> dict:
    """instance id -> Look, from the scene's "looks" stream (drawn in id order)."""
    rng = seeding.scene_rng(seed, scene, "looks")
    out = {}
    h = np.radians(rcfg.object_hue_deg)
    for iid in sorted(instance_ids):
        out[iid] = Look(hue=float(rng.uniform(-h, h)), saturation=float(rng.uniform(0.85, 1.15)),
                        value=float(rng.uniform(0.85, 1.15)), roughness=float(rng.uniform(-0.1, 0.15)),
                        wear=float(rng.uniform(*rcfg.object_wear)), wear_seed=float(rng.uniform(0.0, 100.0)))
    return out


def shadow_softness(rcfg, seed: int, scene: int) -> float:
    """The scene's PCF radius in shadow-map texels."""
    return float(seeding.scene_rng(seed, scene, "shadows").uniform(*rcfg.shadow_softness_px))


# --- per scene: surfaces --------------------------------------------------------


@dataclass(frozen=True)
class Surface:
    """A procedural PBR surface (see ``render.surfaces``)."""

    kind: str
    color: tuple  # (3,) linear-ish base colour in 0..1
    color2: tuple  # (3,) second colour (grain, grout, fibres)
    roughness: float
    metallic: float
    tile_m: float  # physical size of one texture tile
    bump: float  # normal-map strength
    seed: int


_SURFACE_COLOURS = {  # kind: (hue range, saturation range, value range, roughness range, metallic)
    "wood": ((0.05, 0.11), (0.35, 0.7), (0.3, 0.75), (0.45, 0.75), 0.0),
    "laminate": ((0.0, 1.0), (0.0, 0.35), (0.35, 0.9), (0.3, 0.55), 0.0),
    "fabric": ((0.0, 1.0), (0.1, 0.6), (0.2, 0.8), (0.8, 1.0), 0.0),
    "concrete": ((0.05, 0.15), (0.0, 0.12), (0.35, 0.7), (0.75, 0.95), 0.0),
    "tiles": ((0.0, 1.0), (0.0, 0.4), (0.5, 0.95), (0.15, 0.4), 0.0),
    "brushed_metal": ((0.0, 0.15), (0.0, 0.08), (0.55, 0.85), (0.3, 0.5), 1.0),
    "plastic": ((0.0, 1.0), (0.2, 0.8), (0.2, 0.9), (0.35, 0.6), 0.0),
}
_TILE_M = {"wood": (0.3, 0.6), "laminate": (0.3, 0.6), "fabric": (0.08, 0.2), "concrete": (0.4, 1.0),
           "tiles": (0.2, 0.5), "brushed_metal": (0.2, 0.5), "plastic": (0.2, 0.5)}


def sample_surface(rcfg, rng: np.random.Generator) -> Surface:
    """One procedural surface, its kind from ``render.surface_kinds``."""
    kind = rcfg.surface_kinds[int(rng.integers(len(rcfg.surface_kinds)))]
    (h0, h1), (s0, s1), (v0, v1), (r0, r1), metal = _SURFACE_COLOURS[kind]
    h, s, v = rng.uniform(h0, h1), rng.uniform(s0, s1), rng.uniform(v0, v1)
    c1 = colorsys.hsv_to_rgb(h, s, v)
    dh, ds, dv = rng.uniform(-0.03, 0.03), rng.uniform(-0.1, 0.1), rng.uniform(0.55, 0.85)
    c2 = colorsys.hsv_to_rgb((h + dh) % 1.0, float(np.clip(s + ds, 0, 1)), v * dv)
    if kind == "tiles":  # grout: light or dark grey
        g = float(rng.choice([0.25, 0.8]))
        c2 = (g, g, g * 0.97)
    return Surface(kind=kind, color=tuple(float(x) for x in c1), color2=tuple(float(x) for x in c2),
                   roughness=float(rng.uniform(r0, r1)), metallic=float(metal),
                   tile_m=float(rng.uniform(*_TILE_M[kind])), bump=float(rng.uniform(0.5, 1.0)),
                   seed=int(rng.integers(2**31)))


def scene_surfaces(rcfg, seed: int, scene: int) -> tuple[Surface, Surface]:
    """(table / floor / shelf board, walls of a bin or shelf) of one scene."""
    rng = seeding.scene_rng(seed, scene, "surfaces")
    return sample_surface(rcfg, rng), sample_surface(rcfg, rng)
