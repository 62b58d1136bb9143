"""Site lists: covgap CSV, OpenCelliD CSV exports and GeoJSON points.

Every reader returns the same table, one row per transmitter (a sector of
one technology at one mast), with exactly the columns of
:data:`SITE_COLUMNS`. Bad values raise :class:`InputValueError` naming the
file, the 1-based data row (the header is not counted; for GeoJSON the
1-based feature), the column, the value and what was expected.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from covgap.datasets._raster import check_exists
from covgap.datasets.errors import CovgapWarning, InputFileError, InputValueError

#: Columns of the site table, in order.
SITE_COLUMNS: tuple[str, ...] = (
    "site_id",
    "operator",
    "lon",
    "lat",
    "height_m",
    "tech",
    "freq_mhz",
    "eirp_dbm",
    "azimuth_deg",
    "beamwidth_deg",
    "tilt_deg",
    "model",
)
#: Columns a covgap CSV (or a GeoJSON feature's properties, plus the point) must have.
REQUIRED_COLUMNS: tuple[str, ...] = SITE_COLUMNS[:8]
#: Optional columns and the value an empty cell takes (NaN azimuth = omni).
OPTIONAL_DEFAULTS: dict[str, float | str] = {
    "azimuth_deg": math.nan,
    "beamwidth_deg": math.nan,
    "tilt_deg": 0.0,
    "model": "",
}
#: Technologies, and the names accepted for them (case-insensitive).
TECH_ALIASES: dict[str, str] = {
    "2G": "2G",
    "GSM": "2G",
    "3G": "3G",
    "UMTS": "3G",
    "WCDMA": "3G",
    "4G": "4G",
    "LTE": "4G",
    "5G": "5G",
    "NR": "5G",
}
#: OpenCelliD ``radio`` -> technology.
OPENCELLID_RADIO: dict[str, str] = {"GSM": "2G", "UMTS": "3G", "LTE": "4G", "NR": "5G"}
#: What OpenCelliD lacks, per technology: antenna height above ground (m),
#: carrier frequency (MHz) and total main-beam EIRP (dBm). Cells are omni
#: (no azimuth), tilt 0. See datasets/README.md for the reasoning.
OPENCELLID_DEFAULTS: dict[str, dict[str, float]] = {
    "2G": {"height_m": 30.0, "freq_mhz": 900.0, "eirp_dbm": 57.0},
    "3G": {"height_m": 30.0, "freq_mhz": 2100.0, "eirp_dbm": 58.0},
    "4G": {"height_m": 30.0, "freq_mhz": 1800.0, "eirp_dbm": 61.0},
    "5G": {"height_m": 25.0, "freq_mhz": 3500.0, "eirp_dbm": 76.0},
}
#: Columns of OpenCelliD's cell exports, used when a file has no header row.
OPENCELLID_COLUMNS: tuple[str, ...] = (
    "radio",
    "mcc",
    "net",
    "area",
    "cell",
    "unit",
    "lon",
    "lat",
    "range",
    "samples",
    "changeable",
    "created",
    "updated",
    "averagesignal",
)
_OPENCELLID_ALIASES = {"mnc": "net", "tac": "area", "lac": "area", "cid": "cell"}
_OPENCELLID_USED = ("radio", "mcc", "net", "area", "cell", "lon", "lat")

FORMATS: tuple[str, ...] = ("auto", "csv", "opencellid", "geojson")

# (column, lowest, highest, whether the lowest is excluded, what was expected); an empty
# optional cell takes its default from OPTIONAL_DEFAULTS and skips the test.
_NUMERIC_RULES: tuple[tuple[str, float, float, bool, str], ...] = (
    ("lon", -180.0, 180.0, False, "a longitude in degrees, -180 to 180"),
    ("lat", -90.0, 90.0, False, "a latitude in degrees, -90 to 90"),
    ("height_m", 0.0, 1000.0, True, "an antenna height above ground in m, > 0 and <= 1000"),
    ("freq_mhz", 0.0, 100000.0, True, "a carrier frequency in MHz, > 0 and <= 100000"),
    ("eirp_dbm", -30.0, 100.0, False, "a total EIRP in dBm, -30 to 100"),
    (
        "azimuth_deg",
        0.0,
        360.0,
        False,
        "an azimuth in degrees from north, 0 to 360, or empty for omni",
    ),
    (
        "beamwidth_deg",
        0.0,
        360.0,
        True,
        "a horizontal 3 dB beamwidth in degrees, > 0 and <= 360, or empty for omni",
    ),
    ("tilt_deg", -90.0, 90.0, False, "a downtilt in degrees, -90 to 90"),
)


def _in_range(values: np.ndarray, low: float, high: float, low_open: bool) -> np.ndarray:
    """Finite values within [low, high] (or (low, high] when *low_open*)."""
    above = values > low if low_open else values >= low
    return np.isfinite(values) & above & (values <= high)


def read_sites(path: str | os.PathLike[str], format: str = "auto") -> pd.DataFrame:
    """Read a site list into covgap's site table.

    Parameters
    ----------
    path : str or path-like
        The file. CSV files may be gzip-compressed (``.csv.gz``).
    format : {"auto", "csv", "opencellid", "geojson"}
        ``"auto"`` picks GeoJSON for ``.geojson``/``.json`` files; for CSV
        files, OpenCelliD when the header has ``radio`` and ``mcc`` columns
        (either case) or when there is no header and the first field is a
        radio name, covgap CSV otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per transmitter with exactly :data:`SITE_COLUMNS`:
        ``site_id``, ``operator``, ``tech`` (``"2G"``..``"5G"``) and
        ``model`` as str; ``lon``, ``lat`` (WGS84 degrees), ``height_m``,
        ``freq_mhz``, ``eirp_dbm``, ``azimuth_deg`` and ``beamwidth_deg``
        (NaN = omni), ``tilt_deg`` as float64.

    Raises
    ------
    InputFileError
        The file is missing, unreadable, empty, or lacks required columns.
    InputValueError
        A value is bad or a technology unknown; the message names the
        file, row, column, value and what was expected.
    ValueError
        *format* is not one of :data:`FORMATS`.

    Examples
    --------
    >>> from covgap.datasets import read_sites, sample_region
    >>> sites = read_sites(sample_region().sites)
    >>> sorted(sites.operator.unique())
    ['Operator A', 'Operator B', 'Operator C']
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    path = Path(path)
    check_exists(path)
    if format == "auto":
        format = _detect_format(path)
    if format == "geojson":
        return _read_geojson(path)
    table = _read_csv_strings(path, opencellid=format == "opencellid")
    if format == "opencellid":
        return _from_opencellid(path, table)
    return _from_covgap_columns(path, table, "row", "column")


