"""Chunked analysis on dask.distributed: a country without holding it in memory.

:func:`run_chunked` computes the same run directory as ``covgap run`` (the
in-memory :func:`covgap.analysis.analyse` plus :func:`covgap.export.write_run`),
chunk by chunk, as tasks on a dask.distributed cluster: an existing
scheduler, or a LocalCluster on this machine.

Stages (each a set of Dask tasks; every task writes its result to the work
directory atomically and skips work already there, so an interrupted run
resumes where it stopped):

``elevation``
    the DEM is warped onto the analysis grid into one tiled GeoTIFF by GDAL,
    streaming (GDAL's own warp chunking, the same calls as
    :func:`covgap.regrid.regrid_dem`).
``population``
    per chunk, :func:`covgap.regrid.regrid_population` on the chunk and a
    halo of 2.5 source cells (every source cell touching the chunk lies
    wholly inside, so the per-source-cell scaling is the in-memory one),
    reading only the window of the population raster that it covers.
``urbanisation``
    the 1 km aggregate per block of kilometre cells (each read with every
    analysis cell that touches it), then the Degree of Urbanisation
    classification of the whole country's 1 km grid in one task: at 1 km,
    Vietnam is 1,650 x 800 cells (10 MB), small enough to do globally.
``scan``
    two sequential passes that make per-cell results exact: the running sum
    of population in row-major order at the start of every chunk row
    segment (:func:`covgap.statistics.integer_population` rounds people
    cumulatively over the whole grid), and the mean elevation used to fill
    nodata before the hillshade (numpy's pairwise sum reproduced leaf by leaf).
``chunks``
    per chunk: the transmitters within ``R + 1`` cells of it (R the
    propagation radius in cells) and the elevation of the chunk and a halo
    wide enough for them (:func:`elevation_halo`); signal (all operators and
    each operator alone in one sweep; rays are walked through the halo only
    as far as they reach the chunk, and only the chunk's cells are
    modelled), coverage, hillshade, urbanisation and gap layers of the
    chunk; its people by (class, area, coverage) for the statistics; its
    gap clusters, labelled within the chunk.
``merge``
    gap clusters that touch across chunk edges (8-connected) are joined with
    a union-find over the edge labels, ranked, relabelled per chunk and
    polygonized from the whole label mosaic by GDAL (streaming).
``outputs``
    one COG per layer from the mosaic of its chunk parts; indicators from
    the summed counts; manifest, GeoJSON, CSV.

Every task caps GDAL's block cache at :data:`GDAL_CACHE_BYTES` and frees
reference cycles when it ends. Through the chunks stage a worker's memory
grows by at most :func:`chunk_memory_bound` over what it held at the start,
whatever the region's size; :class:`ChunkedRun` reports each worker's peak
per stage.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import logging
import math
import os
import pickle
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import dask.array
import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
import rasterio.features
import rasterio.shutil
import rioxarray
import scipy.ndimage as ndi
import xarray as xr
from affine import Affine
from rasterio.warp import Resampling, reproject
from rasterio.warp import transform as transform_points
from scipy.spatial import cKDTree

from covgap import clusters, layers, statistics, urbanisation
from covgap._version import __version__
from covgap.analysis import apply_changes, coverage_layers, coverage_layers_by_operator, place_sites
from covgap.chunked import Chunk, ChunkLayout, combine_pairwise, leaves, pairwise_sum_ranges, read_window, write_tile, write_vrt
from covgap.datasets.population import population_grid
from covgap.datasets.sites import read_sites
from covgap.errors import CovgapWarning, GridError, InputFileError
from covgap.export import COG_OPTIONS, atomic_directory, layer_entry, sites_geojson, write_csv, write_json
from covgap.grid import AnalysisGrid
from covgap.hillshade import hillshade
from covgap.propagation import SITE_DEM_SEARCH_M, signal_layers
from covgap.regrid import regrid_population
from covgap.scenario import Scenario
from covgap.types import TECHNOLOGIES

__all__ = ["ChunkedRun", "run_chunked", "chunk_memory_bound", "elevation_halo", "DEFAULT_CHUNK_SIZE", "GDAL_CACHE_BYTES"]

log = logging.getLogger("covgap.distributed")

#: Default chunk side in cells (1024 x 1024 cells: 10 x 10 km at 100 m).
DEFAULT_CHUNK_SIZE = 1024

#: GDAL's block cache in every task (GDAL's default, 5 % of the machine's memory, is
#: per process and would stay filled with blocks no later task reads).
GDAL_CACHE_BYTES = 256 << 20

#: GDAL's block cache and its pool of open chunk tiles while a layer's chunk
#: tiles are copied into one COG (a synthetic 8,192 x 16,384 layer of 512
#: tiles: peak 561 MB with a 256 MiB cache and GDAL's pool of 100, 278 MB
#: with these, in the same time).
_COG_CACHE_BYTES = 64 << 20
_COG_OPEN_TILES = 16

#: Leaf size of the pairwise elevation sum (elements read at once).
_SUM_LEAF = 1 << 22

#: A progress callback: ``progress(stage, done, total)``.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ChunkedRun:
    """What :func:`run_chunked` returns.

    Attributes
    ----------
    out_dir : Path
        The run directory written.
    indicators : dict
        ``summary.json``.
    warnings : list of str
        CovgapWarning messages (sites skipped, model validity), deduplicated.
    chunks : int
        Number of chunks.
    reused : int
        Chunks found already computed in the work directory (resumed).
    task_seconds : dict
        Summed time of the chunk tasks: ``propagation`` and ``total``.
    memory : dict
        Resident memory of every worker (bytes, by worker address): under
        ``"start"`` when the run started, then under each stage's name its
        peak during that stage. Empty where the operating system does not
        report peaks (Linux's ``/proc/self/status`` does).
    """

    out_dir: Path
    indicators: dict[str, Any]
    warnings: list[str]
    chunks: int
    reused: int
    task_seconds: dict[str, float] = field(default_factory=dict)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def worker_peaks(self) -> dict[str, int]:
        """Each worker's largest resident memory over the run's stages (bytes, by worker address)."""
        stages = [peaks for stage, peaks in self.memory.items() if stage != "start"]
        return {worker: max(peaks[worker] for peaks in stages) for worker in self.memory.get("start", {})}

    @property
    def worker_growth(self) -> dict[str, int]:
        """Each worker's peak minus its resident memory at the start (bytes): what :func:`chunk_memory_bound` bounds."""
        return {worker: peak - self.memory["start"][worker] for worker, peak in self.worker_peaks.items()}

    @property
    def peak_worker_bytes(self) -> int:
        """The largest resident memory of any worker during the run (bytes; 0 when not reported)."""
        return max(self.worker_peaks.values(), default=0)


@dataclass(frozen=True)
class _Plan:
    """Everything a task needs; scattered once to every worker."""

    scenario: Scenario
    layout: ChunkLayout
    work: Path
    sites: pd.DataFrame
    site_rows: np.ndarray
    site_cols: np.ndarray
    radius_cells: int
    operator_groups: tuple[str, ...]
    operators: tuple[str, ...]
    dem_source: str
    pop_halo: int
    km_block: int
    templates: dict[str, dict[str, Any]]
    numba_threads: int | None
    area_names: tuple[str, ...]
    km_axes: tuple[float, float, float, int, int, int, int] = field(default=(0.0, 0.0, 0.0, 0, 0, 0, 0))

    @property
    def halo(self) -> int:
        """Elevation halo of a chunk, cells (:func:`elevation_halo`)."""
        return elevation_halo(self.radius_cells, self.layout.grid.resolution, itm=self.scenario.propagation.itm is not None)


def elevation_halo(radius_cells: int, cell_m: float, *, itm: bool = False) -> int:
    """Cells of elevation a chunk needs around it so that its signal equals the whole grid's.

    A chunk's transmitters lie within ``R + 1`` cells of it (R the radius in
    cells). The radial sweep (:func:`covgap.kernels.terrain.sweep_sites`)
    gives a cell a value that depends only on the terrain between the site
    and the cell and on the length of the site's side (east, north, west,
    south) that holds the cell, ``min(R, cells to the window's edge)``: a
    side that reaches into the chunk is at least ``h + 1`` cells long, so
    ``h >= R - 1`` keeps it whole; rays cut by the window's edge change only
    cells on that edge. A site on a nodata cell takes its ground height
    from the valid cells within :data:`covgap.propagation.SITE_DEM_SEARCH_M`,
    which must lie inside the window too: ``h = R + 1 + search``. The
    Longley-Rice radials (``itm``) are not shown to be window-invariant, so
    with them the halo holds every reaching site's whole square,
    ``2 R + 2``.

    Parameters
    ----------
    radius_cells : int
        Propagation radius, cells.
    cell_m : float
        Cell size, m.
    itm : bool
        Some transmitter may use the ``itm`` model.

    Returns
    -------
    int
        Halo, cells.
    """
    if itm:
        return 2 * radius_cells + 2
    return radius_cells + 1 + max(1, int(round(SITE_DEM_SEARCH_M / cell_m)))


def chunk_memory_bound(chunk_size: int, halo: int, *, n_techs: int = 4, n_groups: int = 1, n_sites: int = 0,
                       itm: bool = False) -> int:
    """Upper bound (bytes) of what one chunk task adds to a worker's resident memory.

    With ``c = chunk_size`` and ``h = halo`` (:func:`elevation_halo`), the
    elevation window is ``w = (c + 2 h)^2`` cells; over it the task holds
    the float32 elevation, the kernels' filled copy and their temporaries
    (16 B/cell), and with ITM the float64 profile grid and one site's loss
    grid (24 B/cell more). The sweep models the chunk's cells only
    (:func:`covgap.kernels.terrain.sweep_sites` with a target), so the
    signal is per chunk cell: for each technology, the finished layers of
    every group (``n_groups``: all operators together, plus each operator
    alone when they are counted apart; 17 B each) and, for the technology
    being swept, every group's state (28 B each). The chunk's own ~30
    layers (at most 8 B/cell each), the statistics keys and the cluster
    labelling add ``c^2 (320 + 32 n_groups)`` bytes; the site table and its
    k-d tree ``200 n_sites``; GDAL's block cache :data:`GDAL_CACHE_BYTES`;
    Python, xarray and GDAL bookkeeping a fixed 64 MiB. Nothing grows with
    the region (the population stage reads only the window of the source
    raster under its chunk and halo).

    :func:`run_chunked` reports each worker's resident memory at the start
    and its peak per stage (``ChunkedRun.memory``). The tasks of the other
    stages stay under the same bound: the DEM warp and each output COG
    copy are single GDAL operations with a capped block cache (the copies
    64 MiB, with at most 16 chunk tiles open), the population and 1 km
    aggregates are per chunk. Tested on a two-worker LocalCluster over every
    stage, and measured on all of Vietnam at 40 m (820 chunks of 1024, 410
    tasks per worker: at most 0.63 GB over the start against 1.13 GB;
    benchmarks/RESULTS.md).

    Returns
    -------
    int
        Bytes.
    """
    window = (chunk_size + 2 * halo) ** 2
    per_window = 16 + (24 if itm else 0)
    per_cell = 320 + 32 * n_groups + n_techs * n_groups * 17 + n_groups * 28
    return int(window * per_window + chunk_size**2 * per_cell + 200 * n_sites + GDAL_CACHE_BYTES + (64 << 20))


def _memory_probe() -> tuple[int, int] | None:
    """This process's resident memory and its peak since the last probe (bytes); the peak is then reset.

    Linux only (``/proc/self/status``, ``clear_refs``); None elsewhere.
    """
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    now, peak = (int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM"))
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    return now, peak


def _task(function: Callable[..., Any]) -> Callable[..., Any]:
    """Make ``function`` a task: GDAL's block cache capped at :data:`GDAL_CACHE_BYTES`, reference cycles freed after it.

    xarray objects end in reference cycles (an accessor such as ``.rio``
    holds its DataArray), which only Python's cyclic collector frees; in a
    long-lived worker it runs its full collections rarely, so each task's
    grids would pile up from task to task without the collection here.
    After the process's first task, what it holds (modules, compiled
    kernels, the plan) is frozen out of the collector's reach
    (:func:`gc.freeze`), so that each later collection looks at what
    tasks created since: about 0.1 s per collection otherwise, thousands
    of times in a national run.
    """

    @functools.wraps(function)
    def run(*args: Any) -> Any:
        try:
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
                return function(*args)
        finally:
            gc.collect()
            if not gc.get_freeze_count():
                gc.freeze()

    return run


# --------------------------------------------------------------------- client


@contextlib.contextmanager
def _client(client: Any, scheduler: str | None, n_workers: int | None) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    given = [name for name, value in (("client", client), ("scheduler", scheduler), ("n_workers", n_workers)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of client, scheduler and n_workers, got {', '.join(given)}")
    if client is not None:
        yield client
    elif scheduler is not None:
        with Client(scheduler) as c:
            yield c
    else:
        n = n_workers or 1
        if n < 1:
            raise ValueError(f"n_workers must be at least 1, got {n}")
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, Client(cluster) as c:
            yield c


def _numba_threads(plan: _Plan) -> None:
    if plan.numba_threads:
        import numba

        numba.set_num_threads(min(plan.numba_threads, numba.config.NUMBA_NUM_THREADS))


# --------------------------------------------------------------------- plan


def _gdal_dem_source(path: Path) -> str:
    lower = path.name.lower()
    if lower.endswith(".hgt.zip"):
        from covgap.datasets.dem import _hgt_in_zip

        return _hgt_in_zip(path)
    return str(path)


def _fingerprint(scenario: Scenario, chunk_size: int) -> str:
    files = {}
    for name in ("dem", "population", "sites", "boundaries"):
        path = getattr(scenario.inputs, name, None)
        if path is not None and Path(path).exists():
            stat = Path(path).stat()
            files[name] = [str(path), stat.st_size, stat.st_mtime_ns]
    text = json.dumps({"scenario": repr(scenario), "files": files, "chunk_size": chunk_size, "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _grid(scenario: Scenario, dem_source: str) -> AnalysisGrid:
    """The analysis grid, as :func:`covgap.analysis.load_inputs` builds it (without reading the DEM's values)."""
    if scenario.grid.bounds is not None:
        return AnalysisGrid.from_lonlat_bounds(scenario.grid.bounds, scenario.grid.resolution_m, scenario.grid.crs)
    try:
        dem = rioxarray.open_rasterio(dem_source)
    except rasterio.errors.RasterioError as exc:
        raise InputFileError(f"{scenario.inputs.dem}: cannot be read as a raster ({exc})") from None
    return AnalysisGrid.inside(dem.rio.crs, dem.rio.bounds(), scenario.grid.resolution_m, scenario.grid.crs)


def _templates(sites: pd.DataFrame, scenario: Scenario, grid: AnalysisGrid) -> dict[str, dict[str, Any]]:
    """dtype and attrs of every signal and urbanisation layer, from a 5 x 5 cell run of one site per technology."""
    out: dict[str, dict[str, Any]] = {}
    res = grid.resolution
    for tech in TECHNOLOGIES:
        rows = sites[sites["tech"] == tech]
        if not len(rows):
            continue
        site = rows.iloc[[0]].reset_index(drop=True)
        x, y = float(site["x"].iloc[0]), float(site["y"].iloc[0])
        tiny = AnalysisGrid(grid.crs, Affine(res, 0.0, x - 2.5 * res, 0.0, -res, y + 2.5 * res), 5, 5)
        elev = tiny.dataarray(np.zeros(tiny.shape, np.float32), "elevation", "m", "terrain elevation")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signal = signal_layers(elev, site, scenario.propagation)
        for name, da in signal.data_vars.items():
            out[str(name)] = {"dtype": da.dtype.name, "attrs": dict(da.attrs)}
    tiny = AnalysisGrid(grid.crs, Affine(res, 0.0, 0.0, 0.0, -res, 0.0), 2, 2)
    urb = urbanisation.degree_of_urbanisation(tiny.dataarray(np.zeros((2, 2), np.float32), "population", "people", "population"))
    out["urbanisation"] = {"dtype": urb.dtype.name, "attrs": dict(urb.attrs)}
    return out


def _area_names(scenario: Scenario) -> tuple[str, ...]:
    if scenario.inputs.boundaries is None:
        return ()
    features, _ = statistics.read_boundaries(scenario.inputs.boundaries, name_field=scenario.inputs.boundaries_name_field)
    return tuple(dict.fromkeys(name for name, _ in features))


def _make_plan(scenario: Scenario, work: Path, chunk_size: int, numba_threads: int | None) -> tuple[_Plan, list[str]]:
    dem_source = _gdal_dem_source(Path(scenario.inputs.dem))
    grid = _grid(scenario, dem_source)
    layout = ChunkLayout(grid, chunk_size)
    layout.subgrid(0, grid.height, 0, grid.width)  # exactness check, before any work
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CovgapWarning)
        sites = read_sites(scenario.inputs.sites, format=scenario.inputs.sites_format)
        sites = apply_changes(sites, scenario.changes, scenario.inputs.sites_format)
        sites = place_sites(sites, grid, source=str(scenario.inputs.sites))
    messages = [str(w.message) for w in caught if issubclass(w.category, CovgapWarning)]
    rows, cols = grid.rowcol(sites["x"].to_numpy(float), sites["y"].to_numpy(float))
    operators = tuple(sorted(set(sites["operator"])))
    groups = () if scenario.changes.sharing == "national_roaming" or len(operators) < 2 else operators
    pop_crs, pop_transform, _ = population_grid(scenario.inputs.population)
    src_res_m = max(abs(pop_transform.a), abs(pop_transform.e)) * (111_320.0 if pop_crs.is_geographic else 1.0)
    lazy = grid.dataarray(dask.array.zeros(grid.shape, dtype=np.float32, chunks=chunk_size), "population", "people", "population")  # type: ignore[arg-type]
    plan = _Plan(
        scenario=scenario,
        layout=layout,
        work=work,
        sites=sites,
        site_rows=np.floor(rows).astype(np.int64),
        site_cols=np.floor(cols).astype(np.int64),
        radius_cells=int(scenario.propagation.max_radius_km * 1000.0 / grid.resolution),
        operator_groups=groups,
        operators=operators,
        dem_source=dem_source,
        pop_halo=int(math.ceil(2.5 * src_res_m / grid.resolution)) + 2,
        km_block=max(1, int(chunk_size * grid.resolution // urbanisation.KM_M)),
        templates=_templates(sites, scenario, grid),
        numba_threads=numba_threads,
        area_names=_area_names(scenario),
        km_axes=urbanisation._axes(lazy),
    )
    return plan, messages


# --------------------------------------------------------------------- tasks: inputs


def _done(path: Path) -> bool:
    return path.exists()


@_task
def _task_elevation(plan: _Plan) -> str:
    out = plan.work / "elevation.tif"
    if _done(out):
        return str(out)
    grid = plan.layout.grid
    tmp = out.with_name(f".elevation.tif.tmp-{os.getpid()}")
    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": 1, "dtype": "float32", "crs": grid.crs,
               "transform": grid.transform, "nodata": float("nan"), "tiled": True, "blockxsize": 256, "blockysize": 256,
               "compress": "DEFLATE", "BIGTIFF": "IF_SAFER"}
    with rasterio.Env(GDAL_NUM_THREADS="1"):
        with rasterio.open(plan.dem_source) as src, rasterio.open(tmp, "w", **profile) as dst:
            reproject(
                source=rasterio.band(src, 1),
                destination=rasterio.band(dst, 1),
                src_nodata=src.nodata if src.nodata is not None else np.nan,
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
    os.replace(tmp, out)
    return str(out)


@_task
def _task_population(plan: _Plan, chunk: Chunk) -> str:
    out = plan.work / "population" / f"{chunk.key}.tif"
    if _done(out):
        return str(out)
    layout = plan.layout
    r0, r1, c0, c1 = layout.expand(chunk.row0, chunk.row1, chunk.col0, chunk.col1, plan.pop_halo)
    pop = regrid_population(plan.scenario.inputs.population, layout.subgrid(r0, r1, c0, c1))
    part = pop.isel(y=slice(chunk.row0 - r0, chunk.row1 - r0), x=slice(chunk.col0 - c0, chunk.col1 - c0))
    write_tile(part, out)
    return str(out)


def _population_vrt(plan: _Plan) -> Path:
    layout = plan.layout
    parts = [(plan.work / "population" / f"{c.key}.tif", c.row0, c.col0, *c.shape) for c in layout.chunks()]
    path = plan.work / "population.vrt"
    write_vrt(path, layout.grid, parts, dtype="float32", attrs={})
    return path


@_task
def _task_km_block(plan: _Plan, bi: int, bj: int, *_deps: Any) -> str:
    out = plan.work / "km" / f"b{bi}_{bj}.npy"
    if _done(out):
        return str(out)
    res, ux0, uy0, kx0, ky0, nkx, nky = plan.km_axes
    grid = plan.layout.grid
    kb = plan.km_block
    ka0, ka1 = bi * kb, min((bi + 1) * kb, nky)
    kc0, kc1 = bj * kb, min((bj + 1) * kb, nkx)
    km = urbanisation.KM_M
    row0 = max(0, math.floor(((ky0 + ka0) * km - uy0) / res) - 1)
    row1 = min(grid.height, math.ceil(((ky0 + ka1) * km - uy0) / res) + 1)
    col0 = max(0, math.floor(((kx0 + kc0) * km - ux0) / res) - 1)
    col1 = min(grid.width, math.ceil(((kx0 + kc1) * km - ux0) / res) + 1)
    sub = plan.layout.subgrid(row0, row1, col0, col1)
    pop = read_window(plan.work / "population.vrt", sub, row0, row1, col0, col1, "population", {"units": "people"})
    agg = urbanisation.aggregate_1km(pop)
    _, _, _, wx0, wy0, _, _ = urbanisation._axes(pop)
    block = np.asarray(agg.values)[ky0 + ka0 - wy0: ky0 + ka1 - wy0, kx0 + kc0 - wx0: kx0 + kc1 - wx0]
    if block.shape != (ka1 - ka0, kc1 - kc0):
        raise GridError(f"1 km block {bi},{bj}: got shape {block.shape}, expected {(ka1 - ka0, kc1 - kc0)}")
    _save_npy(out, block)
    return str(out)


def _km_blocks(plan: _Plan) -> list[tuple[int, int]]:
    *_, nkx, nky = plan.km_axes
    kb = plan.km_block
    return [(bi, bj) for bi in range(math.ceil(nky / kb)) for bj in range(math.ceil(nkx / kb))]


@_task
def _task_classify(plan: _Plan, *_deps: Any) -> str:
    out = plan.work / "km_classes.npy"
    if _done(out):
        return str(out)
    *_, nkx, nky = plan.km_axes
    kb = plan.km_block
    km = np.zeros((nky, nkx), np.float64)
    for bi, bj in _km_blocks(plan):
        block = np.load(plan.work / "km" / f"b{bi}_{bj}.npy")
        km[bi * kb: bi * kb + block.shape[0], bj * kb: bj * kb + block.shape[1]] = block
    _save_npy(out, urbanisation.classify_1km(km))
    return str(out)


@_task
def _task_carries(plan: _Plan, *_deps: Any) -> str:
    """Running population sum (row-major, float64, as np.cumsum) before every chunk-row segment."""
    out = plan.work / "carries.npy"
    if _done(out):
        return str(out)
    grid = plan.layout.grid
    starts = plan.layout.col_starts()
    carries = np.zeros((grid.height, starts.size), np.float64)
    strip = max(1, plan.layout.chunk_size**2 // max(grid.width, 1))
    running = 0.0
    with rasterio.open(plan.work / "population.vrt") as src:
        for r0 in range(0, grid.height, strip):
            r1 = min(grid.height, r0 + strip)
            values = src.read(1, window=rasterio.windows.Window(0, r0, grid.width, r1 - r0)).astype(np.float64)
            values = np.clip(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
            for k in range(r1 - r0):
                run = np.cumsum(np.concatenate(([running], values[k])))
                carries[r0 + k] = run[starts]
                running = float(run[-1])
    _save_npy(out, carries)
    return str(out)


@_task
def _task_fill(plan: _Plan, *_deps: Any) -> str:
    """The hillshade's nodata fill: ``np.nanmean`` of the whole float64 elevation, bit for bit."""
    out = plan.work / "fill.json"
    if _done(out):
        return str(out)
    grid = plan.layout.grid
    width, n = grid.width, grid.width * grid.height
    (tree,) = pairwise_sum_ranges(n, _SUM_LEAF)
    sums: dict[tuple[int, int], float] = {}
    count = 0
    with rasterio.open(plan.work / "elevation.tif") as src:
        for start, stop in leaves(tree):
            r0, r1 = start // width, (stop - 1) // width + 1
            z = src.read(1, window=rasterio.windows.Window(0, r0, width, r1 - r0)).astype(np.float64).ravel()
            z = z[start - r0 * width: stop - r0 * width]
            valid = ~np.isnan(z)
            count += int(valid.sum())
            sums[(start, stop)] = float(np.sum(np.where(valid, z, 0.0)))
    fill = combine_pairwise(tree, sums) / count if count else 0.0
    _write_atomic(out, json.dumps({"fill": float(fill).hex()}))
    return str(out)


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def _write_atomic(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------- tasks: chunks


def _signal(plan: _Plan, elevation: xr.DataArray, positions: np.ndarray, crop: dict[str, slice]) -> tuple[xr.Dataset, dict[str, xr.Dataset]]:
    """Coverage of the transmitters at ``positions`` (global rows) over the chunk ``crop`` of the window ``elevation``.

    All transmitters together and per operator group, in one sweep, as the
    in-memory path (:func:`covgap.analysis.coverage_layers_by_operator`
    when operators are counted apart). The union has global server indices
    and every layer of every technology the whole site table has, in the
    in-memory order; an operator without transmitters here covers nothing.
    The sweep models the chunk's cells only; the window around it gives
    the terrain of the paths.
    """
    sites = plan.sites.iloc[positions].reset_index(drop=True)
    if plan.operator_groups:
        signal, per_operator = coverage_layers_by_operator(elevation, sites, plan.scenario, crop=crop)
        empty = sites.iloc[:0]
        per_operator = {op: per_operator[op] if op in per_operator else coverage_layers(elevation, empty, plan.scenario, crop=crop)
                        for op in plan.operator_groups}
    else:
        signal, per_operator = coverage_layers(elevation, sites, plan.scenario, crop=crop), {}
    grid = AnalysisGrid.from_dataarray(elevation.isel(crop))
    here = set(sites["tech"])
    out: dict[str, xr.DataArray] = {}
    for tech in TECHNOLOGIES:
        for kind in ("received_power", "best_server", "second_power", "dominance", "covered"):
            name = f"{kind}_{tech}"
            template = plan.templates.get(name)
            if name in signal and (tech in here or template is None):
                da = signal[name]
                if kind == "best_server" and tech in here:  # else no server anywhere (-1)
                    values = np.asarray(da.values)
                    mapped = np.where(values >= 0, positions[np.clip(values, 0, None)], -1).astype(np.int32)
                    da = da.copy(data=mapped)
                out[name] = da
            elif template is not None:
                fill = -1 if template["dtype"].startswith("int") else np.nan
                out[name] = grid.dataarray(np.full(grid.shape, fill, template["dtype"]), name, template["attrs"]["units"],
                                           template["attrs"]["long_name"],
                                           **{k: v for k, v in template["attrs"].items() if k not in ("units", "long_name")})
    return xr.Dataset(out), per_operator


def _chunk_sites(plan: _Plan, chunk: Chunk) -> np.ndarray:
    reach = plan.radius_cells + 1
    near = (
        (plan.site_rows >= chunk.row0 - reach) & (plan.site_rows < chunk.row1 + reach)
        & (plan.site_cols >= chunk.col0 - reach) & (plan.site_cols < chunk.col1 + reach)
    )
    return np.flatnonzero(near)


def _integer_people(plan: _Plan, chunk: Chunk, population: np.ndarray, carries: np.ndarray) -> np.ndarray:
    """:func:`covgap.statistics.integer_population` of the whole grid, restricted to the chunk."""
    values = np.clip(np.nan_to_num(population.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
    run = np.cumsum(np.column_stack([carries[chunk.row0: chunk.row1, chunk.j], values]), axis=1)  # row by row, carry first
    return np.diff(np.floor(run + 0.5).astype(np.int64), axis=1)


def _coverage_keys(plan: _Plan, ds: xr.Dataset, per_operator: dict[str, xr.Dataset], classes: np.ndarray, codes: np.ndarray, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """People per distinct (class, area, covered by each technology of each group) key of the chunk.

    Returns the distinct keys (one row each, columns in that order, rows
    sorted) and their whole people.
    """
    columns = [classes.ravel(), codes.ravel()]
    n_techs = len(TECHNOLOGIES)
    for group in (ds, *(per_operator[op] for op in plan.operator_groups)):  # a group's flags as one number, first technology highest
        flags = np.zeros(classes.size, np.uint8)
        for t, tech in enumerate(TECHNOLOGIES):
            flags |= (np.asarray(group[f"covered_{tech}"].values).ravel() == 1).astype(np.uint8) << (n_techs - 1 - t)
        columns.append(flags)
    inverse = _row_ranks(columns)
    first = np.full(int(inverse.max(initial=-1)) + 1, inverse.size, np.int64)
    np.minimum.at(first, inverse, np.arange(inverse.size))
    keys = [columns[0][first], columns[1][first]]
    keys += [(flags[first] >> (n_techs - 1 - t)) & 1 for flags in columns[2:] for t in range(n_techs)]
    sums = np.bincount(inverse, weights=people.ravel().astype(np.float64), minlength=first.size)
    return np.column_stack(keys).astype(np.int64), np.rint(sums).astype(np.int64)


def _row_ranks(columns: list[np.ndarray]) -> np.ndarray:
    """Rank of every row of non-negative integer ``columns`` among the distinct rows, in lexicographic order.

    The columns are folded into one int64 code left to right (``code * (max + 1) + column``),
    re-ranked whenever the next fold could overflow, so one 1-D sort does what
    ``np.unique(axis=0)`` does with slow row comparisons.
    """
    code = np.zeros(columns[0].size, np.int64)
    bound = 1  # code < bound
    for column in columns:
        radix = int(column.max(initial=0)) + 1
        if bound * radix >= 1 << 62:
            values, code = np.unique(code, return_inverse=True)
            bound = values.size
        code = code * radix + column.astype(np.int64)
        bound *= radix
    return np.unique(code, return_inverse=True)[1].ravel()


def _clusters(plan: _Plan, chunk: Chunk, layer: xr.DataArray, tree: cKDTree | None) -> dict[str, Any]:
    """Gap clusters labelled within the chunk, with everything the merge needs."""
    grid = plan.layout.grid
    people = np.nan_to_num(np.asarray(layer.values, dtype=np.float64), nan=0.0)
    raw, n = ndi.label(people > 0, structure=ndi.generate_binary_structure(2, 2))
    index = np.arange(1, n + 1)
    rows, cols = np.indices(raw.shape)
    xs, ys = grid.coords()
    xs, ys = xs[chunk.col0: chunk.col1], ys[chunk.row0: chunk.row1]
    gflat = (rows + chunk.row0).astype(np.int64) * grid.width + (cols + chunk.col0)
    out: dict[str, Any] = {
        "n": n,
        "pops": np.asarray(ndi.sum_labels(people, raw, index), dtype=np.float64),
        "cells": np.bincount(raw.ravel(), minlength=n + 1)[1:].astype(np.int64),
        "sx": np.asarray(ndi.sum_labels(people * xs[cols], raw, index), dtype=np.float64),
        "sy": np.asarray(ndi.sum_labels(people * ys[rows], raw, index), dtype=np.float64),
        "edges": (raw[0].copy(), raw[-1].copy(), raw[:, 0].copy(), raw[:, -1].copy()),
    }
    flat = raw.ravel()
    labelled = np.flatnonzero(flat)
    first = np.full(n + 1, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, flat[labelled], gflat.ravel()[labelled])
    out["first"] = first[1:]
    dist = np.full(n, np.inf)
    which = np.full(n, -1, np.int64)
    near_flat = np.full(n, np.iinfo(np.int64).max, np.int64)
    if tree is not None and n:
        d, w = tree.query(np.column_stack([xs[cols.ravel()[labelled]], ys[rows.ravel()[labelled]]]))
        ids = flat[labelled]
        order = np.lexsort((gflat.ravel()[labelled], d, ids))
        ids_sorted = ids[order]
        firsts = order[np.searchsorted(ids_sorted, index)]
        dist = d[firsts]
        which = w[firsts].astype(np.int64)
        near_flat = gflat.ravel()[labelled][firsts]
    out.update(dist=dist, which=which, near_flat=near_flat)
    _save_npy(plan.work / "chunks" / chunk.key / "labels.npy", raw.astype(np.int32))
    return out


@_task
def _task_chunk(plan: _Plan, chunk: Chunk, *_deps: Any) -> dict[str, Any]:
    """Every layer, the statistics counts and the gap clusters of one chunk."""
    folder = plan.work / "chunks" / chunk.key
    done = folder / "result.pkl"
    if _done(done):
        result = pickle.loads(done.read_bytes())
        result["reused"] = True
        return result
    folder.mkdir(parents=True, exist_ok=True)
    _numba_threads(plan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CovgapWarning)
        result = _compute_chunk(plan, chunk, folder)
    result["warnings"] = sorted({str(w.message) for w in caught if issubclass(w.category, CovgapWarning)})
    _write_atomic(done, pickle.dumps(result))
    result["reused"] = False
    return result


def _compute_chunk(plan: _Plan, chunk: Chunk, folder: Path) -> dict[str, Any]:
    task_started = time.perf_counter()
    layout, scenario = plan.layout, plan.scenario
    r0, r1, c0, c1 = layout.expand(chunk.row0, chunk.row1, chunk.col0, chunk.col1, plan.halo)
    window = layout.subgrid(r0, r1, c0, c1)
    elevation = read_window(plan.work / "elevation.tif", window, r0, r1, c0, c1, "elevation",
                            {"units": "m", "long_name": "terrain elevation above mean sea level", "standard_name": "height_above_mean_sea_level"})
    crop = {"y": slice(chunk.row0 - r0, chunk.row1 - r0), "x": slice(chunk.col0 - c0, chunk.col1 - c0)}
    started = time.perf_counter()
    signal, per_operator = _signal(plan, elevation, _chunk_sites(plan, chunk), crop)
    propagation_s = time.perf_counter() - started
    # hillshade: the chunk and one cell around it, nodata filled with the whole grid's mean elevation
    fill = float.fromhex(json.loads((plan.work / "fill.json").read_text())["fill"])
    h0, h1, w0, w1 = layout.expand(chunk.row0, chunk.row1, chunk.col0, chunk.col1, 1)
    z = elevation.isel(y=slice(h0 - r0, h1 - r0), x=slice(w0 - c0, w1 - c0))
    nodata = np.isnan(np.asarray(z.values))
    filled = z.copy(data=np.where(nodata, fill, np.asarray(z.values, dtype=np.float64)))
    shade = hillshade(filled)
    shade = shade.copy(data=np.where(nodata, np.uint8(0), np.asarray(shade.values)))
    shade = shade.isel(y=slice(chunk.row0 - h0, chunk.row1 - h0), x=slice(chunk.col0 - w0, chunk.col1 - w0))
    elevation = elevation.isel(crop)
    cgrid = layout.subgrid(chunk.row0, chunk.row1, chunk.col0, chunk.col1)
    population = read_window(plan.work / "population" / f"{chunk.key}.tif", cgrid, 0, chunk.shape[0], 0, chunk.shape[1], "population",
                             {"units": "people", "long_name": "resident population per cell"})
    classes = _classes(plan, chunk)
    template = plan.templates["urbanisation"]
    urb = cgrid.dataarray(classes, "urbanisation", template["attrs"]["units"], template["attrs"]["long_name"],
                          **{k: v for k, v in template["attrs"].items() if k not in ("units", "long_name")})

    ds = xr.Dataset({"elevation": elevation, "hillshade": shade, "population": population})
    ds = ds.assign(signal.data_vars)
    ds["urbanisation"] = urb
    ds = ds.assign(layers.gap_layers(ds).data_vars)

    meta = []
    for name in ds.data_vars:
        da = ds[name]
        if da.dims != ("y", "x"):
            continue
        write_tile(da, folder / f"{name}.tif")
        meta.append({"name": str(name), "dtype": da.dtype.name, "attrs": dict(da.attrs), "range": _value_range(da)})

    carries = np.load(plan.work / "carries.npy", mmap_mode="r")
    people = _integer_people(plan, chunk, np.asarray(population.values), carries)
    codes = np.zeros(chunk.shape, np.int64)
    if scenario.inputs.boundaries is not None:  # chunk codes -> position of the name in the file (1-based)
        areas = statistics.rasterize_areas(scenario.inputs.boundaries, cgrid, name_field=scenario.inputs.boundaries_name_field)
        to_file = np.array([0, *(plan.area_names.index(n) + 1 for n in areas.names)], np.int64)
        codes = to_file[np.asarray(areas.codes.values)]
    keys, counts = _coverage_keys(plan, ds, per_operator, classes, codes, people)
    tree = cKDTree(np.column_stack([plan.sites["x"].to_numpy(float), plan.sites["y"].to_numpy(float)])) if len(plan.sites) else None
    found = _clusters(plan, chunk, ds["rural_uncovered_population"], tree)
    return {"key": chunk.key, "layers": meta, "keys": keys, "counts": counts, "clusters": found,
            "seconds": {"propagation": propagation_s, "total": time.perf_counter() - task_started},
            "transmitters": int(_chunk_sites(plan, chunk).size), "window_cells": (r1 - r0) * (c1 - c0)}


def _classes(plan: _Plan, chunk: Chunk) -> np.ndarray:
    res, ux0, uy0, kx0, ky0, _, _ = plan.km_axes
    grid = plan.layout.grid
    km_classes = np.load(plan.work / "km_classes.npy")
    col_km = np.floor((ux0 + (np.arange(grid.width)[chunk.col0: chunk.col1] + 0.5) * res) / urbanisation.KM_M).astype(np.int64) - kx0
    row_km = np.floor((uy0 + (np.arange(grid.height)[chunk.row0: chunk.row1] + 0.5) * res) / urbanisation.KM_M).astype(np.int64) - ky0
    return km_classes[np.ix_(row_km, col_km)]


def _value_range(da: xr.DataArray) -> tuple[Any, Any] | None:
    values = np.asarray(da.values)
    if np.issubdtype(values.dtype, np.floating):
        values = values[np.isfinite(values)]
    else:
        fill = da.attrs.get("_FillValue")
        values = values.ravel() if fill is None else values[values != fill]
    if not values.size:
        return None
    return (values.min().item(), values.max().item())


# --------------------------------------------------------------------- merge: clusters


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, a: int) -> int:
        parent = self.parent
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _join_edge(uf: _UnionFind, a: np.ndarray, base_a: int, b: np.ndarray, base_b: int) -> None:
    """Union 8-neighbours across an edge: ``a[k]`` touches ``b[k-1..k+1]``."""
    for shift in (-1, 0, 1):
        if shift < 0:
            la, lb = a[1:], b[:-1]
        elif shift > 0:
            la, lb = a[:-1], b[1:]
        else:
            la, lb = a, b
        both = (la > 0) & (lb > 0)
        for x, y in set(zip(la[both].tolist(), lb[both].tolist())):
            uf.union(base_a + x, base_b + y)


def _merge_clusters(plan: _Plan, results: dict[str, dict[str, Any]], min_population: float = 1.0) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Join clusters across chunk edges, rank them as :func:`covgap.clusters.gap_clusters` does.

    Returns the per-chunk local-label -> cluster-id maps and the ranked
    clusters' figures.
    """
    layout = plan.layout
    bases: dict[str, int] = {}
    total = 1
    for chunk in layout.chunks():
        bases[chunk.key] = total - 1  # local label l -> global l + base
        total += results[chunk.key]["clusters"]["n"]
    uf = _UnionFind(total)
    for chunk in layout.chunks():
        c = results[chunk.key]["clusters"]
        top, bottom, left, right = c["edges"]
        if chunk.j + 1 < layout.n_cols:
            other = layout.chunk(chunk.i, chunk.j + 1)
            _join_edge(uf, right, bases[chunk.key], results[other.key]["clusters"]["edges"][2], bases[other.key])
        if chunk.i + 1 < layout.n_rows:
            other = layout.chunk(chunk.i + 1, chunk.j)
            _join_edge(uf, bottom, bases[chunk.key], results[other.key]["clusters"]["edges"][0], bases[other.key])
            if chunk.j + 1 < layout.n_cols:  # diagonal: bottom-right corner cell and the top-left one below right
                diag = layout.chunk(chunk.i + 1, chunk.j + 1)
                a, b = bottom[-1], results[diag.key]["clusters"]["edges"][0][0]
                if a > 0 and b > 0:
                    uf.union(bases[chunk.key] + int(a), bases[diag.key] + int(b))
            if chunk.j > 0:
                diag = layout.chunk(chunk.i + 1, chunk.j - 1)
                a, b = bottom[0], results[diag.key]["clusters"]["edges"][0][-1]
                if a > 0 and b > 0:
                    uf.union(bases[chunk.key] + int(a), bases[diag.key] + int(b))
    pops = np.zeros(total)
    cells = np.zeros(total, np.int64)
    sx = np.zeros(total)
    sy = np.zeros(total)
    first = np.full(total, np.iinfo(np.int64).max, np.int64)
    best = np.full(total, np.inf)
    best_flat = np.full(total, np.iinfo(np.int64).max, np.int64)
    which = np.full(total, -1, np.int64)
    roots_of: dict[str, np.ndarray] = {}
    for chunk in layout.chunks():
        c = results[chunk.key]["clusters"]
        base = bases[chunk.key]
        roots = np.array([uf.find(base + k) for k in range(1, c["n"] + 1)], dtype=np.int64)
        roots_of[chunk.key] = roots
        for k, root in enumerate(roots.tolist()):
            pops[root] += c["pops"][k]
            cells[root] += c["cells"][k]
            sx[root] += c["sx"][k]
            sy[root] += c["sy"][k]
            first[root] = min(first[root], c["first"][k])
            if (c["dist"][k], c["near_flat"][k]) < (best[root], best_flat[root]):
                best[root], best_flat[root], which[root] = c["dist"][k], c["near_flat"][k], c["which"][k]
    roots = np.unique(np.concatenate([r for r in roots_of.values()] or [np.zeros(0, np.int64)]))
    keep = roots[pops[roots] >= min_population]
    order = keep[np.lexsort((first[keep], -pops[keep]))]
    rank = np.zeros(total, np.int32)
    rank[order] = np.arange(1, order.size + 1, dtype=np.int32)
    maps = {key: np.concatenate(([0], rank[r])).astype(np.int32) for key, r in roots_of.items()}
    figures = [
        {"population": pops[r], "cells": int(cells[r]), "sx": sx[r], "sy": sy[r], "dist": best[r], "which": int(which[r])}
        for r in order.tolist()
    ]
    return maps, figures


@_task
def _task_labels(plan: _Plan, chunk: Chunk, mapping: np.ndarray) -> str:
    out = plan.work / "labels" / f"{chunk.key}.tif"
    if _done(out):
        return str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = np.load(plan.work / "chunks" / chunk.key / "labels.npy")
    grid = plan.layout.subgrid(chunk.row0, chunk.row1, chunk.col0, chunk.col1)
    write_tile(grid.dataarray(mapping[raw], "gap_cluster", "1", "gap cluster id", _FillValue=0), out)
    return str(out)


def _gap_clusters(plan: _Plan, figures: list[dict[str, Any]]) -> clusters.GapClusters:
    """The ranked clusters, with polygons from the whole label mosaic (GDAL polygonize, streaming)."""
    layout = plan.layout
    grid = layout.grid
    vrt = plan.work / "labels.vrt"
    write_vrt(vrt, grid, [(plan.work / "labels" / f"{c.key}.tif", c.row0, c.col0, *c.shape) for c in layout.chunks()],
              dtype="int32", attrs={"_FillValue": 0})
    mask = plan.work / "labels_mask.vrt"  # the same tiles read as Byte: GDAL clamps ids > 255 to 255, 0 stays 0
    write_vrt(mask, grid, [(plan.work / "labels" / f"{c.key}.tif", c.row0, c.col0, *c.shape) for c in layout.chunks()],
              dtype="uint8", attrs={})
    polygons: dict[int, list[dict[str, Any]]] = {}
    if figures:
        with rasterio.open(vrt) as src, rasterio.open(mask) as valid:
            for geom, value in rasterio.features.shapes(rasterio.band(src, 1), mask=rasterio.band(valid, 1), connectivity=8,
                                                        transform=grid.transform):
                polygons.setdefault(int(value), []).append(geom)
    cx = [f["sx"] / f["population"] for f in figures]
    cy = [f["sy"] / f["population"] for f in figures]
    lon, lat = transform_points(grid.crs, "EPSG:4326", cx, cy) if figures else ([], [])
    site_ids = plan.sites["site_id"].astype(str).to_numpy() if "site_id" in plan.sites else np.arange(len(plan.sites)).astype(str)
    cell_km2 = grid.resolution**2 / 1e6
    digits = clusters._COORD_DIGITS
    found = tuple(
        clusters.GapCluster(
            cluster_id=k,
            population=int(round(f["population"])),
            cells=f["cells"],
            area_km2=round(float(f["cells"]) * cell_km2, 6),
            nearest_site_km=round(float(f["dist"]) / 1000.0, 3) if f["which"] >= 0 else None,
            nearest_site_id=str(site_ids[f["which"]]) if f["which"] >= 0 else None,
            centroid_x=round(float(cx[k - 1]), 2),
            centroid_y=round(float(cy[k - 1]), 2),
            centroid_lon=round(float(lon[k - 1]), digits),
            centroid_lat=round(float(lat[k - 1]), digits),
            geometry=clusters._merge_polygons(polygons[k]),
        )
        for k, f in enumerate(figures, start=1)
    )
    return clusters.GapClusters(found, xr.DataArray(np.zeros((0, 0), np.int32), dims=("y", "x"), name="gap_cluster"), grid.crs.to_string())


# --------------------------------------------------------------------- merge: statistics


def _indicators(plan: _Plan, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Indicators from the people counted per (class, area, coverage) key in every chunk.

    The counts are summed exactly (integers) and laid out as a one-row
    Dataset, one cell per key holding its people; covgap.statistics then
    computes every indicator from it as from the whole grid (its sums are
    sums of the same integers).
    """
    keys = np.concatenate([r["keys"] for r in results.values()])
    counts = np.concatenate([r["counts"] for r in results.values()])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    people = np.zeros(len(unique), np.int64)
    np.add.at(people, inverse.ravel(), counts)
    grid = plan.layout.grid
    row = AnalysisGrid(grid.crs, Affine(grid.resolution, 0.0, 0.0, 0.0, -grid.resolution, 0.0), len(unique), 1)

    def layer(values: np.ndarray, name: str, **attrs: Any) -> xr.DataArray:
        return row.dataarray(values.reshape(1, -1), name, "1", name, **attrs)

    def covered(column: int) -> dict[str, xr.DataArray]:
        return {f"covered_{tech}": layer(unique[:, column + t].astype(np.uint8), f"covered_{tech}") for t, tech in enumerate(TECHNOLOGIES)}

    ds = xr.Dataset({
        "population": layer(people.astype(np.float64), "population"),
        "urbanisation": layer(unique[:, 0].astype(np.uint8), "urbanisation"),
        **covered(2),
    })
    operators: dict[str, xr.Dataset] = {}
    for g, op in enumerate(plan.operator_groups, start=1):
        operators[op] = xr.Dataset({**covered(2 + 4 * g), "population": ds["population"]})
    if not plan.operator_groups:
        operators = {op: ds for op in plan.operators}
    areas = None
    scenario = plan.scenario
    if scenario.inputs.boundaries is not None:  # as rasterize_areas: the areas holding a cell, renumbered in file order
        present = np.zeros(len(plan.area_names) + 1, bool)
        present[unique[:, 1]] = True
        present[0] = True
        renumber = np.cumsum(present, dtype=np.int32) - 1
        names = tuple(name for k, name in enumerate(plan.area_names, start=1) if present[k])
        areas = statistics.AdminAreas(layer(renumber[unique[:, 1]], "admin_area"), names)
    return {"scenario": {"name": scenario.name, "title": scenario.title}, **statistics.indicators(ds, operators=operators, areas=areas)}


# --------------------------------------------------------------------- outputs


@_task
def _task_cog(plan: _Plan, layer: dict[str, Any], target: str) -> str:
    layout = plan.layout
    vrt = plan.work / "layers" / f"{layer['name']}.vrt"
    vrt.parent.mkdir(parents=True, exist_ok=True)
    parts = [(plan.work / "chunks" / c.key / f"{layer['name']}.tif", c.row0, c.col0, *c.shape) for c in layout.chunks()]
    write_vrt(vrt, layout.grid, parts, dtype=layer["dtype"], attrs=layer["attrs"])
    # the copy streams: a small block cache and few open chunk tiles cost it no time
    with rasterio.Env(GDAL_NUM_THREADS="1", GDAL_CACHEMAX=_COG_CACHE_BYTES, GDAL_MAX_DATASET_POOL_SIZE=_COG_OPEN_TILES):
        rasterio.shutil.copy(str(vrt), target, driver="COG", **COG_OPTIONS, bigtiff="IF_SAFER")  # a national layer may pass 4 GB
    return target


def _layer_meta(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Layers in Dataset order, with the value range over all chunks."""
    first = next(iter(results.values()))["layers"]
    merged = []
    for k, layer in enumerate(first):
        ranges = [r["layers"][k]["range"] for r in results.values() if r["layers"][k]["range"] is not None]
        merged.append({**layer, "range": (min(a for a, _ in ranges), max(b for _, b in ranges)) if ranges else None})
    return merged


def _manifest_entry(layer: dict[str, Any], grid: AnalysisGrid) -> dict[str, Any]:
    dtype = np.dtype(layer["dtype"])
    if layer["range"] is None:
        fill = layer["attrs"].get("_FillValue", 0)
        values = np.array([[np.nan, np.nan]] if dtype.kind == "f" else [[fill, fill]], dtype)
    else:
        values = np.array([list(layer["range"])], dtype)
    return layer_entry(xr.DataArray(values, dims=("y", "x"), name=layer["name"], attrs=layer["attrs"]), grid)


# --------------------------------------------------------------------- driver


def _gather(client: Any, futures: list[Any], stage: str, progress: Progress | None, memory: dict[str, dict[str, int]]) -> list[Any]:
    """Wait for a stage's tasks, ticking ``progress``; record the workers' peak memory of the stage in ``memory``."""
    from distributed import as_completed

    tick = progress or (lambda _s, _d, _t: None)
    tick(stage, 0, len(futures))
    for done, _ in enumerate(as_completed(futures), start=1):
        tick(stage, done, len(futures))
    results = client.gather(futures)
    _record_memory(client, memory, stage)
    return results


def _record_memory(client: Any, memory: dict[str, dict[str, int]], stage: str) -> None:
    """Put every worker's resident memory (``"start"``) or peak since the last record (a stage) in ``memory``."""
    probes = client.run(_memory_probe)
    if all(probe is not None for probe in probes.values()):
        memory[stage] = {worker: probe[0 if stage == "start" else 1] for worker, probe in sorted(probes.items())}


def run_chunked(
    scenario: Scenario,
    out_dir: str | Path,
    *,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overwrite: bool = False,
    progress: Progress | None = None,
    work_dir: str | Path | None = None,
    numba_threads: int | None = None,
    keep_work: bool = False,
) -> ChunkedRun:
    """Run one scenario chunk by chunk on dask.distributed and write its run directory.

    The run directory has the same layers (values identical cell for cell),
    ``summary.json``, ``indicators.csv``, ``gap_clusters.geojson``,
    ``sites.geojson`` and ``manifest.json`` as ``covgap run`` in memory;
    ``dataset.nc`` is not written (a national grid does not fit one file
    usefully; the COGs are the layers).

    Parameters
    ----------
    scenario : Scenario
        From :func:`covgap.scenario.load_scenario`.
    out_dir : str or Path
        The run directory; written atomically at the end.
    client : distributed.Client, optional
        Use this client. At most one of ``client``, ``scheduler`` and
        ``n_workers`` may be given; with none, a one-worker LocalCluster runs.
    scheduler : str, optional
        Address of a running ``dask scheduler`` (``tcp://host:8786``). Every
        worker must import covgap and see the scenario's inputs and the
        output directory at the same paths (shared storage).
    n_workers : int, optional
        Start a LocalCluster of this many single-threaded worker processes.
    chunk_size : int
        Chunk side in cells (default 1024).
    overwrite : bool
        Replace an existing ``out_dir``.
    progress : callable, optional
        ``progress(stage, done, total)`` as tasks finish.
    work_dir : str or Path, optional
        Where chunk results are kept until the run succeeds (default: a
        hidden ``.<out_dir name>.covgap-work`` folder beside ``out_dir``).
        A rerun of the same scenario with the same chunk size resumes from
        it; a changed scenario or input file starts it afresh.
    numba_threads : int, optional
        Numba threads per task (default: with ``n_workers``, the machine's
        cores divided among the workers; otherwise Numba's default, all of
        a worker machine's cores).
    keep_work : bool
        Keep the work directory after success.

    Returns
    -------
    ChunkedRun

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false.
    CovgapError
        Bad inputs, as in the in-memory path (raised from the task that meets them).
    """
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not overwrite:
        from covgap.errors import OutputExistsError

        raise OutputExistsError(f"{out_dir} exists; pass --overwrite to replace it")
    work = Path(work_dir).absolute() if work_dir is not None else out_dir.parent / f".{out_dir.name}.covgap-work"
    fingerprint = _fingerprint(scenario, chunk_size)
    stamp = work / "plan.json"
    if work.exists() and (not stamp.exists() or json.loads(stamp.read_text())["fingerprint"] != fingerprint):
        log.info("%s: the scenario or its inputs changed; starting afresh", work)
        shutil.rmtree(work)
    for sub in ("population", "km", "chunks", "labels", "layers"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    if numba_threads is None and n_workers is not None:  # one core per worker process: no oversubscription
        numba_threads = max(1, (os.cpu_count() or 1) // n_workers)
    plan, messages = _make_plan(scenario, work, chunk_size, numba_threads)
    _write_atomic(stamp, json.dumps({"fingerprint": fingerprint, "grid": [plan.layout.grid.width, plan.layout.grid.height],
                                     "chunk_size": chunk_size}))
    layout = plan.layout
    chunk_list = list(layout.chunks())
    memory: dict[str, dict[str, int]] = {}
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), _client(client, scheduler, n_workers) as c:
        _record_memory(c, memory, "start")
        p = c.scatter(plan, broadcast=True)
        elevation = c.submit(_task_elevation, p, pure=False)
        populations = [c.submit(_task_population, p, ch, pure=False) for ch in chunk_list]
        _gather(c, [elevation, *populations], "inputs", progress, memory)
        _population_vrt(plan)
        blocks = [c.submit(_task_km_block, p, bi, bj, pure=False) for bi, bj in _km_blocks(plan)]
        carries = c.submit(_task_carries, p, pure=False)
        fill = c.submit(_task_fill, p, pure=False)
        classify = c.submit(_task_classify, p, *blocks, pure=False)
        _gather(c, [*blocks, classify, carries, fill], "urbanisation", progress, memory)
        chunk_futures = [c.submit(_task_chunk, p, ch, pure=False) for ch in chunk_list]
        results = {r["key"]: r for r in _gather(c, chunk_futures, "chunks", progress, memory)}
        maps, figures = _merge_clusters(plan, results)
        _gather(c, [c.submit(_task_labels, p, ch, maps[ch.key], pure=False) for ch in chunk_list], "clusters", progress, memory)
        found = _gap_clusters(plan, figures)
        indicators = _indicators(plan, results)
        layer_meta = _layer_meta(results)
        for r in results.values():
            messages.extend(r["warnings"])
        with atomic_directory(out_dir, overwrite=overwrite) as tmp:
            cogs = [c.submit(_task_cog, p, layer, str(tmp / f"{layer['name']}.tif"), pure=False) for layer in layer_meta]
            _gather(c, cogs, "outputs", progress, memory)
            grid = layout.grid
            write_json(tmp / "summary.json", indicators)
            files: dict[str, str] = {}
            tables = {"indicators": statistics.indicators_rows(indicators), "gap_clusters": clusters.cluster_rows(found)}
            for stem, rows in tables.items():
                write_csv(tmp / f"{stem}.csv", rows)
                files[f"{stem}_csv"] = f"{stem}.csv"
            extras = {"gap_clusters": clusters.to_geojson(found), "sites": sites_geojson(plan.sites)}
            for stem, doc in extras.items():
                write_json(tmp / f"{stem}.geojson", doc)
                files[stem] = f"{stem}.geojson"
            manifest = {
                "name": scenario.name,
                "title": scenario.title,
                "covgap_version": __version__,
                "crs": grid.crs.to_string(),
                "bounds": [round(v, 7) for v in grid.lonlat_bounds()],
                "resolution_m": grid.resolution,
                "metadata": scenario.metadata,
                "attribution": list(scenario.metadata.get("attribution", [])),
                "layers": [_manifest_entry(layer, grid) for layer in layer_meta],
                "extras": files,
            }
            write_json(tmp / "manifest.json", manifest)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    unique_messages = list(dict.fromkeys(messages))
    reused = sum(1 for r in results.values() if r.get("reused"))
    seconds = {k: round(sum(r["seconds"][k] for r in results.values()), 1) for k in ("propagation", "total")}
    return ChunkedRun(out_dir, indicators, unique_messages, len(chunk_list), reused, seconds, memory)
