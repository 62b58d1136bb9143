"""The analysis pipeline: scenario in, analysis Dataset and indicators out.

Stages (each named in progress reports and benchmarks):

``load``
    read the DEM, population and sites; build the analysis grid; bring the
    rasters onto it; place the sites on it and apply the scenario's changes.
``propagation``
    received power, best server and coverage per technology, for all
    operators together and for each operator alone.
``classification``
    degree of urbanisation and the derived gap layers.
``statistics``
    indicators and gap clusters.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Mapping

import numpy as np
import pandas as pd
import xarray as xr
from rasterio.warp import transform as transform_points

from covgap import clusters, layers, statistics, urbanisation
from covgap._version import __version__
from covgap.datasets.dem import read_dem
from covgap.datasets.population import read_population
from covgap.datasets.sites import read_sites
from covgap.errors import CovgapWarning, GridError, ScenarioError
from covgap.grid import AnalysisGrid
from covgap.hillshade import hillshade
from covgap.propagation import signal_layers_by_group
from covgap.regrid import regrid_dem, regrid_population
from covgap.scenario import Changes, Scenario
from covgap.types import TECHNOLOGIES

__all__ = [
    "AnalysisResult",
    "Inputs",
    "load_inputs",
    "apply_changes",
    "place_sites",
    "analyse",
    "coverage_layers",
    "coverage_layers_by_operator",
]

#: A context manager factory called with each stage's name.
StageHook = Callable[[str], ContextManager[None]]

#: Called with (transmitters just computed, transmitters in all).
SiteProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class Inputs:
    """A scenario's inputs on the analysis grid."""

    grid: AnalysisGrid
    elevation: xr.DataArray
    population: xr.DataArray
    sites: pd.DataFrame


@dataclass
class AnalysisResult:
    """Everything one scenario produces."""

    scenario: Scenario
    dataset: xr.Dataset
    sites: pd.DataFrame
    indicators: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    gap_clusters: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _no_stage(_name: str) -> ContextManager[None]:
    return contextlib.nullcontext()


def load_inputs(scenario: Scenario) -> Inputs:
    """Read a scenario's inputs and bring them onto its analysis grid.

    Sites outside the grid are dropped with a :class:`CovgapWarning` that
    counts them; the scenario's changes (switch-off, operators, added and
    removed sites) are applied.
    """
    dem = read_dem(scenario.inputs.dem)
    population = read_population(scenario.inputs.population)
    if scenario.grid.bounds is None:
        grid = AnalysisGrid.inside(dem.rio.crs, dem.rio.bounds(), scenario.grid.resolution_m, scenario.grid.crs)
    else:
        grid = AnalysisGrid.from_lonlat_bounds(scenario.grid.bounds, scenario.grid.resolution_m, scenario.grid.crs)
    if grid.width * grid.height > 400_000_000:
        raise GridError(
            f"{scenario.path}: the grid would have {grid.width} x {grid.height} cells; "
            "use a coarser grid.resolution_m or smaller grid.bounds, or run chunked on Dask (--workers)"
        )
    elevation = regrid_dem(dem, grid)
    no_terrain = ~np.isfinite(elevation.values)
    if no_terrain.all():
        raise GridError(f"{scenario.inputs.dem}: the DEM does not overlap the analysis grid {grid.lonlat_bounds()}")
    pop = regrid_population(population, grid)
    stranded = float(pop.values[no_terrain].sum())
    if stranded >= 0.5:
        warnings.warn(
            f"{scenario.inputs.dem}: {stranded:,.0f} people live in {int(no_terrain.sum())} cells without elevation "
            "data; nothing is modelled there and they count as not covered (set grid.bounds inside the DEM)",
            CovgapWarning,
            stacklevel=2,
        )
    sites = read_sites(scenario.inputs.sites, format=scenario.inputs.sites_format)
    sites = apply_changes(sites, scenario.changes, scenario.inputs.sites_format)
    return Inputs(grid, elevation, pop, place_sites(sites, grid, source=str(scenario.inputs.sites)))