def _detect_format(path: Path) -> str:
    if path.suffix.lower() in (".geojson", ".json"):
        return "geojson"
    header = _first_line(path)
    fields = {f.strip().lower() for f in header}
    if {"radio", "mcc"} <= fields or (header and header[0].strip().upper() in OPENCELLID_RADIO):
        return "opencellid"
    return "csv"


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _first_line(path: Path) -> list[str]:
    try:
        with _open_text(path) as fh:
            return next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: cannot be read as a UTF-8 CSV file ({exc})") from exc


def _opencellid_name(column: str) -> str:
    """OpenCelliD column name in lower case, aliases resolved (``MNC`` -> ``net``)."""
    key = column.strip().lower()
    return _OPENCELLID_ALIASES.get(key, key)


def _read_csv_strings(path: Path, *, opencellid: bool) -> pd.DataFrame:
    """Read the cells as stripped strings; header names are kept as written.

    For OpenCelliD only the columns covgap uses are read (exports run to
    millions of rows).
    """
    headerless = opencellid and (_first_line(path) or [""])[0].strip().upper() in OPENCELLID_RADIO
    try:
        table = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            header=None if headerless else "infer",
            names=list(OPENCELLID_COLUMNS) if headerless else None,
            usecols=(lambda c: _opencellid_name(c) in _OPENCELLID_USED) if opencellid else None,
        )
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{path}: the file is empty; expected a CSV header and rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot be read as a UTF-8 CSV file ({exc})") from exc
    if table.empty:
        raise InputFileError(f"{path}: holds no site rows")
    return table.apply(lambda col: col.str.strip())


def _bad(
    path: Path, where: str, index: int, field: str, value: object, expected: str
) -> InputValueError:
    return InputValueError(f"{path}: {where} {index + 1}, {field}: {value!r} is not {expected}")


