"""Settlement points (GeoNames ``cities500`` style CSV)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from covgap.datasets._raster import check_exists
from covgap.datasets.errors import InputFileError, InputValueError

#: Columns a settlements CSV must have (others are kept as text).
SETTLEMENT_COLUMNS: tuple[str, ...] = ("name", "lon", "lat", "population")


def read_settlements(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV of populated places.

    Parameters
    ----------
    path : str or path-like
        CSV with at least ``name``, ``lon``, ``lat`` (WGS84 degrees) and
        ``population`` (people; 0 or empty when unknown), as GeoNames
        extracts have.

    Returns
    -------
    pandas.DataFrame
        ``name`` str, ``lon``, ``lat``, ``population`` float64, then any
        other columns as str.

    Raises
    ------
    InputFileError
        The file is missing, unreadable or lacks a column.
    InputValueError
        A coordinate or population is not a valid number (names the row,
        1-based excluding the header, and the column).
    """
    path = Path(path)
    check_exists(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputFileError(f"{path}: cannot be read as a UTF-8 CSV file ({exc})") from exc
    missing = [c for c in SETTLEMENT_COLUMNS if c not in table.columns]
    if missing:
        raise InputFileError(
            f"{path}: missing column(s) {', '.join(missing)}; expected "
            f"{', '.join(SETTLEMENT_COLUMNS)}"
        )
    limits = {"lon": (-180.0, 180.0), "lat": (-90.0, 90.0), "population": (0.0, np.inf)}
    for col, (low, high) in limits.items():
        text = table[col].str.strip()
        values = pd.to_numeric(
            text.replace("", "0" if col == "population" else "nan"), errors="coerce"
        ).to_numpy(dtype=np.float64)
        ok = np.isfinite(values) & (values >= low) & (values <= high)
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise InputValueError(
                f"{path}: row {row + 1}, column '{col}': {table[col].iloc[row]!r} "
                f"is not a number from {low} to {high}"
            )
        table[col] = values
    table["name"] = table["name"].astype(str)
    return table
