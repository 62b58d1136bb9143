"""The ``covgap`` command: run scenarios, compare runs, serve results, demo.

Exit codes
----------
0  success
1  bad input: a scenario, input file or run directory covgap cannot use
2  bad command line (unknown option, missing argument)
3  the output directory exists and ``--overwrite`` was not given
70 an unexpected internal error (run with ``-v`` for the traceback)
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from covgap._version import __version__
from covgap.errors import CovgapError, CovgapWarning, OutputExistsError

__all__ = ["main"]

log = logging.getLogger("covgap")

EXIT_INPUT = 1
EXIT_EXISTS = 3
EXIT_INTERNAL = 70


class _Reporter:
    """Progress on stderr, results on stdout; silent with ``--quiet``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self.say(f"  {name} ...")
        yield
        self.say(f"  {name} done in {time.perf_counter() - start:.1f} s")

    def sites(self, label: str) -> Callable[[int, int], None]:
        """A per-transmitter progress bar, opened by the first call ``(0, total)``."""
        bar: list[Any] = []

        def update(done: int, total: int) -> None:
            if self.quiet:
                return
            if not bar:
                bar.append(click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True))
                bar[0].__enter__()
            bar[0].update(done)
            if bar[0].pos >= total:
                bar.pop().__exit__(None, None, None)

        return update

    @contextlib.contextmanager
    def files(self, label: str, total: int) -> Iterator[Callable[[str], None]]:
        if self.quiet:
            yield lambda _name: None
            return
        with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
            yield lambda _name: bar.update(1)


def _run_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn covgap's errors into a one-line message and an exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OutputExistsError as exc:
            click.echo(f"covgap: error: {exc}", err=True)
            sys.exit(EXIT_EXISTS)
        except CovgapError as exc:
            click.echo(f"covgap: error: {exc}", err=True)
            sys.exit(EXIT_INPUT)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # the last resort: never a bare traceback for a user
            log.debug("internal error", exc_info=True)
            click.echo(f"covgap: internal error: {type(exc).__name__}: {exc} (run with -v for details)", err=True)
            sys.exit(EXIT_INTERNAL)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="covgap")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
def main(verbose: int) -> None:
    """covgap: who is left without a mobile signal, and where new sites close the gap."""
    logging.basicConfig(level=max(10, 30 - 10 * verbose), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path), help="Output directory (one run; with several scenarios, one sub-directory per scenario name).")
