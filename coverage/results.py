"""Read finished analysis runs: the catalogue a tile server or notebook serves.

A *served directory* is either one run directory (it holds
``manifest.json``) or a folder whose sub-folders are run directories. Each
run directory is what :mod:`covgap.export` writes::

    RUN/manifest.json      name, title, bounds, metadata, layers, extras
    RUN/summary.json       indicators
    RUN/<layer>.tif        one Cloud-Optimized GeoTIFF per layer
    RUN/sites.geojson      the transmitters (optional)

Every file name comes from a manifest and is checked to be a plain name
inside its run directory when the catalogue is opened. Runs and layers are
then looked up by name in the catalogue only: a name given by a user is
never joined into a path, so it cannot reach outside the served directory.

Examples
--------
>>> catalog = open_results("demo-output")            # doctest: +SKIP
>>> layer = catalog.layer("danang-today", "covered_4G")  # doctest: +SKIP
>>> layer.sample(108.2, 16.05)                         # doctest: +SKIP
1.0
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window

from covgap.errors import InputFileError, InputValueError, NotFoundError
from covgap.types import BBox

__all__ = [
    "MANIFEST_NAME",
    "LAYER_KINDS",
    "Catalog",
    "Layer",
    "LayerData",
    "Run",
    "Site",
    "open_results",
    "haversine_m",
]

#: File that marks a run directory.
MANIFEST_NAME = "manifest.json"
#: Kinds of layer a manifest may declare; they choose the colormap family.
LAYER_KINDS: tuple[str, ...] = ("continuous", "categorical", "boolean", "hillshade")
#: Name of the optional transmitter table in a run directory.
SITES_NAME = "sites.geojson"
#: Mean Earth radius (m) for point-to-site distances.
EARTH_RADIUS_M = 6_371_008.8

LayerKind = Literal["continuous", "categorical", "boolean", "hillshade"]
_PLAIN_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class LayerData:
    """A layer's cells in its own grid.

    Attributes
    ----------
    values : numpy.ndarray
        2-D array (rows, cols) in the file's dtype.
    valid : numpy.ndarray
        Boolean array of the same shape, False where nodata or NaN.
    transform : affine.Affine
        Grid transform of ``values`` (coarser than the file's when read
        from an overview).
    crs : rasterio.crs.CRS
        The grid CRS.
    full_resolution : bool
        False when read decimated from an overview.
    """

    values: np.ndarray
    valid: np.ndarray
    transform: Any
    crs: Any
    full_resolution: bool = True

    def value_at(self, lon: float, lat: float) -> float | None:
        """The value of the cell holding a WGS84 point, or None outside or at nodata."""
        xs, ys = warp_transform("EPSG:4326", self.crs, [lon], [lat])
        col, row = ~self.transform @ (xs[0], ys[0])
        if not (math.isfinite(col) and math.isfinite(row)):
            return None
        row, col = math.floor(row), math.floor(col)
        height, width = self.values.shape
        if not (0 <= row < height and 0 <= col < width) or not self.valid[row, col]:
            return None
        return float(self.values[row, col])


@dataclass(frozen=True)
class Layer:
    """One raster layer of a run, as its manifest entry describes it.

    Attributes
    ----------
    name : str
        Layer name, e.g. ``"received_power_4G"``.
    path : pathlib.Path
        The Cloud-Optimized GeoTIFF (resolved, inside the run directory).
    units, long_name : str
        Physical unit and description.
    kind : str
        One of :data:`LAYER_KINDS`.
    dtype : str
        The file's data type.
    nodata : float or None
        The file's nodata value (NaN is always nodata for floats).
    value_range : tuple of float or None
        ``(min, max)`` of the valid cells, from the manifest.
    categories : dict of int to str
        Labels of the classes (categorical and boolean layers).
    minzoom, maxzoom : int
        Web-map zoom range the layer is meant for.
    bounds : tuple of float
        ``(west, south, east, north)`` in degrees (the run's bounds).
    """

    name: str
    path: Path
    units: str
    long_name: str
    kind: LayerKind
    dtype: str
    nodata: float | None
    value_range: tuple[float, float] | None
    categories: dict[int, str]
    minzoom: int
    maxzoom: int
    bounds: BBox

    @property
    def version(self) -> str:
        """A token that changes when the file changes (size and mtime)."""
        stat = self.path.stat()
        return f"{stat.st_size:x}{stat.st_mtime_ns:x}"

    def read(self, *, max_cells: int | None = None) -> LayerData:
        """Read the layer's cells, from an overview if the layer is large.

        Parameters
        ----------
        max_cells : int, optional
            Read at most this many cells: a larger layer is read decimated
            (GDAL picks the COG overview closest to the requested shape,
            nearest-neighbour).

        Returns
        -------
        LayerData

        Raises
        ------
        InputFileError
            If the file cannot be read.
        """
        try:
            with rasterio.open(self.path) as src:
                height, width = src.height, src.width
                factor = 1
                if max_cells is not None:
                    while (height // factor) * (width // factor) > max_cells:
                        factor *= 2
                shape = (max(1, height // factor), max(1, width // factor))
                values = src.read(1, out_shape=shape, resampling=Resampling.nearest)
                transform = src.transform @ Affine.scale(width / shape[1], height / shape[0])
                crs = src.crs
                nodata = src.nodata
        except RasterioError as exc:
            raise InputFileError(f"cannot read layer {self.name!r} from {self.path}: {exc}") from exc
        valid = np.ones(values.shape, dtype=bool)
        if np.issubdtype(values.dtype, np.floating):
            valid &= ~np.isnan(values)
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            valid &= values != nodata
        return LayerData(values=values, valid=valid, transform=transform, crs=crs, full_resolution=factor == 1)

    def sample(self, lon: float, lat: float) -> float | None:
        """The layer's value at a point, or None outside the grid or at nodata.

        Parameters
        ----------
        lon, lat : float
            Point in WGS84 degrees.

        Returns
        -------
        float or None
        """
        try:
            with rasterio.open(self.path) as src:
                xs, ys = warp_transform("EPSG:4326", src.crs, [lon], [lat])
                row, col = src.index(xs[0], ys[0])
                if not (0 <= row < src.height and 0 <= col < src.width):
                    return None
                window = Window(col, row, 1, 1)
                value = src.read(1, window=window)[0, 0]
                nodata = src.nodata
        except RasterioError as exc:
            raise InputFileError(f"cannot read layer {self.name!r} from {self.path}: {exc}") from exc
        value = float(value)
        if math.isnan(value) or (nodata is not None and value == nodata):
            return None
        return value

    def describe(self) -> dict[str, Any]:
        """The layer as the JSON catalogue lists it."""
        return {
            "name": self.name,
            "units": self.units,
            "long_name": self.long_name,
            "kind": self.kind,
            "bounds": list(self.bounds),
            "minzoom": self.minzoom,
            "maxzoom": self.maxzoom,
            "value_range": list(self.value_range) if self.value_range is not None else None,
            "categories": {str(k): v for k, v in self.categories.items()} or None,
        }


@dataclass(frozen=True)
class Site:
    """One transmitter of a run's site table (row ``index`` of ``sites``)."""

    index: int
    lon: float
    lat: float
    properties: dict[str, Any]


@dataclass(frozen=True)
class Run:
    """One analysis run: its manifest, layers and optional extra files.

    Attributes
    ----------
    name, title : str
        Run name (as in URLs) and human title.
    directory : pathlib.Path
        The run directory.
    crs : str
        Grid CRS of the layers.
    bounds : tuple of float
        ``(west, south, east, north)`` in degrees.
    resolution_m : float or None
        Grid cell size in metres.
    metadata : dict
        The scenario's ``[metadata]`` table.
    attribution : list of str
        Data attribution lines to show with the map.
    layers : dict of str to Layer
        Layers in manifest order.
    extras : dict of str to pathlib.Path
        Optional files (``gap_clusters``, ``indicators_csv``, ``sites``).
    """

    name: str
    title: str
    directory: Path
    crs: str
    bounds: BBox
    resolution_m: float | None
    metadata: dict[str, Any]
    attribution: list[str]
    layers: dict[str, Layer]
    extras: dict[str, Path] = field(default_factory=dict)
    covgap_version: str = ""

    def layer(self, name: str) -> Layer:
        """The layer called ``name``.

        Raises
        ------
        NotFoundError
            If the run has no such layer; the message lists the layers.
        """
        try:
            return self.layers[name]
        except KeyError:
            raise NotFoundError(
                f"run {self.name!r} has no layer {name!r}; layers: {', '.join(self.layers)}"
            ) from None

    def extra(self, key: str) -> Path:
        """The path of the optional file ``key`` (e.g. ``"gap_clusters"``).

        Raises
        ------
        NotFoundError
            If the run has no such file.
        """
        try:
            return self.extras[key]
        except KeyError:
            available = ", ".join(self.extras) or "none"
            raise NotFoundError(f"run {self.name!r} has no {key!r} file; files: {available}") from None

    def summary(self) -> dict[str, Any]:
        """The run's indicators (``summary.json``).

        Raises
        ------
        NotFoundError
            If the run has no summary.
        InputFileError
            If the summary is not valid JSON.
        """
        path = self.directory / "summary.json"
        if not path.is_file():
            raise NotFoundError(f"run {self.name!r} has no summary.json")
        return _read_json(path)

    def sites(self) -> list[Site] | None:
        """The run's transmitters in site-table order, or None if it has none.

        Feature *i* of ``sites.geojson`` is row *i* of the site table, the
        row that ``best_server_*`` layers point at.
        """
        path = self.extras.get("sites")
        if path is None:
            return None
        return list(_read_sites(path, path.stat().st_mtime_ns))

    def describe(self) -> dict[str, Any]:
        """The run as the JSON catalogue lists it."""
        return {
            "name": self.name,
            "title": self.title,
            "bounds": list(self.bounds),
            "crs": self.crs,
            "resolution_m": self.resolution_m,
            "covgap_version": self.covgap_version,
            "metadata": self.metadata,
            "attribution": self.attribution,
            "extras": {key: path.name for key, path in self.extras.items()},
            "layers": [layer.describe() for layer in self.layers.values()],
        }


@dataclass(frozen=True)
class Catalog:
    """The runs of a served directory, looked up by name.

    Attributes
    ----------
    directory : pathlib.Path
        The served directory.
    runs : dict of str to Run
        Runs by name, sorted by name.
    """

    directory: Path
    runs: dict[str, Run]

    def run(self, name: str) -> Run:
        """The run called ``name``.

        Raises
        ------
        NotFoundError
            If there is no such run; the message lists the runs.
        """
        try:
            return self.runs[name]
        except KeyError:
            raise NotFoundError(f"no run {name!r}; runs: {', '.join(self.runs)}") from None

    def layer(self, run: str, layer: str) -> Layer:
        """The layer ``layer`` of run ``run`` (see :meth:`Run.layer`)."""
        return self.run(run).layer(layer)


def open_results(directory: str | Path) -> Catalog:
    """Open a served directory: one run directory or a folder of them.

    Parameters
    ----------
    directory : str or pathlib.Path
        A run directory (holding ``manifest.json``) or a folder whose
        sub-folders are run directories.

    Returns
    -------
    Catalog

    Raises
    ------
    InputFileError
        If the directory does not exist, holds no run, or a manifest or a
        file it names cannot be read.
    InputValueError
        If a manifest lacks a key, has a bad value, names a file outside its
        run directory, or two runs share a name.
    """
    root = Path(directory).resolve()
    if not root.is_dir():
        raise InputFileError(f"results directory {root} does not exist or is not a directory")
    if (root / MANIFEST_NAME).is_file():
        run_dirs = [root]
    else:
        run_dirs = sorted(p for p in root.iterdir() if p.is_dir() and (p / MANIFEST_NAME).is_file())
    if not run_dirs:
        raise InputFileError(
            f"no analysis run in {root}: expected {MANIFEST_NAME} in it or in its sub-folders "
            "(write one with `covgap run SCENARIO.toml --out DIR`)"
        )
    runs: dict[str, Run] = {}
    for run_dir in run_dirs:
        run = _read_run(run_dir)
        if run.name in runs:
            raise InputValueError(
                f"two runs are named {run.name!r}: {runs[run.name].directory} and {run_dir}; "
                "rename one in its manifest.json"
            )
        runs[run.name] = run
    return Catalog(directory=root, runs=dict(sorted(runs.items())))


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (degrees).

    Examples
    --------
    >>> round(haversine_m(0.0, 0.0, 0.0, 1.0))
    111195
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@lru_cache(maxsize=16)
def _read_sites(path: Path, mtime_ns: int) -> tuple[Site, ...]:
    """The features of a sites GeoJSON as sites, cached while the file is unchanged."""
    doc = _read_json(path)
    sites = []
    for index, feature in enumerate(doc.get("features", [])):
        geometry = feature.get("geometry") or {}
        coords = geometry.get("coordinates") or [math.nan, math.nan]
        props = dict(feature.get("properties") or {})
        sites.append(Site(index=index, lon=float(coords[0]), lat=float(coords[1]), properties=props))
    return tuple(sites)


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc


def _member(run_dir: Path, name: Any, where: str) -> Path:
    """Resolve a file name from a manifest, refusing anything but a plain name."""
    if not isinstance(name, str) or not _PLAIN_FILE.match(name) or ".." in name:
        raise InputValueError(
            f"{run_dir / MANIFEST_NAME}: {where} must be a plain file name inside the run "
            f"directory, got {name!r}"
        )
    path = (run_dir / name).resolve()
    if path.parent != run_dir.resolve():
        raise InputValueError(f"{run_dir / MANIFEST_NAME}: {where} {name!r} points outside the run directory")
    if not path.is_file():
        raise InputFileError(f"{run_dir / MANIFEST_NAME}: {where} {name!r} does not exist")
    return path


def _require(doc: dict[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise InputValueError(f"{where}: missing key {key!r}")
    return doc[key]


def _bounds(value: Any, where: str) -> BBox:
    try:
        w, s, e, n = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputValueError(f"{where}: bounds must be [west, south, east, north], got {value!r}") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InputValueError(f"{where}: bounds {value!r} are not [west, south, east, north] in degrees")
    return (w, s, e, n)


def _read_layer(run_dir: Path, entry: dict[str, Any], bounds: BBox, where: str) -> Layer:
    name = _require(entry, "name", where)
    where = f"{where} layer {name!r}"
    kind = entry.get("kind", "continuous")
    if kind not in LAYER_KINDS:
        raise InputValueError(f"{where}: kind must be one of {', '.join(LAYER_KINDS)}, got {kind!r}")
    value_range = entry.get("value_range")
    if value_range is not None and None in value_range:  # a layer without any valid cell
        value_range = None
    if value_range is not None:
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise InputValueError(f"{where}: value_range must be [min, max], got {value_range!r}") from None
        value_range = None if (math.isnan(lo) or math.isnan(hi)) else (lo, hi)
    categories = {}
    for key, label in (entry.get("categories") or {}).items():
        try:
            categories[int(float(key))] = str(label)
        except ValueError:
            raise InputValueError(f"{where}: category values must be numbers, got {key!r}") from None
    nodata = entry.get("nodata")
    return Layer(
        name=str(name),
        path=_member(run_dir, _require(entry, "file", where), f"layer {name!r} file"),
        units=str(entry.get("units", "")),
        long_name=str(entry.get("long_name", name)),
        kind=kind,
        dtype=str(entry.get("dtype", "")),
        nodata=None if nodata is None else float(nodata),
        value_range=value_range,
        categories=categories,
        minzoom=int(entry.get("minzoom", 0)),
        maxzoom=int(entry.get("maxzoom", 18)),
        bounds=_bounds(entry["bounds"], where) if "bounds" in entry else bounds,
    )


def _read_run(run_dir: Path) -> Run:
    manifest_path = run_dir / MANIFEST_NAME
    doc = _read_json(manifest_path)
    where = str(manifest_path)
    if not isinstance(doc, dict):
        raise InputValueError(f"{where}: expected a JSON object")
    bounds = _bounds(_require(doc, "bounds", where), where)
    layers: dict[str, Layer] = {}
    for entry in _require(doc, "layers", where):
        layer = _read_layer(run_dir, entry, bounds, where)
        layers[layer.name] = layer
    extras = {
        str(key): _member(run_dir, name, f"extras {key!r}")
        for key, name in (doc.get("extras") or {}).items()
    }
    if "sites" not in extras and (run_dir / SITES_NAME).is_file():
        extras["sites"] = (run_dir / SITES_NAME).resolve()
    attribution = doc.get("attribution") or (doc.get("metadata") or {}).get("attribution") or []
    if isinstance(attribution, str):
        attribution = [attribution]
    resolution = doc.get("resolution_m")
    return Run(
        name=str(_require(doc, "name", where)),
        title=str(doc.get("title") or doc["name"]),
        directory=run_dir,
        crs=str(doc.get("crs", "")),
        bounds=bounds,
        resolution_m=None if resolution is None else float(resolution),
        metadata=dict(doc.get("metadata") or {}),
        attribution=[str(a) for a in attribution],
        layers=layers,
        extras=extras,
        covgap_version=str(doc.get("covgap_version", "")),
    )
