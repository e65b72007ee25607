"""The field types of the run config's sections (``dropsynth.settings``):
integers, numbers, switches, strings, choices, lists, [min, max] ranges and
fixed-length vectors, each checking its value as strictly as YAML allows
and rejecting it with the text the user reads after ``<source>: <key
path>: ``: an integer is an int or an integral float, a number an int or a
finite float, a switch true or false (never 1 or "yes"). Types layer: no
other dropsynth import than the errors' did-you-mean (``errors.suggest``).
"""
import math
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from dropsynth.errors import suggest

TEXTURE_KINDS = ("plain", "noise", "stripes", "checker", "image")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HDRI_SUFFIXES = (".hdr", ".exr")


def fail(msg: str):
    """Reject a value with ``msg`` (the part of the error after the key path)."""
    raise PydanticCustomError("dropsynth", "{msg}", {"msg": msg})


# --- value checks, and the field types built from them -------------------------------------


def _int(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        fail(f"must be an integer, got {v!r}")
    return v


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        fail(f"must be a number, got {v!r}")
    if not math.isfinite(v):
        fail(f"must be a finite number, got {v}")
    return float(v)


def _bool(v):
    if not isinstance(v, bool):
        fail(f"must be true or false, got {v!r}")
    return v


def _str(v):
    if not isinstance(v, str):
        fail(f"must be a string, got {v!r}")
    return v


def _seq(v):
    if not isinstance(v, (list, tuple)):
        fail(f"must be a list, got {v!r}")
    return list(v)


def _mapping(v):
    if not isinstance(v, dict):
        fail(f"must be a mapping of names to values, got {v!r}")
    return {str(k): x for k, x in v.items()}


def _selection(v):
    if v is not None and not _seq(v):  # null means "all"; an empty list would silently mean the same
        fail("an empty list selects nothing; leave the key out (or null) for all")
    return v


def _ordered(v):
    if v[0] > v[1]:
        fail(f"min {v[0]} is greater than max {v[1]}")
    return v


Bool = Annotated[bool, BeforeValidator(_bool)]
Str = Annotated[str, BeforeValidator(_str)]
Selection = Annotated[Optional[list[Str]], BeforeValidator(_selection)]


def Int(lo=None, hi=None):
    return Annotated[int, Field(ge=lo, le=hi), BeforeValidator(_int)]


def Num(lo=None, hi=None, gt=None):
    """A finite float in [lo, hi] (``gt``: above it)."""
    return Annotated[float, Field(ge=lo, gt=gt, le=hi), BeforeValidator(_num)]


def Choice(*options):
    """One of ``options`` (strings, or integers like msaa's)."""
    def check(v):
        v = _str(v) if isinstance(options[0], str) else _int(v)
        if v not in options:
            fail(f"must be one of {', '.join(map(str, options))}, got {v!r}"
                 + (suggest(v, options) if isinstance(v, str) else ""))
        return v
    return Annotated[Literal[options], BeforeValidator(check)]


def Choices(*options, empty=False):
    """A list of ``options``; at least one unless ``empty``."""
    def check(v):
        if not _seq(v) and not empty:
            fail(f"must name at least one of {', '.join(options)}")
        return v
    return Annotated[list[Choice(*options)], BeforeValidator(check)]


def List(item):
    return Annotated[list[item], BeforeValidator(_seq)]


def Names(value):
    """A mapping of names (category, split) to values."""
    return Annotated[dict[str, value], BeforeValidator(_mapping)]


def Vec(item, n: int):
    """A fixed-length list (read as a tuple)."""
    def check(v):
        if not isinstance(v, (list, tuple)) or len(v) != n:
            fail(f"must be a list of {n} numbers, got {v!r}")
        return tuple(v)
    return Annotated[tuple[(item,) * n], BeforeValidator(check)]


def Rng(item):
    """A [min, max] pair whose min does not exceed its max."""
    return Annotated[Vec(item, 2), AfterValidator(_ordered)]


def F(default, doc: str):
    return Field(default, description=doc)


def image_files(folder: str) -> list[str]:
    """The PNG/JPEG files of a folder, sorted by name (the order draws index)."""
    return sorted(str(p) for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def hdri_files(folder: str) -> list[str]:
    """The .hdr/.exr files of a folder, sorted by name (the order draws index)."""
    return sorted(str(p) for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in HDRI_SUFFIXES)
