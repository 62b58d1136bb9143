"""Differences between two finished analyses (scenario B minus scenario A).

Used by ``covgap compare A B``: every indicator of
:func:`covgap.statistics.indicators` as ``B - A``, and per-cell delta
layers of the people who gain (+) or lose (-) coverage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from covgap.errors import GridError
from covgap.grid import AnalysisGrid
from covgap.layers import covered_at_least
from covgap.statistics import INDICATOR_SCHEMA
from covgap.types import TECHNOLOGIES

__all__ = ["compare", "coverage_delta", "indicator_difference"]

_DIGITS = 4


def _difference(a: Any, b: Any) -> Any:
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        a = a if isinstance(a, Mapping) else {}
        b = b if isinstance(b, Mapping) else {}
        keys = list(a) + [k for k in b if k not in a]
        return {k: _difference(a.get(k), b.get(k)) for k in keys}
    if isinstance(a, bool) or isinstance(b, bool):
        return None if a == b else f"{a} -> {b}"
    if isinstance(a, int) and isinstance(b, int):
        return b - a
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return round(float(b) - float(a), _DIGITS)
    if a is None or b is None:
        return None
    if a == b:
        return a
    return f"{a} -> {b}"


def indicator_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Every indicator of ``b`` minus the same indicator of ``a``.

    Parameters
    ----------
    a, b : dict
        Indicator dicts from :func:`covgap.statistics.indicators`.

    Returns
    -------
    dict
        The same layout: whole people stay ``int`` (``b - a``), shares and
        percentage points become differences in percentage points (4
        decimals). ``None`` where either side is missing or ``None`` (an
        area or operator present in one scenario only, a share of zero
        people). Equal text is kept; differing text reads ``"a -> b"``
        (``best_single_operator``). ``schema`` is
        ``"covgap.indicators/1 difference"``.
    """
    out = _difference(a, b)
    out["schema"] = f"{INDICATOR_SCHEMA} difference"
    return out


def _check_same_grid(a: xr.Dataset, b: xr.Dataset) -> AnalysisGrid:
    ga, gb = AnalysisGrid.from_dataarray(a), AnalysisGrid.from_dataarray(b)
    if ga.shape != gb.shape or not ga.transform.almost_equals(gb.transform) or ga.crs != gb.crs:
        raise GridError(
            f"the two analyses are on different grids ({ga.crs.to_string()} {ga.shape} {tuple(ga.transform)[:6]} vs "
            f"{gb.crs.to_string()} {gb.shape} {tuple(gb.transform)[:6]}); rerun them with the same [grid] settings"
        )
    return ga


def coverage_delta(a: xr.Dataset, b: xr.Dataset, *, at_least: str = "2G", name: str | None = None) -> xr.DataArray:
    """People per cell who gain (+) or lose (-) coverage from ``a`` to ``b``.

    Parameters
    ----------
    a, b : xr.Dataset
        Analysis Datasets on the same grid (``population``,
        ``covered_<tech>``).
    at_least : {"2G", "3G", "4G", "5G"}
        The service level: covered by this generation or a newer one
        ("2G" = any service, "4G" = mobile broadband).
    name : str, optional
        Default ``coverage_change_<at_least>``.

    Returns
    -------
    xr.DataArray
        float32 people per cell: covered population in ``b`` minus covered
        population in ``a`` (with equal population, +population where
        ``b`` adds coverage, -population where it removes it, 0 elsewhere).

    Raises
    ------
    covgap.errors.GridError
        If the grids differ.
    """
    grid = _check_same_grid(a, b)

    def covered_people(ds: xr.Dataset) -> np.ndarray:
        pop = np.nan_to_num(np.asarray(ds["population"].values, dtype=np.float64), nan=0.0)
        return np.where(covered_at_least(ds, at_least), pop, 0.0)

    values = (covered_people(b) - covered_people(a)).astype(np.float32)
    label = "any service" if at_least == "2G" else f"at least {at_least}"
    return grid.dataarray(
        values,
        name or f"coverage_change_{at_least}",
        "people",
        f"People gaining (+) or losing (-) coverage ({label}), scenario B minus A",
    )


def compare(
    a: xr.Dataset, a_indicators: Mapping[str, Any], b: xr.Dataset, b_indicators: Mapping[str, Any]
) -> tuple[dict[str, Any], xr.Dataset]:
    """Indicator differences and delta layers of scenario B against A.

    Returns
    -------
    differences : dict
        :func:`indicator_difference` of the indicators.
    layers : xr.Dataset
        ``coverage_change_<tech>`` (float32 people) for every technology,
        "at least" that generation; ``coverage_change_2G`` is any service.
    """
    layers = xr.Dataset({f"coverage_change_{tech}": coverage_delta(a, b, at_least=tech) for tech in TECHNOLOGIES})
    return indicator_difference(a_indicators, b_indicators), layers
