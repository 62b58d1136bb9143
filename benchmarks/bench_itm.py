"""Benchmark covgap's ITM against itmlogic, in the same run.

1. Point-to-point: time per prediction on terrain profiles of 100, 1,000 and
   3,600 points cut from the SRTM 1" DEM of Da Nang (30 m spacing), for
   covgap's public batch API (``covgap.itm.point_to_point_many``: one call
   on the benchmark's profiles repeated to 1,600 paths, 400 at 3,600 points;
   inputs checked and link built inside), covgap called from Python one prediction at a
   time (one ``covgap.kernels.itm.itm_p2p_tls`` call per prediction, on the
   link array ``link_parameters`` built once for the link), covgap in a
   compiled loop, and itmlogic (``qlrpfl`` + ``avar``, one call per
   prediction: it has no other API), all single thread.
2. Area coverage of one site (900 MHz, 30 m mast, 1.5 m receiver, radius
   50 km) on a 3601 x 3601 1" DEM built at run time by mirror-tiling
   ``srtm1_danang.tif`` (30 m cells assumed), on 1 thread and on all threads.

JIT warm-up (compile or cache load; the batch loop is compiled afresh every run, so that it always
holds the current kernel) is timed apart from the steady state.
Point-to-point times are CPU (process) times, taken in interleaved rounds
(every method once per round), and the ratios are medians of the per-round
ratios: a virtual machine's speed drifts between seconds, which a
one-after-the-other comparison would count as a difference. The area runs
report wall and CPU time with the load average.

Run from the repository root (Python puts the script's folder, not the working directory, on sys.path)::

    .venv/bin/python benchmarks/bench_itm.py
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

import numba
import numpy as np
import rasterio
from numba import njit

from covgap import itm
from covgap.kernels import itm as K

SRTM = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "raw" / "srtm-vietnam" / "srtm1_danang.tif"
PROFILES = 16
CLIP_ROWS = 900  # rows of srtm1_danang.tif
CLIP_LAND_COLS = 600  # every row of it is land west of this column
PARAMS = itm.ItmParams(climate=3, n0=370.0, epsilon=15.0, sigma_s_per_m=0.005, polarization=1, mdvar=2)


def load_dem(size: int = 3601) -> np.ndarray:
    """A size x size DEM mirror-tiled from the Da Nang SRTM tile (float64, NaN nodata)."""
    with rasterio.open(SRTM) as src:
        tile = src.read(1).astype(np.float64)
        if src.nodata is not None:
            tile[tile == src.nodata] = np.nan
    return np.ascontiguousarray(np.pad(tile, ((0, size), (0, size)), mode="symmetric")[:size, :size])


def bench_profiles(dem: np.ndarray, n: int) -> list[np.ndarray]:
    """PROFILES distinct profiles of ``n`` points at 30 m steps (n <= 3,600).

    PROFILES - 1 rows of the clip itself (the mirror-tiled DEM repeats its
    900 rows: rows spread over all 3,601 would give four distinct profiles),
    short ones starting further east on each row but on land (west of
    column CLIP_LAND_COLS, where the coast is), and the main diagonal
    (nearest cells). At 100 and 1,000 points (3 and 30 km) every path is in
    ITM's line-of-sight mode, at 3,600 (108 km) in troposcatter.
    """
    rows = np.linspace(0, CLIP_ROWS - 1, PROFILES - 1).astype(int)
    starts = np.linspace(0, max(0, CLIP_LAND_COLS - n), PROFILES - 1).astype(int)
    profiles = [np.ascontiguousarray(dem[r, c : c + n]) for r, c in zip(rows, starts)]
    idx = np.minimum(np.arange(n) * 3601 // 3600, 3600)
    profiles.append(np.ascontiguousarray(dem[idx, idx]))
    return profiles


def _link() -> np.ndarray:
    """The benchmark's link: 30 m / 1.5 m, 900 MHz, maritime subtropical, average ground, mobile, medians."""
    return K.link_parameters(30.0, 1.5, 3, 370.0, 900.0, 1, 15.0, 0.005, 2, 50.0, 50.0, 50.0)


@njit  # not cached: a cached copy would keep the kernel it was compiled with when only kernels/itm.py changes
def _batch(z, xi, link, reps, inter):
    acc = 0.0
    for _ in range(reps):
        loss, _, _ = K.itm_p2p_tls(z, xi, link, inter)
        acc += loss
    return acc


def _itmlogic_p2p(z: np.ndarray, xi: float) -> float:
    from itmlogic.preparatory_subroutines.qlrpfl import qlrpfl
    from itmlogic.statistics.avar import avar

    prop = {"fmhz": 900.0, "hg": [30.0, 1.5], "ipol": 1, "eps": 15.0, "sgm": 0.005, "klim": 3, "ens0": 370.0,
            "lvar": 5, "gma": 157e-9, "kwx": 0, "klimx": 0, "mdvarx": 2}
    n_int = len(z) - 1
    prop["pfl"] = [n_int, xi] + z.tolist()
    prop["d"] = n_int * xi / 1000.0
    prop["wn"] = 900.0 / 47.7
    prop["ens"] = 370.0
    prop["gme"] = prop["gma"] * (1 - 0.04665 * math.exp(370.0 / 179.3))
    zq = complex(15.0, 376.62 * 0.005 / prop["wn"])
    prop["zgnd"] = np.sqrt(zq - 1) / zq
    prop = qlrpfl(prop)
    excess, _ = avar(0.0, 0.0, 0.0, prop)
    return 8.685890 * math.log(2 * prop["wn"] * prop["dist"]) + excess


