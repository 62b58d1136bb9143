"""Digital elevation models: GeoTIFF (or any GDAL raster) and SRTM ``.hgt``.

SRTM ``.hgt`` tiles are headerless grids of big-endian int16 metres, 1201 x
1201 (3 arc-second) or 3601 x 3601 (1 arc-second) samples, void = -32768.
The file name gives the tile's south-west corner (``N15E108.hgt`` covers
15-16 N, 108-109 E), so it must be kept. GDAL's SRTMHGT driver reads them; a
``.hgt.zip`` is read through GDAL's ``/vsizip/`` without unpacking.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import xarray as xr

from covgap.datasets._raster import check_exists, read_band
from covgap.datasets.errors import InputFileError

#: Sample counts per side of the two SRTM ``.hgt`` tile sizes.
HGT_SIZES = (1201, 3601)

_HGT_NAME = re.compile(r"^[NS]\d{2}[EW]\d{3}(\.[A-Za-z0-9]+)*\.hgt$", re.IGNORECASE)

_ATTRS = {
    "units": "m",
    "long_name": "terrain elevation above mean sea level",
    "standard_name": "height_above_mean_sea_level",
}


def read_dem(path: str | os.PathLike[str]) -> xr.DataArray:
    """Read a DEM as float32 metres.

    Parameters
    ----------
    path : str or path-like
        A GeoTIFF (or other GDAL raster) with a CRS, an SRTM tile
        ``N15E108.hgt``, or a zip holding one such tile (``N15E108.hgt.zip``).

    Returns
    -------
    xarray.DataArray
        ``elevation``, float32, dims ``("y", "x")`` (cell centres, ``y``
        descending), CRS and transform written with rioxarray, nodata and
        SRTM voids as NaN, attrs ``units="m"`` and ``long_name``.

    Raises
    ------
    InputFileError
        The file is missing or unreadable, has no CRS, or is a ``.hgt`` whose
        name or size is not that of an SRTM tile.

    Examples
    --------
    >>> from covgap.datasets import read_dem, sample_region
    >>> dem = read_dem(sample_region().dem)
    >>> dem.dims, str(dem.dtype), dem.attrs["units"]
    (('y', 'x'), 'float32', 'm')
    """
    path = Path(path)
    check_exists(path)
    lower = path.name.lower()
    if lower.endswith(".hgt.zip"):
        source = _hgt_in_zip(path)
    elif lower.endswith(".hgt"):
        _check_hgt(path, path.name, path.stat().st_size)
        source = str(path)
    else:
        source = str(path)
    return read_band(path, source, name="elevation", attrs=dict(_ATTRS))


def _check_hgt(path: Path, name: str, size: int) -> None:
    """Check the name and byte size of an SRTM tile called *name*."""
    if not _HGT_NAME.match(name):
        raise InputFileError(
            f"{path}: an SRTM .hgt tile must keep its original name, which gives "
            f"its south-west corner (e.g. N15E108.hgt); got {name!r}"
        )
    expected = {2 * n * n: n for n in HGT_SIZES}
    if size not in expected:
        raise InputFileError(
            f"{path}: {name} holds {size} bytes; an SRTM tile holds "
            + " or ".join(f"{2 * n * n} ({n} x {n} int16)" for n in HGT_SIZES)
        )


def _hgt_in_zip(path: Path) -> str:
    """Return the ``/vsizip/`` name of the single ``.hgt`` inside *path*."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if i.filename.lower().endswith(".hgt")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(f"{path}: cannot be read as a zip file ({exc})") from exc
    if len(members) != 1:
        found = ", ".join(m.filename for m in members) or "none"
        raise InputFileError(f"{path}: expected exactly one .hgt file inside, found {found}")
    member = members[0]
    _check_hgt(path, Path(member.filename).name, member.file_size)
    return f"/vsizip/{path.resolve()}/{member.filename}"
