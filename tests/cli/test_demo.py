"""`covgap demo` computes the built-in sample region (the main job of `make demo`)."""

from __future__ import annotations

import json
from pathlib import Path

import rasterio
from click.testing import CliRunner

from covgap.cli import main


def test_demo_computes_the_three_sample_runs(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--no-serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["danang-today", "danang-today-2g3g-off", "danang-today-roaming"]

    manifest = json.loads((out / "danang-today" / "manifest.json").read_text())
    assert manifest["metadata"]["sites_provenance"] == "modelled"
    assert any("WorldPop" in a for a in manifest["attribution"])
    assert any("SRTM" in a for a in manifest["attribution"])
    with rasterio.open(out / "danang-today" / "rural_uncovered_population.tif") as src:
        assert src.crs.to_epsg() == 32649 and src.overviews(1)

    today = json.loads((out / "danang-today" / "summary.json").read_text())
    off = json.loads((out / "danang-today-2g3g-off" / "summary.json").read_text())
    roaming = json.loads((out / "danang-today-roaming" / "summary.json").read_text())
    # Da Nang and its hills: about 1.3 million people (WorldPop 2020).
    assert 1_200_000 < today["total_population"] < 1_400_000
    assert today["total_population"] == off["total_population"] == roaming["total_population"]
    # Switching 2G and 3G off leaves more people with no service at all.
    assert off["uncovered_population"] > today["uncovered_population"]
    # The rural-urban divide: rural people are less often covered by 4G than urban ones.
    assert today["groups"]["all_operators"]["rural_urban_gap_pp"]["4G"] > 0
    # Under national roaming every operator's subscribers get the union's coverage.
    union = roaming["groups"]["all_operators"]["total"]["at_least"]["4G"]["covered_population"]
    assert all(g["total"]["at_least"]["4G"]["covered_population"] == union for g in roaming["groups"].values())

    again = CliRunner().invoke(main, ["demo", "--out", str(out), "--no-serve"], catch_exceptions=False)
    assert again.exit_code == 0 and "already computed" in again.output
