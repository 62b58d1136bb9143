"""Gap clusters: connected areas of uncovered, populated rural cells.

Where the web map's ``rural_uncovered_population`` layer is above zero,
8-connected cells are grouped into clusters (``scipy.ndimage.label``),
each cluster becomes a polygon (``rasterio.features.shapes`` over the
cluster labels, same connectivity) and gets its population, area,
population-weighted centroid and the distance from its nearest cell centre
to the nearest existing site. Clusters are ranked by population, largest
first (ties: first in row-major order), and numbered from 1 in that order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import rasterio.features
import scipy.ndimage as ndi
import xarray as xr
from rasterio.warp import transform as transform_points
from rasterio.warp import transform_geom
from scipy.spatial import cKDTree

from covgap.grid import AnalysisGrid
from covgap.layers import rural_uncovered_population

__all__ = ["CLUSTER_FIELDS", "GapCluster", "GapClusters", "cluster_rows", "gap_clusters", "to_geojson"]

#: Columns of :func:`cluster_rows`, in order.
CLUSTER_FIELDS: tuple[str, ...] = (
    "cluster_id",
    "population",
    "cells",
    "area_km2",
    "nearest_site_km",
    "nearest_site_id",
    "centroid_lon",
    "centroid_lat",
    "centroid_x",
    "centroid_y",
)

_COORD_DIGITS = 6  # ~0.1 m in degrees


@dataclass(frozen=True)
class GapCluster:
    """One connected area of uncovered, populated rural cells.

    Attributes
    ----------
    cluster_id : int
        Rank by population, 1 = most people.
    population : int
        People in the cluster (float sum rounded to whole people).
    cells : int
        Number of analysis-grid cells.
    area_km2 : float
        ``cells`` times the cell area.
    nearest_site_km : float or None
        Distance from the nearest cell centre of the cluster to the nearest
        site, km (None without sites).
    nearest_site_id : str or None
        ``site_id`` (or row position) of that site.
    centroid_x, centroid_y : float
        Population-weighted centroid in the grid CRS, metres.
    centroid_lon, centroid_lat : float
        The same in degrees (WGS 84).
    geometry : dict
        GeoJSON Polygon or MultiPolygon in the grid CRS.
    """

    cluster_id: int
    population: int
    cells: int
    area_km2: float
    nearest_site_km: float | None
    nearest_site_id: str | None
    centroid_x: float
    centroid_y: float
    centroid_lon: float
    centroid_lat: float
    geometry: dict[str, Any]


@dataclass(frozen=True)
class GapClusters:
    """The clusters of one analysis and their label raster.

    Attributes
    ----------
    clusters : tuple of GapCluster
        Ranked by population.
    labels : xr.DataArray
        int32 ``gap_cluster``: the ``cluster_id`` of each cell, 0 elsewhere.
    crs : str
        The grid CRS (WKT or authority string) of ``geometry``/centroids.
    """

    clusters: tuple[GapCluster, ...]
    labels: xr.DataArray
    crs: str


def _merge_polygons(geoms: Iterable[dict[str, Any]]) -> dict[str, Any]:
    polys = [g["coordinates"] for g in geoms]
    if len(polys) == 1:
        return {"type": "Polygon", "coordinates": polys[0]}
    return {"type": "MultiPolygon", "coordinates": polys}


def gap_clusters(
    ds: xr.Dataset,
    sites: pd.DataFrame | None = None,
    *,
    min_population: float = 1.0,
    connectivity: int = 8,
) -> GapClusters:
    """Find, measure and rank the rural coverage gaps.

    Parameters
    ----------
    ds : xr.Dataset
        The analysis Dataset: ``rural_uncovered_population`` (people per
        cell), or else ``population``, ``covered_<tech>`` and
        ``urbanisation`` to derive it.
    sites : pd.DataFrame, optional
        Existing sites with ``x``, ``y`` (metres, grid CRS) and optionally
        ``site_id``; one row per transmitter is fine.
    min_population : float
        Drop clusters with fewer people than this (default 1).
    connectivity : {4, 8}
        Cell connectivity of a cluster (default 8: diagonal neighbours join).

    Returns
    -------
    GapClusters
        Ranked clusters and the label raster.
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    layer = ds["rural_uncovered_population"] if "rural_uncovered_population" in ds else rural_uncovered_population(ds)
    grid = AnalysisGrid.from_dataarray(ds)
    people = np.nan_to_num(np.asarray(layer.values, dtype=np.float64), nan=0.0)
    structure = ndi.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    raw, n = ndi.label(people > 0, structure=structure)
    index = np.arange(1, n + 1)
    pops = np.asarray(ndi.sum_labels(people, raw, index), dtype=np.float64)
    cells = np.bincount(raw.ravel(), minlength=n + 1)[1:]

    keep = pops >= min_population
    order = index[keep][np.argsort(-pops[keep], kind="stable")]  # labels by population, ties in scan order
    rank = np.zeros(n + 1, dtype=np.int32)
    rank[order] = np.arange(1, order.size + 1, dtype=np.int32)
    labels = rank[raw]

    rows, cols = np.indices(grid.shape)
    xs, ys = grid.coords()
    cx = np.asarray(ndi.sum_labels(people * xs[cols], labels, np.arange(1, order.size + 1))) / pops[order - 1]
    cy = np.asarray(ndi.sum_labels(people * ys[rows], labels, np.arange(1, order.size + 1))) / pops[order - 1]
    lon, lat = transform_points(grid.crs, "EPSG:4326", cx.tolist(), cy.tolist()) if order.size else ([], [])

    distance_km: list[float | None] = [None] * order.size
    nearest_id: list[str | None] = [None] * order.size
    if sites is not None and len(sites) and order.size:
        tree = cKDTree(np.column_stack([sites["x"].to_numpy(float), sites["y"].to_numpy(float)]))
        in_cluster = labels > 0
        dist, which = tree.query(np.column_stack([xs[cols[in_cluster]], ys[rows[in_cluster]]]))
        ids = labels[in_cluster]
        by_cluster = np.lexsort((dist, ids))  # per cluster, nearest cell first
        first = by_cluster[np.searchsorted(ids[by_cluster], np.arange(1, order.size + 1))]
        site_ids = sites["site_id"].astype(str).to_numpy() if "site_id" in sites else np.arange(len(sites)).astype(str)
        distance_km = [round(float(d) / 1000.0, 3) for d in dist[first]]
        nearest_id = [str(site_ids[j]) for j in which[first]]

    polygons: dict[int, list[dict[str, Any]]] = {}
    for geom, value in rasterio.features.shapes(
        labels, mask=labels > 0, connectivity=connectivity, transform=grid.transform
    ):
        polygons.setdefault(int(value), []).append(geom)

    cell_km2 = grid.resolution**2 / 1e6
    clusters = tuple(
        GapCluster(
            cluster_id=k,
            population=int(round(pops[label - 1])),
            cells=int(cells[label - 1]),
            area_km2=round(float(cells[label - 1]) * cell_km2, 6),
            nearest_site_km=distance_km[k - 1],
            nearest_site_id=nearest_id[k - 1],
            centroid_x=round(float(cx[k - 1]), 2),
            centroid_y=round(float(cy[k - 1]), 2),
            centroid_lon=round(float(lon[k - 1]), _COORD_DIGITS),
            centroid_lat=round(float(lat[k - 1]), _COORD_DIGITS),
            geometry=_merge_polygons(polygons[k]),
        )
        for k, label in enumerate(order.tolist(), start=1)
    )
    da = grid.dataarray(
        labels.astype(np.int32), "gap_cluster", "1", "Rural coverage-gap cluster id (rank by population, 0 none)"
    )
    return GapClusters(clusters, da, grid.crs.to_string())


