"""Tile-server settings: one typed record, read from ``TILESERVER_*`` variables.

Examples
--------
>>> settings = parse_settings({"TILESERVER_CACHE_MB": "32"}, directory="demo-output")
>>> settings.cache_mb
32
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from covgap.errors import InputValueError

__all__ = ["TileserverSettings", "parse_settings", "ENV_PREFIX"]

ENV_PREFIX = "TILESERVER_"


class TileserverSettings(NamedTuple):
    """Settings of one tile-server app."""

    #: Served directory: one run directory or a folder of run directories.
    directory: str = "."
    #: Megabytes of encoded tiles kept in the in-process LRU cache.
    cache_mb: int = 256
    #: ``Cache-Control: max-age`` of tiles and legends, in seconds.
    max_age_s: int = 3600
    #: zlib level of PNG tiles, 0-9 (lower is faster and larger).
    png_level: int = 1
    #: Quality of WebP tiles, 1-100.
    webp_quality: int = 80
    #: Largest number of cells of a layer held in memory; larger layers are
    #: read from a COG overview, and their web-mercator grid is capped to it.
    max_layer_cells: int = 16_000_000
    #: Prepare every layer when the server starts (in a background thread).
    preload: bool = True
    #: Log one line per request (``covgap.tileserver.access`` logger).
    log_requests: bool = True


_KIND_NAMES = {int: "an integer", bool: "true or false", str: "a string"}
_LIMITS: dict[str, tuple[int, int]] = {
    "cache_mb": (0, 65536),
    "max_age_s": (0, 31_536_000),
    "png_level": (0, 9),
    "webp_quality": (1, 100),
    "max_layer_cells": (1, 2**31),
}


def parse_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> TileserverSettings:
    """Build settings from ``TILESERVER_<FIELD>`` variables and keyword overrides.

    Parameters
    ----------
    env : mapping, optional
        Environment to read (default ``os.environ``).
    **overrides
        Field values that win over the environment.

    Returns
    -------
    TileserverSettings

    Raises
    ------
    InputValueError
        If a name is not a setting or a value does not parse or is out of range.
    """
    env = os.environ if env is None else env
    fields = TileserverSettings._fields
    values: dict[str, Any] = {}
    for name in fields:
        key = ENV_PREFIX + name.upper()
        if key in env:
            values[name] = env[key]
    for name, value in overrides.items():
        if name not in fields:
            raise InputValueError(f"unknown tile-server setting {name!r}; settings: {', '.join(fields)}")
        values[name] = value
    defaults = TileserverSettings()
    parsed: dict[str, Any] = {}
    for name, value in values.items():
        kind = type(getattr(defaults, name))
        try:
            if kind is bool and isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("1", "true", "yes")
            value = kind(value)
        except (TypeError, ValueError):
            raise InputValueError(
                f"{ENV_PREFIX}{name.upper()} must be {_KIND_NAMES[kind]}, got {value!r}"
            ) from None
        if name in _LIMITS:
            lo, hi = _LIMITS[name]
            if not lo <= value <= hi:
                raise InputValueError(f"{ENV_PREFIX}{name.upper()} must be between {lo} and {hi}, got {value}")
        parsed[name] = value
    return defaults._replace(**parsed)
