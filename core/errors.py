"""Error types. The CLI turns any DropsynthError into one clear line."""
from __future__ import annotations


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
