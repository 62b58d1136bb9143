"""ITU-style indicators: hand-computed answers, boundaries, and the invariant."""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from rasterio.warp import transform as transform_points

from covgap.errors import GridError, InputFileError, InputValueError
from covgap.grid import AnalysisGrid
from covgap.statistics import (
    ALL_OPERATORS,
    ROW_FIELDS,
    AdminAreas,
    indicators,
    indicators_rows,
    integer_population,
    rasterize_areas,
    read_boundaries,
)
from covgap.types import TECHNOLOGIES

X0, Y0, RES = 800_000.0, 1_780_000.0, 100.0
GRID = AnalysisGrid("EPSG:32649", Affine(RES, 0.0, X0, 0.0, -RES, Y0), 7, 1)

#               cell:  0    1    2    3    4    5    6
POP = np.array([[10.0, 20.0, 30.0, 40.0, 50.0, 0.5, 0.5]], np.float32)  # whole people: 10 20 30 40 50 1 0
URB = [[1, 1, 1, 2, 3, 1, 1]]
COVERED = {"2G": [[1, 1, 0, 0, 0, 0, 1]], "3G": [[0, 1, 0, 1, 0, 0, 0]], "4G": [[0, 0, 0, 1, 1, 0, 0]]}
OPERATOR_A = {"2G": [[1, 0, 0, 0, 0, 0, 0]], "4G": [[0, 0, 0, 1, 0, 0, 0]]}
OPERATOR_B = {"2G": [[0, 1, 0, 0, 0, 0, 1]], "3G": [[0, 1, 0, 1, 0, 0, 0]], "4G": [[0, 0, 0, 0, 1, 0, 0]]}


def covered_dataset(covered: dict, grid: AnalysisGrid = GRID) -> xr.Dataset:
    return xr.Dataset(
        {
            f"covered_{tech}": grid.dataarray(np.asarray(mask, np.uint8), f"covered_{tech}", "1", f"Covered by {tech}")
            for tech, mask in covered.items()
        }
    )


def analysis() -> xr.Dataset:
    ds = covered_dataset(COVERED)
    ds["population"] = GRID.dataarray(POP, "population", "people", "Population")
    ds["urbanisation"] = GRID.dataarray(np.array(URB, np.uint8), "urbanisation", "1", "Degree of Urbanisation")
    return ds


# ------------------------------------------------------------ integer people


def test_integer_population_keeps_the_total_and_spreads_fractions():
    assert integer_population(POP).tolist() == [[10, 20, 30, 40, 50, 1, 0]]
    assert integer_population(np.full((2, 5), 0.3)).sum() == 3
    assert integer_population(np.array([[np.nan, -4.0, 2.0]])).tolist() == [[0, 0, 2]]


@given(arrays(np.float64, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=st.floats(0, 5000)))
def test_integer_population_is_floor_or_ceil_and_total_is_rounded_total(values):
    people = integer_population(values)
    assert people.dtype == np.int64
    assert (people >= np.floor(values)).all() and (people <= np.ceil(values)).all()
    assert people.sum() == np.floor(values.sum() + 0.5)


# ------------------------------------------------------------ known answers


def test_totals_and_at_least_per_technology():
    out = indicators(analysis())
    assert out["total_population"] == 151 and out["uncovered_population"] == 31
    total = out["groups"][ALL_OPERATORS]["total"]
    assert {t: c["covered_population"] for t, c in total["at_least"].items()} == {
        "2G": 120,
        "3G": 110,
        "4G": 90,
        "5G": 0,
    }
    assert {t: c["covered_population"] for t, c in total["technology"].items()} == {
        "2G": 30,
        "3G": 60,
        "4G": 90,
        "5G": 0,
    }
    assert total["at_least"]["3G"]["covered_pct"] == round(100 * 110 / 151, 4)
    assert total["at_least"]["5G"] == {"covered_population": 0, "uncovered_population": 151, "covered_pct": 0.0}


