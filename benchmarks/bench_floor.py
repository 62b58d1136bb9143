"""The full model's per-cell arithmetic without terrain, beside line of sight (issue 3's 2x target).

Issue 3 asks for the full model (Hata + diffraction + antenna, folded into a
best-server state) to cost no more than 2x line of sight alone. This measures
the floor under any terrain model: every cell of one site's 50 km disc (30 m
cells, the mirrored tile of bench_los.py, site at the centre) visited
directly, on flat ground, doing exactly what :func:`covgap.kernels.terrain.sweep_sites`
does per cell apart from the terrain: the path loss from the sweep's own
per-site table, the direction and antenna pattern, and either the fold into
the best-server state (``exp`` of the power, four state arrays) or one
float32 write of the power. On a flat DEM the floor's best-server state
equals the sweep's bit for bit (checked at 20 km before timing).

Every kernel runs once per round, the order reversed every other round, on
both threads (wall time) and on one (CPU time); each ratio to line of sight
is the median of the per-round ratios, so that the machine's drift reaches
both sides alike. JIT warm-up is timed apart.

Usage::

    .venv/bin/python benchmarks/bench_floor.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import prange

from covgap.kernels import bestserver, terrain
from covgap.kernels.jit import pjit
from covgap.kernels.pathloss import EARTH_RADIUS_M

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_los import CELL, K, RX_H, SIZE, mirrored_tile  # noqa: E402
from bench_propagation import sector  # noqa: E402


@pjit
def disc_model(site, inv_bw, table, row0, col0, radius_m, cell_m, k_factor, rx_h, fold, best, second, total, index,
               power):
    """The sweep's per-cell model over a disc of flat ground, rows in parallel.

    ``fold``: fold each power into the best-server state, else write it to ``power``.
    """
    r2max = (radius_m / cell_m) ** 2
    big_r = int(radius_m / cell_m)
    inv_2ka = 1.0 / (2.0 * k_factor * EARTH_RADIUS_M)
    directional = site[terrain.S_OMNI] == 0.0
    steps_per_m = terrain.LOSS_TABLE_STEPS / cell_m
    for i in prange(2 * big_r + 1):
        dy = i - big_r
        lim = terrain._row_limit(dy, r2max, big_r)
        row = row0 + dy
        for dx in range(-lim, lim + 1):
            col = col0 + dx
            r2 = dx * dx + dy * dy
            d2 = r2 * cell_m * cell_m
            d = math.sqrt(d2)
            h_rx = rx_h - d2 * inv_2ka - site[terrain.S_HEIGHT]  # ground at 0 m
            loss = terrain.table_loss_db(site, table, d, r2, True, rx_h, steps_per_m)
            azimuth, depression = terrain._direction(row0, col0, row, col, d, h_rx, cell_m, directional)
            p = site[terrain.S_POWER] + terrain._pattern(site, inv_bw, azimuth, depression) - loss
            if fold:
                bestserver.add_power(best, second, total, index, row, col, p, 0)
            else:
                power[row, col] = np.float32(p)


def floor_call(site: np.ndarray, radius_m: float, fold: bool, state, power: np.ndarray):
    """A callable running :func:`disc_model` for one site row (building its loss table, as the sweep does)."""
    inv_bw = terrain._inverse_beamwidths(site[None, :])[0].copy()
    c = SIZE // 2

    def run():
        table = terrain._loss_tables(site, RX_H, CELL, int(radius_m / CELL))
        disc_model(site, inv_bw, table, c, c, radius_m, CELL, K, RX_H, fold, *state, power)

    return run


def check_flat(radius_m: float) -> str:
    """The floor against sweep_sites on a flat DEM (every cell in sight, no diffraction)."""
    c = SIZE // 2
    flat = np.zeros((SIZE, SIZE))
    by_sweep = bestserver.new_state(SIZE, SIZE)
    terrain.sweep_sites(flat, sector(c, c, radius_m), np.zeros(1, np.int32), np.array([0, 1], np.int64), RX_H, CELL,
                        K, *by_sweep, 0, 0)
    by_floor = bestserver.new_state(SIZE, SIZE)
    floor_call(sector(c, c, radius_m)[0], radius_m, True, by_floor, np.empty((1, 1), np.float32))()
    same = all(np.array_equal(a, b) for a, b in zip(by_sweep, by_floor))
    return f"floor vs sweep_sites on flat ground to {radius_m / 1000:g} km: state identical: {same}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--radius-km", type=float, default=50.0)
    args = parser.parse_args()
    radius = args.radius_km * 1000.0
    c = SIZE // 2
    dem = mirrored_tile()
    r2max = (radius / CELL) ** 2
    big_r = int(radius / CELL)
    cells = sum(2 * terrain._row_limit(dy, r2max, big_r) + 1 for dy in range(-big_r, big_r + 1))
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {time.strftime('%H:%M UTC', time.gmtime())}; "
          f"one site, {args.radius_km:g} km at {CELL:g} m: {cells} cells")

    state = bestserver.new_state(SIZE, SIZE)
    power = np.empty((SIZE, SIZE), np.float32)
    sector_row = sector(c, c, radius)[0]
    omni_row = sector_row.copy()
    omni_row[terrain.S_OMNI] = 1.0
    index = np.zeros(1, np.int32)
    starts = np.array([0, 1], np.int64)

    def sweep(mode):
        return lambda: terrain.sweep_sites(dem, sector(c, c, radius, mode), index, starts, RX_H, CELL, K, *state, 0, 0)

    jobs = {
        "line of sight": lambda: terrain.line_of_sight(dem, c, c, 30.0, RX_H, radius, CELL, K),
        "floor: sector, fold": floor_call(sector_row, radius, True, state, power),
        "floor: omni, fold": floor_call(omni_row, radius, True, state, power),
        "floor: sector, power only": floor_call(sector_row, radius, False, state, power),
        "floor: omni, power only": floor_call(omni_row, radius, False, state, power),
        "sweep: Hata, sector, no diffraction": sweep(terrain.NO_DIFFRACTION),
        "sweep: Hata + Bullington, sector": sweep(terrain.BULLINGTON),
    }
    t0 = time.perf_counter()
    print(check_flat(20000.0))
    print(f"JIT warm-up (cache load or compile) and the check: {time.perf_counter() - t0:.2f} s")
    for fn in jobs.values():
        fn()  # first touch of the full-size arrays

    wall = {name: [] for name in jobs}
    cpu = {name: [] for name in jobs}
    names = list(jobs)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            numba.set_num_threads(2)
            t0 = time.perf_counter()
            jobs[name]()
            wall[name].append(time.perf_counter() - t0)
            numba.set_num_threads(1)
            c0 = time.process_time()
            jobs[name]()
            cpu[name].append(time.process_time() - c0)
    numba.set_num_threads(2)

    los = "line of sight"
    print(f"\n{args.rounds} rounds, load {os.getloadavg()[0]:.1f} after; medians; x LOS = median of the per-round "
          "ratios\n")
    print("| kernel | both threads, wall (s) | x LOS | one thread, CPU (s) | ns of CPU per cell | x LOS |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        w_ratio = statistics.median(a / b for a, b in zip(wall[name], wall[los]))
        c_ratio = statistics.median(a / b for a, b in zip(cpu[name], cpu[los]))
        c_med = statistics.median(cpu[name])
        print(f"| {name} | {statistics.median(wall[name]):.3f} | {w_ratio:.1f} | {c_med:.3f} | "
              f"{c_med / cells * 1e9:.0f} | {c_ratio:.1f} |")


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main()
