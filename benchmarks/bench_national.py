"""National scale: chunked covgap on dask.distributed over all of Vietnam.

Inputs (generated once into --work, deterministic):

* population: the real WorldPop 2020 1 km grid of all of Vietnam
  (``../shared/datasets/raw/worldpop-vnm``);
* terrain: generated (seeded fractal noise, 0-2,500 m, highest in the north
  and west like Vietnam's), 500 m cells in UTM 48N, warped onto the analysis
  grid bilinearly by the run's elevation stage;
* sites: ``--masts`` masts of three operators placed with probability
  proportional to WorldPop population (jittered inside the 1 km cell), each
  with 4G, 2G on 40 % of masts and 3G on 30 %; omni, 30 m, Hata/COST-231.

The national grid (``--resolution``, default 50 m, UTM 48N over WorldPop's
bounds) has 32,979 x 16,134 = 532 million cells (831 million at 40 m).
Without ``--subset`` the whole grid runs; ``--subset ROWS COLS`` runs a
window of it (top-left at ``--at ROW COL`` of the national grid) with every
site inside; the subset's figures extrapolate by transmitters and cells
(see benchmarks/RESULTS.md). Each run's figures (wall time, time per stage,
chunk-task seconds, each worker's resident memory at the start and its peak
per stage against ``chunk_memory_bound``, output size) are printed as JSON
and written to ``--report`` (JSON, plus a markdown table beside it, ``.md``;
a relative path is taken under ``--work``). A national
run interrupted part-way resumes from its finished chunks when started
again with the same arguments (the run's work folder is kept under
``--work`` until the run succeeds).

Modes: ``national`` (one worker count per run, chunked) and ``sample``
(the sample region: in-memory ``analyse`` + ``write_run`` versus
``run_chunked`` with 1 and 2 workers, same process tree, same session).

Run from the repository root:

    .venv/bin/python benchmarks/bench_national.py national --subset 2048 2048 --workers 1 2
    .venv/bin/python benchmarks/bench_national.py national --workers 2 --report national-50m-10km.json
    .venv/bin/python benchmarks/bench_national.py sample
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform as transform_points
from rasterio.warp import transform_bounds

HERE = Path(__file__).resolve().parent
WORLDPOP = HERE.parent.parent / "shared" / "datasets" / "raw" / "worldpop-vnm" / "vnm_ppp_2020_1km_Aggregated_UNadj.tif"
SAMPLE = HERE.parent / "datasets" / "sample" / "danang.toml"
CRS = "EPSG:32648"


def make_inputs(work: Path, masts: int, seed: int = 2020) -> dict[str, Path]:
    """Generated terrain and population-placed sites for all of Vietnam (cached in ``work``)."""
    work.mkdir(parents=True, exist_ok=True)
    dem_path, sites_path = work / "vnm_terrain_500m.tif", work / f"vnm_sites_{masts}.csv"
    rng = np.random.default_rng(seed)
    with rasterio.open(WORLDPOP) as src:
        pop = src.read(1, masked=True).filled(0.0).astype(np.float64)
        pop_transform, bounds = src.transform, src.bounds
    if not dem_path.exists():
        left, bottom, right, top = transform_bounds("EPSG:4326", CRS, *bounds, densify_pts=21)
        res = 500.0
        left, top = math.floor(left / res) * res - 5000, math.ceil(top / res) * res + 5000
        w, h = int((right - left) / res) + 20, int((top - bottom) / res) + 20
        z = np.zeros((h, w))
        for octave in range(7):  # fractal noise: coarse random grids, bilinearly upsampled
            n = 2 ** (octave + 2)
            coarse = rng.normal(0.0, 1.0, (n * h // w + 2, n + 2))
            from scipy.ndimage import zoom

            z += zoom(coarse, (h / (coarse.shape[0] - 1), w / (coarse.shape[1] - 1)), order=1)[:h, :w] / 1.8**octave
        rows, cols = np.indices((h, w))
        relief = 0.3 + 0.7 * (1 - rows / h) * (1 - 0.5 * cols / w)  # highest in the north-west
        z = np.clip((z - z.min()) / (z.max() - z.min()) * 2500.0 * relief - 100.0, 0.0, None).astype(np.float32)
        with rasterio.open(dem_path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs=CRS,
                           transform=Affine(res, 0, left, 0, -res, top), tiled=True, compress="DEFLATE", nodata=np.nan) as dst:
            dst.write(z, 1)
    if not sites_path.exists():
        p = pop.ravel() / pop.sum()
        cells = rng.choice(p.size, size=masts, p=p)
        r, c = np.divmod(cells, pop.shape[1])
        lon, lat = pop_transform * (c + rng.random(masts), r + rng.random(masts))
        lines = ["site_id,operator,lon,lat,height_m,tech,freq_mhz,eirp_dbm,azimuth_deg,beamwidth_deg,tilt_deg"]
        for k in range(masts):
            op = "ABC"[k % 3]
            techs = [("4G", 1800.0, 62.0)]
            if rng.random() < 0.4:
                techs.append(("2G", 900.0, 58.0))
            if rng.random() < 0.3:
                techs.append(("3G", 1900.0, 60.0))
            for tech, freq, eirp in techs:
                lines.append(f"M{k:06d},Operator {op},{lon[k]:.6f},{lat[k]:.6f},30,{tech},{freq},{eirp},,,0")
        sites_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"dem": dem_path, "population": WORLDPOP, "sites": sites_path}


def national_grid(resolution: float) -> tuple[float, float, int, int]:
    """``(left, top, width, height)`` of the national analysis grid (as AnalysisGrid.from_lonlat_bounds builds it)."""
    from covgap.grid import AnalysisGrid

    with rasterio.open(WORLDPOP) as src:
        b = src.bounds
    grid = AnalysisGrid.from_lonlat_bounds((b.left, b.bottom, b.right, b.top), resolution, CRS)
    return grid.transform.c, grid.transform.f, grid.width, grid.height


def scenario_file(work: Path, inputs: dict[str, Path], resolution: float, radius_km: float, subset: tuple[int, int, int, int] | None) -> Path:
    left, top, width, height = national_grid(resolution)
    if subset is None:  # the national grid itself
        with rasterio.open(WORLDPOP) as src:
            b = src.bounds
        bounds = f"bounds = [{b.left!r}, {b.bottom!r}, {b.right!r}, {b.top!r}]"
    else:
        row, col, rows, cols = subset
        x0, x1 = left + col * resolution + 1.0, left + (col + cols) * resolution - 1.0
        y0, y1 = top - row * resolution - 1.0, top - (row + rows) * resolution + 1.0
        lon, lat = transform_points(CRS, "EPSG:4326", [x0, x1, x0, x1], [y0, y0, y1, y1])
        bounds = f"bounds = [{min(lon)}, {min(lat)}, {max(lon)}, {max(lat)}]"
    text = f"""
    name = "vietnam"
    title = "Vietnam, generated terrain, sites placed by WorldPop population"
    [inputs]
    dem = "{inputs['dem']}"
    population = "{inputs['population']}"
    sites = "{inputs['sites']}"
    [grid]
    resolution_m = {resolution}
    crs = "{CRS}"
    {bounds}
    [propagation]
    max_radius_km = {radius_km}
    model = "auto"
    [metadata]
    sites_provenance = "modelled"
    """
    path = work / "vietnam.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def chunked(scenario_path: Path, out: Path, workers: int, chunk_size: int) -> dict[str, object]:
    from distributed import Client, LocalCluster

    from covgap.distributed import chunk_memory_bound, elevation_halo, run_chunked
    from covgap.scenario import load_scenario

    scenario = load_scenario(scenario_path)
    stages: dict[str, float] = {}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, Client(lc) as client:
        client.run(lambda: __import__("covgap.distributed"))  # imports and JIT cache loads, apart from the timing
        start = last = time.perf_counter()

        def progress(stage: str, done: int, total: int) -> None:
            nonlocal last
            if done == total:
                now = time.perf_counter()
                stages[stage] = round(now - last, 1)
                last = now

        result = run_chunked(scenario, out, client=client, chunk_size=chunk_size, overwrite=True, progress=progress,
                             numba_threads=1)
        wall = time.perf_counter() - start
    sites = json.loads((out / "sites.geojson").read_text())["features"]
    techs = {f["properties"]["tech"] for f in sites}
    operators = {f["properties"]["operator"] for f in sites}
    resolution = scenario.grid.resolution_m
    bound = chunk_memory_bound(chunk_size, elevation_halo(int(scenario.propagation.max_radius_km * 1000 / resolution), resolution),
                               n_techs=len(techs), n_groups=1 + len(operators) if len(operators) > 1 else 1, n_sites=len(sites))
    mb = {stage: [round(v / 2**20) for v in peaks.values()] for stage, peaks in result.memory.items()}
    return {"workers": workers, "wall_s": round(wall, 1), "stages_s": stages, "chunks": result.chunks,
            "reused_chunks": result.reused, "chunk_task_s": result.task_seconds,
            "peak_rss_mb_per_worker": [round(v / 2**20) for v in result.worker_peaks.values()],
            "memory_mb_per_worker": mb, "growth_mb_per_worker": [round(v / 2**20) for v in result.worker_growth.values()],
            "chunk_memory_bound_mb": round(bound / 2**20),
            "output_gb": round(sum(f.stat().st_size for f in out.iterdir()) / 1e9, 2)}


def markdown(report: dict[str, object]) -> str:
    """The runs of a report as a markdown table (stages in seconds)."""
    runs = report["runs"]
    assert isinstance(runs, list)
    stages = list(dict.fromkeys(stage for run in runs for stage in run["stages_s"]))
    head = ["workers", "chunks (reused)", "wall s", *(f"{stage} s" for stage in stages), "chunk tasks s (propagation)",
            "peak RSS per worker MB", "growth over start MB (bound)", "output GB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * (len(head) - 1) + "---|"]
    for run in runs:
        tasks = run["chunk_task_s"]
        cells = [run["workers"], f"{run['chunks']} ({run['reused_chunks']})", run["wall_s"],
                 *(run["stages_s"].get(stage, "") for stage in stages), f"{tasks.get('total', '')} ({tasks.get('propagation', '')})",
                 ", ".join(str(v) for v in run["peak_rss_mb_per_worker"]),
                 f"{', '.join(str(v) for v in run['growth_mb_per_worker'])} ({run['chunk_memory_bound_mb']})", run["output_gb"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("national", "sample"))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "covgap-bench-national")
    parser.add_argument("--resolution", type=float, default=50.0)
    parser.add_argument("--radius-km", type=float, default=10.0)
    parser.add_argument("--masts", type=int, default=20_000)
    parser.add_argument("--subset", type=int, nargs=2, metavar=("ROWS", "COLS"))
    parser.add_argument("--at", type=int, nargs=2, metavar=("ROW", "COL"), default=(5600, 7000))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--report", type=Path, help="also write the report here (JSON, relative to --work) and as a markdown table (.md)")
    args = parser.parse_args()
    report: dict[str, object] = {"mode": args.mode}
    if args.mode == "national":
        inputs = make_inputs(args.work, args.masts)
        left, top, width, height = national_grid(args.resolution)
        subset = (*args.at, *args.subset) if args.subset else None
        toml = scenario_file(args.work, inputs, args.resolution, args.radius_km, subset)
        n_tx = sum(1 for _ in inputs["sites"].open()) - 1
        report.update(national_grid_cells=[width, height], masts=args.masts, transmitters=n_tx, subset=subset,
                      resolution_m=args.resolution, radius_km=args.radius_km, chunk_size=args.chunk_size)
        from covgap.analysis import place_sites
        from covgap.datasets.sites import read_sites
        from covgap.grid import AnalysisGrid
        from covgap.scenario import load_scenario

        import warnings

        sc = load_scenario(toml)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = sc.grid.bounds
            grid = AnalysisGrid.from_lonlat_bounds(b, sc.grid.resolution_m, sc.grid.crs) if b else None
            if grid is not None:
                inside = place_sites(read_sites(inputs["sites"]), grid, source="bench")
                report["grid_cells"] = [grid.width, grid.height]
                report["transmitters_in_grid"] = len(inside)
        runs = []
        for workers in args.workers:
            runs.append(chunked(toml, args.work / f"out-{workers}", workers, args.chunk_size))
            print(json.dumps(runs[-1]), flush=True)
        report["runs"] = runs
    else:
        from covgap.analysis import analyse
        from covgap.export import sites_geojson
        from covgap.export import write_run
        from covgap.scenario import load_scenario

        scenario = load_scenario(SAMPLE)
        out = args.work / "sample"
        shutil.rmtree(out, ignore_errors=True)
        analyse_small = load_scenario(SAMPLE)
        start = time.perf_counter()
        result = analyse(scenario)
        write_run(out / "memory", result.dataset, name=scenario.name, title=scenario.title, metadata=scenario.metadata,
                  indicators=result.indicators, tables=result.tables,
                  extras={"gap_clusters": result.gap_clusters, "sites": sites_geojson(result.sites)})
        report["in_memory"] = {"wall_s": round(time.perf_counter() - start, 1), "peak_rss_mb": round(peak_rss_mb())}
        del analyse_small
        runs = []
        for workers in args.workers:
            runs.append(chunked(SAMPLE, out / f"chunked-{workers}", workers, args.chunk_size))
            print(json.dumps(runs[-1]), flush=True)
        report["runs"] = runs
    print(json.dumps(report, indent=1))
    if args.report is not None:
        path = args.work / args.report  # an absolute --report stays as given
        path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        path.with_suffix(".md").write_text(markdown(report), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
