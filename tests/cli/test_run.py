"""`covgap run` end to end through click's runner, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from click.testing import CliRunner
from rio_cogeo.cogeo import cog_validate

from covgap import __version__
from covgap.cli import main


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version() -> None:
    result = _invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_run_writes_a_complete_run_atomically_and_reproducibly(tiny_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _invoke("run", str(tiny_scenario), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert "1 of 4 transmitters lie outside the analysis grid" in result.stderr
    report = json.loads(result.stdout)
    (run,) = report["runs"]
    assert run["name"] == "tiny" and Path(run["out"]) == out

    manifest = json.loads((out / "manifest.json").read_text())
    names = {layer["name"] for layer in manifest["layers"]}
    for expected in ("elevation", "hillshade", "population", "received_power_4G", "covered_4G", "uncovered_population"):
        assert expected in names
    for layer in manifest["layers"]:
        path = out / layer["file"]
        valid, errors, _warnings = cog_validate(str(path))
        assert valid, (layer["name"], errors)
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 32649
            assert src.tags(1)["units"] == layer["units"]
            # GDAL adds overview levels while the layer is larger than one 256-pixel block.
            assert bool(src.overviews(1)) == (max(src.width, src.height) > 256), layer["name"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary == run["summary"]
    ds = xr.open_dataset(out / "dataset.nc", engine="h5netcdf", decode_coords="all")
    assert ds.rio.crs.to_epsg() == 32649
    for var in ds.data_vars:
        assert "units" in ds[var].attrs and "long_name" in ds[var].attrs, var
    total = float(ds["population"].sum())
    uncovered = float(ds["uncovered_population"].sum())
    assert 0 < uncovered < total
    # Cells near the 4G site are covered, and nobody there counts as uncovered.
    assert int(ds["covered_4G"].sum()) > 0
    assert not list(tmp_path.glob(".out.tmp-*"))

    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".tif", ".json", ".csv", ".geojson", ".nc")}
    again = _invoke("run", str(tiny_scenario), "--out", str(out), "--overwrite", "--quiet")
    assert again.exit_code == 0, again.output
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".tif", ".json", ".csv", ".geojson", ".nc")}
    assert before.keys() == after.keys()
    changed = sorted(name for name in before if before[name] != after[name])
    assert not changed, f"a rerun changed {changed}"


def test_run_refuses_to_overwrite(tiny_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = _invoke("run", str(tiny_scenario), "--out", str(out))
    assert result.exit_code == 3
    assert "exists; pass --overwrite" in result.stderr


def test_a_batch_writes_one_run_per_scenario(tiny_scenario: Path, tmp_path: Path) -> None:
    off = tmp_path / "off.toml"
    off.write_text(tiny_scenario.read_text().replace('name = "tiny"', 'name = "tiny-2g3g-off"') + '\n[scenario]\nswitch_off = ["2G", "3G"]\n')
    out = tmp_path / "batch"
    result = _invoke("run", str(tiny_scenario), str(off), "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    today = json.loads((out / "tiny" / "summary.json").read_text())
    switched = json.loads((out / "tiny-2g3g-off" / "summary.json").read_text())
    assert today["total_population"] == switched["total_population"]
    assert switched["groups"]["all_operators"]["total"]["technology"]["2G"]["covered_population"] == 0
    with rasterio.open(out / "tiny-2g3g-off" / "covered_2G.tif") as src:
        assert int(src.read(1).sum()) == 0

    delta_dir = tmp_path / "delta"
    compared = _invoke("compare", str(out / "tiny"), str(out / "tiny-2g3g-off"), "--out", str(delta_dir), "--json")
    assert compared.exit_code == 0, compared.output
    difference = json.loads(compared.stdout)["difference"]
    lost = difference["groups"]["all_operators"]["total"]["at_least"]["2G"]["covered_population"]
    assert lost <= 0
    with rasterio.open(delta_dir / "coverage_change_2G.tif") as src:
        change = src.read(1)
    # The people who lose any service, cell by cell, add up to the indicator's difference.
    assert round(float(change[change < 0].sum())) == pytest.approx(lost, abs=2)
    manifest = json.loads((delta_dir / "manifest.json").read_text())
    assert manifest["name"] == "tiny-vs-tiny-2g3g-off"
    assert CliRunner().invoke(main, ["compare", str(out / "tiny"), str(tmp_path), "--out", str(tmp_path / "x")]).exit_code == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: (d / "tiny.toml").write_text((d / "tiny.toml").read_text() + "\n[grid2]\nx = 1\n"), "unknown key 'grid2'"),
        (lambda d: (d / "dem.tif").unlink(), "dem.tif"),
        (lambda d: (d / "sites.csv").write_text((d / "sites.csv").read_text().replace("108.035,16.065,25", "108.035,north,25")), "row 3"),
        (lambda d: (d / "sites.csv").write_text((d / "sites.csv").read_text().replace(",3G,2100", ",6G,2100", 1)), "6G"),
    ],
    ids=["unknown-key", "missing-dem", "bad-csv-value", "unknown-technology"],
)
def test_bad_input_is_one_clear_line_and_no_output(tiny_scenario: Path, tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    edit(tiny_scenario.parent)
    out = tmp_path / "out"
    result = _invoke("run", str(tiny_scenario), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))


def test_a_chunked_run_on_two_local_workers_equals_the_in_memory_run(tiny_scenario: Path, tmp_path: Path) -> None:
    memory, chunked = tmp_path / "memory", tmp_path / "chunked"
    assert _invoke("run", str(tiny_scenario), "--out", str(memory), "--quiet").exit_code == 0
    result = _invoke("run", str(tiny_scenario), "--out", str(chunked), "--workers", "2", "--chunk-size", "64", "--json")
    assert result.exit_code == 0, result.output
    assert "peak memory of a worker:" in result.stderr
    assert json.loads((chunked / "summary.json").read_text()) == json.loads((memory / "summary.json").read_text())
    for layer in ("received_power_4G", "uncovered_population", "urbanisation"):
        with rasterio.open(memory / f"{layer}.tif") as a, rasterio.open(chunked / f"{layer}.tif") as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))


def test_workers_and_scheduler_exclude_each_other(tiny_scenario: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tiny_scenario), "--out", str(tmp_path / "o"), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "not both" in result.output