def test_urbanisation_split_and_rural_urban_gap():
    group = indicators(analysis())["groups"][ALL_OPERATORS]
    zones = group["urbanisation"]
    assert {z: b["population"] for z, b in zones.items()} == {
        "urban_centre": 50,
        "urban_cluster": 40,
        "urban": 90,
        "rural": 61,
    }
    assert zones["rural"]["at_least"]["2G"]["covered_population"] == 30
    assert zones["urban"]["at_least"]["2G"]["covered_pct"] == 100.0
    assert group["rural_urban_gap_pp"]["2G"] == round(100.0 - round(100 * 30 / 61, 4), 4)
    assert group["rural_urban_gap_pp"]["5G"] == 0.0


def test_per_operator_groups_and_sharing_gain():
    ds = analysis()
    ops = {"Operator A": covered_dataset(OPERATOR_A), "Operator B": covered_dataset(OPERATOR_B)}
    out = indicators(ds, operators=ops)
    assert list(out["groups"]) == [ALL_OPERATORS, "Operator A", "Operator B"]
    assert out["groups"]["Operator A"]["total"]["at_least"]["2G"]["covered_population"] == 50
    assert out["groups"]["Operator B"]["total"]["at_least"]["2G"]["covered_population"] == 110
    gain = out["sharing_gain"]["total"]["2G"]
    assert gain["best_single_operator"] == "Operator B"
    assert gain["covered_population"] == 10
    assert gain["pct_points"] == pytest.approx(100 * 10 / 151, abs=2e-4)
    assert out["sharing_gain"]["rural"]["2G"]["covered_population"] == 10  # cell 0, rural, only A covers it


def test_indicators_are_json_and_rows_are_flat():
    ds = analysis()
    out = indicators(ds, operators={"A": covered_dataset(OPERATOR_A)})
    assert json.loads(json.dumps(out)) == out
    rows = indicators_rows(out)
    assert all(tuple(r) == ROW_FIELDS for r in rows)
    # 2 groups x (total + 4 zones) x 2 measures x 4 techs, + 2 x 4 gap rows, + 5 zones x 4 sharing rows
    assert len(rows) == 2 * 5 * 2 * 4 + 2 * 4 + 5 * 4
    row = next(
        r
        for r in rows
        if r["operators"] == ALL_OPERATORS
        and r["zone"] == "rural"
        and r["measure"] == "at_least"
        and r["technology"] == "2G"
    )
    assert (row["population"], row["covered_population"], row["uncovered_population"]) == (61, 30, 31)


def test_urbanisation_is_computed_when_absent():
    ds = analysis().drop_vars("urbanisation")
    out = indicators(ds)  # tiny population: every cell is rural
    assert out["groups"][ALL_OPERATORS]["urbanisation"]["rural"]["population"] == 151


def test_operator_on_another_grid_is_refused():
    other = AnalysisGrid("EPSG:32649", Affine(RES, 0.0, X0, 0.0, -RES, Y0), 6, 1)
    with pytest.raises(GridError, match="operator 'X'"):
        indicators(analysis(), operators={"X": covered_dataset({"2G": [[1] * 6]}, other)})


# ------------------------------------------------------------ boundaries


def rectangle(col0: int, col1: int) -> list[list[float]]:
    """Ring around columns col0..col1-1 of GRID, in the grid CRS."""
    x0, x1 = X0 + col0 * RES, X0 + col1 * RES
    return [[x0, Y0 - RES], [x1, Y0 - RES], [x1, Y0], [x0, Y0], [x0, Y0 - RES]]


def write_geojson(path: Path, crs_name: str | None, rings: dict[str, list[list[float]]]) -> Path:
    doc: dict = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"shapeName": name},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
            for name, ring in rings.items()
        ],
    }
    if crs_name:
        doc["crs"] = {"type": "name", "properties": {"name": crs_name}}
    path.write_text(json.dumps(doc))
    return path


def wkb_polygon(ring: list[list[float]]) -> bytes:
    return struct.pack("<BII", 1, 3, 1) + struct.pack("<I", len(ring)) + b"".join(struct.pack("<dd", *p) for p in ring)


