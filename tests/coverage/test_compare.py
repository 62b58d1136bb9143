"""Scenario B minus scenario A: indicators and the delta layer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from affine import Affine

from covgap.compare import compare, coverage_delta, indicator_difference
from covgap.errors import GridError
from covgap.grid import AnalysisGrid
from covgap.statistics import ALL_OPERATORS, indicators, indicators_rows

GRID = AnalysisGrid("EPSG:32649", Affine(100.0, 0.0, 800_000.0, 0.0, -100.0, 1_780_000.0), 4, 1)
POP = np.array([[10.0, 20.0, 30.0, 40.0]], np.float32)


def analysis(covered: dict[str, list[int]], grid: AnalysisGrid = GRID) -> xr.Dataset:
    ds = xr.Dataset({"population": grid.dataarray(POP[:, : grid.width], "population", "people", "Population")})
    ds["urbanisation"] = grid.dataarray(np.ones((1, grid.width), np.uint8), "urbanisation", "1", "Urbanisation")
    for tech, mask in covered.items():
        ds[f"covered_{tech}"] = grid.dataarray(np.array([mask], np.uint8), f"covered_{tech}", "1", f"Covered by {tech}")
    return ds


# A: 2G everywhere, 4G on the last cell. B: 2G and 3G switched off, 4G on cells 1 and 3.
A = analysis({"2G": [1, 1, 1, 0], "4G": [0, 0, 0, 1]})
B = analysis({"4G": [0, 1, 0, 1]})


def test_delta_layer_counts_people_gaining_and_losing():
    delta = coverage_delta(A, B)
    assert delta.values.tolist() == [[-10.0, 0.0, -30.0, 0.0]]
    assert delta.dtype == np.float32 and delta.attrs["units"] == "people" and "gaining" in delta.attrs["long_name"]
    broadband = coverage_delta(A, B, at_least="4G")
    assert broadband.values.tolist() == [[0.0, 20.0, 0.0, 0.0]]
    assert coverage_delta(B, A).values.tolist() == [[10.0, 0.0, 30.0, 0.0]]


def test_indicator_difference_is_b_minus_a_everywhere():
    ia, ib = indicators(A), indicators(B)
    diff = indicator_difference(ia, ib)
    assert json.loads(json.dumps(diff)) == diff
    assert diff["schema"].endswith("difference")
    assert diff["total_population"] == 0
    assert diff["uncovered_population"] == 40
    cell = diff["groups"][ALL_OPERATORS]["total"]["at_least"]["2G"]
    assert cell == {"covered_population": -40, "uncovered_population": 40, "covered_pct": -40.0}
    assert diff["groups"][ALL_OPERATORS]["total"]["at_least"]["4G"]["covered_population"] == 20
    assert diff["technologies"] == ["2G", "3G", "4G", "5G"]
    assert diff["groups"][ALL_OPERATORS]["urbanisation"]["urban"]["at_least"]["2G"]["covered_pct"] is None
    assert len(indicators_rows(diff)) == len(indicators_rows(ia))


def test_group_missing_on_one_side_gives_none():
    ia = indicators(A, operators={"X": analysis({"2G": [1, 0, 0, 0]})})
    diff = indicator_difference(ia, indicators(B))
    assert diff["groups"]["X"]["total"]["population"] is None


def test_compare_returns_both_and_refuses_other_grids():
    diff, layers = compare(A, indicators(A), B, indicators(B))
    assert set(layers.data_vars) == {f"coverage_change_{t}" for t in ("2G", "3G", "4G", "5G")}
    assert all(v.attrs["units"] == "people" for v in layers.data_vars.values())
    assert diff["uncovered_population"] == 40
    other = AnalysisGrid("EPSG:32649", Affine(100.0, 0.0, 800_100.0, 0.0, -100.0, 1_780_000.0), 4, 1)
    with pytest.raises(GridError, match="different grids"):
        coverage_delta(A, analysis({"2G": [1, 1, 1, 1]}, other))