def apply_changes(sites: pd.DataFrame, changes: Changes, sites_format: str = "auto") -> pd.DataFrame:
    """Apply a scenario's changes to a site table (switch-off, operators, added and removed sites)."""
    if changes.add_sites is not None:
        sites = pd.concat([sites, read_sites(changes.add_sites, format=sites_format)], ignore_index=True)
    if changes.remove_sites:
        unknown = sorted(set(changes.remove_sites) - set(sites["site_id"]))
        if unknown:
            raise ScenarioError(f"'scenario.remove_sites' names site_id {unknown[0]!r}, which is not in the site list")
        sites = sites[~sites["site_id"].isin(changes.remove_sites)]
    if changes.operators is not None:
        unknown = sorted(set(changes.operators) - set(sites["operator"]))
        if unknown:
            known = ", ".join(sorted(set(sites["operator"])))
            raise ScenarioError(f"'scenario.operators' names {unknown[0]!r}; operators in the site list: {known}")
        sites = sites[sites["operator"].isin(changes.operators)]
    if changes.switch_off:
        sites = sites[~sites["tech"].isin(changes.switch_off)]
    return sites.reset_index(drop=True)


def place_sites(sites: pd.DataFrame, grid: AnalysisGrid, *, source: str) -> pd.DataFrame:
    """Add grid coordinates ``x``, ``y`` and drop (with a warning) sites off the grid."""
    sites = sites.copy()
    if len(sites):
        x, y = transform_points("EPSG:4326", grid.crs, sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    else:
        x, y = [], []
    sites["x"] = np.asarray(x, dtype=float)
    sites["y"] = np.asarray(y, dtype=float)
    left, bottom, right, top = grid.bounds
    inside = (sites["x"] >= left) & (sites["x"] < right) & (sites["y"] > bottom) & (sites["y"] <= top)
    skipped = int((~inside).sum())
    if skipped:
        warnings.warn(
            f"{source}: {skipped} of {len(sites)} transmitters lie outside the analysis grid and were skipped",
            CovgapWarning,
            stacklevel=2,
        )
    return sites[inside].reset_index(drop=True)


def coverage_layers(
    elevation: xr.DataArray,
    sites: pd.DataFrame,
    scenario: Scenario,
    *,
    progress: Callable[[int], None] | None = None,
    crop: Mapping[str, slice] | None = None,
) -> xr.Dataset:
    """Signal and coverage per technology for one set of transmitters.

    Every technology gets ``received_power_<tech>``, ``best_server_<tech>``
    and ``covered_<tech>``, also those without any transmitter (no signal,
    nothing covered), so that runs of different scenarios compare layer by
    layer. With ``crop``, the layers cover ``elevation.isel(crop)`` only
    (see :func:`covgap.propagation.signal_layers_by_group`).
    """
    if len(sites):
        signal, _groups = signal_layers_by_group(elevation, sites, scenario.propagation, by=None, progress=progress, crop=crop)
    else:
        signal = xr.Dataset()
    return _with_coverage(signal, AnalysisGrid.from_dataarray(elevation.isel(crop or {})), scenario.thresholds)


def coverage_layers_by_operator(
    elevation: xr.DataArray,
    sites: pd.DataFrame,
    scenario: Scenario,
    *,
    progress: Callable[[int], None] | None = None,
    crop: Mapping[str, slice] | None = None,
) -> tuple[xr.Dataset, dict[str, xr.Dataset]]:
    """:func:`coverage_layers` of all operators together and of each operator alone, in one sweep."""
    grid = AnalysisGrid.from_dataarray(elevation.isel(crop or {}))
    union, groups = signal_layers_by_group(elevation, sites, scenario.propagation, by="operator", progress=progress, crop=crop)
    return (
        _with_coverage(union, grid, scenario.thresholds),
        {op: _with_coverage(signal, grid, scenario.thresholds) for op, signal in groups.items()},
    )


def _with_coverage(signal: xr.Dataset, grid: AnalysisGrid, thresholds: dict[str, float]) -> xr.Dataset:
    out = {}
    for tech in TECHNOLOGIES:
        power_name = f"received_power_{tech}"
        if power_name in signal:
            out.update({name: signal[name] for name in signal.data_vars if str(name).endswith(f"_{tech}")})
            power = signal[power_name]
        else:
            power = grid.dataarray(np.full(grid.shape, np.nan, np.float32), power_name, "dBm", f"best-server received power, {tech}")
            out[power_name] = power
            out[f"best_server_{tech}"] = grid.dataarray(
                np.full(grid.shape, -1, np.int32), f"best_server_{tech}", "1", f"best-server transmitter index, {tech}", _FillValue=-1
            )
        covered = (np.nan_to_num(power.values, nan=-np.inf) >= thresholds[tech]).astype(np.uint8)
        out[f"covered_{tech}"] = grid.dataarray(
            covered,
            f"covered_{tech}",
            "1",
            f"{tech} coverage (received power >= {thresholds[tech]:g} dBm)",
            flag_values=[0, 1],
            flag_meanings="not_covered covered",
        )
    return xr.Dataset(out)


def analyse(
    scenario: Scenario, *, stage: StageHook = _no_stage, progress: SiteProgress | None = None
) -> AnalysisResult:
    """Run one scenario end to end, in memory.

    Parameters
    ----------
    scenario : Scenario
    stage : callable, optional
        Called with each stage's name (``load``, ``propagation``,
        ``classification``, ``statistics``); returns a context manager that
        wraps the stage (for progress display and benchmarks).
    progress : callable, optional
        Called once with ``(0, total)`` when propagation starts, then with
        ``(n, total)`` as each batch of ``n`` transmitters is computed.

    Returns
    -------
    AnalysisResult
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CovgapWarning)
        with stage("load"):
            inputs = load_inputs(scenario)
        with stage("propagation"):
            signal, per_operator = _signal(inputs, scenario, progress)
        with stage("classification"):
            ds = xr.Dataset({"elevation": inputs.elevation, "hillshade": hillshade(inputs.elevation), "population": inputs.population})
            ds = ds.assign(signal.data_vars)
            ds["urbanisation"] = urbanisation.degree_of_urbanisation(inputs.population)
            ds = ds.assign(layers.gap_layers(ds).data_vars)
            ds.attrs.update(_dataset_attrs(scenario))
            ds = ds.rio.write_crs(inputs.grid.crs).rio.write_transform(inputs.grid.transform).rio.write_coordinate_system()
        with stage("statistics"):
            areas = _admin_areas(scenario, inputs.grid)
            indicators = {
                "scenario": {"name": scenario.name, "title": scenario.title},
                **statistics.indicators(ds, operators=per_operator, areas=areas),
            }
            found = clusters.gap_clusters(ds, inputs.sites)
    messages = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, CovgapWarning)))
    for w in caught:
        if not issubclass(w.category, CovgapWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return AnalysisResult(
        scenario,
        ds,
        inputs.sites,
        indicators,
        tables={"indicators": statistics.indicators_rows(indicators), "gap_clusters": clusters.cluster_rows(found)},
        gap_clusters=clusters.to_geojson(found),
        warnings=messages,
    )


def _signal(
    inputs: Inputs, scenario: Scenario, progress: SiteProgress | None
) -> tuple[xr.Dataset, dict[str, xr.Dataset]]:
    """Coverage of all networks together, and of each operator's own network.

    Under national roaming every subscriber uses every network, so each
    operator's coverage is the union's.
    """
    total = len(inputs.sites)
    tick = None if progress is None else (lambda n: progress(n, total))
    if progress is not None:
        progress(0, total)
    operators = sorted(set(inputs.sites["operator"]))
    if scenario.changes.sharing == "national_roaming" or len(operators) < 2:
        union = coverage_layers(inputs.elevation, inputs.sites, scenario, progress=tick)
        return union, {op: union for op in operators}
    return coverage_layers_by_operator(inputs.elevation, inputs.sites, scenario, progress=tick)


def _admin_areas(scenario: Scenario, grid: AnalysisGrid) -> statistics.AdminAreas | None:
    if scenario.inputs.boundaries is None:
        return None
    return statistics.rasterize_areas(scenario.inputs.boundaries, grid, name_field=scenario.inputs.boundaries_name_field)


def _dataset_attrs(scenario: Scenario) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "title": scenario.title,
        "scenario": scenario.name,
        "covgap_version": __version__,
        "Conventions": "CF-1.8",
    }
    for key, value in scenario.metadata.items():
        attrs[key] = value
    return attrs
