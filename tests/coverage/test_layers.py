"""Derived gap layers on a one-row grid whose answer is written out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from affine import Affine

from covgap.grid import AnalysisGrid
from covgap.layers import (
    best_server_site,
    best_technology,
    flag_categories,
    gap_layers,
    no_broadband_population,
    rural_uncovered_population,
    uncovered_population,
)

GRID = AnalysisGrid("EPSG:32649", Affine(100.0, 0.0, 800_000.0, 0.0, -100.0, 1_780_000.0), 7, 1)

#            cell:   0    1    2    3    4    5    6
POP = np.array([[10.0, 20.0, 30.0, 40.0, 50.0, 0.0, np.nan]], np.float32)
COV = {
    "2G": [[1, 1, 0, 0, 0, 0, 1]],
    "3G": [[0, 1, 0, 1, 0, 0, 0]],
    "4G": [[0, 0, 0, 1, 1, 0, 0]],
}
SERVER = {"2G": [[5, 6, 7, -1, -1, -1, 8]], "3G": [[-1, 9, 3, 10, -1, -1, -1]], "4G": [[-1, -1, 2, 11, 12, -1, -1]]}
URB = np.array([[1, 1, 1, 2, 3, 1, 1]], np.uint8)


def dataset(with_urbanisation: bool = True) -> xr.Dataset:
    ds = xr.Dataset({"population": GRID.dataarray(POP, "population", "people", "Population")})
    for tech, cov in COV.items():
        ds[f"covered_{tech}"] = GRID.dataarray(np.array(cov, np.uint8), f"covered_{tech}", "1", f"Covered by {tech}")
        ds[f"best_server_{tech}"] = GRID.dataarray(np.array(SERVER[tech], np.int32), "s", "1", "Best server")
    if with_urbanisation:
        ds["urbanisation"] = GRID.dataarray(URB, "urbanisation", "1", "Degree of Urbanisation class")
    return ds


def test_best_technology_is_the_newest_covering_generation():
    out = best_technology(dataset())
    assert out.dtype == np.uint8
    assert out.values.tolist() == [[2, 3, 0, 4, 4, 0, 2]]
    assert flag_categories(out) == {"0": "none", "2": "2G", "3": "3G", "4": "4G", "5": "5G"}


def test_best_server_site_follows_the_best_technology():
    out = best_server_site(dataset())
    assert out.dtype == np.int32
    # cell 2: 3G and 4G servers exist but neither covers it -> -1
    assert out.values.tolist() == [[5, 9, -1, 11, 12, -1, 8]]


def test_population_layers():
    ds = dataset()
    assert uncovered_population(ds).values.tolist() == [[0, 0, 30, 0, 0, 0, 0]]
    assert no_broadband_population(ds).values.tolist() == [[10, 20, 30, 0, 0, 0, 0]]
    assert rural_uncovered_population(ds).values.tolist() == [[0, 0, 30, 0, 0, 0, 0]]
    urb = ds["urbanisation"].copy(data=np.full((1, 7), 2, np.uint8))
    assert rural_uncovered_population(ds, urb).values.sum() == 0


def test_missing_technology_counts_as_not_covering():
    ds = dataset().drop_vars(["covered_4G", "best_server_4G"])
    assert best_technology(ds).values.tolist() == [[2, 3, 0, 3, 0, 0, 2]]
    assert no_broadband_population(ds).values.tolist() == [[10, 20, 30, 40, 50, 0, 0]]


def test_gap_layers_have_units_long_names_and_the_grid():
    ds = dataset()
    layers = gap_layers(ds)
    assert set(layers.data_vars) == {
        "best_technology",
        "uncovered_population",
        "no_broadband_population",
        "rural_uncovered_population",
        "best_server_site",
    }
    for name, var in layers.data_vars.items():
        assert var.attrs["units"] and var.attrs["long_name"], name
        assert var.dims == ("y", "x")
    assert layers["uncovered_population"].attrs["units"] == "people"
    assert layers["uncovered_population"].dtype == np.float32
    assert layers.rio.crs.to_epsg() == 32649
    np.testing.assert_array_equal(layers.x.values, ds.x.values)
    merged = ds.merge(layers, compat="no_conflicts")  # the lead merges them into the analysis Dataset
    assert merged["best_technology"].attrs["flag_meanings"] == "none 2G 3G 4G 5G"


def test_inputs_are_not_modified():
    ds = dataset()
    before = ds.copy(deep=True)
    gap_layers(ds)
    xr.testing.assert_identical(ds, before)


def test_rural_uncovered_needs_urbanisation():
    with pytest.raises(KeyError, match="urbanisation"):
        rural_uncovered_population(dataset(with_urbanisation=False))
