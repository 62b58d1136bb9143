"""Bring input rasters onto the analysis grid.

* The DEM is resampled bilinearly (:func:`regrid_dem`).
* Population counts are re-gridded so that people are conserved
  (:func:`regrid_population`): the density of each source cell is
  interpolated bilinearly at the centres of the analysis cells (a smooth
  surface instead of blocky 1 km squares), then scaled per source cell so that
  the analysis cells whose centres fall in a source cell hold exactly that
  cell's people. Source cells cut by the edge of the grid keep the share of
  their people that matches the share of their area inside the grid. When the
  analysis grid is as coarse as the source, it is evaluated on a finer virtual
  grid and summed back, so that no source cell is skipped.
"""

from __future__ import annotations

import math
import os

import numpy as np
import xarray as xr
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject, transform
from rasterio.windows import Window
from scipy import ndimage

from covgap.datasets.population import population_grid, read_population
from covgap.errors import GridError
from covgap.grid import AnalysisGrid

__all__ = ["regrid_dem", "regrid_population"]

#: Authalic radius of the WGS 84 ellipsoid, for the area of geographic cells.
EARTH_AUTHALIC_RADIUS_M = 6371007.2


def regrid_dem(dem: xr.DataArray, grid: AnalysisGrid) -> xr.DataArray:
    """Resample a DEM bilinearly onto the analysis grid.

    Parameters
    ----------
    dem : xr.DataArray
        Elevation in metres, (y, x), with a CRS; NaN where there is no data.
    grid : AnalysisGrid

    Returns
    -------
    xr.DataArray
        ``elevation``, float32, metres, NaN where the DEM has no data.
    """
    out = np.full(grid.shape, np.nan, dtype=np.float32)
    reproject(
        source=np.asarray(dem.values, dtype=np.float32),
        destination=out,
        src_transform=dem.rio.transform(),
        src_crs=dem.rio.crs,
        src_nodata=np.nan,
        dst_transform=grid.transform,
        dst_crs=grid.crs,
        dst_nodata=np.nan,
        resampling=Resampling.bilinear,
    )
    return grid.dataarray(out, "elevation", "m", "terrain elevation above mean sea level", standard_name="height_above_mean_sea_level")