def write_gpkg(path: Path, rings: dict[str, list[list[float]]], epsg: int) -> Path:
    """A minimal GeoPackage (the tables and blob layout of OGC 12-128r18)."""
    con = sqlite3.connect(path)
    con.executescript(
        """
        PRAGMA application_id = 1196444487;  -- 'GPKG'
        PRAGMA user_version = 10300;
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT,
            organization_coordsys_id INTEGER, definition TEXT, description TEXT);
        CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT,
            description TEXT, last_change TEXT, min_x REAL, min_y REAL, max_x REAL, max_y REAL, srs_id INTEGER);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT,
            srs_id INTEGER, z INTEGER, m INTEGER);
        CREATE TABLE areas (fid INTEGER PRIMARY KEY, geom BLOB, shapeName TEXT);
        """
    )
    con.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('utm', ?, 'EPSG', ?, 'undefined', '')", (epsg, epsg))
    con.execute("INSERT INTO gpkg_contents VALUES ('areas', 'features', 'areas', '', '', 0, 0, 0, 0, ?)", (epsg,))
    con.execute("INSERT INTO gpkg_geometry_columns VALUES ('areas', 'geom', 'POLYGON', ?, 0, 0)", (epsg,))
    for name, ring in rings.items():
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        header = (
            b"GP" + bytes([0, 0b011]) + struct.pack("<i", epsg) + struct.pack("<4d", min(xs), max(xs), min(ys), max(ys))
        )
        con.execute("INSERT INTO areas (geom, shapeName) VALUES (?, ?)", (header + wkb_polygon(ring), name))
    con.commit()
    con.close()
    return path


RINGS = {"West": rectangle(0, 3), "East": rectangle(3, 6)}


def check_areas(areas: AdminAreas) -> None:
    assert areas.names == ("West", "East")
    assert areas.codes.values.tolist() == [[1, 1, 1, 2, 2, 2, 0]]
    out = indicators(analysis(), areas=areas)
    group = out["groups"][ALL_OPERATORS]
    assert {n: b["population"] for n, b in group["areas"].items()} == {"West": 60, "East": 91}
    assert group["outside_areas"]["population"] == 0
    assert group["areas"]["West"]["at_least"]["2G"]["covered_population"] == 30
    assert group["areas"]["East"]["at_least"]["4G"]["covered_population"] == 90


def test_geojson_in_grid_crs(tmp_path):
    check_areas(rasterize_areas(write_geojson(tmp_path / "a.geojson", "urn:ogc:def:crs:EPSG::32649", RINGS), GRID))


def test_geojson_in_wgs84(tmp_path):
    rings = {}
    for name, ring in RINGS.items():
        lon, lat = transform_points("EPSG:32649", "EPSG:4326", [p[0] for p in ring], [p[1] for p in ring])
        rings[name] = [list(p) for p in zip(lon, lat, strict=True)]
    check_areas(rasterize_areas(write_geojson(tmp_path / "a.json", None, rings), analysis()))


def test_geopackage(tmp_path):
    check_areas(rasterize_areas(write_gpkg(tmp_path / "a.gpkg", RINGS, 32649), GRID))


def test_same_name_shares_a_code(tmp_path):
    rings = {"West": rectangle(0, 2), "Middle": rectangle(2, 4)}
    path = write_geojson(tmp_path / "a.geojson", "EPSG:32649", rings)
    doc = json.loads(path.read_text())
    doc["features"][1]["properties"]["shapeName"] = "West"
    path.write_text(json.dumps(doc))
    areas = rasterize_areas(path, GRID)
    assert areas.names == ("West",) and areas.codes.values.tolist() == [[1, 1, 1, 1, 0, 0, 0]]


