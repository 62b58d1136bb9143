"""Hillshade of the elevation layer, the web map's base layer."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from covgap.grid import AnalysisGrid

__all__ = ["hillshade"]


def hillshade(elevation: xr.DataArray, *, azimuth_deg: float = 315.0, altitude_deg: float = 45.0) -> xr.DataArray:
    """Shaded relief of a DEM on a metric grid (central-difference gradients).

    Parameters
    ----------
    elevation : xr.DataArray
        Elevation in metres on an :class:`AnalysisGrid`.
    azimuth_deg, altitude_deg : float
        Direction and height of the light above the horizon.

    Returns
    -------
    xr.DataArray
        ``hillshade``, uint8 1-255 (brightness), 0 where there is no elevation.
    """
    grid = AnalysisGrid.from_dataarray(elevation)
    z = np.asarray(elevation.values, dtype=np.float64)
    valid = np.isfinite(z)
    z = np.where(valid, z, np.nanmean(z) if valid.any() else 0.0)
    dz_dy, dz_dx = np.gradient(z, grid.resolution)
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(-dz_dy, dz_dx)
    zenith = math.radians(90.0 - altitude_deg)
    azimuth = math.radians(360.0 - azimuth_deg)
    shade = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(azimuth - aspect)
    out = np.where(valid, 1 + np.clip(shade, 0.0, 1.0) * 254, 0).astype(np.uint8)
    return grid.dataarray(out, "hillshade", "1", "shaded relief (brightness 1-255)", _FillValue=0)
