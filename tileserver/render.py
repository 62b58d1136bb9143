"""Draw tiles and legends: pure functions from arrays to image bytes (no Flask).

A tile is read from a layer's :class:`~covgap.tileserver.mercator.MercatorGrid`
by integer indexing (nearest neighbour, no reprojection per request) and
encoded as a palette PNG (with a tRNS alpha chunk) or a WebP.

A tile that does not overlap the layer's data is not an error: it is a
fully transparent tile of the requested size and format.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from covgap.errors import RequestError
from covgap.tileserver.colormaps import Style
from covgap.tileserver.mercator import MAX_ZOOM, TILE_SIZE, MercatorGrid

__all__ = ["TileFormat", "check_tile", "tile_indices", "encode_tile", "empty_tile", "legend_png",
           "MIMETYPES"]

TileFormat = Literal["png", "webp"]
MIMETYPES: dict[str, str] = {"png": "image/png", "webp": "image/webp"}


def check_tile(z: int, x: int, y: int) -> None:
    """Check a tile address.

    Raises
    ------
    RequestError
        If ``z`` is outside 0-24 or ``x``/``y`` outside ``0 .. 2**z - 1``.
    """
    if not 0 <= z <= MAX_ZOOM:
        raise RequestError(f"zoom must be between 0 and {MAX_ZOOM}, got {z}")
    n = 2**z
    if not (0 <= x < n and 0 <= y < n):
        raise RequestError(f"tile x and y must be between 0 and {n - 1} at zoom {z}, got x={x}, y={y}")


@lru_cache(maxsize=8)
def _centres(size: int) -> np.ndarray:
    """Pixel centres of a tile of ``size`` pixels, in zoom-level pixel units."""
    return (np.arange(size, dtype=np.float64) + 0.5) * (TILE_SIZE / size)


def tile_indices(grid: MercatorGrid, z: int, x: int, y: int, size: int = TILE_SIZE) -> np.ndarray | None:
    """The palette indices of tile ``z/x/y``, or None if nothing in it is drawn.

    Parameters
    ----------
    grid : MercatorGrid
        The prepared layer.
    z, x, y : int
        Tile address (XYZ, checked by :func:`check_tile`).
    size : int
        Output pixels per side (256, or 512 for ``@2x``).

    Returns
    -------
    numpy.ndarray or None
        ``(size, size)`` uint8.
    """
    factor = 2.0 ** (grid.zoom - z)
    centres = _centres(size)
    cols = np.floor((x * TILE_SIZE + centres) * factor).astype(np.int64) - grid.col0
    rows = np.floor((y * TILE_SIZE + centres) * factor).astype(np.int64) - grid.row0
    height, width = grid.index.shape
    col_ok = (cols >= 0) & (cols < width)
    row_ok = (rows >= 0) & (rows < height)
    if not col_ok.any() or not row_ok.any():
        return None
    rows = np.clip(rows, 0, height - 1)
    cols = np.clip(cols, 0, width - 1)
    r0, c0 = rows[0], cols[0]  # rows and cols ascend: index only the window the tile covers
    window = grid.index[r0:rows[-1] + 1, c0:cols[-1] + 1]
    out = window.take(rows - r0, axis=0).take(cols - c0, axis=1)
    if not col_ok.all():
        out[:, ~col_ok] = 0
    if not row_ok.all():
        out[~row_ok, :] = 0
    if not out.any():
        return None
    return out


def encode_tile(indices: np.ndarray, style: Style, fmt: TileFormat, *, png_level: int = 1,
                webp_quality: int = 80) -> bytes:
    """Encode palette indices as a PNG (palette + tRNS) or WebP image.

    Parameters
    ----------
    indices : numpy.ndarray
        uint8 palette indices.
    style : Style
        Supplies the palette.
    fmt : {"png", "webp"}
    png_level : int
        zlib level (0-9).
    webp_quality : int
        WebP quality (1-100).

    Returns
    -------
    bytes
    """
    image = _palette_image(indices)
    image.putpalette(style.png_palette)
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, "PNG", transparency=style.png_alpha, compress_level=png_level)
    else:
        image.info["transparency"] = style.png_alpha
        image.convert("RGBA").save(buf, "WEBP", quality=webp_quality, method=0)
    return buf.getvalue()


def _palette_image(indices: np.ndarray) -> Image.Image:
    height, width = indices.shape
    return Image.frombuffer("P", (width, height), np.ascontiguousarray(indices), "raw", "P", 0, 1)


@lru_cache(maxsize=8)
def empty_tile(fmt: TileFormat, size: int = TILE_SIZE) -> bytes:
    """A fully transparent tile, the answer for a tile outside the data."""
    buf = io.BytesIO()
    if fmt == "png":
        image = Image.new("P", (size, size), 0)
        image.putpalette(b"\0\0\0")
        image.save(buf, "PNG", transparency=0)
    else:
        Image.new("RGBA", (size, size), (0, 0, 0, 0)).save(buf, "WEBP", lossless=True)
    return buf.getvalue()


def legend_png(style: Style, title: str) -> bytes:
    """Draw a legend: a colour ramp with its range, or one swatch per class.

    Parameters
    ----------
    style : Style
    title : str
        First line (layer name and units).

    Returns
    -------
    bytes
        PNG image.
    """
    font = ImageFont.load_default()
    legend = style.legend()
    if "stops" in legend:
        image = Image.new("RGBA", (280, 62), (255, 255, 255, 230))
        draw = ImageDraw.Draw(image)
        draw.text((8, 4), title, fill=(0, 0, 0, 255), font=font)
        ramp = style.palette[1:][np.linspace(0, 254, 264).astype(int)]
        image.paste(Image.fromarray(np.repeat(ramp[None, :, :], 16, axis=0), mode="RGBA"), (8, 22))
        draw.text((8, 42), _fmt(style.vmin), fill=(0, 0, 0, 255), font=font)
        hi = _fmt(style.vmax) + (" (log)" if style.scale == "log" else "")
        draw.text((272 - draw.textlength(hi, font=font), 42), hi, fill=(0, 0, 0, 255), font=font)
    else:
        classes = legend.get("classes") or []
        image = Image.new("RGBA", (220, 26 + 18 * max(1, len(classes))), (255, 255, 255, 230))
        draw = ImageDraw.Draw(image)
        draw.text((8, 4), title, fill=(0, 0, 0, 255), font=font)
        for i, (_, label, index) in enumerate(style.classes):
            top = 24 + 18 * i
            draw.rectangle((8, top, 22, top + 12), fill=tuple(int(c) for c in style.palette[index]))
            draw.text((30, top), label, fill=(0, 0, 0, 255), font=font)
        if not classes:
            draw.text((8, 24), "one colour per value", fill=(0, 0, 0, 255), font=font)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
