"""Type aliases shared across covgap."""

from __future__ import annotations

from typing import Literal

#: ``(west, south, east, north)`` or ``(left, bottom, right, top)``.
BBox = tuple[float, float, float, float]

#: Radio technologies covgap models, oldest first.
Technology = Literal["2G", "3G", "4G", "5G"]

#: All technologies, in order.
TECHNOLOGIES: tuple[str, ...] = ("2G", "3G", "4G", "5G")
