"""Shared fixtures: small real rasters written as GeoTIFFs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import rasterio
from affine import Affine

#: Where tests leave artefacts a person may want to look at (screenshots).
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def write_geotiff(path: Path, data: np.ndarray, transform: Affine, crs: str, nodata: float | None = None) -> Path:
    """Write one band as a real GeoTIFF through rasterio."""
    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
        dtype=data.dtype.name, crs=crs, transform=transform, nodata=nodata,
    ) as dst:
        dst.write(data, 1)
    return path


def make_dem(shape: tuple[int, int] = (200, 200), kind: str = "flat", *, res: float = 30.0, height: float = 100.0) -> np.ndarray:
    """Analytic terrain: ``flat``, a north-south ``ridge`` or a round ``bump`` in the middle."""
    rows, cols = np.indices(shape, dtype=np.float64)
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    if kind == "flat":
        z = np.full(shape, 10.0)
    elif kind == "ridge":
        z = 10.0 + height * np.exp(-(((cols - cx) * res) / 300.0) ** 2)
    elif kind == "bump":
        z = 10.0 + height * np.exp(-((((cols - cx) ** 2 + (rows - cy) ** 2) * res**2) / 400.0**2))
    else:
        raise ValueError(f"kind must be flat, ridge or bump, got {kind!r}")
    return z.astype(np.float32)


@pytest.fixture
def dem_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write an analytic DEM in geographic coordinates near Da Nang."""

    def factory(shape: tuple[int, int] = (200, 200), kind: str = "flat", *, name: str = "dem.tif", west: float = 108.0, north: float = 16.1, res_deg: float = 1 / 3600) -> Path:
        data = make_dem(shape, kind, res=res_deg * 111_000)
        return write_geotiff(tmp_path / name, data, Affine(res_deg, 0, west, 0, -res_deg, north), "EPSG:4326", nodata=-32768.0)

    return factory


@pytest.fixture
def population_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a seeded WorldPop-like count raster at 30 arc-seconds."""

    def factory(shape: tuple[int, int] = (10, 10), *, name: str = "pop.tif", west: float = 108.0, north: float = 16.1, seed: int = 1, res_deg: float = 1 / 120) -> Path:
        rng = np.random.default_rng(seed)
        data = rng.gamma(2.0, 300.0, size=shape).astype(np.float32)
        data[0, 0] = -99999.0
        return write_geotiff(tmp_path / name, data, Affine(res_deg, 0, west, 0, -res_deg, north), "EPSG:4326", nodata=-99999.0)

    return factory


SITES_CSV = """site_id,operator,lon,lat,height_m,tech,freq_mhz,eirp_dbm,azimuth_deg,beamwidth_deg,tilt_deg
A-1,Operator A,108.020,16.080,30,4G,1800,60,,,
A-1,Operator A,108.020,16.080,30,2G,900,55,,,
B-1,Operator B,108.035,16.065,25,3G,2100,58,120,65,4
B-2,Operator B,108.200,16.300,25,3G,2100,58,,,
"""


@pytest.fixture
def tiny_scenario(tmp_path: Path, dem_file: Callable[..., Path], population_file: Callable[..., Path]) -> Path:
    """A complete scenario over a small generated region.

    The sites stand in the north-west corner and reach 3 km, so the rest of the
    region is not covered; one site lies off the grid.
    """
    dem_file((400, 400), "bump", name="dem.tif")  # about 12 x 11 km
    population_file((14, 14), name="pop.tif")
    (tmp_path / "sites.csv").write_text(SITES_CSV, encoding="utf-8")
    path = tmp_path / "tiny.toml"
    path.write_text(
        """
name = "tiny"
title = "A tiny generated region"
[inputs]
dem = "dem.tif"
population = "pop.tif"
sites = "sites.csv"
[grid]
resolution_m = 100
[propagation]
max_radius_km = 3
[metadata]
sites_provenance = "modelled"
attribution = ["generated for the tests"]
""",
        encoding="utf-8",
    )
    return path
