"""Bringing DEM and population rasters onto the analysis grid."""

from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
import rasterio
from affine import Affine

from covgap.grid import AnalysisGrid
from covgap.regrid import regrid_dem, regrid_population


def _raster(values: np.ndarray, transform: Affine, crs: str) -> xr.DataArray:
    h, w = values.shape
    x = transform.c + (np.arange(w) + 0.5) * transform.a
    y = transform.f + (np.arange(h) + 0.5) * transform.e
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": y, "x": x})
    return da.rio.write_crs(crs).rio.write_transform(transform)


def test_population_total_is_conserved_when_refining_1km_to_100m() -> None:
    rng = np.random.default_rng(3)
    counts = rng.gamma(1.5, 400.0, size=(12, 14)).astype(np.float32)
    counts[2, 3] = np.nan  # nodata: nobody
    res = 1 / 120
    src = _raster(counts, Affine(res, 0, 108.0, 0, -res, 16.1), "EPSG:4326")
    # A grid well inside the raster: every source cell it covers is cut at most at the edge.
    grid = AnalysisGrid.from_lonlat_bounds((108.0, 16.1 - 12 * res, 108.0 + 14 * res, 16.1), 100.0)
    out = regrid_population(src, grid)
    assert out.attrs["units"] == "people"
    assert out.dtype == np.float32
    # The grid covers the whole raster (it is snapped outwards), so every person is inside.
    assert float(out.sum()) == pytest.approx(float(np.nansum(counts)), rel=0.005)
    assert float(out.min()) >= 0.0


def test_population_inside_a_window_is_conserved() -> None:
    counts = np.full((20, 20), 100.0, dtype=np.float32)
    res = 1 / 120
    src = _raster(counts, Affine(res, 0, 108.0, 0, -res, 16.1), "EPSG:4326")
    # A window of exactly 6 x 6 source cells in the middle.
    west, north = 108.0 + 5 * res, 16.1 - 5 * res
    grid = AnalysisGrid.from_lonlat_bounds((west, north - 6 * res, west + 6 * res, north), 100.0)
    out = regrid_population(src, grid)
    # Uniform density: the people in the grid are its area times the density.
    left, bottom, right, top = grid.bounds
    source_cell_m2 = 6371007.2**2 * np.radians(res) * (np.sin(np.radians(north)) - np.sin(np.radians(north - res)))
    expected = (right - left) * (top - bottom) * 100.0 / source_cell_m2
    assert float(out.sum()) == pytest.approx(expected, rel=0.01)


def test_population_coarsening_keeps_every_source_cell() -> None:
    # A 100 m projected raster summed onto a 1 km grid: no cell may be skipped.
    counts = np.arange(100 * 100, dtype=np.float32).reshape(100, 100) % 7
    src = _raster(counts, Affine(100.0, 0, 500_000.0, 0, -100.0, 1_800_000.0), "EPSG:32649")
    grid = AnalysisGrid(src.rio.crs, Affine(1000.0, 0, 500_000.0, 0, -1000.0, 1_800_000.0), 10, 10)
    out = regrid_population(src, grid)
    assert float(out.sum()) == pytest.approx(float(counts.sum()), rel=1e-6)
    np.testing.assert_allclose(out.values[0, 0], counts[:10, :10].sum(), rtol=1e-5)


def test_population_from_a_path_reads_only_the_window_it_needs(tmp_path) -> None:
    rng = np.random.default_rng(5)
    counts = rng.gamma(1.5, 400.0, size=(60, 80)).astype(np.float32)
    counts[0, :] = -5.0  # invalid, but far from the grid: never read
    res = 1 / 120
    transform = Affine(res, 0, 108.0, 0, -res, 16.1)
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", width=80, height=60, count=1, dtype="float32", crs="EPSG:4326",
                       transform=transform) as dst:
        dst.write(counts, 1)
    west, north = 108.0 + 30 * res, 16.1 - 20 * res
    grid = AnalysisGrid.from_lonlat_bounds((west, north - 10 * res, west + 12 * res, north), 100.0)
    from_path = regrid_population(path, grid)
    from_array = regrid_population(_raster(counts, transform, "EPSG:4326"), grid)
    assert np.array_equal(from_path.values, from_array.values)
    assert float(from_path.sum()) > 0
    # a grid that reaches the invalid row reads it and names it
    from covgap.datasets.errors import InputFileError, InputValueError

    with pytest.raises(InputValueError, match="row 0, column"):
        regrid_population(path, AnalysisGrid.from_lonlat_bounds((west, 16.1 - 10 * res, west + 12 * res, 16.1), 100.0))
    # a file that is not a raster is named
    (tmp_path / "not.tif").write_text("not a raster")
    with pytest.raises(InputFileError, match="not.tif: cannot be read as a raster"):
        regrid_population(tmp_path / "not.tif", grid)


def test_dem_is_resampled_bilinearly_and_keeps_nodata() -> None:
    res = 1 / 3600
    rows, cols = np.indices((300, 300))
    z = (rows * 2.0 + cols).astype(np.float32)  # a plane: bilinear is exact on it
    z[:, :20] = np.nan
    src = _raster(z, Affine(res, 0, 108.0, 0, -res, 16.1), "EPSG:4326")
    grid = AnalysisGrid.from_lonlat_bounds((108.0, 16.1 - 300 * res, 108.0 + 300 * res, 16.1), 90.0)
    out = regrid_dem(src, grid)
    assert out.attrs["units"] == "m" and out.rio.crs == grid.crs
    assert np.isnan(out.values[:, 0]).all()
    inner = out.values[5:-5, 10:-5]
    assert np.isfinite(inner).all()
    assert float(np.nanmin(out.values)) >= float(np.nanmin(z)) - 1e-3
    assert float(np.nanmax(out.values)) <= float(np.nanmax(z)) + 1e-3