@click.option("--overwrite", is_flag=True, help="Replace existing output directories.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None, help="Run chunked on a local Dask cluster of N worker processes.")
@click.option("--scheduler", metavar="ADDRESS", default=None, help="Run chunked on an existing dask.distributed cluster (tcp://host:8786).")
@click.option("--chunk-size", type=click.IntRange(64, 16384), default=1024, show_default=True, help="Chunk side in cells (chunked runs).")
@_run_command
def run(
    scenarios: tuple[Path, ...],
    out: Path,
    overwrite: bool,
    quiet: bool,
    as_json: bool,
    workers: int | None,
    scheduler: str | None,
    chunk_size: int,
) -> None:
    """Analyse one or more scenarios and write their results.

    SCENARIOS are TOML files or directories of them. One scenario writes its
    run into OUT; several write OUT/<name>/ each, which `covgap serve OUT`
    shows side by side.

    With --workers or --scheduler the grid is computed chunk by chunk on
    dask.distributed (same results; an interrupted run resumes from the
    chunks already done); otherwise in memory.

    Example:

        covgap run danang.toml danang-2g3g-off.toml --out results/

        covgap run vietnam.toml --out results/vietnam --scheduler tcp://head-node:8786
    """
    from covgap.scenario import load_scenarios

    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    loaded = load_scenarios(list(scenarios))
    reporter = _Reporter(quiet)
    targets = [out] if len(loaded) == 1 else [out / s.name for s in loaded]
    if not overwrite:
        for target in targets:
            if target.exists():
                raise OutputExistsError(f"{target} exists; pass --overwrite to replace it")
    if workers is None and scheduler is None:
        done = [_run_one(scenario, target, overwrite=overwrite, reporter=reporter) for scenario, target in zip(loaded, targets)]
    else:
        done = _run_chunked(loaded, targets, workers=workers, scheduler=scheduler, chunk_size=chunk_size, overwrite=overwrite, reporter=reporter)
    if as_json:
        click.echo(json.dumps({"runs": done}, indent=2))
    elif not quiet:
        for item in done:
            click.echo(f"{item['name']}: {item['out']}")


def _run_one(scenario: Any, target: Path, *, overwrite: bool, reporter: _Reporter) -> dict[str, Any]:
    from covgap.analysis import analyse
    from covgap.export import sites_geojson, write_run

    reporter.say(f"{scenario.name}: {scenario.title}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovgapWarning)
        result = analyse(scenario, stage=reporter.stage, progress=reporter.sites("  transmitters"))
    for message in result.warnings:
        click.echo(f"covgap: warning: {message}", err=True)
    n_files = len([v for v in result.dataset.data_vars if result.dataset[v].dims == ("y", "x")]) + 6
    with reporter.files(f"  writing {target.name}", n_files) as tick:
        write_run(
            target,
            result.dataset,
            name=scenario.name,
            title=scenario.title,
            metadata=scenario.metadata,
            indicators=result.indicators,
            tables=result.tables,
            extras={"gap_clusters": result.gap_clusters, "sites": sites_geojson(result.sites)},
            overwrite=overwrite,
            progress=tick,
        )
    return {"name": scenario.name, "out": str(target), "warnings": result.warnings, "summary": result.indicators}


def _run_chunked(
    scenarios: list[Any], targets: list[Path], *, workers: int | None, scheduler: str | None, chunk_size: int,
    overwrite: bool, reporter: _Reporter,
) -> list[dict[str, Any]]:
    """Run scenarios chunk by chunk on one dask.distributed client."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise click.ClickException('chunked runs need Dask: pip install "covgap[dask]"') from None

    from covgap.distributed import run_chunked

    def progress(stage: str, done: int, total: int) -> None:
        reporter.say(f"  {stage}: {done}/{total}")

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1) if workers is not None else None
    try:
        try:
            client = Client(cluster if cluster is not None else scheduler, timeout="30s")
        except OSError as exc:
            raise click.ClickException(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        with client:
            results = []
            for scenario, target in zip(scenarios, targets):
                reporter.say(f"{scenario.name}: {scenario.title} (chunked, {client.dashboard_link})")
                run = run_chunked(scenario, target, client=client, chunk_size=chunk_size, overwrite=overwrite, progress=progress)
                if run.peak_worker_bytes:
                    reporter.say(f"  peak memory of a worker: {run.peak_worker_bytes / 2**30:.2f} GiB")
                for message in run.warnings:
                    click.echo(f"covgap: warning: {message}", err=True)
                results.append({"name": scenario.name, "out": str(run.out_dir), "warnings": run.warnings, "summary": run.indicators})
            return results
    finally:
        if cluster is not None:
            cluster.close()


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256), help="Worker threads.")
@_run_command
def serve(directory: Path, host: str, port: int, threads: int) -> None:
    """Serve a run directory (or a folder of runs) as a web map and tile API.

    Example:

        covgap serve results/ --port 8000
    """
    from covgap.tileserver.serve import serve as serve_directory

    serve_directory(directory, host=host, port=port, threads=threads)


@main.command()
@click.option("--out", default=Path("demo-output"), show_default=True, type=click.Path(path_type=Path), help="Where the sample runs are written.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Compute the sample runs and stop.")
@click.option("--overwrite", is_flag=True, help="Recompute runs that already exist.")
@_run_command
def demo(out: Path, host: str, port: int, no_serve: bool, overwrite: bool) -> None:
    """Analyse the built-in Da Nang sample region and serve the web map.

    Computes today's networks and the shipped what-if scenarios (2G/3G
    switch-off, national roaming) once, then serves them.
    """
    from covgap.datasets import sample_region
    from covgap.scenario import load_scenarios

    reporter = _Reporter(False)
    region = sample_region()
    scenarios = sorted(load_scenarios([region.scenarios]), key=lambda s: s.path != region.scenario)
    for scenario in scenarios:
        target = out / scenario.name
        if target.exists() and not overwrite:
            reporter.say(f"{scenario.name}: already computed in {target}")
            continue
        _run_one(scenario, target, overwrite=overwrite, reporter=reporter)
    if no_serve:
        return
    from covgap.tileserver.serve import serve as serve_directory

    serve_directory(out, host=host, port=port, threads=8)


@main.command()
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path), help="Output directory for the comparison.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--json", "as_json", is_flag=True, help="Print the indicator differences as JSON on stdout.")
@_run_command
def compare(run_a: Path, run_b: Path, out: Path, overwrite: bool, quiet: bool, as_json: bool) -> None:
    """Compare two runs: B minus A in every indicator, and delta layers.

    RUN_A and RUN_B are directories written by `covgap run` on the same grid.
    OUT becomes a run directory of its own (servable with `covgap serve`):
    `coverage_change_<tech>` layers count the people per cell who gain (+) or
    lose (-) coverage by at least that technology, and `summary.json` /
    `indicators.csv` hold the differences.

    Example:

        covgap compare results/danang-today results/danang-today-2g3g-off --out results/delta
    """
    from covgap.compare import compare as compare_runs
    from covgap.export import write_run
    from covgap.statistics import indicators_rows

    a_ds, a_ind, a_manifest = _read_run(run_a)
    b_ds, b_ind, b_manifest = _read_run(run_b)
    difference, delta = compare_runs(a_ds, a_ind, b_ds, b_ind)
    delta = delta.assign(elevation=a_ds["elevation"], hillshade=a_ds["hillshade"])
    name = f"{a_manifest['name']}-vs-{b_manifest['name']}"
    reporter = _Reporter(quiet)
    with reporter.files(f"  writing {out.name}", len(delta.data_vars) + 4) as tick:
        write_run(
            out,
            delta,
            name=name,
            title=f"{b_manifest['title']} compared with {a_manifest['title']}",
            metadata={**a_manifest.get("metadata", {}), "compared": [str(run_a), str(run_b)]},
            indicators=difference,
            tables={"indicators": indicators_rows(difference)},
            overwrite=overwrite,
            progress=tick,
        )
    if as_json:
        click.echo(json.dumps({"name": name, "out": str(out), "difference": difference}, indent=2))
    elif not quiet:
        click.echo(f"{name}: {out}")


def _read_run(run_dir: Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The Dataset, indicators and manifest of a run directory."""
    import xarray as xr

    from covgap.errors import InputFileError

    files = {name: run_dir / name for name in ("dataset.nc", "summary.json", "manifest.json")}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise InputFileError(f"{run_dir} is not a covgap run directory: {missing[0]} is missing")
    try:
        dataset = xr.open_dataset(files["dataset.nc"], engine="h5netcdf", decode_coords="all").load()
        summary = json.loads(files["summary.json"].read_text(encoding="utf-8"))
        manifest = json.loads(files["manifest.json"].read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{run_dir}: cannot read the run ({exc})") from None
    return dataset, summary, manifest