def _round_coords(coords: Any) -> Any:
    if isinstance(coords[0], (int, float)):
        return [round(float(c), _COORD_DIGITS) for c in coords]
    return [_round_coords(c) for c in coords]


def to_geojson(result: GapClusters) -> dict[str, Any]:
    """The clusters as a GeoJSON FeatureCollection in WGS 84 (EPSG:4326).

    Each feature's properties are the :data:`CLUSTER_FIELDS`; coordinates
    are rounded to 6 decimals (RFC 7946), so reruns write the same bytes.
    """
    features = []
    for cluster in result.clusters:
        geometry = transform_geom(result.crs, "EPSG:4326", cluster.geometry)
        geometry = {"type": geometry["type"], "coordinates": _round_coords(geometry["coordinates"])}
        features.append(
            {"type": "Feature", "id": cluster.cluster_id, "properties": _row(cluster), "geometry": geometry}
        )
    return {"type": "FeatureCollection", "features": features}


def _row(cluster: GapCluster) -> dict[str, Any]:
    return {field: getattr(cluster, field) for field in CLUSTER_FIELDS}


def cluster_rows(result: GapClusters) -> list[dict[str, Any]]:
    """The clusters as table rows (keys :data:`CLUSTER_FIELDS`), ranked."""
    return [_row(c) for c in result.clusters]