def _cpu(fn) -> float:
    """CPU time (process time) of one call of ``fn``, s."""
    c = time.process_time()
    fn()
    return time.process_time() - c


def bench_p2p(dem: np.ndarray, repeats: int) -> list[str]:
    """Time per prediction of each way of calling covgap and of itmlogic, in interleaved rounds.

    Each round times every method once (their order rotating from round to
    round), so that the machine's drift from second to second reaches all of
    them alike; the ratios are the medians of the per-round ratios, the
    times the best rounds.
    """
    rows = ["| points | covgap batch API (us) | covgap one call each (us) | covgap compiled loop (us) | itmlogic (us) "
            "| itmlogic / covgap, CPU, median of the rounds: batch API, one call each, loop | load |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    inter = np.empty(K.N_INTER)
    link = _link()
    t = time.perf_counter()
    _batch(dem[1800, :101].copy(), 30.0, link, 1, inter)
    print(f"p2p JIT warm-up (compile or cache load): {time.perf_counter() - t:.2f} s")
    for n in (100, 1000, 3600):
        profiles = bench_profiles(dem, n)
        per_call = 20 if n < 3600 else 5
        # the batch API is for many paths: one call of 1,600 profiles (400 at 3,600 points)
        batch = np.tile(np.stack(profiles), (5 * per_call, 1))
        calls = per_call * len(profiles)
        methods = {
            "api": (lambda: itm.point_to_point_many(batch, 30.0, 30.0, 1.5, 900.0, PARAMS), len(batch)),
            "call": (lambda: [K.itm_p2p_tls(z, 30.0, link, inter) for _ in range(per_call) for z in profiles], calls),
            "loop": (lambda: [_batch(z, 30.0, link, per_call, inter) for z in profiles], calls),
            "itmlogic": (lambda: [_itmlogic_p2p(z, 30.0) for z in profiles], len(profiles)),
        }
        times = {name: [] for name in methods}
        names = list(methods)
        for r in range(repeats):
            for name in names[r % 4 :] + names[: r % 4]:
                fn, count = methods[name]
                times[name].append(_cpu(fn) / count)
        per = {name: np.array(v) for name, v in times.items()}
        ratio = {name: float(np.median(per["itmlogic"] / per[name])) for name in ("api", "call", "loop")}
        best = {name: v.min() * 1e6 for name, v in per.items()}
        worst = max(abs(K.itm_p2p_tls(z, 30.0, link, inter)[0] - _itmlogic_p2p(z, 30.0)) for z in profiles)
        assert np.array_equal(itm.point_to_point_many(profiles, 30.0, 30.0, 1.5, 900.0, PARAMS).loss_db,
                              [K.itm_p2p_tls(z, 30.0, link, inter)[0] for z in profiles])
        print(f"p2p n={n}: {len(profiles)} profiles, {repeats} rounds, largest |covgap - itmlogic| {worst:.2f} dB; "
              f"batch API / loop, median of the rounds: {np.median(per['api'] / per['loop']):.2f}")
        rows.append(
            f"| {n} | {best['api']:.1f} | {best['call']:.1f} | {best['loop']:.1f} | {best['itmlogic']:.0f} "
            f"| **{ratio['api']:.0f}x**, {ratio['call']:.0f}x, {ratio['loop']:.0f}x | {os.getloadavg()[0]:.1f} |"
        )
    return rows


def bench_area(dem: np.ndarray, radius_km: float, threads_list: list[int]) -> list[str]:
    cell = 30.0
    centre = dem.shape[0] / 2.0
    t = time.perf_counter()
    itm.site_path_loss(dem[:201, :201], cell, 100.5, 100.5, 30.0, 1.5, 900.0, 2000.0, PARAMS)
    warm = time.perf_counter() - t
    print(f"site sweep JIT warm-up (compile or cache load): {warm:.2f} s")
    rows = ["| threads | wall (s) | CPU (s) | cells with a loss | us per cell (CPU) | load before / after |",
            "|---:|---:|---:|---:|---:|---:|"]
    for threads in threads_list:
        numba.set_num_threads(threads)
        load = os.getloadavg()[0]
        c = time.process_time()
        t = time.perf_counter()
        out = itm.site_path_loss(dem, cell, centre, centre, 30.0, 1.5, 900.0, radius_km * 1000.0, PARAMS)
        wall = time.perf_counter() - t
        cpu = time.process_time() - c
        n = int(np.isfinite(out).sum())
        print(f"area {threads} thread(s): {wall:.1f} s wall, {cpu:.1f} s CPU, {n} cells, "
              f"loss {np.nanmin(out):.1f}..{np.nanmax(out):.1f} dB")
        rows.append(f"| {threads} | {wall:.1f} | {cpu:.1f} | {n:,} | {cpu / n * 1e6:.2f} | "
                    f"{load:.1f} / {os.getloadavg()[0]:.1f} |")
    rows.append(f"\nJIT warm-up of the sweep (first call, small DEM): {warm:.2f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radius-km", type=float, default=50.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-area", action="store_true")
    parser.add_argument("--skip-p2p", action="store_true")
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, numba.config.NUMBA_NUM_THREADS}),
                        help="thread counts of the area runs (default: 1 and all)")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads, load {os.getloadavg()}")
    dem = load_dem()
    numba.set_num_threads(1)
    if not args.skip_p2p:
        for line in bench_p2p(dem, args.repeats):
            print(line)
    if not args.skip_area:
        for line in bench_area(dem, args.radius_km, args.threads):
            print(line)


if __name__ == "__main__":
    main()
