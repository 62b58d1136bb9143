"""Read one band of a raster file into a float32 ``(y, x)`` DataArray.

Shared by :mod:`covgap.datasets.dem` and :mod:`covgap.datasets.population`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
import rioxarray  # noqa: F401  (registers the ``.rio`` accessor)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from covgap.datasets.errors import InputFileError


def check_exists(path: Path) -> None:
    """Raise :class:`InputFileError` unless *path* is an existing file."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: is a directory, expected a file")


def raster_grid(path: Path) -> tuple[CRS, Affine, tuple[int, int]]:
    """The CRS, transform and ``(height, width)`` of a raster file, checked as :func:`read_band` checks them.

    Raises
    ------
    InputFileError
        The file is missing or cannot be read as a raster, has no CRS, or is
        rotated or south-up.
    """
    check_exists(path)
    with _open(path, str(path)) as src:
        crs, transform = _georeferencing(path, src)
        return crs, transform, (src.height, src.width)


@contextlib.contextmanager
def _open(path: Path, source: str) -> Iterator[rasterio.DatasetReader]:
    """Open *source* for reading; GDAL failing to open or read it is an :class:`InputFileError` naming *path*."""
    try:
        with rasterio.open(source) as src:
            yield src
    except rasterio.errors.RasterioError as exc:
        raise InputFileError(f"{path}: cannot be read as a raster ({exc})") from exc


def _georeferencing(path: Path, src: rasterio.DatasetReader) -> tuple[CRS, Affine]:
    """The raster's CRS and transform, which must be north-up and not rotated."""
    crs: CRS | None = src.crs
    transform: Affine = src.transform
    if crs is None:
        raise InputFileError(
            f"{path}: the raster has no coordinate reference system; "
            "write one, e.g. `gdal_edit.py -a_srs EPSG:4326 FILE`"
        )
    if transform.b != 0 or transform.d != 0:
        raise InputFileError(f"{path}: rotated rasters are not supported ({transform!r})")
    if transform.a <= 0 or transform.e >= 0:
        raise InputFileError(
            f"{path}: expected a north-up raster (positive x and negative y pixel "
            f"size), got pixel size ({transform.a}, {transform.e})"
        )
    return crs, transform


def read_band(path: Path, source: str, *, name: str, attrs: dict[str, Any], window: Window | None = None) -> xr.DataArray:
    """Read band 1 of *source* (a path or GDAL ``/vsi`` name), or a window of it, as float32.

    Parameters
    ----------
    path : Path
        The user's file, used in error messages.
    source : str
        What rasterio opens (the same path, or a ``/vsizip/`` name inside it).
    name : str
        Name of the returned DataArray.
    attrs : dict
        Attributes of the returned DataArray (``units``, ``long_name``, ...).
    window : rasterio.windows.Window, optional
        Read only these rows and columns (the returned transform is the
        window's); default: the whole band.

    Returns
    -------
    xarray.DataArray
        float32, dims ``("y", "x")`` with cell-centre coordinates, ``y``
        descending, the file's CRS and transform written with rioxarray,
        nodata cells as NaN.

    Raises
    ------
    InputFileError
        The file cannot be read as a raster, has no CRS, or is rotated or
        south-up.
    """
    with _open(path, source) as src:
        crs, full = _georeferencing(path, src)
        transform = full if window is None else src.window_transform(window)
        band = src.read(1, masked=True, window=window)
    data = np.ma.filled(band.astype(np.float32), np.nan)
    height, width = data.shape
    x = transform.c + transform.a * (np.arange(width) + 0.5)
    y = transform.f + transform.e * (np.arange(height) + 0.5)
    da = xr.DataArray(data, dims=("y", "x"), coords={"y": y, "x": x}, name=name, attrs=attrs)
    da = da.rio.write_crs(crs).rio.write_transform(transform)
    return da.rio.write_nodata(np.nan, encoded=False)
