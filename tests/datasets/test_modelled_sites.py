"""place_sites on a generated region: a city, a hill village, empty land and sea."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine

from covgap.datasets.modelled_sites import HILLTOP_RADIUS_KM, place_sites
from covgap.datasets.sites import SITE_COLUMNS

VILLAGE = (108.045, 15.955)
PEAK = (108.0505, 15.9505)
CITY = (108.20, 108.26, 15.72, 15.80)  # west, east, south, north
SEA_LON = 108.28


def _grid(values: np.ndarray, res: float) -> xr.DataArray:
    transform = Affine(res, 0.0, 108.0, 0.0, -res, 16.0)
    h, w = values.shape
    da = xr.DataArray(
        values.astype(np.float32),
        dims=("y", "x"),
        coords={"y": 16.0 - res * (np.arange(h) + 0.5), "x": 108.0 + res * (np.arange(w) + 0.5)},
    )
    return da.rio.write_crs("EPSG:4326").rio.write_transform(transform)


@pytest.fixture(scope="module")
def region() -> tuple[xr.DataArray, xr.DataArray, pd.DataFrame]:
    dem = _grid(np.full((300, 300), 10.0), 0.001)
    lon, lat = dem.x.values[None, :], dem.y.values[:, None]
    dem.values += 500.0 * np.exp(-((lon - PEAK[0]) ** 2 + (lat - PEAK[1]) ** 2) / (2 * 0.004**2))
    dem.values[:, dem.x.values > SEA_LON] = 0.0
    pop = _grid(np.zeros((30, 30)), 0.01)
    area = (0.01 * 111.320 * np.cos(np.radians(pop.y.values[:, None]))) * (0.01 * 110.574)
    x, y = pop.x.values[None, :], pop.y.values[:, None]
    city = (x > CITY[0]) & (x < CITY[1]) & (y > CITY[2]) & (y < CITY[3])
    village = (np.abs(x - VILLAGE[0]) < 0.005) & (np.abs(y - VILLAGE[1]) < 0.005)
    pop.values[:] = (np.where(city, 5000.0, np.where(village, 200.0, 20.0)) * area).astype(
        np.float32
    )
    towns = pd.DataFrame(
        {"name": ["Village"], "lon": [VILLAGE[0]], "lat": [VILLAGE[1]], "population": [1500.0]}
    )
    return pop, dem, towns


@pytest.fixture(scope="module")
def sites(region) -> pd.DataFrame:
    return place_sites(*region, seed=7)


def test_schema(sites: pd.DataFrame) -> None:
    assert tuple(sites.columns) == SITE_COLUMNS
    assert sorted(sites.operator.unique()) == ["Operator A", "Operator B", "Operator C"]


def test_deterministic(region, sites: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(place_sites(*region, seed=7), sites)
    assert not place_sites(*region, seed=8).equals(sites)


def test_city_is_dense_and_denser_for_the_leader(sites: pd.DataFrame) -> None:
    masts = sites.drop_duplicates("site_id")
    urban = masts[masts.site_id.str[2] == "U"]
    counts = urban.groupby("operator").size()
    assert counts["Operator A"] > counts["Operator B"] > counts["Operator C"] >= 3
    west, east, south, north = CITY
    assert urban.lon.between(west, east).all() and urban.lat.between(south, north).all()
    sectors = sites[sites.site_id == urban.site_id.iloc[0]]
    assert sectors.beamwidth_deg.notna().all()
    azimuths = sorted(sectors[sectors.tech == "4G"].azimuth_deg)
    assert np.diff(azimuths).tolist() == [120.0, 120.0]


def test_only_the_leader_serves_the_hill_village_from_the_hilltop(sites: pd.DataFrame) -> None:
    rural = sites[sites.site_id.str[2] == "R"]
    assert set(rural.operator) == {"Operator A"}
    assert rural.site_id.nunique() == 1
    lon, lat = rural.lon.iloc[0], rural.lat.iloc[0]
    dist_km = math.hypot(
        (lon - VILLAGE[0]) * 111.32 * math.cos(math.radians(lat)), (lat - VILLAGE[1]) * 110.574
    )
    assert dist_km <= HILLTOP_RADIUS_KM
    assert abs(lon - PEAK[0]) <= 0.001 and abs(lat - PEAK[1]) <= 0.001
    assert rural.azimuth_deg.isna().all(), "a small rural mast is omni"
    assert set(rural.tech) >= {"2G", "4G"}
    assert (rural.freq_mhz[rural.tech == "4G"] == 900.0).all()


def test_gaps_sea_and_technology_mix(sites: pd.DataFrame) -> None:
    assert (sites.lon < SEA_LON).all(), "no mast at sea"
    west = sites[(sites.lon < 108.15) & (sites.site_id.str[2] != "R")]
    assert west.empty, "sparse rural land stays unserved"
    assert (sites.site_id.str[2][sites.tech == "5G"] == "U").all()
    assert {"2G", "3G", "4G", "5G"} <= set(sites.tech)
    assert (sites.height_m > 0).all() and sites.eirp_dbm.between(40, 80).all()


def test_no_people_no_sites(region) -> None:
    pop, dem, towns = region
    empty = place_sites(pop * 0, dem, towns.iloc[:0], seed=7)
    assert empty.empty and tuple(empty.columns) == SITE_COLUMNS
