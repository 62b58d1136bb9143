"""End-to-end `covgap run` on the sample region: wall time and peak memory by stage.

Run from anywhere (not with the repository root as the working directory):

    .venv/bin/python benchmarks/bench_pipeline.py [--repeat 2]

The first repeat includes Numba's JIT compilation (or loading it from the
on-disk cache); later repeats are steady state. Peak memory is the process's
resident set size sampled every 5 ms during the stage (psutil), and the
increase over the RSS at the stage's start.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import psutil

from covgap.analysis import analyse
from covgap.datasets import sample_region
from covgap.export import write_run
from covgap.scenario import load_scenario


class StageMeter:
    """Wall time and peak RSS of each named stage."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float]] = []
        self._proc = psutil.Process()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start_rss = self._proc.memory_info().rss
        peak = [start_rss]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], self._proc.memory_info().rss)
                time.sleep(0.005)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - t0
            stop.set()
            thread.join()
            peak[0] = max(peak[0], self._proc.memory_info().rss)
            self.rows.append((name, elapsed, peak[0] / 2**20, (peak[0] - start_rss) / 2**20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    scenario = load_scenario(sample_region().scenario)
    for repeat in range(args.repeat):
        meter = StageMeter()
        result = analyse(scenario, stage=meter)
        with tempfile.TemporaryDirectory() as tmp, meter("export"):
            write_run(
                Path(tmp) / "run", result.dataset, name=scenario.name, title=scenario.title,
                metadata=scenario.metadata, indicators=result.indicators, tables=result.tables,
                extras={"gap_clusters": result.gap_clusters},
            )
        label = "first run (JIT compile or cache load)" if repeat == 0 else "steady state"
        total = sum(r[1] for r in meter.rows)
        print(f"\n{scenario.name}: {result.dataset.sizes['x']} x {result.dataset.sizes['y']} cells, "
              f"{len(result.sites)} transmitters — {label}, total {total:.2f} s")
        print(f"| stage | wall s | peak RSS MiB | increase MiB |\n| --- | ---: | ---: | ---: |")
        for name, seconds, peak, increase in meter.rows:
            print(f"| {name} | {seconds:.2f} | {peak:.0f} | {increase:.0f} |")


if __name__ == "__main__":
    main()
