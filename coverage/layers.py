"""Gap layers derived from the per-technology coverage of an analysis Dataset.

Every function takes the analysis :class:`xarray.Dataset` (``population``,
``covered_<tech>`` uint8 0/1 and ``best_server_<tech>`` int32 for the
technologies that were modelled) and returns a new DataArray on the same
grid; nothing is modified in place. A technology without a
``covered_<tech>`` variable counts as covering nothing.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from covgap.types import TECHNOLOGIES
from covgap.urbanisation import RURAL

__all__ = [
    "BEST_TECHNOLOGY_FLAGS",
    "best_server_site",
    "best_technology",
    "covered_at_least",
    "flag_categories",
    "gap_layers",
    "no_broadband_population",
    "rural_uncovered_population",
    "uncovered_population",
]

#: ``best_technology`` code -> meaning; the code of a generation is its number.
BEST_TECHNOLOGY_FLAGS: dict[int, str] = {0: "none", 2: "2G", 3: "3G", 4: "4G", 5: "5G"}


def _covered(ds: xr.Dataset, tech: str) -> np.ndarray:
    name = f"covered_{tech}"
    if name not in ds:
        return np.zeros((ds.sizes["y"], ds.sizes["x"]), dtype=bool)
    return np.asarray(ds[name].values) == 1


def _population(ds: xr.Dataset) -> np.ndarray:
    if "population" not in ds:
        raise KeyError("the Dataset has no 'population' variable (people per cell)")
    return np.nan_to_num(np.asarray(ds["population"].values, dtype=np.float32), nan=0.0)


def _wrap(ds: xr.Dataset, values: np.ndarray, name: str, units: str, long_name: str, **attrs: object) -> xr.DataArray:
    coords = {k: v for k, v in ds.coords.items() if set(v.dims) <= {"y", "x"}}
    da = xr.DataArray(values, dims=("y", "x"), coords=coords, name=name)
    da.attrs.update({"units": units, "long_name": long_name, **attrs})
    return da


def covered_at_least(ds: xr.Dataset, tech: str) -> np.ndarray:
    """Cells covered by ``tech`` or any later generation (ITU "at least").

    Parameters
    ----------
    ds : xr.Dataset
        With ``covered_<tech>`` variables (uint8 0/1).
    tech : {"2G", "3G", "4G", "5G"}
        "at least 3G" means 3G, 4G or 5G; "at least 2G" means any service.

    Returns
    -------
    np.ndarray
        bool ``(y, x)``.
    """
    if tech not in TECHNOLOGIES:
        raise ValueError(f"technology {tech!r} must be one of {', '.join(TECHNOLOGIES)}")
    out = np.zeros((ds.sizes["y"], ds.sizes["x"]), dtype=bool)
    for later in TECHNOLOGIES[TECHNOLOGIES.index(tech) :]:
        out |= _covered(ds, later)
    return out


def best_technology(ds: xr.Dataset, *, name: str = "best_technology") -> xr.DataArray:
    """The newest generation that covers each cell.

    Returns
    -------
    xr.DataArray
        uint8: 0 none, 2, 3, 4, 5 for 2G..5G; categorical CF attrs
        (``flag_values``, ``flag_meanings`` = "none 2G 3G 4G 5G").
    """
    values = np.zeros((ds.sizes["y"], ds.sizes["x"]), dtype=np.uint8)
    for tech in TECHNOLOGIES:  # oldest first, so newer ones overwrite
        values[_covered(ds, tech)] = int(tech[0])
    return _wrap(
        ds,
        values,
        name,
        "1",
        "Newest mobile technology generation covering the cell",
        flag_values=np.array(list(BEST_TECHNOLOGY_FLAGS), dtype=np.uint8),
        flag_meanings=" ".join(BEST_TECHNOLOGY_FLAGS.values()),
    )


def uncovered_population(ds: xr.Dataset, *, name: str = "uncovered_population") -> xr.DataArray:
    """People in cells that no technology covers (float32 people per cell)."""
    values = np.where(covered_at_least(ds, "2G"), np.float32(0), _population(ds))
    return _wrap(ds, values, name, "people", "Population without mobile coverage (no 2G, 3G, 4G or 5G)")


def no_broadband_population(ds: xr.Dataset, *, name: str = "no_broadband_population") -> xr.DataArray:
    """People in cells without 4G or 5G (float32 people per cell)."""
    values = np.where(covered_at_least(ds, "4G"), np.float32(0), _population(ds))
    return _wrap(ds, values, name, "people", "Population without mobile broadband (no 4G or 5G)")


def rural_uncovered_population(
    ds: xr.Dataset, urbanisation: xr.DataArray | None = None, *, name: str = "rural_uncovered_population"
) -> xr.DataArray:
    """People in rural cells that no technology covers.

    Parameters
    ----------
    ds : xr.Dataset
        The analysis Dataset.
    urbanisation : xr.DataArray, optional
        Degree of Urbanisation classes (1 rural); default ``ds["urbanisation"]``.

    Returns
    -------
    xr.DataArray
        float32 people per cell, 0 outside rural cells.
    """
    if urbanisation is None:
        if "urbanisation" not in ds:
            raise KeyError("no 'urbanisation' variable: pass urbanisation= (from degree_of_urbanisation)")
        urbanisation = ds["urbanisation"]
    rural = np.asarray(urbanisation.values) == RURAL
    values = np.where(rural & ~covered_at_least(ds, "2G"), _population(ds), np.float32(0))
    return _wrap(
        ds, values, name, "people", "Rural population without mobile coverage (Degree of Urbanisation class 1)"
    )


def best_server_site(ds: xr.Dataset, *, name: str = "best_server_site") -> xr.DataArray:
    """Site index of the best server of each cell's newest covering technology.

    Returns
    -------
    xr.DataArray
        int32 row position in the site table of the serving transmitter of
        :func:`best_technology`'s generation, -1 where nothing covers.
    """
    values = np.full((ds.sizes["y"], ds.sizes["x"]), -1, dtype=np.int32)
    for tech in TECHNOLOGIES:
        covered = _covered(ds, tech)
        if not covered.any():
            continue
        server = f"best_server_{tech}"
        if server not in ds:
            raise KeyError(f"'covered_{tech}' is present but '{server}' is not")
        values[covered] = np.asarray(ds[server].values, dtype=np.int32)[covered]
    return _wrap(ds, values, name, "1", "Site-table row of the best server of the newest covering technology (-1 none)")


def gap_layers(ds: xr.Dataset, urbanisation: xr.DataArray | None = None) -> xr.Dataset:
    """All derived layers at once, for merging into the analysis Dataset.

    Parameters
    ----------
    ds : xr.Dataset
        The analysis Dataset (``population``, ``covered_<tech>``,
        ``best_server_<tech>``).
    urbanisation : xr.DataArray, optional
        Degree of Urbanisation classes; default ``ds["urbanisation"]``.

    Returns
    -------
    xr.Dataset
        ``best_technology``, ``uncovered_population``,
        ``no_broadband_population``, ``rural_uncovered_population``,
        ``best_server_site`` on the grid of ``ds``.
    """
    layers = [
        best_technology(ds),
        uncovered_population(ds),
        no_broadband_population(ds),
        rural_uncovered_population(ds, urbanisation),
        best_server_site(ds),
    ]
    return xr.Dataset({str(da.name): da for da in layers})


def flag_categories(da: xr.DataArray) -> dict[str, str]:
    """``{"<value>": "<meaning>"}`` from a categorical layer's CF flag attrs.

    For the manifest's ``categories`` field.
    """
    values = np.atleast_1d(da.attrs["flag_values"])
    meanings = str(da.attrs["flag_meanings"]).split()
    return {str(int(v)): m for v, m in zip(values, meanings, strict=True)}