def regrid_population(population: xr.DataArray | str | os.PathLike[str], grid: AnalysisGrid) -> xr.DataArray:
    """Re-grid population counts onto the analysis grid, conserving people.

    Only the source cells the grid needs (those holding a cell centre, and
    their neighbours for the interpolation) are used: given a path, only
    that window of the raster is read, so that a chunk of a national grid
    reads a chunk of the population raster. The result is the same, bit for
    bit, as from the whole raster in memory.

    Parameters
    ----------
    population : xr.DataArray or path
        People per source cell, (y, x), with a CRS; NaN or negative means
        none. Or the path of such a raster
        (:func:`covgap.datasets.read_population` reads the window).
    grid : AnalysisGrid

    Returns
    -------
    xr.DataArray
        ``population``, float32, people per analysis cell (0 where none).
    """
    if isinstance(population, xr.DataArray):
        src_crs = CRS.from_user_input(population.rio.crs)
        src_transform = population.rio.transform()
        src_height, src_width = population.shape
    else:
        src_crs, src_transform, (src_height, src_width) = population_grid(population)
    if src_transform.b != 0 or src_transform.d != 0:
        raise GridError("population raster is rotated; only north-up rasters are supported")
    row_area = _row_areas(src_crs, src_transform, src_height)

    # A virtual grid fine enough that every source cell holds at least one centre.
    factor = max(1, math.ceil(2.0 * grid.resolution / math.sqrt(float(np.min(row_area)))))
    res_v = grid.resolution / factor
    height_v, width_v = grid.height * factor, grid.width * factor
    xs = grid.transform.c + (np.arange(width_v) + 0.5) * res_v
    ys = grid.transform.f - (np.arange(height_v) + 0.5) * res_v
    xx, yy = np.meshgrid(xs, ys)
    # pyproj on whole arrays: rasterio's transform goes through Python lists, 3x slower per cell.
    to_src = Transformer.from_crs(grid.crs.to_wkt(), src_crs.to_wkt(), always_xy=True)
    sx, sy = to_src.transform(xx.ravel(), yy.ravel())
    col_f, row_f = ~src_transform @ (sx, sy)
    row_i, col_i = np.floor(row_f).astype(np.int64), np.floor(col_f).astype(np.int64)
    inside = (row_i >= 0) & (row_i < src_height) & (col_i >= 0) & (col_i < src_width)
    if not inside.any():
        return grid.dataarray(np.zeros(grid.shape, np.float32), "population", "people", "resident population per cell")

    # The window of source cells holding a centre, one more on each side for the interpolation.
    r0, r1 = max(0, int(row_i[inside].min()) - 1), min(src_height, int(row_i[inside].max()) + 2)
    c0, c1 = max(0, int(col_i[inside].min()) - 1), min(src_width, int(col_i[inside].max()) + 2)
    if isinstance(population, xr.DataArray):
        window = population.values[r0:r1, c0:c1]
    else:
        window = read_population(population, Window(c0, r0, c1 - c0, r1 - r0)).values
    counts = np.asarray(window, dtype=np.float64)
    counts = np.where(np.isfinite(counts) & (counts > 0), counts, 0.0)
    src_area = np.repeat(row_area[r0:r1, None], c1 - c0, axis=1)

    # Positions relative to the window: an integer subtracted from a larger float is exact.
    density = counts / src_area
    raw = ndimage.map_coordinates(density, [row_f - 0.5 - r0, col_f - 0.5 - c0], order=1, mode="nearest") * res_v**2
    raw = np.where(inside, raw, 0.0)
    key = np.where(inside, (row_i - r0) * (c1 - c0) + (col_i - c0), 0)
    n_src = counts.size
    raw_sum = np.bincount(key[inside], weights=raw[inside], minlength=n_src)
    n_cells = np.bincount(key[inside], minlength=n_src).astype(np.float64)

    share = np.minimum(1.0, n_cells * res_v**2 / src_area.ravel())
    holding = np.flatnonzero(n_cells)  # only the source cells holding a centre are ever used
    rows, cols = np.divmod(holding, c1 - c0)
    share[holding[_fully_inside(src_crs, src_transform, rows + r0, cols + c0, grid)]] = 1.0
    target = counts.ravel() * share
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(raw_sum > 0, target / raw_sum, 0.0)
        flat = np.where(n_cells > 0, target / n_cells, 0.0)
    values = np.where(inside, np.where(raw_sum[key] > 0, raw * scale[key], flat[key]), 0.0)
    values = values.reshape(height_v, width_v)
    if factor > 1:
        values = values.reshape(grid.height, factor, grid.width, factor).sum(axis=(1, 3))
    return grid.dataarray(values.astype(np.float32), "population", "people", "resident population per cell")


def _row_areas(crs: CRS, affine: Affine, height: int) -> np.ndarray:
    """Area in square metres of a cell in each row of a north-up raster."""
    if crs.is_geographic:
        res_x, res_y = abs(affine.a), abs(affine.e)
        north = np.radians(affine.f - np.arange(height) * res_y)
        south = np.radians(affine.f - (np.arange(height) + 1) * res_y)
        return EARTH_AUTHALIC_RADIUS_M**2 * math.radians(res_x) * np.abs(np.sin(north) - np.sin(south))
    return np.full(height, abs(affine.a * affine.e))


def _fully_inside(crs: CRS, affine: Affine, rows: np.ndarray, cols: np.ndarray, grid: AnalysisGrid) -> np.ndarray:
    """Which of the source cells (``rows``, ``cols`` of the raster) have all four corners inside the grid.

    Each corner is transformed on its own, so the answer for a cell does
    not depend on which other cells are asked about.
    """
    left, bottom, right, top = grid.bounds
    corner_rows = np.concatenate([rows, rows, rows + 1, rows + 1]).astype(float)
    corner_cols = np.concatenate([cols, cols + 1, cols, cols + 1]).astype(float)
    cx, cy = affine @ (corner_cols, corner_rows)
    gx, gy = transform(crs, grid.crs, np.asarray(cx), np.asarray(cy))
    gx, gy = np.asarray(gx), np.asarray(gy)
    corner_in = ((gx >= left) & (gx <= right) & (gy >= bottom) & (gy <= top)).reshape(4, -1)
    return corner_in.all(axis=0)
