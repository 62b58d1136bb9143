"""Put a layer on the web-mercator pixel grid once, so tiles are only slices.

A layer is prepared when it is first asked for (or at start-up): its
values are read (from a COG overview if the layer is large), turned into
palette indices by its :class:`~covgap.tileserver.colormaps.Style`, and
reprojected once, nearest-neighbour, onto the global web-mercator pixel
grid of the *native zoom*: the lowest zoom whose pixels are no larger on
the ground than the layer's cells. A tile at any zoom is then read from that
one grid by integer indexing (:func:`covgap.tileserver.render.tile_indices`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import array_bounds
from rasterio.warp import Resampling, reproject, transform_bounds

__all__ = ["MercatorGrid", "native_zoom", "to_mercator", "TILE_SIZE", "MAX_ZOOM"]

#: Pixels along the side of a standard tile.
TILE_SIZE = 256
#: Highest zoom served.
MAX_ZOOM = 24
#: Half the side of the web-mercator square (m).
HALF_WORLD_M = 20037508.342789244
WEB_MERCATOR = CRS.from_epsg(3857)


@dataclass(frozen=True)
class MercatorGrid:
    """Palette indices on the web-mercator pixel grid of one zoom.

    Attributes
    ----------
    zoom : int
        Zoom whose global pixel grid ``index`` is aligned with.
    col0, row0 : int
        Global pixel column and row (at ``zoom``) of ``index[0, 0]``.
    index : numpy.ndarray
        uint8 palette indices, 0 = transparent.
    """

    zoom: int
    col0: int
    row0: int
    index: np.ndarray


def native_zoom(cell_size_m: float, lat: float) -> int:
    """The lowest zoom whose pixels are no larger than ``cell_size_m`` on the ground.

    Parameters
    ----------
    cell_size_m : float
        Cell size in metres.
    lat : float
        Latitude (degrees) where the ground size is measured.

    Examples
    --------
    >>> native_zoom(100.0, 16.0)
    11
    """
    ground_m = 2 * HALF_WORLD_M * math.cos(math.radians(lat)) / TILE_SIZE
    zoom = math.ceil(math.log2(ground_m / cell_size_m))
    return max(0, min(MAX_ZOOM, zoom))


def to_mercator(index: np.ndarray, transform: Affine, crs: CRS, *, max_cells: int) -> MercatorGrid:
    """Reproject a palette-index array onto the web-mercator grid of its native zoom.

    Parameters
    ----------
    index : numpy.ndarray
        uint8 palette indices in the layer's own grid, 0 = transparent.
    transform : affine.Affine
        The grid's transform.
    crs : rasterio.crs.CRS
        The grid's CRS.
    max_cells : int
        The native zoom is lowered until the result has at most this many
        pixels.

    Returns
    -------
    MercatorGrid
    """
    height, width = index.shape
    west, south, east, north = array_bounds(height, width, transform)
    if crs.is_geographic:
        cell_m = abs(transform.a) * 111_320.0 * math.cos(math.radians((south + north) / 2))
        lat = (south + north) / 2
    else:
        cell_m = min(abs(transform.a), abs(transform.e))
        _, lat_s, _, lat_n = transform_bounds(crs, "EPSG:4326", west, south, east, north)
        lat = (lat_s + lat_n) / 2
    mx0, my0, mx1, my1 = transform_bounds(crs, WEB_MERCATOR, west, south, east, north, densify_pts=21)
    zoom = native_zoom(cell_m, lat)
    while True:
        world_px = TILE_SIZE * 2**zoom
        res = 2 * HALF_WORLD_M / world_px
        col0 = math.floor((mx0 + HALF_WORLD_M) / res)
        col1 = math.ceil((mx1 + HALF_WORLD_M) / res)
        row0 = math.floor((HALF_WORLD_M - my1) / res)
        row1 = math.ceil((HALF_WORLD_M - my0) / res)
        if (col1 - col0) * (row1 - row0) <= max_cells or zoom == 0:
            break
        zoom -= 1
    dst = np.zeros((row1 - row0, col1 - col0), dtype=np.uint8)
    dst_transform = Affine(res, 0.0, -HALF_WORLD_M + col0 * res, 0.0, -res, HALF_WORLD_M - row0 * res)
    reproject(
        index, dst,
        src_transform=transform, src_crs=crs, src_nodata=0,
        dst_transform=dst_transform, dst_crs=WEB_MERCATOR, dst_nodata=0,
        resampling=Resampling.nearest,
    )
    return MercatorGrid(zoom=zoom, col0=col0, row0=row0, index=dst)
