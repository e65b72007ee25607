"""YAML reading for configs and pack manifests: strict where PyYAML is lax.

PyYAML keeps the last of two equal keys in a mapping without a word; a config
with ``scenes: 10`` twice, or a manifest with two ``mesh:`` lines, then does
something its author did not see. Here a duplicate key is an error naming
both lines. Files must be UTF-8 (a BOM is allowed).
"""
from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["DuplicateKeyError", "NotUtf8Error", "loads", "read_text"]


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key, line: int, first_line: int):
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(f"line {line}: duplicate key {key!r} (first at line {first_line})")


class NotUtf8Error(ValueError):
    pass


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *base" keys are meant to be overridden
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # SafeLoader reports unhashable keys itself
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise DuplicateKeyError(key, line, seen[key])
                seen[key] = line
        return super().construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def loads(text: str):
    """``yaml.safe_load`` that refuses duplicate keys (DuplicateKeyError, a YAMLError)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def read_text(path: str | Path) -> str:
    """A file's text as UTF-8; NotUtf8Error says where the first bad byte is."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise NotUtf8Error(f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); save it as "
                           f"UTF-8") from None
