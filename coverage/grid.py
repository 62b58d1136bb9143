"""The analysis grid: one metric CRS, one resolution, one north-up transform.

Every input (DEM, population, sites) is brought onto an :class:`AnalysisGrid`
before any kernel runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform
from rasterio.warp import transform_bounds

from covgap.errors import GridError
from covgap.types import BBox

__all__ = ["AnalysisGrid", "utm_crs"]


def utm_crs(lon: float, lat: float) -> CRS:
    """Return the WGS 84 UTM zone CRS that contains a point.

    Parameters
    ----------
    lon, lat : float
        The point in degrees.

    Returns
    -------
    rasterio.crs.CRS
        EPSG:326NN north of the equator, EPSG:327NN south of it.
    """
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise GridError(f"({lon!r}, {lat!r}) is not a longitude/latitude in degrees")
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass(frozen=True)
class AnalysisGrid:
    """A north-up raster grid in a metric CRS.

    Attributes
    ----------
    crs : rasterio.crs.CRS
        A projected CRS whose units are metres.
    transform : affine.Affine
        Maps (col, row) of a cell's upper-left corner to (x, y) in ``crs``.
    width, height : int
        Number of columns and rows.
    """

    crs: CRS
    transform: Affine
    width: int
    height: int

    @classmethod
    def from_lonlat_bounds(
        cls, bounds: BBox, resolution_m: float, crs: CRS | str | None = None
    ) -> "AnalysisGrid":
        """Build the grid covering ``bounds`` (degrees) at ``resolution_m``.

        Parameters
        ----------
        bounds : (west, south, east, north)
            The area in WGS 84 degrees.
        resolution_m : float
            Cell size in metres.
        crs : CRS or str, optional
            A projected, metric CRS; default: the UTM zone of the centre.
        """
        west, south, east, north = bounds
        if not (west < east and south < north):
            raise GridError(f"bounds {bounds!r} must be (west, south, east, north) with west < east and south < north")
        if not (resolution_m > 0 and math.isfinite(resolution_m)):
            raise GridError(f"resolution_m must be a positive number of metres, got {resolution_m!r}")
        if crs is None:
            dst = utm_crs((west + east) / 2.0, (south + north) / 2.0)
        else:
            try:
                dst = CRS.from_user_input(crs)
            except Exception as exc:  # rasterio raises its own CRSError outside our hierarchy
                raise GridError(f"grid crs {crs!r} is not a CRS rasterio understands: {exc}") from None
        if not dst.is_projected or (dst.linear_units or "").lower() not in ("metre", "meter", "m"):
            raise GridError(f"grid crs {dst.to_string()} must be projected in metres (for example a UTM zone)")
        left, bottom, right, top = transform_bounds("EPSG:4326", dst, west, south, east, north, densify_pts=21)
        left = math.floor(left / resolution_m) * resolution_m
        top = math.ceil(top / resolution_m) * resolution_m
        width = int(math.ceil((right - left) / resolution_m))
        height = int(math.ceil((top - bottom) / resolution_m))
        transform = Affine(resolution_m, 0.0, left, 0.0, -resolution_m, top)
        return cls(dst, transform, width, height)

    @classmethod
    def inside(
        cls, src_crs: CRS | str, src_bounds: BBox, resolution_m: float, crs: CRS | str | None = None
    ) -> "AnalysisGrid":
        """The largest grid, north-up in a metric CRS, that lies inside a raster's extent.

        A raster in degrees becomes a slightly rotated quadrilateral in a UTM
        zone; this grid keeps inside it so that every cell has data.

        Parameters
        ----------
        src_crs : CRS or str
            The CRS of ``src_bounds``.
        src_bounds : (left, bottom, right, top)
            The raster's extent.
        resolution_m : float
            Cell size in metres.
        crs : CRS or str, optional
            The grid's CRS; default: the UTM zone of the extent's centre.
        """
        lonlat = transform_bounds(src_crs, "EPSG:4326", *src_bounds, densify_pts=21)
        outer = cls.from_lonlat_bounds(lonlat, resolution_m, crs)
        left, bottom, right, top = src_bounds
        t = np.linspace(0.0, 1.0, 51)
        edges = {
            "left": (np.full_like(t, left), bottom + t * (top - bottom)),
            "right": (np.full_like(t, right), bottom + t * (top - bottom)),
            "bottom": (left + t * (right - left), np.full_like(t, bottom)),
            "top": (left + t * (right - left), np.full_like(t, top)),
        }
        xs, ys = {}, {}
        for name, (ex, ey) in edges.items():
            px, py = warp_transform(src_crs, outer.crs, ex, ey)
            xs[name], ys[name] = np.asarray(px), np.asarray(py)
        res = resolution_m
        x0 = math.ceil(xs["left"].max() / res) * res
        x1 = math.floor(xs["right"].min() / res) * res
        y0 = math.ceil(ys["bottom"].max() / res) * res
        y1 = math.floor(ys["top"].min() / res) * res
        if x1 - x0 < res or y1 - y0 < res:
            raise GridError(f"the raster's extent {src_bounds} holds no {resolution_m:g} m cell")
        transform = Affine(res, 0.0, x0, 0.0, -res, y1)
        return cls(outer.crs, transform, int(round((x1 - x0) / res)), int(round((y1 - y0) / res)))

    @property
    def resolution(self) -> float:
        """Cell size in metres."""
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    @property
    def bounds(self) -> BBox:
        """``(left, bottom, right, top)`` in the grid's CRS."""
        left, top = self.transform.c, self.transform.f
        return (left, top - self.height * self.resolution, left + self.width * self.resolution, top)

    def lonlat_bounds(self) -> BBox:
        """``(west, south, east, north)`` of the grid in degrees."""
        return transform_bounds(self.crs, "EPSG:4326", *self.bounds, densify_pts=21)

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates ``(x, y)``, ``y`` descending."""
        res = self.resolution
        x = self.transform.c + (np.arange(self.width) + 0.5) * res
        y = self.transform.f - (np.arange(self.height) + 0.5) * res
        return x, y

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (row, col) of points given in the grid's CRS.

        Cell centres fall on half-integers; ``floor`` gives the cell index.
        """
        inv = ~self.transform
        col, row = inv @ (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(row, dtype=float), np.asarray(col, dtype=float)

    def dataarray(self, values: np.ndarray, name: str, units: str, long_name: str, **attrs: object) -> xr.DataArray:
        """Wrap a ``(height, width)`` array as a georeferenced DataArray."""
        if values.shape != self.shape:
            raise GridError(f"{name}: array shape {values.shape} does not match the grid {self.shape}")
        x, y = self.coords()
        da = xr.DataArray(values, dims=("y", "x"), coords={"y": y, "x": x}, name=name)
        da.attrs.update({"units": units, "long_name": long_name, **attrs})
        return da.rio.write_crs(self.crs, inplace=True).rio.write_transform(self.transform, inplace=True)

    @classmethod
    def from_dataarray(cls, da: xr.DataArray | xr.Dataset) -> "AnalysisGrid":
        """The grid of a DataArray or Dataset written by covgap."""
        crs = da.rio.crs
        if crs is None:
            raise GridError("the data has no CRS; write one with 'rio.write_crs()'")
        return cls(CRS.from_user_input(crs), da.rio.transform(), int(da.sizes["x"]), int(da.sizes["y"]))
