"""Chunked analysis on a real dask.distributed LocalCluster equals the in-memory path.

Generated regions put chunk edges through sites, a ridge, a settlement and
a nodata (sea) patch; the sample region runs with a short radius. Outputs
are compared layer by layer, cell for cell, and indicator by indicator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform as transform_points

from covgap.analysis import analyse, coverage_layers, load_inputs
from covgap.chunked import ChunkLayout, combine_pairwise, leaves, pairwise_sum_ranges
from covgap.distributed import chunk_memory_bound, elevation_halo, run_chunked
from covgap.errors import CovgapWarning
from covgap.export import write_run
from covgap.scenario import load_scenario

distributed = pytest.importorskip("distributed")

RES = 100.0
CRS = "EPSG:32649"
X0, Y0 = 800_000.0, 1_790_000.0
CHUNK = 40
SAMPLE_TOML = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "danang.toml"


def _write(path: Path, data: np.ndarray, transform: Affine, crs: str, nodata: float | None) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype=data.dtype.name, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data, 1)


def make_region(folder: Path, shape: tuple[int, int] = (120, 120), *, radius_km: float = 2.5, operators: int = 3, seed: int = 7) -> Path:
    """A generated region: ridges and a bump crossing chunk edges, a sea patch, a town on a chunk corner.

    The DEM is on the analysis grid (UTM, 100 m); population is a 1 km
    geographic raster; sites sit on chunk edges and corners.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = shape
    rows, cols = np.indices(shape, dtype=np.float64)
    z = 20.0 + 300.0 * np.exp(-((cols - CHUNK) / 6.0) ** 2)  # a ridge along a chunk edge
    z += 250.0 * np.exp(-((rows - 2 * CHUNK - 3) / 5.0) ** 2 - ((cols - 80) / 40.0) ** 2)  # across another
    z += 200.0 * np.exp(-(((rows - CHUNK) ** 2 + (cols - 2 * CHUNK) ** 2) / 15.0**2))  # a hill on a corner
    z += rng.normal(0.0, 3.0, shape)
    z = z.astype(np.float32)
    z[h - 25:, :30] = -9999.0  # sea / nodata in a corner
    transform = Affine(RES, 0.0, X0, 0.0, -RES, Y0)
    _write(folder / "dem.tif", z, transform, CRS, -9999.0)

    # population: 1 km cells in degrees over the region, a town on the chunk corner (row 48, col 96)
    (west, east), (north, south) = transform_points(CRS, "EPSG:4326", [X0, X0 + w * RES], [Y0, Y0 - h * RES])
    west, east = min(west, east) - 0.02, max(west, east) + 0.02
    south, north = min(south, north) - 0.02, max(south, north) + 0.02
    res_deg = 1 / 120
    pw, ph = int(np.ceil((east - west) / res_deg)), int(np.ceil((north - south) / res_deg))
    pop = rng.gamma(1.2, 40.0, (ph, pw)).astype(np.float32)
    town_lon, town_lat = transform_points(CRS, "EPSG:4326", [X0 + 2 * CHUNK * RES], [Y0 - CHUNK * RES])
    pr = int((north - town_lat[0]) / res_deg)
    pc = int((town_lon[0] - west) / res_deg)
    pop[max(0, pr - 2): pr + 3, max(0, pc - 2): pc + 3] = 6000.0
    pop[0, 0] = -99999.0
    _write(folder / "pop.tif", pop, Affine(res_deg, 0.0, west, 0.0, -res_deg, north), "EPSG:4326", -99999.0)

    # sites: on chunk edges and corners, and scattered; three operators, mixed technologies
    spots = [(CHUNK, CHUNK), (CHUNK, 2 * CHUNK), (2 * CHUNK, CHUNK + 1), (CHUNK - 1, 2 * CHUNK + 20), (10, 10), (h - 10, w - 10), (2 * CHUNK, 2 * CHUNK)]
    spots += [(int(rng.integers(5, h - 5)), int(rng.integers(35, w - 5))) for _ in range(6)]
    techs = [("2G", 900.0, 58.0), ("3G", 2100.0, 60.0), ("4G", 1800.0, 62.0), ("5G", 3500.0, 62.0)]
    lines = ["site_id,operator,lon,lat,height_m,tech,freq_mhz,eirp_dbm,azimuth_deg,beamwidth_deg,tilt_deg"]
    for k, (r, c) in enumerate(spots):
        x, y = X0 + (c + 0.5) * RES, Y0 - (r + 0.5) * RES
        (lon,), (lat,) = transform_points(CRS, "EPSG:4326", [x], [y])
        op = "ABC"[k % operators]
        for t, (tech, freq, eirp) in enumerate(techs):
            if (k + t) % 3 == 2 or (tech == "5G" and k % 2):
                continue
            az, bw = ("", "") if k % 2 else (str((40 * k + 90 * t) % 360), "65")
            lines.append(f"S{k},Operator {op},{lon:.7f},{lat:.7f},{30 + k % 3 * 5},{tech},{freq},{eirp},{az},{bw},2")
    (folder / "sites.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # two areas, split through the middle of the region
    xm = X0 + w * RES / 2
    areas = []
    for name, (xa, xb) in (("West", (X0 - 500, xm)), ("East", (xm, X0 + w * RES + 500))):
        ring_x = [xa, xb, xb, xa, xa]
        ring_y = [Y0 + 500, Y0 + 500, Y0 - h * RES - 500, Y0 - h * RES - 500, Y0 + 500]
        lon, lat = transform_points(CRS, "EPSG:4326", ring_x, ring_y)
        areas.append({"type": "Feature", "properties": {"shapeName": name},
                      "geometry": {"type": "Polygon", "coordinates": [[[a, b] for a, b in zip(lon, lat)]]}})
    (folder / "areas.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": areas}), encoding="utf-8")

    toml = f"""
    name = "generated"
    title = "Generated region"
    [inputs]
    dem = "dem.tif"
    population = "pop.tif"
    sites = "sites.csv"
    boundaries = "areas.geojson"
    [grid]
    resolution_m = 100.0
    crs = "{CRS}"
    [propagation]
    max_radius_km = {radius_km}
    model = "auto"
    [metadata]
    sites_provenance = "modelled"
    attribution = ["generated"]
    """
    path = folder / "generated.toml"
    path.write_text(textwrap.dedent(toml), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cluster():
    """A real LocalCluster: two single-threaded worker processes."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc:
        with distributed.Client(lc) as client:
            yield client


def in_memory_run(scenario, out: Path) -> Path:
    result = analyse(scenario)
    from covgap.export import sites_geojson

    write_run(out, result.dataset, name=scenario.name, title=scenario.title, metadata=scenario.metadata,
              indicators=result.indicators, tables=result.tables,
              extras={"gap_clusters": result.gap_clusters, "sites": sites_geojson(result.sites)})
    return out


def assert_same_run(chunked: Path, memory: Path) -> None:
    """Every layer equal cell for cell, indicators and clusters equal, manifests equal."""
    m_manifest = json.loads((memory / "manifest.json").read_text())
    c_manifest = json.loads((chunked / "manifest.json").read_text())
    assert [layer["name"] for layer in c_manifest["layers"]] == [layer["name"] for layer in m_manifest["layers"]]
    for c_layer, m_layer in zip(c_manifest["layers"], m_manifest["layers"]):
        assert c_layer == m_layer
        with rasterio.open(memory / m_layer["file"]) as a, rasterio.open(chunked / c_layer["file"]) as b:
            assert (a.crs, a.transform, a.shape, a.dtypes, a.nodata is None) == (b.crs, b.transform, b.shape, b.dtypes, b.nodata is None)
            assert a.tags(1) == b.tags(1)
            va, vb = a.read(1), b.read(1)
            assert np.array_equal(va, vb, equal_nan=True), f"{m_layer['name']}: {int((va != vb).sum())} cells differ"
    for name in ("summary.json", "gap_clusters.geojson", "sites.geojson"):
        assert json.loads((chunked / name).read_text()) == json.loads((memory / name).read_text()), name
    for name in ("indicators.csv", "gap_clusters.csv"):
        assert (chunked / name).read_text() == (memory / name).read_text(), name
    assert {k: v for k, v in c_manifest.items() if k not in ("layers", "extras")} == {
        k: v for k, v in m_manifest.items() if k not in ("layers", "extras")
    }


def test_chunked_equals_in_memory_on_generated_region(tmp_path: Path, cluster) -> None:
    scenario = load_scenario(make_region(tmp_path / "region", radius_km=1.2, operators=2))
    memory = in_memory_run(scenario, tmp_path / "memory")
    result = run_chunked(scenario, tmp_path / "chunked", client=cluster, chunk_size=CHUNK, keep_work=True)
    assert result.chunks >= 9 and result.reused == 0
    assert_same_run(tmp_path / "chunked", memory)
    # the merge was exercised: some gap cluster spans several chunks
    labels = np.concatenate([np.load(p).ravel() for p in sorted((tmp_path / ".chunked.covgap-work" / "chunks").glob("*/labels.npy"))])
    clusters = json.loads((tmp_path / "chunked" / "gap_clusters.geojson").read_text())["features"]
    assert clusters and int((labels > 0).sum()) == sum(f["properties"]["cells"] for f in clusters) + _small_cells(tmp_path)
    assert _spanning(tmp_path / "chunked", clusters)
    # every worker's resident memory stays within its start plus the stated bound
    radius = int(scenario.propagation.max_radius_km * 1000 / RES)
    assert_within_bound(result, chunk_memory_bound(CHUNK, elevation_halo(radius, RES), n_groups=3, n_sites=50))


def assert_within_bound(result, bound: int) -> None:
    """Every stage was measured on both workers, and each worker grew by no more than ``bound`` over its start."""
    assert set(result.memory) == {"start", "inputs", "urbanisation", "chunks", "clusters", "outputs"}
    grown = result.worker_growth
    assert len(grown) == 2 and all(0 <= g <= bound for g in grown.values()), (grown, bound)
    assert result.peak_worker_bytes == max(result.worker_peaks.values()) > 0


def _small_cells(tmp_path: Path) -> int:
    """Cells of clusters below one person (labelled, but dropped)."""
    with rasterio.open(tmp_path / "memory" / "rural_uncovered_population.tif") as src:
        people = np.nan_to_num(src.read(1).astype(np.float64))
    import scipy.ndimage as ndi

    raw, n = ndi.label(people > 0, structure=ndi.generate_binary_structure(2, 2))
    pops = ndi.sum_labels(people, raw, np.arange(1, n + 1))
    cells = np.bincount(raw.ravel(), minlength=n + 1)[1:]
    return int(cells[pops < 1.0].sum())


def _spanning(run: Path, features: list[dict]) -> bool:
    with rasterio.open(run / "rural_uncovered_population.tif") as src:
        inv = ~src.transform
    for f in features:
        geom = f["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        lon = [p[0] for poly in polys for p in poly[0]]
        lat = [p[1] for poly in polys for p in poly[0]]
        xs, ys = transform_points("EPSG:4326", CRS, lon, lat)
        cols, rows = inv * (np.array(xs), np.array(ys))
        if len({int(c) // CHUNK for c in np.clip(cols, 0, None) - 0.5}) > 1 or len({int(r) // CHUNK for r in np.clip(rows, 0, None) - 0.5}) > 1:
            return True
    return False


@pytest.mark.filterwarnings("ignore:.*cells without elevation data:UserWarning")
def test_propagation_is_window_invariant(tmp_path: Path) -> None:
    """A window of the chunk plus the halo, with the sites within R + 1 cells, gives the whole grid's values.

    One site stands on the nodata (sea) patch R cells from chunk (2, 1): its
    ground height comes from the valid cells within 1 km, near the window's
    edge.
    """
    scenario = load_scenario(make_region(tmp_path / "region", radius_km=1.5))
    inputs = load_inputs(scenario)
    radius = int(scenario.propagation.max_radius_km * 1000 / RES)
    halo = elevation_halo(radius, RES)
    layout = ChunkLayout(inputs.grid, 32)
    sea = inputs.sites.iloc[[0]].assign(site_id="sea", tech="4G", freq_mhz=1800.0)
    x, y = inputs.grid.transform * (32 - radius + 0.5, 95 + 0.5)
    sites = pd.concat([inputs.sites, sea.assign(x=x, y=y)], ignore_index=True)
    assert np.isnan(inputs.elevation.values[95, 32 - radius]) and halo == radius + 1 + 10
    on_nodata = "stand on a nodata DEM cell .* \\(sites 'sea'\\)"
    with pytest.warns(CovgapWarning, match=on_nodata):
        full = coverage_layers(inputs.elevation, sites, scenario)
    rows, cols = (np.floor(v).astype(int) for v in inputs.grid.rowcol(sites["x"].to_numpy(), sites["y"].to_numpy()))
    for chunk in [layout.chunk(1, 1), layout.chunk(0, 3), layout.chunk(2, 2), layout.chunk(2, 1)]:
        r0, r1, c0, c1 = layout.expand(chunk.row0, chunk.row1, chunk.col0, chunk.col1, halo)
        near = np.flatnonzero((rows >= chunk.row0 - radius - 1) & (rows < chunk.row1 + radius + 1)
                              & (cols >= chunk.col0 - radius - 1) & (cols < chunk.col1 + radius + 1))
        window = inputs.elevation.isel(y=slice(r0, r1), x=slice(c0, c1))
        window = layout.subgrid(r0, r1, c0, c1).dataarray(np.asarray(window.values), "elevation", "m", "elevation")
        # the window warns of the sea site (the last one) only where it is near
        with pytest.warns(CovgapWarning, match=on_nodata) if len(sites) - 1 in near else nullcontext():
            part = coverage_layers(window, sites.iloc[near].reset_index(drop=True), scenario)
        crop = {"y": slice(chunk.row0 - r0, chunk.row1 - r0), "x": slice(chunk.col0 - c0, chunk.col1 - c0)}
        for tech in ("2G", "3G", "4G"):
            for kind in ("received_power", "second_power", "dominance"):
                a = np.asarray(full[f"{kind}_{tech}"].values)[chunk.row0:chunk.row1, chunk.col0:chunk.col1]
                b = np.asarray(part[f"{kind}_{tech}"].isel(crop).values)
                assert np.array_equal(a, b, equal_nan=True), (kind, tech)
            server = np.asarray(part[f"best_server_{tech}"].isel(crop).values)
            mapped = np.where(server >= 0, near[np.clip(server, 0, None)], -1)
            assert np.array_equal(np.asarray(full[f"best_server_{tech}"].values)[chunk.row0:chunk.row1, chunk.col0:chunk.col1], mapped)


def test_chunks_no_transmitter_reaches(tmp_path: Path, cluster) -> None:
    """Chunks out of every site's reach (no sweep, no window) equal the in-memory run; a technology nobody has stays empty."""
    toml = make_region(tmp_path / "region", (72, 72), radius_km=1.0, operators=3)
    sites = pd.read_csv(toml.parent / "sites.csv", keep_default_na=False, dtype=str)
    x, _ = transform_points("EPSG:4326", CRS, sites["lon"].astype(float).tolist(), sites["lat"].astype(float).tolist())
    west = (np.asarray(x) < X0 + 30 * RES) & (sites["tech"] != "5G").to_numpy()  # the chunks from column 48 on are out of reach
    sites[west].to_csv(toml.parent / "sites.csv", index=False)
    scenario = load_scenario(toml)
    result = run_chunked(scenario, tmp_path / "chunked", client=cluster, chunk_size=24)
    assert result.chunks == 9
    assert_same_run(tmp_path / "chunked", in_memory_run(scenario, tmp_path / "memory"))


def test_pairwise_sum_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    for n in (5, 100, 129, 10_007, 300_001):
        values = rng.normal(1000.0, 300.0, n)
        (tree,) = pairwise_sum_ranges(n, 1000)
        sums = {(a, b): float(np.sum(values[a:b])) for a, b in leaves(tree)}
        assert combine_pairwise(tree, sums) == np.sum(values)


RESUME_SCRIPT = """
import sys
from distributed import Client, LocalCluster
from covgap.scenario import load_scenario
from covgap.distributed import run_chunked
if __name__ == "__main__":
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, Client(lc) as c:
        run_chunked(load_scenario(sys.argv[1]), sys.argv[2], client=c, chunk_size=int(sys.argv[3]))
"""


def test_interrupted_run_resumes(tmp_path: Path, cluster) -> None:
    """Kill a run after a few chunks are written; the rerun reuses them and equals an uninterrupted run."""
    toml = make_region(tmp_path / "region", (72, 72), radius_km=1.0, operators=2)
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT, encoding="utf-8")
    out = tmp_path / "resumed"
    work = tmp_path / ".resumed.covgap-work" / "chunks"
    proc = subprocess.Popen([sys.executable, str(script), str(toml), str(out), "24"], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(list(work.glob("*/result.pkl"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = sorted(p.parent.name for p in work.glob("*/result.pkl"))
    assert 3 <= len(done) < 16 and not out.exists()
    stamps = {p: p.stat().st_mtime_ns for p in work.glob("*/result.pkl")}
    scenario = load_scenario(toml)
    resumed = run_chunked(scenario, out, client=cluster, chunk_size=24, keep_work=True)
    assert resumed.reused >= len(done)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert_same_run(out, in_memory_run(scenario, tmp_path / "memory"))


def test_memory_does_not_grow_with_region(tmp_path: Path, cluster) -> None:
    """Same chunk size, a region 2.25 times larger: the workers' memory grows no more, within the bound."""
    grown = []
    for k, shape in enumerate([(64, 64), (96, 96)]):
        scenario = load_scenario(make_region(tmp_path / f"r{k}", shape, radius_km=1.0, operators=1))
        result = run_chunked(scenario, tmp_path / f"out{k}", client=cluster, chunk_size=32)
        assert result.chunks >= (shape[0] // 32) * (shape[1] // 32)
        assert_within_bound(result, chunk_memory_bound(32, elevation_halo(10, RES), n_sites=50))
        grown.append(max(result.worker_growth.values()))
    assert grown[1] <= grown[0] + (8 << 20)


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE_TOML.exists(), reason="no sample region")
def test_sample_region_matches(tmp_path: Path, cluster) -> None:
    """The real sample region (SRTM reprojected, WorldPop, boundaries, every 3rd modelled mast), 1.5 km radius, 96-cell chunks."""
    base = SAMPLE_TOML.parent
    sites = pd.read_csv(base / "danang_sites_modelled.csv", keep_default_na=False, dtype=str)
    masts = sorted(set(sites["site_id"]))[::3]
    sites[sites["site_id"].isin(masts)].to_csv(tmp_path / "sites.csv", index=False)
    text = SAMPLE_TOML.read_text(encoding="utf-8").replace("max_radius_km = 25.0", "max_radius_km = 1.5")
    text = text.replace('"danang_sites_modelled.csv"', json.dumps(str(tmp_path / "sites.csv")))
    for key in ("danang_srtm1.tif", "danang_worldpop2020_1km.tif", "danang_quangnam_adm1.geojson"):
        text = text.replace(f'"{key}"', json.dumps(str(base / key)))
    toml = tmp_path / "sample.toml"
    toml.write_text(text, encoding="utf-8")
    scenario = load_scenario(toml)
    memory = in_memory_run(scenario, tmp_path / "memory")
    run_chunked(scenario, tmp_path / "chunked", client=cluster, chunk_size=96)
    assert_same_run(tmp_path / "chunked", memory)
