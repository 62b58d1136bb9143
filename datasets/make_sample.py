"""Build ``datasets/sample/`` (the Da Nang sample region) from the raw sources.

Run once by a developer, and the outputs committed; covgap never calls this
at run time. From the repository root::

    .venv/bin/python -P -m covgap.datasets.make_sample \\
        ../shared/datasets/raw datasets/sample

*source_dir* is the ``raw/`` folder described in ``shared/datasets/SOURCES.md``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import rasterio
from rasterio.windows import Window, from_bounds

from covgap.datasets import SAMPLE_FILES, read_dem, read_population, read_settlements
from covgap.datasets.modelled_sites import METHOD, place_sites

#: Seed of the modelled site list.
SEED = 2020
#: Margin (degrees) added around the DEM for the population window.
POPULATION_MARGIN_DEG = 0.05
#: Margin (degrees) added around the DEM for the settlements.
SETTLEMENT_MARGIN_DEG = 0.1
#: geoBoundaries ISO codes of the provinces kept: Da Nang and Quang Nam.
PROVINCES = ("VN-DN", "VN-27")

#: Required attribution of every source, copied into the scenario's metadata.
ATTRIBUTION = (
    "Elevation: NASA Shuttle Radar Topography Mission (SRTM) (2013), SRTM Global 1 arc-second, "
    "distributed by OpenTopography, https://doi.org/10.5069/G9445JDF (public domain)",
    "Population: WorldPop (www.worldpop.org), Global High Resolution Population Denominators "
    "Project, 2020 UN-adjusted, doi:10.5258/SOTON/WP00671 (CC BY 4.0)",
    "Settlements: GeoNames, geonames.org (CC BY 4.0)",
    "Boundaries: geoBoundaries, https://www.geoboundaries.org (CC BY 4.0)",
    "Sites: modelled by covgap from the data above; not real site locations",
)

_GTIFF = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "compress": "deflate",
    "predictor": 2,
    "zlevel": 9,
}

_SCENARIO = """\
# Sample scenario: Da Nang, Vietnam, with modelled sites.
# Built by covgap.datasets.make_sample; see datasets/README.md. Paths are relative to this file.
name = "danang-today"
title = "Da Nang today (modelled sites)"

[inputs]
dem = {dem}
population = {population}
sites = {sites}
sites_format = "csv"
boundaries = {boundaries}
boundaries_name_field = "shapeName"

[grid]
resolution_m = 100.0
crs = "EPSG:32649"

[propagation]
receiver_height_m = 1.5
# Within Hata's and COST-231's 20 km; farther cells of this clip are nearer other masts.
max_radius_km = 15.0
# "auto" picks the model by carrier frequency: Okumura-Hata to 1500 MHz (2G 900,
# rural 4G 900), COST-231 Hata to 2000 MHz (4G 1800), 3GPP RMa above (3G 2100);
# plain "hata" would reject the 1800-3500 MHz carriers (valid 150-1500 MHz only).
model = "auto"
environment = "suburban"

[propagation.models]
# 5G is on urban masts only, at 3.5 GHz: 3GPP TR 38.901 urban macro rather than
# the rural macro model "auto" picks in a suburban environment.
"5G" = "uma"

[thresholds]
"2G" = -95.0
"3G" = -100.0
"4G" = -110.0
"5G" = -110.0

[metadata]
sites_provenance = "modelled"
sites_method = {method}
attribution = [
{attribution}
]
"""


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def write_dem(source: Path, out: Path) -> None:
    """Copy the SRTM clip unchanged in values, recompressed with DEFLATE."""
    with rasterio.open(source) as src:
        profile = src.profile | _GTIFF
        data = src.read(1)
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(data, 1)


def write_population(source: Path, dem_path: Path, out: Path) -> None:
    """Cut the WorldPop window of the DEM plus a margin, whole cells only."""
    with rasterio.open(dem_path) as dem:
        west, south, east, north = dem.bounds
    m = POPULATION_MARGIN_DEG
    with rasterio.open(source) as src:
        window = from_bounds(west - m, south - m, east + m, north + m, src.transform)
        col0, row0 = math.floor(window.col_off), math.floor(window.row_off)
        window = Window(
            col0,
            row0,
            math.ceil(window.col_off + window.width) - col0,
            math.ceil(window.row_off + window.height) - row0,
        )
        data = src.read(1, window=window)
        profile = (
            src.profile
            | _GTIFF
            | {
                "width": window.width,
                "height": window.height,
                "transform": src.window_transform(window),
                "blockxsize": 64,
                "blockysize": 64,
                "predictor": 1,
            }
        )
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(data, 1)


def write_settlements(source: Path, dem_path: Path, out: Path) -> None:
    """Keep the GeoNames rows inside the DEM plus a margin, text unchanged."""
    with rasterio.open(dem_path) as dem:
        west, south, east, north = dem.bounds
    m = SETTLEMENT_MARGIN_DEG
    with open(source, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = [
            r
            for r in reader
            if west - m <= float(r["lon"]) <= east + m and south - m <= float(r["lat"]) <= north + m
        ]
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_boundaries(source: Path, out: Path) -> None:
    """Keep the ADM1 features of :data:`PROVINCES`, geometry unchanged."""
    with open(source, encoding="utf-8") as fh:
        doc = json.load(fh)
    doc["features"] = [f for f in doc["features"] if f["properties"]["shapeISO"] in PROVINCES]
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))


def write_sites(out_dir: Path, out: Path) -> None:
    """Model the sites from the sample's own population, DEM and settlements."""
    sites = place_sites(
        read_population(out_dir / SAMPLE_FILES["population"]),
        read_dem(out_dir / SAMPLE_FILES["dem"]),
        read_settlements(out_dir / SAMPLE_FILES["settlements"]),
        seed=SEED,
    )
    sites.to_csv(out, index=False, na_rep="", lineterminator="\n")


def write_scenario(out: Path) -> None:
    """Write the sample scenario naming the sample files."""
    text = _SCENARIO.format(
        **{
            key: _toml_string(SAMPLE_FILES[key])
            for key in ("dem", "population", "sites", "boundaries")
        },
        method=_toml_string(METHOD.format(seed=SEED)),
        attribution=",\n".join(f"    {_toml_string(a)}" for a in ATTRIBUTION),
    )
    out.write_text(text, encoding="utf-8")


def main(source_dir: str | Path, out_dir: str | Path) -> None:
    """Build every sample file in *out_dir* from the raw sources in *source_dir*.

    Parameters
    ----------
    source_dir : str or Path
        The ``shared/datasets/raw`` folder.
    out_dir : str or Path
        Where to write (``datasets/sample``); created if missing.
    """
    src, out = Path(source_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dem = out / SAMPLE_FILES["dem"]
    write_dem(src / "srtm-vietnam" / "srtm1_danang.tif", dem)
    write_population(
        src / "worldpop-vnm" / "vnm_ppp_2020_1km_Aggregated_UNadj.tif",
        dem,
        out / SAMPLE_FILES["population"],
    )
    write_settlements(
        src / "geonames" / "geonames_cities500_vietnam.csv", dem, out / SAMPLE_FILES["settlements"]
    )
    write_boundaries(
        src / "geoboundaries-vnm" / "geoBoundaries-VNM-ADM1_simplified.geojson",
        out / SAMPLE_FILES["boundaries"],
    )
    write_sites(out, out / SAMPLE_FILES["sites"])
    write_scenario(out / SAMPLE_FILES["scenario"])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m covgap.datasets.make_sample SOURCE_DIR OUT_DIR")
    main(sys.argv[1], sys.argv[2])
