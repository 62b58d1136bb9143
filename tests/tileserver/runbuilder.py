"""Build a small but complete run directory without the pipeline.

Writes real Cloud-Optimized GeoTIFFs (rio-cogeo) on a UTM 49N grid near Da
Nang plus ``manifest.json``, ``summary.json``, ``sites.geojson`` and
``gap_clusters.geojson`` as the run-directory contract describes. The
values are synthetic but shaped like a real run: a hill, three sites, a
signal that falls off with distance, population concentrated in the east.
Used by the tile-server tests and by benchmarks/bench_tiles.py.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.io import MemoryFile
from affine import Affine
from rasterio.warp import transform as warp_transform
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

CRS = "EPSG:32649"
#: Where the grid's north-west corner is (lon, lat).
ORIGIN_LONLAT = (108.10, 16.10)
SITES = [  # lon, lat offsets in cells from the origin are computed from these
    {"site_id": "A-001", "operator": "Operator A", "tech": "4G", "freq_mhz": 1800.0, "height_m": 30.0,
     "eirp_dbm": 60.0, "frac": (0.25, 0.3)},
    {"site_id": "B-001", "operator": "Operator B", "tech": "4G", "freq_mhz": 1800.0, "height_m": 25.0,
     "eirp_dbm": 58.0, "frac": (0.7, 0.6)},
    {"site_id": "C-001", "operator": "Operator C", "tech": "4G", "freq_mhz": 900.0, "height_m": 35.0,
     "eirp_dbm": 62.0, "frac": (0.5, 0.85)},
]


def _write_cog(path: Path, array: np.ndarray, transform: Any, nodata: float | None) -> None:
    profile = {"driver": "GTiff", "height": array.shape[0], "width": array.shape[1], "count": 1,
               "dtype": array.dtype.name, "crs": CRS, "transform": transform, "nodata": nodata}
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(array, 1)
        with mem.open() as src, warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)  # rio-cogeo uses Affine * Affine
            cog_translate(src, str(path), cog_profiles.get("deflate"), quiet=True,
                          overview_resampling="nearest", in_memory=True)


def build_run(directory: Path, name: str = "today", *, shape: tuple[int, int] = (48, 64),
              resolution_m: float = 100.0, title: str | None = None, switch_off: bool = False,
              with_sites: bool = True, with_extras: bool = True, seed: int = 71942) -> Path:
    """Write a run directory ``directory / name`` and return its path.

    Parameters
    ----------
    directory : pathlib.Path
        Parent folder (a served directory).
    name : str
        Run name.
    shape : tuple of int
        Grid rows, columns.
    resolution_m : float
        Cell size (m).
    title : str, optional
    switch_off : bool
        Drop the strongest site (a second, "worse" scenario).
    with_sites, with_extras : bool
        Write ``sites.geojson``; write gap clusters and the summary.
    seed : int
        Seed of the population noise.
    """
    rng = np.random.default_rng(seed)
    run_dir = Path(directory) / name
    run_dir.mkdir(parents=True)
    rows, cols = shape
    xs, ys = warp_transform("EPSG:4326", CRS, [ORIGIN_LONLAT[0]], [ORIGIN_LONLAT[1]])
    transform = Affine(resolution_m, 0.0, xs[0], 0.0, -resolution_m, ys[0])
    cx = xs[0] + (np.arange(cols) + 0.5) * resolution_m
    cy = ys[0] - (np.arange(rows) + 0.5) * resolution_m
    gx, gy = np.meshgrid(cx, cy)

    hill_x, hill_y = cx[cols // 4], cy[rows // 4]
    sigma = 0.25 * cols * resolution_m
    elevation = (5 + 700 * np.exp(-((gx - hill_x) ** 2 + (gy - hill_y) ** 2) / (2 * sigma**2))).astype("float32")
    elevation[0, 0] = np.nan  # one nodata cell
    dy, dx = np.gradient(np.nan_to_num(elevation, nan=5.0), resolution_m)
    shade = (np.cos(np.arctan(np.hypot(dx, dy))) * 200 + 40 * np.clip(-dx + dy, -1, 1)).clip(0, 255)
    hillshade = shade.astype("uint8")

    east = np.clip((gx - cx[0]) / (cx[-1] - cx[0]), 0, 1)
    population = (rng.lognormal(1.0, 1.0, size=shape) * 40 * east**2).astype("float32")
    population[rng.random(shape) < 0.2] = 0.0

    sites = SITES[:2] if switch_off else SITES
    site_xy = [(cx[0] + s["frac"][0] * (cx[-1] - cx[0]), cy[0] + s["frac"][1] * (cy[-1] - cy[0]))
               for s in sites]
    dist = np.stack([np.hypot(gx - sx, gy - sy) for sx, sy in site_xy])
    power_all = np.stack([s["eirp_dbm"] - 100.0 - 35 * np.log10(np.maximum(d, 10.0) / 1000.0 + 0.01)
                          for s, d in zip(sites, dist)])
    reach = dist < 0.35 * cols * resolution_m
    power_all = np.where(reach, power_all, -np.inf)
    best = np.argmax(power_all, axis=0)
    power = np.max(power_all, axis=0)
    received = np.where(np.isfinite(power), power, np.nan).astype("float32")
    best_server = np.where(np.isfinite(power), best, -1).astype("int32")
    covered = (received >= -110.0).astype("uint8")
    uncovered = (population * (1 - covered)).astype("float32")
    best_technology = np.where(covered == 1, 4, 0).astype("uint8")
    urban = np.where(east > 0.6, 3, np.where(east > 0.3, 2, 1)).astype("uint8")

    layers = [
        ("elevation", elevation, "m", "Elevation above sea level", "continuous", np.nan, None),
        ("hillshade", hillshade, "1", "Hillshade of the DEM", "hillshade", None, None),
        ("population", population, "people", "Population per cell", "continuous", None, None),
        ("received_power_4G", received, "dBm", "4G RSRP of the best server", "continuous", np.nan, None),
        ("covered_4G", covered, "1", "Covered by 4G", "boolean", None, {"0": "not covered", "1": "covered"}),
        ("best_server_4G", best_server, "1", "Row of the best 4G server in the site table", "categorical",
         -1, None),
        ("best_technology", best_technology, "1", "Best technology available", "categorical", None,
         {"0": "none", "2": "2G", "3": "3G", "4": "4G", "5": "5G"}),
        ("urbanisation", urban, "1", "Degree of urbanisation", "categorical", None,
         {"1": "rural", "2": "urban cluster", "3": "urban centre"}),
        ("uncovered_population", uncovered, "people", "People without coverage", "continuous", None, None),
    ]
    entries = []
    for layer_name, array, units, long_name, kind, nodata, categories in layers:
        _write_cog(run_dir / f"{layer_name}.tif", array, transform, nodata)
        valid = array[~np.isnan(array)] if array.dtype.kind == "f" else array[array != (nodata or -999)]
        entry = {"name": layer_name, "file": f"{layer_name}.tif", "units": units, "long_name": long_name,
                 "kind": kind, "dtype": array.dtype.name,
                 "nodata": None if nodata is None or np.isnan(nodata) else nodata,
                 "value_range": [float(valid.min()), float(valid.max())], "minzoom": 8, "maxzoom": 16}
        if categories:
            entry["categories"] = categories
        entries.append(entry)

    with rasterio.open(run_dir / "elevation.tif") as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    w, s, e, n = bounds
    extras = {}
    if with_extras:
        ring = [[w + 0.6 * (e - w), s + 0.1 * (n - s)], [w + 0.9 * (e - w), s + 0.1 * (n - s)],
                [w + 0.9 * (e - w), s + 0.3 * (n - s)], [w + 0.6 * (e - w), s + 0.3 * (n - s)]]
        ring.append(ring[0])
        clusters = {"type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"cluster_id": 1, "population": round(float(uncovered.sum()), 1), "cells": 42}}]}
        (run_dir / "gap_clusters.geojson").write_text(json.dumps(clusters))
        extras["gap_clusters"] = "gap_clusters.geojson"
        people = np.rint(population).astype(np.int64)

        def block(mask: np.ndarray) -> dict[str, Any]:
            total = int(people[mask].sum())
            yes = int(people[mask & (covered == 1)].sum())
            entry = {"covered_population": yes, "uncovered_population": total - yes,
                     "covered_pct": round(100 * yes / total, 4) if total else None}
            return {"population": total, "at_least": {"4G": entry}, "technology": {"4G": entry}}

        everywhere = np.ones(shape, dtype=bool)
        urban_block, rural_block = block(urban > 1), block(urban == 1)
        gap = None
        if urban_block["at_least"]["4G"]["covered_pct"] is not None and rural_block["at_least"]["4G"]["covered_pct"] is not None:
            gap = round(urban_block["at_least"]["4G"]["covered_pct"] - rural_block["at_least"]["4G"]["covered_pct"], 4)
        summary = {  # the covgap.indicators/1 layout of covgap.statistics.indicators
            "schema": "covgap.indicators/1", "technologies": ["4G"],
            "total_population": int(people.sum()),
            "uncovered_population": block(everywhere)["at_least"]["4G"]["uncovered_population"],
            "groups": {"all_operators": {"total": block(everywhere),
                                         "urbanisation": {"urban": urban_block, "rural": rural_block},
                                         "rural_urban_gap_pp": {"4G": gap}}}}
        (run_dir / "summary.json").write_text(json.dumps(summary))
    if with_sites:
        lons, lats = warp_transform(CRS, "EPSG:4326", [p[0] for p in site_xy], [p[1] for p in site_xy])
        features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                     "properties": {k: v for k, v in site.items() if k != "frac"}}
                    for site, lon, lat in zip(sites, lons, lats)]
        (run_dir / "sites.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    manifest = {"name": name, "title": title or f"Test run {name}", "covgap_version": "0.0.test",
                "crs": CRS, "bounds": [w, s, e, n], "resolution_m": resolution_m,
                "metadata": {"sites_provenance": "modelled", "sites_method": "synthetic test sites"},
                "attribution": ["SRTM: public domain", "WorldPop 2020: CC BY 4.0"],
                "layers": entries, "extras": extras}
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return run_dir