def test_boundary_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_boundaries(tmp_path / "missing.geojson")
    (tmp_path / "a.shp").write_text("")
    with pytest.raises(InputFileError, match="'.shp' is not supported"):
        read_boundaries(tmp_path / "a.shp")
    path = write_geojson(tmp_path / "a.geojson", None, RINGS)
    with pytest.raises(InputValueError, match="feature 1 has no 'NAME_1' property .*shapeName"):
        read_boundaries(path, name_field="NAME_1")
    (tmp_path / "b.geojson").write_text("{not json")
    with pytest.raises(InputFileError, match="not valid GeoJSON"):
        read_boundaries(tmp_path / "b.geojson")
    (tmp_path / "c.gpkg").write_text("not sqlite at all, just text")
    with pytest.raises(InputFileError, match="GeoPackage"):
        read_boundaries(tmp_path / "c.gpkg")
    point = {"type": "Feature", "properties": {"shapeName": "P"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}
    (tmp_path / "d.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [point]}))
    with pytest.raises(InputValueError, match="'Point'.*Polygon or MultiPolygon"):
        read_boundaries(tmp_path / "d.geojson")


# ------------------------------------------------------------ the invariant


def blocks(group: dict):
    yield group["total"]
    yield from group["urbanisation"].values()
    yield from (group.get("areas") or {}).values()
    if "outside_areas" in group:
        yield group["outside_areas"]


def plain(values: np.ndarray) -> xr.DataArray:
    """A bare (y, x) DataArray: indicators need no CRS, and this keeps hypothesis fast."""
    return xr.DataArray(values, dims=("y", "x"))


@st.composite
def scenarios(draw):
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    pop = draw(arrays(np.float32, (h, w), elements=st.floats(0, 3000, width=32) | st.just(np.nan)))
    masks = st.lists(arrays(np.uint8, (h, w), elements=st.integers(0, 1)), min_size=4, max_size=4)

    def covered() -> xr.Dataset:
        return xr.Dataset({f"covered_{t}": plain(m) for t, m in zip(TECHNOLOGIES, draw(masks), strict=True)})

    ops = {f"op{i}": covered() for i in range(draw(st.integers(0, 2)))}
    ds = covered()
    ds["population"] = plain(pop)
    ds["urbanisation"] = plain(draw(arrays(np.uint8, (h, w), elements=st.integers(1, 3))))
    areas = AdminAreas(plain(draw(arrays(np.int32, (h, w), elements=st.integers(0, 3)))), ("a", "b", "c"))
    return ds, ops, areas


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_covered_plus_uncovered_is_total_in_every_breakdown(scenario):
    ds, ops, areas = scenario
    out = indicators(ds, operators=ops, areas=areas)
    total = int(integer_population(ds["population"]).sum())
    assert out["total_population"] == total
    for group in out["groups"].values():
        zones = group["urbanisation"]
        assert group["total"]["population"] == total
        assert (
            zones["urban_centre"]["population"] + zones["urban_cluster"]["population"] == zones["urban"]["population"]
        )
        assert zones["urban"]["population"] + zones["rural"]["population"] == total
        assert sum(b["population"] for b in group["areas"].values()) + group["outside_areas"]["population"] == total
        for block in blocks(group):
            for measure in ("at_least", "technology"):
                for cell in block[measure].values():
                    assert isinstance(cell["covered_population"], int)
                    assert cell["covered_population"] + cell["uncovered_population"] == block["population"]
        at_least = group["total"]["at_least"]
        assert [at_least[t]["covered_population"] for t in TECHNOLOGIES] == sorted(
            (at_least[t]["covered_population"] for t in TECHNOLOGIES), reverse=True
        )
    for row in indicators_rows(out):
        if row["population"] is not None:
            assert row["covered_population"] + row["uncovered_population"] == row["population"]


def test_areas_off_the_grid_are_left_out(tmp_path):
    far = [[p[0] + 50_000.0, p[1]] for p in rectangle(0, 3)]
    rings = {"Far": far, "West": rectangle(0, 3), "East": rectangle(3, 6)}
    check_areas(rasterize_areas(write_geojson(tmp_path / "a.geojson", "EPSG:32649", rings), GRID))