def _field(col: str, col_word: str) -> str:
    """How an error names a column: GeoJSON coordinates come from the geometry."""
    if col_word == "property" and col in ("lon", "lat"):
        return f"geometry {'longitude' if col == 'lon' else 'latitude'}"
    return f"{col_word} '{col}'"


def _from_covgap_columns(
    path: Path, table: pd.DataFrame, row_word: str, col_word: str
) -> pd.DataFrame:
    """Validate a table of strings with covgap's column names."""
    columns = [str(c).strip() for c in table.columns]
    table.columns = columns
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputFileError(
            f"{path}: missing {col_word}(s) {', '.join(missing)}; a covgap site list needs "
            f"{', '.join(REQUIRED_COLUMNS)} and may have {', '.join(OPTIONAL_DEFAULTS)}"
        )
    unknown = [c for c in columns if c not in SITE_COLUMNS]
    if unknown:
        warnings.warn(
            f"{path}: ignoring unknown {col_word}(s) {', '.join(unknown)}; known: "
            f"{', '.join(SITE_COLUMNS)}",
            CovgapWarning,
            stacklevel=3,
        )
    for name in OPTIONAL_DEFAULTS:
        if name not in columns:
            table[name] = ""
    problems: list[tuple[int, int, InputValueError]] = []

    def report(col: str, index: int, expected: str) -> None:
        problems.append(
            (
                index,
                SITE_COLUMNS.index(col),
                _bad(
                    path, row_word, index, _field(col, col_word), table[col].iloc[index], expected
                ),
            )
        )

    for col in ("site_id", "operator"):
        empty = np.flatnonzero(table[col].to_numpy() == "")
        if empty.size:
            report(col, int(empty[0]), "a non-empty name")
    tech = table["tech"].str.upper().map(TECH_ALIASES)
    unknown_tech = np.flatnonzero(tech.isna().to_numpy())
    if unknown_tech.size:
        report(
            "tech",
            int(unknown_tech[0]),
            "a known technology: 2G, 3G, 4G or 5G (or GSM, UMTS, LTE, NR)",
        )
    numbers: dict[str, np.ndarray] = {}
    for col, low, high, low_open, expected in _NUMERIC_RULES:
        text = table[col]
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, copy=True)
        ok = _in_range(values, low, high, low_open)
        if col in OPTIONAL_DEFAULTS:
            empty = (text == "").to_numpy()
            values[empty] = OPTIONAL_DEFAULTS[col]
            ok |= empty
        if not ok.all():
            report(col, int(np.flatnonzero(~ok)[0]), expected)
        numbers[col] = values
    sector = ~np.isnan(numbers["azimuth_deg"])
    beam = ~np.isnan(numbers["beamwidth_deg"])
    if (sector != beam).any():
        index = int(np.flatnonzero(sector != beam)[0])
        col = "beamwidth_deg" if sector[index] else "azimuth_deg"
        report(
            col,
            index,
            "given: azimuth_deg and beamwidth_deg are both set (a sector) or both empty (omni)",
        )
    if problems:
        raise min(problems, key=lambda p: (p[0], p[1]))[2]
    return _assemble(
        site_id=table["site_id"],
        operator=table["operator"],
        tech=tech,
        model=table["model"],
        numbers=numbers,
    )


def _assemble(
    *,
    site_id: pd.Series,
    operator: pd.Series,
    tech: pd.Series,
    model: pd.Series,
    numbers: dict[str, np.ndarray],
) -> pd.DataFrame:
    data: dict[str, object] = {
        "site_id": site_id.astype(str).to_numpy(),
        "operator": operator.astype(str).to_numpy(),
        "tech": tech.astype(str).to_numpy(),
        "model": model.astype(str).to_numpy(),
    }
    data.update(numbers)
    frame = pd.DataFrame({col: data[col] for col in SITE_COLUMNS})
    for col in ("site_id", "operator", "tech", "model"):
        frame[col] = frame[col].astype(str)
    return frame


