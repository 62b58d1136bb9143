"""Gridded population counts (WorldPop / GHS-POP style: people per cell)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from covgap.datasets._raster import check_exists, raster_grid, read_band
from covgap.datasets.errors import InputValueError

_ATTRS = {"units": "people", "long_name": "population count per cell"}


def population_grid(path: str | os.PathLike[str]) -> tuple[CRS, Affine, tuple[int, int]]:
    """The CRS, transform and ``(height, width)`` of a population raster, without reading its cells.

    Raises
    ------
    InputFileError
        The file is missing or unreadable, has no CRS, or is rotated or
        south-up.
    """
    return raster_grid(Path(path))


def read_population(path: str | os.PathLike[str], window: Window | None = None) -> xr.DataArray:
    """Read a population raster of counts per cell (or a window of it) as float32.

    The values must be numbers of people per cell (WorldPop "ppp" or GHS-POP
    counts), not densities per km². Refining the grid onto the analysis grid
    (conserving the total) is done by the analysis, not here.

    Parameters
    ----------
    path : str or path-like
        A GeoTIFF (or other GDAL raster) with a CRS.
    window : rasterio.windows.Window, optional
        Read and check only these rows and columns; default: the whole raster.

    Returns
    -------
    xarray.DataArray
        ``population``, float32, dims ``("y", "x")``, CRS and transform
        written with rioxarray, nodata cells kept as NaN, attrs
        ``units="people"`` and ``long_name``.

    Raises
    ------
    InputFileError
        The file is missing or unreadable or has no CRS.
    InputValueError
        A cell holds a negative or infinite count; the message names the
        first such cell (row and column, 0-based, and its coordinates).
    """
    path = Path(path)
    check_exists(path)
    da = read_band(path, str(path), name="population", attrs=dict(_ATTRS), window=window)
    values = da.values
    bad = np.isinf(values) | (values < 0)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        row_off, col_off = (0, 0) if window is None else (int(window.row_off), int(window.col_off))
        raise InputValueError(
            f"{path}: {int(bad.sum())} cell(s) hold negative or infinite population "
            f"counts, first at row {row + row_off}, column {col + col_off} (x={float(da.x[col]):.6f}, "
            f"y={float(da.y[row]):.6f}): {float(values[row, col])!r}; expected counts "
            "of people >= 0 (mark missing cells with the raster's nodata value)"
        )
    return da
