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

import numpy as np
import xarray as xr
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject, transform
from scipy import ndimage

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


def regrid_population(population: xr.DataArray, grid: AnalysisGrid) -> xr.DataArray:
    """Re-grid population counts onto the analysis grid, conserving people.

    Parameters
    ----------
    population : xr.DataArray
        People per source cell, (y, x), with a CRS; NaN or negative means none.
    grid : AnalysisGrid

    Returns
    -------
    xr.DataArray
        ``population``, float32, people per analysis cell (0 where none).
    """
    src_crs = CRS.from_user_input(population.rio.crs)
    src_transform = population.rio.transform()
    if src_transform.b != 0 or src_transform.d != 0:
        raise GridError("population raster is rotated; only north-up rasters are supported")
    counts = np.asarray(population.values, dtype=np.float64)
    counts = np.where(np.isfinite(counts) & (counts > 0), counts, 0.0)
    src_area = _cell_areas(src_crs, src_transform, counts.shape)

    # A virtual grid fine enough that every source cell holds at least one centre.
    src_res_m = math.sqrt(float(np.min(src_area)))
    factor = max(1, math.ceil(2.0 * grid.resolution / src_res_m))
    res_v = grid.resolution / factor
    height_v, width_v = grid.height * factor, grid.width * factor
    xs = grid.transform.c + (np.arange(width_v) + 0.5) * res_v
    ys = grid.transform.f - (np.arange(height_v) + 0.5) * res_v
    xx, yy = np.meshgrid(xs, ys)
    # pyproj on whole arrays: rasterio's transform goes through Python lists, 3x slower per cell.
    to_src = Transformer.from_crs(grid.crs.to_wkt(), src_crs.to_wkt(), always_xy=True)
    sx, sy = to_src.transform(xx.ravel(), yy.ravel())
    inv = ~src_transform
    col_f, row_f = inv @ (sx, sy)
    row_i, col_i = np.floor(row_f).astype(np.int64), np.floor(col_f).astype(np.int64)
    inside = (row_i >= 0) & (row_i < counts.shape[0]) & (col_i >= 0) & (col_i < counts.shape[1])

    density = counts / src_area
    raw = ndimage.map_coordinates(density, [row_f - 0.5, col_f - 0.5], order=1, mode="nearest") * res_v**2
    raw = np.where(inside, raw, 0.0)
    key = np.where(inside, row_i * counts.shape[1] + col_i, 0)
    n_src = counts.size
    raw_sum = np.bincount(key[inside], weights=raw[inside], minlength=n_src)
    n_cells = np.bincount(key[inside], minlength=n_src).astype(np.float64)

    share = np.minimum(1.0, n_cells * res_v**2 / src_area.ravel())
    holding = np.flatnonzero(n_cells)  # only the source cells holding a centre are ever used
    share[holding[_fully_inside(src_crs, src_transform, holding, counts.shape[1], grid)]] = 1.0
    target = counts.ravel() * share
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(raw_sum > 0, target / raw_sum, 0.0)
        flat = np.where(n_cells > 0, target / n_cells, 0.0)
    values = np.where(inside, np.where(raw_sum[key] > 0, raw * scale[key], flat[key]), 0.0)
    values = values.reshape(height_v, width_v)
    if factor > 1:
        values = values.reshape(grid.height, factor, grid.width, factor).sum(axis=(1, 3))
    return grid.dataarray(values.astype(np.float32), "population", "people", "resident population per cell")


def _cell_areas(crs: CRS, affine: object, shape: tuple[int, int]) -> np.ndarray:
    """Area in square metres of every cell of a north-up raster."""
    if crs.is_geographic:
        res_x, res_y = abs(affine.a), abs(affine.e)  # type: ignore[attr-defined]
        top = affine.f  # type: ignore[attr-defined]
        north = np.radians(top - np.arange(shape[0]) * res_y)
        south = np.radians(top - (np.arange(shape[0]) + 1) * res_y)
        rows = EARTH_AUTHALIC_RADIUS_M**2 * math.radians(res_x) * np.abs(np.sin(north) - np.sin(south))
        return np.repeat(rows[:, None], shape[1], axis=1)
    return np.full(shape, abs(affine.a * affine.e))  # type: ignore[attr-defined]


def _fully_inside(crs: CRS, affine: object, cells: np.ndarray, width: int, grid: AnalysisGrid) -> np.ndarray:
    """Which of the source ``cells`` (flat indices, raster ``width`` columns) have all four corners inside the grid.

    Each corner is transformed on its own, so the answer for a cell does
    not depend on which other cells are asked about.
    """
    left, bottom, right, top = grid.bounds
    rows, cols = np.divmod(cells, width)
    corner_rows = np.concatenate([rows, rows, rows + 1, rows + 1]).astype(float)
    corner_cols = np.concatenate([cols, cols + 1, cols, cols + 1]).astype(float)
    cx, cy = affine @ (corner_cols, corner_rows)  # type: ignore[operator]
    gx, gy = transform(crs, grid.crs, np.asarray(cx), np.asarray(cy))
    gx, gy = np.asarray(gx), np.asarray(gy)
    corner_in = ((gx >= left) & (gx <= right) & (gy >= bottom) & (gy <= top)).reshape(4, -1)
    return corner_in.all(axis=0)
