"""Loaders for DEMs, population rasters and site lists, and the sample region.

Nothing here imports from covgap outside ``covgap.datasets``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from typing import TYPE_CHECKING, Any

from covgap.datasets.errors import InputFileError

if TYPE_CHECKING:
    from covgap.datasets.dem import read_dem
    from covgap.datasets.population import population_grid, read_population
    from covgap.datasets.settlements import read_settlements
    from covgap.datasets.sites import read_sites

__all__ = [
    "SampleRegion",
    "population_grid",
    "read_dem",
    "read_population",
    "read_settlements",
    "read_sites",
    "sample_region",
]

_SAMPLE_DIR = Path(__file__).resolve().parent / "sample"

#: The loaders, imported on first use: importing covgap.errors (which lives in
#: covgap.datasets.errors) must not pull in rasterio, xarray and pandas.
_LOADERS = {
    "read_dem": "covgap.datasets.dem",
    "population_grid": "covgap.datasets.population",
    "read_population": "covgap.datasets.population",
    "read_settlements": "covgap.datasets.settlements",
    "read_sites": "covgap.datasets.sites",
}


def __getattr__(name: str) -> Any:
    if name in _LOADERS:
        import importlib

        return getattr(importlib.import_module(_LOADERS[name]), name)
    raise AttributeError(f"module 'covgap.datasets' has no attribute {name!r}")


class SampleRegion(NamedTuple):
    """Paths of the built-in sample region's files (Da Nang, Vietnam).

    See ``datasets/README.md`` for each file's origin, licence and attribution.
    """

    #: SRTM 1 arc-second DEM clip, GeoTIFF int16 metres, EPSG:4326.
    dem: Path
    #: WorldPop 2020 UN-adjusted population counts, 30 arc-second window.
    population: Path
    #: Modelled sites (covgap CSV), see :mod:`covgap.datasets.modelled_sites`.
    sites: Path
    #: GeoNames populated places of the region (CSV).
    settlements: Path
    #: geoBoundaries ADM1 polygons of Da Nang and Quang Nam (GeoJSON).
    boundaries: Path
    #: The sample scenario (TOML) naming the files above: today's networks.
    scenario: Path
    #: The folder holding every shipped scenario (``*.toml``), ``scenario``
    #: first among them; what-if scenarios of the same region go there too.
    scenarios: Path


#: File names of the sample region inside ``covgap/datasets/sample``.
SAMPLE_FILES: dict[str, str] = {
    "dem": "danang_srtm1.tif",
    "population": "danang_worldpop2020_1km.tif",
    "sites": "danang_sites_modelled.csv",
    "settlements": "danang_geonames.csv",
    "boundaries": "danang_quangnam_adm1.geojson",
    "scenario": "danang.toml",
}


def sample_region() -> SampleRegion:
    """Return the paths of the built-in sample region's files.

    Returns
    -------
    SampleRegion
        Absolute paths of ``dem``, ``population``, ``sites``,
        ``settlements``, ``boundaries`` and ``scenario`` (files) and
        ``scenarios`` (the folder of every shipped scenario TOML), inside
        the installed package.

    Raises
    ------
    InputFileError
        A sample file is missing (a broken install).

    Examples
    --------
    >>> region = sample_region()
    >>> region.scenario.name
    'danang.toml'
    """
    files = {key: _SAMPLE_DIR / name for key, name in SAMPLE_FILES.items()}
    paths = SampleRegion(**files, scenarios=_SAMPLE_DIR)
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise InputFileError(
            f"sample region file(s) missing from the installation: {', '.join(missing)}"
        )
    return paths
