"""Gap clusters on a grid whose clusters are placed by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from rasterio.warp import transform as transform_points

from covgap.clusters import CLUSTER_FIELDS, cluster_rows, gap_clusters, to_geojson
from covgap.grid import AnalysisGrid

X0, Y0, RES = 800_000.0, 1_780_000.0, 100.0
GRID = AnalysisGrid("EPSG:32649", Affine(RES, 0.0, X0, 0.0, -RES, Y0), 10, 10)


def centre(row: int, col: int) -> tuple[float, float]:
    return X0 + (col + 0.5) * RES, Y0 - (row + 0.5) * RES


def analysis() -> xr.Dataset:
    pop = np.zeros((10, 10), np.float32)
    pop[1:3, 1:4] = 5.0  # cluster of 30 people, 6 cells
    pop[6:9, 6:9] = 10.0  # cluster of 90 people, 9 cells
    pop[8, 1] = pop[9, 2] = 2.0  # diagonal pair, 4 people
    pop[4, 4] = 100.0  # covered
    pop[0, 9] = 50.0  # uncovered but urban
    pop[0, 6] = 0.4  # below min_population
    covered = np.zeros((10, 10), np.uint8)
    covered[4, 4] = 1
    urb = np.ones((10, 10), np.uint8)
    urb[0, 9] = 2
    return xr.Dataset(
        {
            "population": GRID.dataarray(pop, "population", "people", "Population"),
            "covered_2G": GRID.dataarray(covered, "covered_2G", "1", "Covered by 2G"),
            "urbanisation": GRID.dataarray(urb, "urbanisation", "1", "Degree of Urbanisation"),
        }
    )


SITES = pd.DataFrame(
    {"site_id": ["S1", "S1", "FAR"], "x": [centre(2, 5)[0]] * 2 + [X0 + 50_000], "y": [centre(2, 5)[1]] * 2 + [Y0]}
)


def ring_area(ring: list) -> float:
    xy = np.asarray(ring, dtype=float)
    return 0.5 * abs(np.dot(xy[:-1, 0], xy[1:, 1]) - np.dot(xy[1:, 0], xy[:-1, 1]))


def test_clusters_are_found_measured_and_ranked():
    result = gap_clusters(analysis(), SITES)
    assert [(c.cluster_id, c.population, c.cells) for c in result.clusters] == [(1, 90, 9), (2, 30, 6), (3, 4, 2)]
    big, small, pair = result.clusters
    assert big.area_km2 == pytest.approx(0.09)
    assert big.geometry["type"] == "Polygon"
    assert ring_area(big.geometry["coordinates"][0]) == pytest.approx(90_000.0)
    assert (big.centroid_x, big.centroid_y) == pytest.approx(centre(7, 7))
    assert small.nearest_site_km == pytest.approx(0.2)  # cell (2, 3) to the site in cell (2, 5)
    assert big.nearest_site_km == pytest.approx(np.hypot(100.0, 400.0) / 1000, abs=1e-3)
    assert big.nearest_site_id == "S1"
    (lon,), (lat,) = transform_points("EPSG:32649", "EPSG:4326", [centre(7, 7)[0]], [centre(7, 7)[1]])
    assert (big.centroid_lon, big.centroid_lat) == pytest.approx((lon, lat), abs=1e-6)


def test_label_raster_uses_the_ranks():
    labels = gap_clusters(analysis()).labels
    assert labels.dtype == np.int32 and labels.attrs["units"] == "1" and labels.attrs["long_name"]
    assert (labels.values[6:9, 6:9] == 1).all() and (labels.values[1:3, 1:4] == 2).all()
    assert labels.values[4, 4] == labels.values[0, 9] == labels.values[0, 6] == 0
    assert labels.rio.crs.to_epsg() == 32649


def test_connectivity_and_threshold():
    four = gap_clusters(analysis(), connectivity=4)
    assert [c.population for c in four.clusters] == [90, 30, 2, 2]
    assert len(gap_clusters(analysis(), min_population=0.0).clusters) == 4  # the 0.4-person cell too
    assert len(gap_clusters(analysis(), min_population=50.0).clusters) == 1


def test_without_sites_distance_is_none():
    result = gap_clusters(analysis())
    assert all(c.nearest_site_km is None and c.nearest_site_id is None for c in result.clusters)


def test_diagonal_cluster_becomes_one_multipart_or_pinched_polygon():
    pair = gap_clusters(analysis()).clusters[2]
    polys = pair.geometry["coordinates"] if pair.geometry["type"] == "MultiPolygon" else [pair.geometry["coordinates"]]
    assert sum(ring_area(p[0]) for p in polys) == pytest.approx(20_000.0)


def test_geojson_is_wgs84_with_properties():
    result = gap_clusters(analysis(), SITES)
    doc = to_geojson(result)
    assert json.loads(json.dumps(doc)) == doc
    assert [f["id"] for f in doc["features"]] == [1, 2, 3]
    first = doc["features"][0]
    assert tuple(first["properties"]) == CLUSTER_FIELDS
    assert first["properties"]["population"] == 90
    ring = np.asarray(first["geometry"]["coordinates"][0])
    x, y = transform_points("EPSG:4326", "EPSG:32649", ring[:, 0].tolist(), ring[:, 1].tolist())
    assert ring_area(np.column_stack([x, y]).tolist()) == pytest.approx(
        90_000.0, rel=2e-3
    )  # 6-decimal rounding: ~0.1 m
    assert to_geojson(gap_clusters(analysis(), SITES)) == doc  # deterministic


def test_rows():
    rows = cluster_rows(gap_clusters(analysis(), SITES))
    assert [r["cluster_id"] for r in rows] == [1, 2, 3]
    assert all(tuple(r) == CLUSTER_FIELDS for r in rows)
    assert rows[1]["nearest_site_id"] == "S1" and rows[1]["area_km2"] == pytest.approx(0.06)


def test_no_gaps():
    ds = analysis()
    ds["covered_2G"][:] = 1
    result = gap_clusters(ds, SITES)
    assert result.clusters == () and to_geojson(result) == {"type": "FeatureCollection", "features": []}
