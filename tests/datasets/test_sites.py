"""read_sites: covgap CSV, OpenCelliD exports and GeoJSON, good and bad."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from covgap.datasets import read_sites
from covgap.datasets.sites import OPENCELLID_DEFAULTS, SITE_COLUMNS
from covgap.errors import CovgapWarning, InputFileError, InputValueError

HEADER = "site_id,operator,lon,lat,height_m,tech,freq_mhz,eirp_dbm,azimuth_deg,beamwidth_deg,tilt_deg,model"
GOOD_ROWS = [
    "S1,Operator A,108.2,16.05,30,4G,1800,61,0,65,4,",
    "S1,Operator A,108.2,16.05,30,4G,1800,61,120,65,4,",
    "S2,Operator B,108.1,15.95,40,GSM,900,51,,,,hata",
]

# Real rows of the OpenCelliD export of Lesotho (shared/datasets/raw/opencellid-lesotho),
# with the uploader's extra columns, upper-case OpenCelliD names.
OPENCELLID_UPPER = """\
Unnamed: 0,radio,MCC,MNC,TAC,CID,unit,LON,LAT,RANGE,SAM,changeable,created,updated,averageSignal,Country,Network,Continent
40488857,GSM,651,1,117,11201,0,26.953123,-29.841163,27324,7,1,1369925573,1443966345,0,Lesotho,Vodacom,Africa
40488865,UMTS,651,1,98,87189,0,27.716445922852,-29.444046020508,1000,4,1,1367876729,1367876729,0,Lesotho,Vodacom,Africa
40489290,LTE,651,1,201,27625226,0,28.412644,-28.771668,20369,3,1,1459742828,1467811934,0,Lesotho,Vodacom,Africa
40526313,GSM,651,2,504,1860,0,27.024307250977,-29.873886108398,1000,1,1,1374216190,1374216190,0,Lesotho,Econet,Africa
"""
# The same cells in OpenCelliD's own export layout (lower-case header, "net/area/cell").
OPENCELLID_LOWER = """\
radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal
GSM,651,1,117,11201,0,26.953123,-29.841163,27324,7,1,1369925573,1443966345,0
UMTS,651,1,98,87189,0,27.716445922852,-29.444046020508,1000,4,1,1367876729,1367876729,0
LTE,651,1,201,27625226,0,28.412644,-28.771668,20369,3,1,1459742828,1467811934,0
GSM,651,2,504,1860,0,27.024307250977,-29.873886108398,1000,1,1,1374216190,1374216190,0
"""


def _csv(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "sites.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _check_schema(sites: pd.DataFrame) -> None:
    assert tuple(sites.columns) == SITE_COLUMNS
    for col in ("site_id", "operator", "tech", "model"):
        assert pd.api.types.is_string_dtype(sites[col]), col
    for col in (
        "lon",
        "lat",
        "height_m",
        "freq_mhz",
        "eirp_dbm",
        "azimuth_deg",
        "beamwidth_deg",
        "tilt_deg",
    ):
        assert sites[col].dtype == np.float64, col


def test_covgap_csv(tmp_path: Path) -> None:
    sites = read_sites(_csv(tmp_path, GOOD_ROWS))
    _check_schema(sites)
    assert list(sites.site_id) == ["S1", "S1", "S2"]
    assert list(sites.tech) == ["4G", "4G", "2G"]
    assert list(sites.azimuth_deg[:2]) == [0.0, 120.0]
    assert math.isnan(sites.azimuth_deg[2]) and math.isnan(sites.beamwidth_deg[2])
    assert list(sites.tilt_deg) == [4.0, 4.0, 0.0]
    assert list(sites.model) == ["", "", "hata"]


def test_covgap_csv_without_optional_columns(tmp_path: Path) -> None:
    header = "site_id,operator,lon,lat,height_m,tech,freq_mhz,eirp_dbm"
    sites = read_sites(_csv(tmp_path, ["S1,Op,108.2,16.05,30,3g,2100,58"], header=header))
    _check_schema(sites)
    assert sites.tech[0] == "3G" and sites.tilt_deg[0] == 0.0 and sites.model[0] == ""
    assert math.isnan(sites.azimuth_deg[0])


def test_unknown_column_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = _csv(tmp_path, [GOOD_ROWS[0] + ",x"], header=HEADER + ",notes")
    with pytest.warns(CovgapWarning, match="ignoring unknown column.*notes"):
        sites = read_sites(path)
    assert tuple(sites.columns) == SITE_COLUMNS


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("lon", "abc", "a longitude in degrees"),
        ("lat", "95", "a latitude in degrees"),
        ("height_m", "0", "an antenna height above ground"),
        ("height_m", "", "an antenna height above ground"),
        ("freq_mhz", "-900", "a carrier frequency in MHz"),
        ("eirp_dbm", "inf", "a total EIRP in dBm"),
        ("azimuth_deg", "400", "an azimuth in degrees"),
        ("beamwidth_deg", "0", "a horizontal 3 dB beamwidth"),
        ("tilt_deg", "x", "a downtilt in degrees"),
        ("site_id", "", "a non-empty name"),
        ("tech", "6G", "a known technology: 2G, 3G, 4G or 5G"),
    ],
)
def test_bad_value_names_file_row_column_value(
    tmp_path: Path, field: str, value: str, expected: str
) -> None:
    fields = HEADER.split(",")
    bad = GOOD_ROWS[1].split(",")
    bad[fields.index(field)] = value
    path = _csv(tmp_path, [GOOD_ROWS[0], ",".join(bad), GOOD_ROWS[2]])
    with pytest.raises(InputValueError) as info:
        read_sites(path)
    message = str(info.value)
    assert str(path) in message
    assert f"row 2, column '{field}': {value!r} is not {expected}" in message


def test_first_bad_row_is_reported(tmp_path: Path) -> None:
    rows = [GOOD_ROWS[0], GOOD_ROWS[1].replace("4G", "4X"), GOOD_ROWS[2].replace("900", "nine")]
    with pytest.raises(InputValueError, match=r"row 2, column 'tech': '4X'"):
        read_sites(_csv(tmp_path, rows))


def test_azimuth_without_beamwidth(tmp_path: Path) -> None:
    with pytest.raises(InputValueError, match=r"row 1, column 'beamwidth_deg': '' is not given"):
        read_sites(_csv(tmp_path, ["S1,Op,108.2,16.05,30,4G,1800,61,90,,0,"]))


def test_missing_column(tmp_path: Path) -> None:
    header = HEADER.replace("eirp_dbm,", "")
    with pytest.raises(InputFileError, match=r"missing column\(s\) eirp_dbm"):
        read_sites(_csv(tmp_path, ["S1,Op,108.2,16.05,30,4G,1800,0,65,4,"], header=header))


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"nope\.csv: no such file"):
        read_sites(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputFileError, match=r"empty\.csv: the file is empty"):
        read_sites(empty)
    with pytest.raises(InputFileError, match="holds no site rows"):
        read_sites(_csv(tmp_path, []))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes(HEADER.encode() + b"\nS\xe91,Op,108,16,30,4G,1800,61,,,,\n")
    with pytest.raises(InputFileError, match="cannot be read as a UTF-8 CSV"):
        read_sites(path)


def test_bad_format_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format must be one of auto, csv, opencellid, geojson"):
        read_sites(_csv(tmp_path, GOOD_ROWS), format="kml")


def _check_opencellid(sites: pd.DataFrame) -> None:
    _check_schema(sites)
    assert list(sites.tech) == ["2G", "3G", "4G", "2G"]
    assert list(sites.operator) == ["651-01", "651-01", "651-01", "651-02"]
    assert list(sites.site_id) == [
        "651-01-117-11201",
        "651-01-98-87189",
        "651-01-201-27625226",
        "651-02-504-1860",
    ]
    assert sites.lon[1] == pytest.approx(27.716445922852) and sites.lat[1] == pytest.approx(
        -29.444046020508
    )
    for tech, key in [("2G", "freq_mhz"), ("3G", "eirp_dbm"), ("4G", "height_m")]:
        assert (sites[key][sites.tech == tech] == OPENCELLID_DEFAULTS[tech][key]).all()
    assert sites.azimuth_deg.isna().all() and sites.beamwidth_deg.isna().all()
    assert (sites.tilt_deg == 0).all() and (sites.model == "").all()


@pytest.mark.parametrize("text", [OPENCELLID_UPPER, OPENCELLID_LOWER], ids=["upper", "lower"])
@pytest.mark.parametrize("fmt", ["auto", "opencellid"])
def test_opencellid(tmp_path: Path, text: str, fmt: str) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(text)
    _check_opencellid(read_sites(path, format=fmt))


def test_opencellid_headerless_gzip(tmp_path: Path) -> None:
    path = tmp_path / "651.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(OPENCELLID_LOWER.split("\n", 1)[1])
    _check_opencellid(read_sites(path))


def test_opencellid_unknown_radio(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(OPENCELLID_LOWER.replace("UMTS", "CDMA"))
    with pytest.raises(
        InputValueError, match=r"row 2, column 'radio': 'CDMA' is not a known radio"
    ):
        read_sites(path)


def test_opencellid_bad_latitude(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(OPENCELLID_UPPER.replace("-28.771668", "-128.771668"))
    with pytest.raises(InputValueError, match=r"cells\.csv: row 3, column 'lat': '-128.771668'"):
        read_sites(path)


def _feature(props: dict, geometry: dict | None = None) -> dict:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": geometry or {"type": "Point", "coordinates": [108.2, 16.05]},
    }


PROPS = {
    "site_id": "S1",
    "operator": "Operator A",
    "height_m": 30,
    "tech": "4G",
    "freq_mhz": 1800,
    "eirp_dbm": 61.0,
    "azimuth_deg": 90,
    "beamwidth_deg": 65,
    "tilt_deg": None,
}


def _geojson(tmp_path: Path, features: list[dict]) -> Path:
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_geojson(tmp_path: Path) -> None:
    omni = {
        **PROPS,
        "site_id": "S2",
        "azimuth_deg": None,
        "beamwidth_deg": None,
        "tech": "NR",
        "freq_mhz": 3500,
    }
    sites = read_sites(_geojson(tmp_path, [_feature(PROPS), _feature(omni)]))
    _check_schema(sites)
    assert list(sites.lon) == [108.2, 108.2] and list(sites.lat) == [16.05, 16.05]
    assert list(sites.tech) == ["4G", "5G"]
    assert sites.azimuth_deg[0] == 90 and math.isnan(sites.azimuth_deg[1])
    assert list(sites.tilt_deg) == [0.0, 0.0]


def test_geojson_bad_property(tmp_path: Path) -> None:
    path = _geojson(tmp_path, [_feature(PROPS), _feature({**PROPS, "height_m": "tall"})])
    with pytest.raises(
        InputValueError, match=r"feature 2, property 'height_m': 'tall' is not an antenna height"
    ):
        read_sites(path)


def test_geojson_not_a_point(tmp_path: Path) -> None:
    line = {"type": "LineString", "coordinates": [[108, 16], [108.1, 16.1]]}
    path = _geojson(tmp_path, [_feature(PROPS, line)])
    with pytest.raises(InputValueError, match=r"feature 1, geometry: 'LineString' is not a Point"):
        read_sites(path)


def test_geojson_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "sites.geojson"
    path.write_text("{not json")
    with pytest.raises(InputFileError, match="cannot be read as GeoJSON"):
        read_sites(path)


def test_geojson_bad_coordinates(tmp_path: Path) -> None:
    far = {"type": "Point", "coordinates": [108.2, 96.0]}
    path = _geojson(tmp_path, [_feature(PROPS, far)])
    with pytest.raises(
        InputValueError, match=r"feature 1, geometry latitude: '96.0' is not a latit"
    ):
        read_sites(path)
