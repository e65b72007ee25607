"""Error types, and the did-you-mean of their messages. The CLI turns any
DropsynthError into one clear line."""
from __future__ import annotations

import difflib


class DropsynthError(Exception):
    """Base of every error dropsynth raises on purpose (bad input, missing system parts)."""


class ConfigError(DropsynthError):
    """A run config, CLI flag or output folder is invalid; the message names the file and key."""


class AssetError(DropsynthError):
    """An asset pack, manifest or mesh is invalid; the message names the file and field."""


class PlacementError(DropsynthError):
    """Objects could not be placed as the scene builder was asked to."""


class RenderBackendError(DropsynthError):
    """The renderer cannot start; the message names what is missing and how to install it."""


_UNIT_SUFFIXES = ("_deg", "_rad", "_m", "_s", "_kg", "_k", "_px", "_m3", "_m_s", "_rad_s")


def _bare(name: str) -> str:
    """Key without unit suffix and underscores: fov_y_deg -> fovy."""
    for suffix in sorted(_UNIT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", "").lower()


def suggest(key: str, valid) -> str:
    """"; did you mean 'x'?" for the nearest valid key, comparing names both
    as written and without unit suffixes and underscores (fovy -> fov_y_deg)."""
    scored = [(max(difflib.SequenceMatcher(None, key.lower(), v.lower()).ratio(),
                   difflib.SequenceMatcher(None, _bare(key), _bare(v)).ratio()), v) for v in map(str, valid)]
    best = max(scored, default=(0.0, None))
    return f"; did you mean {best[1]!r}?" if best[0] >= 0.6 else ""
