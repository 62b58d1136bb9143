"""covgap.results: opening served directories, lookups, guards against bad manifests."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from covgap.errors import InputFileError, InputValueError, NotFoundError
from covgap.results import haversine_m, open_results


def test_folder_of_runs_lists_runs_by_name(served_dir: Path) -> None:
    catalog = open_results(served_dir)
    assert list(catalog.runs) == ["today", "two-off"]
    run = catalog.run("today")
    assert run.title == "Today"
    assert "received_power_4G" in run.layers
    assert run.metadata["sites_provenance"] == "modelled"
    assert set(run.extras) == {"gap_clusters", "sites"}


def test_single_run_directory(served_dir: Path) -> None:
    catalog = open_results(served_dir / "today")
    assert list(catalog.runs) == ["today"]


def test_layer_fields_come_from_the_manifest(served_dir: Path) -> None:
    layer = open_results(served_dir).layer("today", "covered_4G")
    assert layer.kind == "boolean"
    assert layer.categories == {0: "not covered", 1: "covered"}
    assert layer.path == (served_dir / "today" / "covered_4G.tif").resolve()
    w, s, e, n = layer.bounds
    assert w < e and s < n


def test_unknown_names_raise_not_found_listing_choices(served_dir: Path) -> None:
    catalog = open_results(served_dir)
    with pytest.raises(NotFoundError, match="no run 'nope'; runs: today, two-off"):
        catalog.run("nope")
    with pytest.raises(NotFoundError, match="has no layer '../manifest'"):
        catalog.layer("today", "../manifest")
    with pytest.raises(NotFoundError, match="no 'indicators_csv' file"):
        catalog.run("today").extra("indicators_csv")


def test_read_masks_nodata_and_decimates(served_dir: Path) -> None:
    layer = open_results(served_dir).layer("today", "elevation")
    full = layer.read()
    assert full.values.shape == (48, 64)
    assert not full.valid[0, 0]  # the NaN cell
    small = layer.read(max_cells=48 * 64 // 4)
    assert small.values.shape == (24, 32)
    assert small.transform.a == pytest.approx(2 * full.transform.a)


def test_sample_inside_outside_and_nodata(served_dir: Path) -> None:
    layer = open_results(served_dir).layer("today", "elevation")
    w, s, e, n = layer.bounds
    assert layer.sample((w + e) / 2, (s + n) / 2) > 0
    assert layer.sample(w - 1.0, s) is None
    data = layer.read()
    x, y = data.transform @ (0.5, 0.5)  # centre of the NaN cell
    from rasterio.warp import transform
    lon, lat = transform(data.crs, "EPSG:4326", [x], [y])
    assert layer.sample(lon[0], lat[0]) is None


def test_value_at_matches_sample(served_dir: Path) -> None:
    layer = open_results(served_dir).layer("today", "received_power_4G")
    data = layer.read()
    w, s, e, n = layer.bounds
    for lon, lat in [((w + e) / 2, (s + n) / 2), (w + 0.3 * (e - w), s + 0.8 * (n - s)), (w - 1, s)]:
        assert data.value_at(lon, lat) == layer.sample(lon, lat)


def test_sites_keep_table_order(served_dir: Path) -> None:
    sites = open_results(served_dir).run("today").sites()
    assert [s.properties["site_id"] for s in sites] == ["A-001", "B-001", "C-001"]
    assert open_results(served_dir).run("two-off").sites() is None


def _copy_run(served_dir: Path, tmp_path: Path) -> Path:
    run = tmp_path / "today"
    shutil.copytree(served_dir / "today", run)
    return run


def _edit_manifest(run: Path, edit) -> None:
    path = run / "manifest.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("bad_file", ["../today/elevation.tif", "/etc/passwd", "sub/elevation.tif", ".."])
def test_manifest_files_must_be_plain_names(served_dir: Path, tmp_path: Path, bad_file: str) -> None:
    run = _copy_run(served_dir, tmp_path)
    _edit_manifest(run, lambda d: d["layers"][0].update(file=bad_file))
    with pytest.raises(InputValueError, match="plain file name"):
        open_results(run)


def test_manifest_symlink_outside_is_refused(served_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(served_dir, tmp_path)
    outside = tmp_path / "outside.tif"
    shutil.copy(run / "elevation.tif", outside)
    (run / "elevation.tif").unlink()
    (run / "elevation.tif").symlink_to(outside)
    with pytest.raises(InputValueError, match="outside the run directory"):
        open_results(run)


def test_missing_layer_file(served_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(served_dir, tmp_path)
    (run / "population.tif").unlink()
    with pytest.raises(InputFileError, match="'population.tif' does not exist"):
        open_results(run)


def test_bad_kind_and_missing_key(served_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(served_dir, tmp_path)
    _edit_manifest(run, lambda d: d["layers"][0].update(kind="rainbow"))
    with pytest.raises(InputValueError, match="kind must be one of continuous"):
        open_results(run)
    _edit_manifest(run, lambda d: d.pop("bounds"))
    with pytest.raises(InputValueError, match="missing key 'bounds'"):
        open_results(run)


def test_layer_without_valid_cells_has_no_value_range(served_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(served_dir, tmp_path)
    _edit_manifest(run, lambda d: d["layers"][0].update(value_range=[None, None]))
    assert open_results(run).layer("today", "elevation").value_range is None


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no analysis run"):
        open_results(tmp_path)
    with pytest.raises(InputFileError, match="does not exist"):
        open_results(tmp_path / "missing")


def test_duplicate_run_names(served_dir: Path, tmp_path: Path) -> None:
    _copy_run(served_dir, tmp_path)
    shutil.copytree(served_dir / "today", tmp_path / "copy")
    with pytest.raises(InputValueError, match="two runs are named 'today'"):
        open_results(tmp_path)


def test_unreadable_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputFileError, match="cannot read"):
        open_results(tmp_path)


def test_haversine_quarter_meridian() -> None:
    assert haversine_m(0, 0, 0, 90) == pytest.approx(math.pi / 2 * 6_371_008.8)
