"""Line of sight over a 3601 x 3601 one-arc-second tile: covgap vs GDAL vs xarray-spatial.

The tile is built at run time by mirroring the real Da Nang and Hai Phong
SRTM 1" clips of ../shared/datasets (projected to 30 m UTM cells, nodata set
to 0 m) into 3601 x 3601 cells, with the observer at the centre, 30 m above
ground, a 1.5 m target and Earth curvature with k = 4/3 everywhere:

* covgap: :func:`covgap.kernels.terrain.line_of_sight` (Numba; GDAL's scan, each cell read once,
  the four quadrants in parallel);
* GDAL: ``gdal_viewshed -cc 1/k'`` (Debian gdal-bin; single-threaded; the
  time includes reading the 52 MB GeoTIFF and writing its 13 MB output);
* xarray-spatial: ``xrspatial.viewshed`` (no curvature option: run without it).

Each is timed best-of ``--repeats`` after one warm-up call (the JIT warm-up
is reported apart), with the CPU time of the same run beside the wall time
(the machine is shared: CPU time shows the work, wall time the load). Agreement is the share of cells with the same
visible/not-visible answer.

Usage::

    .venv/bin/python benchmarks/bench_los.py [--repeats 3] [--no-xrspatial]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import Resampling, calculate_default_transform, reproject

from covgap.kernels import pathloss, terrain

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "raw" / "srtm-vietnam"
CLIPS = ("srtm1_danang.tif", "srtm1_haiphong.tif")
SIZE = 3601
CELL = 30.0
K = 4.0 / 3.0
TX_H, RX_H = 30.0, 1.5


def projected_clip(path: Path) -> np.ndarray:
    """A clip reprojected to 30 m cells of its UTM zone, nodata -> 0 m."""
    with rasterio.open(path) as src:
        lon = (src.bounds.left + src.bounds.right) / 2
        lat = (src.bounds.bottom + src.bounds.top) / 2
        crs = f"EPSG:{32600 + int((lon + 180) // 6) + 1 if lat >= 0 else 32700}"
        transform, width, height = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds,
                                                               resolution=CELL)
        out = np.full((height, width), np.nan, np.float32)
        reproject(rasterio.band(src, 1), out, dst_transform=transform, dst_crs=crs, resampling=Resampling.bilinear,
                  dst_nodata=np.nan)
    out[~np.isfinite(out) | (out < -1000)] = 0.0
    return out


def mirrored_tile() -> np.ndarray:
    """3601 x 3601 cells tiled from the real clips, mirrored so that edges meet."""
    clips = [projected_clip(SHARED / name) for name in CLIPS]
    h = min(c.shape[0] for c in clips)
    w = min(c.shape[1] for c in clips)
    a, b = (c[:h, :w] for c in clips)
    block = np.block([[a, b[:, ::-1]], [a[::-1, :], b[::-1, ::-1]]])
    reps = (SIZE // block.shape[0] + 1, SIZE // block.shape[1] + 1)
    return np.ascontiguousarray(np.tile(block, reps)[:SIZE, :SIZE]).astype(np.float32)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (s)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def best_of(fn, repeats):
    """Best (wall, CPU) seconds over ``repeats`` calls, and the last result."""
    best = (float("inf"), float("inf"))
    result = None
    for _ in range(repeats):
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, (time.perf_counter() - t0, cpu_seconds() - c0))
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-xrspatial", action="store_true", help="skip xarray-spatial (about a minute a run)")
    args = parser.parse_args()

    dem = mirrored_tile()
    centre = SIZE // 2
    pixels = SIZE * SIZE
    print(f"tile {SIZE} x {SIZE} at {CELL:g} m, elevation {dem.min():.0f}..{dem.max():.0f} m; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {time.strftime('%H:%M UTC', time.gmtime())}")

    t0 = time.perf_counter()
    terrain.line_of_sight(dem[:64, :64].copy(), 32, 32, TX_H, RX_H, 1.0e9, CELL, K)
    warm = time.perf_counter() - t0
    (ours_t, ours_cpu), ours = best_of(
        lambda: terrain.line_of_sight(dem, centre, centre, TX_H, RX_H, 1.0e9, CELL, K), args.repeats)
    print(f"covgap line_of_sight: JIT warm-up {warm:.2f} s; best {ours_t:.3f} s "
          f"({pixels / ours_t / 1e6:.1f} Mpixel/s), CPU {ours_cpu:.3f} s in that run")

    gdal = shutil.which("gdal_viewshed")
    if gdal:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "dem.tif"
            dst = Path(tmp) / "vs.tif"
            with rasterio.open(src, "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="float32",
                               crs="EPSG:32649", transform=from_origin(500000.0, 1800000.0, CELL, CELL)) as ds:
                ds.write(dem, 1)
            x = 500000.0 + (centre + 0.25) * CELL
            y = 1800000.0 - (centre + 0.25) * CELL
            cc = 6378137.0 / (K * pathloss.EARTH_RADIUS_M)
            cmd = [gdal, "-q", "-oz", str(TX_H), "-tz", str(RX_H), "-cc", repr(cc), "-ox", repr(x), "-oy", repr(y),
                   "-vv", "1", "-iv", "0", str(src), str(dst)]
            subprocess.run(cmd, check=True)  # warm the page cache
            (gdal_t, gdal_cpu), _ = best_of(lambda: subprocess.run(cmd, check=True), args.repeats)
            with rasterio.open(dst) as ds:
                theirs = ds.read(1)
        agree = float(((ours == terrain.VISIBLE) == (theirs == 1)).mean())
        print(f"gdal_viewshed: best {gdal_t:.3f} s, CPU {gdal_cpu:.3f} s ({pixels / gdal_t / 1e6:.1f} Mpixel/s); "
              f"covgap is {gdal_t / ours_t:.2f}x faster; same answer on {100 * agree:.2f} % of cells")
    else:
        print("gdal_viewshed: not installed (Debian gdal-bin), skipped")

    if not args.no_xrspatial:
        import xarray as xr
        from xrspatial import viewshed

        xs = np.arange(SIZE) * CELL
        ys = np.arange(SIZE)[::-1] * CELL
        raster = xr.DataArray(dem.astype(np.float64), dims=("y", "x"), coords={"y": ys, "x": xs})
        t0 = time.perf_counter()
        out = viewshed(raster, x=xs[centre], y=ys[centre], observer_elev=TX_H, target_elev=RX_H)
        xrs_t = time.perf_counter() - t0
        flat = terrain.line_of_sight(dem, centre, centre, TX_H, RX_H, 1.0e9, CELL, 1.0e12)
        agree = float(((flat == terrain.VISIBLE) == (out.values != -1)).mean())
        print(f"xrspatial.viewshed (no curvature, one run incl. its JIT): {xrs_t:.2f} s "
              f"({pixels / xrs_t / 1e6:.2f} Mpixel/s); covgap is {xrs_t / ours_t:.0f}x faster; "
              f"same answer as covgap without curvature on {100 * agree:.2f} % of cells")


if __name__ == "__main__":
    main()
