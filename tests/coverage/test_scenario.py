"""Scenario files are validated before any computation."""

from __future__ import annotations

from pathlib import Path

import pytest

from covgap.errors import InputFileError, ScenarioError
from covgap.scenario import DEFAULT_THRESHOLDS_DBM, load_scenario, load_scenarios

GOOD = """
name = "danang-today"
title = "Da Nang today"
[inputs]
dem = "dem.tif"
population = "pop.tif"
sites = "sites.csv"
[grid]
resolution_m = 200
bounds = [108.0, 15.9, 108.3, 16.1]
[thresholds]
"4G" = -105
[scenario]
switch_off = ["2G", "3G"]
sharing = "national_roaming"
[metadata]
sites_provenance = "modelled"
attribution = ["SRTM: NASA"]
"""


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_scenario_parses_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, GOOD))
    assert scenario.name == "danang-today"
    assert scenario.inputs.dem == tmp_path / "dem.tif"
    assert scenario.grid.resolution_m == 200.0
    assert scenario.grid.bounds == (108.0, 15.9, 108.3, 16.1)
    assert scenario.thresholds["4G"] == -105.0
    assert scenario.thresholds["2G"] == DEFAULT_THRESHOLDS_DBM["2G"]
    assert scenario.changes.switch_off == ("2G", "3G")
    assert scenario.changes.sharing == "national_roaming"
    assert scenario.metadata["sites_provenance"] == "modelled"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (("[grid]", "[grid]\nresoluton_m = 3"), r"unknown key 'grid.resoluton_m'.*allowed here: bounds, crs, resolution_m"),
        (('switch_off = ["2G", "3G"]', 'switch_off = ["2G", "6G"]'), r"switch_off' names '6G'; allowed: 2G, 3G, 4G, 5G"),
        (('"4G" = -105', '"4G" = "strong"'), r"'thresholds.4G' must be int or float"),
        (('"4G" = -105', '"4G" = 10'), r"thresholds.4G' = 10; allowed: -160 to -30 dBm"),
        (('sharing = "national_roaming"', 'sharing = "yes"'), r"allowed: none, national_roaming"),
        (('name = "danang-today"', 'name = "Da Nang"'), r"must be lower-case"),
        (("resolution_m = 200", "resolution_m = 1"), r"allowed: 5 to 10000 metres"),
        (("bounds = [108.0, 15.9, 108.3, 16.1]", "bounds = [108.3, 15.9, 108.0, 16.1]"), r"west < east"),
        (('dem = "dem.tif"\n', ""), r"missing key 'inputs.dem'"),
        (("[metadata]", "[bogus]\nx = 1\n[metadata]"), r"unknown key 'bogus'"),
    ],
)
def test_bad_scenarios_name_the_key_and_what_is_allowed(tmp_path: Path, change: tuple[str, str], match: str) -> None:
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ScenarioError, match=match):
        load_scenario(path)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(_write(tmp_path, "name = "))
    with pytest.raises(InputFileError, match="cannot read scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_a_directory_is_a_batch_and_names_must_be_unique(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    _write(batch, GOOD, "a.toml")
    _write(batch, GOOD.replace("danang-today", "danang-off"), "b.toml")
    assert [s.name for s in load_scenarios([batch])] == ["danang-today", "danang-off"]
    _write(batch, GOOD, "c.toml")
    with pytest.raises(ScenarioError, match="repeated: danang-today"):
        load_scenarios([batch])


def test_a_scenario_can_start_from_a_base(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    _write(tmp_path / "data", GOOD, "base.toml")
    variant = _write(
        tmp_path,
        'base = "data/base.toml"\nname = "variant"\n[grid]\nresolution_m = 50\n[scenario]\nswitch_off = ["2G"]\n',
        "variant.toml",
    )
    scenario = load_scenario(variant)
    assert scenario.name == "variant" and scenario.title == "variant"
    assert scenario.inputs.dem == tmp_path / "data" / "dem.tif"  # relative to the base file
    assert scenario.grid.resolution_m == 50.0 and scenario.grid.bounds == (108.0, 15.9, 108.3, 16.1)
    assert scenario.changes.switch_off == ("2G",) and scenario.changes.sharing == "national_roaming"
    assert scenario.thresholds["4G"] == -105.0


def test_base_cycles_and_missing_bases_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, 'base = "b.toml"\n', "a.toml")
    _write(tmp_path, 'base = "a.toml"\n', "b.toml")
    with pytest.raises(ScenarioError, match="form a cycle"):
        load_scenario(tmp_path / "a.toml")
    _write(tmp_path, 'base = "nowhere.toml"\n', "c.toml")
    with pytest.raises(InputFileError, match="nowhere.toml"):
        load_scenario(tmp_path / "c.toml")