def _from_opencellid(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    """Map an OpenCelliD export (upper- or lower-case header) to the site table."""
    table = table.rename(columns=lambda c: _opencellid_name(str(c)))
    missing = [c for c in _OPENCELLID_USED if c not in table.columns]
    if missing:
        raise InputFileError(
            f"{path}: missing column(s) {', '.join(missing)} of an OpenCelliD export "
            f"(expected {', '.join(OPENCELLID_COLUMNS)}; "
            "MNC/TAC/CID are accepted for net/area/cell)"
        )
    problems: list[tuple[int, int, InputValueError]] = []

    def report(col: str, index: int, expected: str) -> None:
        problems.append(
            (
                index,
                _OPENCELLID_USED.index(col),
                _bad(path, "row", index, f"column '{col}'", table[col].iloc[index], expected),
            )
        )

    tech = table["radio"].str.upper().map(OPENCELLID_RADIO)
    unknown = np.flatnonzero(tech.isna().to_numpy())
    if unknown.size:
        report(
            "radio",
            int(unknown[0]),
            "a known radio: GSM, UMTS, LTE or NR "
            "(remove rows of other technologies, e.g. CDMA, first)",
        )
    ints: dict[str, np.ndarray] = {}
    for col in ("mcc", "net", "area", "cell"):
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(values) & (values >= 0) & (values == np.round(values))
        if not ok.all():
            report(col, int(np.flatnonzero(~ok)[0]), "a non-negative integer")
        ints[col] = np.where(ok, values, 0).astype(np.int64)
    coords: dict[str, np.ndarray] = {}
    for col, low, high, low_open, expected in _NUMERIC_RULES[:2]:
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
        ok = _in_range(values, low, high, low_open)
        if not ok.all():
            report(col, int(np.flatnonzero(~ok)[0]), expected)
        coords[col] = values
    if problems:
        raise min(problems, key=lambda p: (p[0], p[1]))[2]
    mcc, net, area, cell = (ints[c] for c in ("mcc", "net", "area", "cell"))
    operator = (
        pd.Series(mcc).astype(str).str.zfill(3) + "-" + pd.Series(net).astype(str).str.zfill(2)
    )
    site_id = operator + "-" + pd.Series(area).astype(str) + "-" + pd.Series(cell).astype(str)
    numbers = {"lon": coords["lon"], "lat": coords["lat"]}
    for key in ("height_m", "freq_mhz", "eirp_dbm"):
        defaults = {tech: values[key] for tech, values in OPENCELLID_DEFAULTS.items()}
        numbers[key] = tech.map(defaults).to_numpy(dtype=np.float64)
    n = len(table)
    numbers.update(
        azimuth_deg=np.full(n, np.nan), beamwidth_deg=np.full(n, np.nan), tilt_deg=np.zeros(n)
    )
    return _assemble(
        site_id=site_id, operator=operator, tech=tech, model=pd.Series([""] * n), numbers=numbers
    )


def _read_geojson(path: Path) -> pd.DataFrame:
    """Read a FeatureCollection of Points whose properties are covgap columns."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: cannot be read as GeoJSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputFileError(f"{path}: expected a GeoJSON FeatureCollection")
    crs_name = ((doc.get("crs") or {}).get("properties") or {}).get("name", "")
    if crs_name and not any(k in crs_name.upper() for k in ("CRS84", "4326")):
        raise InputFileError(
            f"{path}: coordinates must be WGS84 longitude/latitude, got crs {crs_name!r}"
        )
    features = doc.get("features") or []
    if not features:
        raise InputFileError(f"{path}: holds no site features")
    rows = []
    if not isinstance(features, list):
        raise InputFileError(f"{path}: 'features' must be a list of GeoJSON Features")
    for index, feature in enumerate(features):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(properties, dict | None):
            raise _bad(path, "feature", index, "properties", properties, "a JSON object")
        geometry = (feature.get("geometry") if isinstance(feature, dict) else None) or {}
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if not isinstance(geometry, dict):
            geometry = {"type": geometry}
        if geometry.get("type") != "Point" or not isinstance(coords, list) or len(coords) < 2:
            raise _bad(
                path,
                "feature",
                index,
                "geometry",
                geometry.get("type"),
                "a Point with [longitude, latitude] coordinates",
            )
        props = {k: ("" if v is None else str(v)) for k, v in (properties or {}).items()}
        props.pop("lon", None)
        props.pop("lat", None)
        props["lon"], props["lat"] = str(coords[0]), str(coords[1])
        rows.append(props)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = pd.DataFrame(
        [[row.get(c, "") for c in columns] for row in rows], columns=columns, dtype=str
    )
    return _from_covgap_columns(
        path, table.apply(lambda col: col.str.strip()), "feature", "property"
    )
