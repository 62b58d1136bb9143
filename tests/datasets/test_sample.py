"""The shipped sample region: every file loads and the files agree."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import covgap.datasets
from covgap.datasets import (
    read_dem,
    read_population,
    read_settlements,
    read_sites,
    sample_region,
)
from covgap.datasets.modelled_sites import place_sites
from covgap.types import TECHNOLOGIES

MAX_SAMPLE_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def region():
    return sample_region()


def test_paths_are_files_inside_the_package(region) -> None:
    folder = Path(covgap.datasets.__file__).parent / "sample"
    assert region.scenarios == folder
    for path in region[:-1]:
        assert path.is_file() and path.parent == folder
    assert sum(p.stat().st_size for p in folder.iterdir()) < MAX_SAMPLE_BYTES


def test_dem_is_the_srtm_clip(region) -> None:
    dem = read_dem(region.dem)
    assert dem.shape == (900, 864)
    assert dem.rio.crs.to_epsg() == 4326
    np.testing.assert_allclose(dem.rio.resolution(), (1 / 3600, -1 / 3600), rtol=1e-6)
    assert not np.isnan(dem.values).any()
    assert float(dem.min()) == -25 and float(dem.max()) == 686


def test_population_covers_the_dem(region) -> None:
    dem, pop = read_dem(region.dem), read_population(region.population)
    w, s, e, n = dem.rio.bounds()
    pw, ps, pe, pn = pop.rio.bounds()
    assert pw < w and ps < s and pe > e and pn > n
    inside = pop.sel(x=slice(w, e), y=slice(n, s))
    # SOURCES.md: the DEM's window of the national raster holds about 1.31 million people.
    assert 1.2e6 < float(inside.sum()) < 1.4e6


def test_sites_lie_on_the_dem(region) -> None:
    sites, dem = read_sites(region.sites), read_dem(region.dem)
    w, s, e, n = dem.rio.bounds()
    assert sites.lon.between(w, e).all() and sites.lat.between(s, n).all()
    assert sorted(sites.operator.unique()) == ["Operator A", "Operator B", "Operator C"]
    assert set(sites.tech) == set(TECHNOLOGIES)
    assert (sites.site_id.str[2][sites.tech == "5G"] == "U").all(), "5G must be urban only"
    at = {
        k: xr.DataArray(sites[c].to_numpy(), dims="site") for k, c in (("x", "lon"), ("y", "lat"))
    }
    assert (dem.sel(at, method="nearest").values > 0).all(), "every mast stands on land"


def test_sites_are_reproducible_from_the_sample(region) -> None:
    again = place_sites(
        read_population(region.population),
        read_dem(region.dem),
        read_settlements(region.settlements),
        seed=2020,
    )
    pd.testing.assert_frame_equal(again, read_sites(region.sites))


def test_settlements_and_boundaries(region) -> None:
    towns = read_settlements(region.settlements)
    assert "Da Nang" in set(towns.name)
    doc = json.loads(region.boundaries.read_text(encoding="utf-8"))
    assert sorted(f["properties"]["shapeName"] for f in doc["features"]) == ["Quảng Nam", "Đà Nẵng"]


def test_scenario_names_the_sample_files(region) -> None:
    with open(region.scenario, "rb") as fh:
        scenario = tomllib.load(fh)
    folder = region.scenario.parent
    for key in ("dem", "population", "sites", "boundaries"):
        assert folder / scenario["inputs"][key] == getattr(region, key)
    assert scenario["grid"]["resolution_m"] == 100.0
    assert scenario["thresholds"] == {"2G": -95.0, "3G": -100.0, "4G": -110.0, "5G": -110.0}
    meta = scenario["metadata"]
    assert meta["sites_provenance"] == "modelled" and "place_sites" in meta["sites_method"]
    text = " ".join(meta["attribution"])
    for source in ("SRTM", "WorldPop", "GeoNames", "geoBoundaries"):
        assert source in text
