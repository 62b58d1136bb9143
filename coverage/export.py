"""Write an analysis run: COG layers, NetCDF, JSON/CSV indicators, manifest.

Everything is written into a temporary sibling directory that is renamed into
place at the end, so that a failed run never leaves a half-written output.
The layout is described in the README ("Output directory").
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import rasterio
import xarray as xr

from covgap._version import __version__
from covgap.errors import InputFileError, OutputExistsError
from covgap.grid import AnalysisGrid

__all__ = [
    "atomic_directory",
    "layer_entry",
    "layer_kind",
    "layer_profile",
    "sites_geojson",
    "tag_text",
    "write_cog",
    "write_csv",
    "write_json",
    "write_run",
    "zoom_range",
]

#: Equatorial circumference of the Web Mercator sphere (metres).
EARTH_CIRCUMFERENCE_M = 40075016.685578488

#: Layer attributes copied into each GeoTIFF's metadata.
TAG_KEYS = ("units", "long_name", "standard_name", "flag_values", "flag_meanings")

#: GDAL creation options of every layer: tiled, compressed, with overviews.
COG_OPTIONS = {
    "compress": "DEFLATE",
    "predictor": "YES",
    "blocksize": 256,
    "overviews": "AUTO",
    "resampling": "NEAREST",
    "overview_resampling": "NEAREST",
    "level": 6,
    "num_threads": "1",
}


@contextlib.contextmanager
def atomic_directory(out_dir: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``out_dir`` on success.

    Parameters
    ----------
    out_dir : str or Path
        The final directory.
    overwrite : bool
        Replace an existing ``out_dir``; otherwise refuse.

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false.
    """
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not overwrite:
        raise OutputExistsError(f"{out_dir} exists; pass --overwrite to replace it")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    except OSError as exc:
        raise InputFileError(f"{out_dir.parent}: cannot create the output directory ({exc.strerror or exc})") from None
    try:
        yield tmp
        tmp.chmod(0o755)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / out_dir.name)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_cog(da: xr.DataArray, path: Path) -> None:
    """Write one (y, x) layer as a Cloud-Optimized GeoTIFF with overviews."""
    profile = {"driver": "COG", **layer_profile(da), **COG_OPTIONS}
    with rasterio.Env(GDAL_NUM_THREADS="1"):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.asarray(da.values), 1)
            tags = {k: tag_text(da.attrs[k]) for k in TAG_KEYS if k in da.attrs}
            dst.update_tags(**tags)
            dst.update_tags(1, **tags)


def layer_profile(da: xr.DataArray) -> dict[str, Any]:
    """The rasterio profile of one (y, x) layer, without driver options.

    Size, dtype, CRS and transform of its grid, and its nodata: NaN for
    floats, else its ``_FillValue`` (or none).
    """
    grid = AnalysisGrid.from_dataarray(da)
    if np.issubdtype(da.dtype, np.floating):
        nodata: float | int | None = float("nan")
    else:
        fill = da.attrs.get("_FillValue")
        nodata = None if fill is None else int(fill)
    return {
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": da.dtype.name,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
    }


def tag_text(value: Any) -> str:
    """A layer attribute as GeoTIFF metadata text (lists space-separated)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(str(v) for v in np.asarray(value).tolist())
    return str(value)


def layer_kind(da: xr.DataArray) -> str:
    """How a layer is drawn: ``continuous``, ``categorical``, ``boolean`` or ``hillshade``."""
    if da.name == "hillshade":
        return "hillshade"
    if "flag_values" in da.attrs:
        values = list(np.atleast_1d(da.attrs["flag_values"]))
        return "boolean" if sorted(int(v) for v in values) == [0, 1] else "categorical"
    return "continuous"


def zoom_range(grid: AnalysisGrid) -> tuple[int, int]:
    """Web-map zooms at which a layer is worth drawing: native resolution and six levels out."""
    west, south, east, north = grid.lonlat_bounds()
    lat = math.radians(min(abs(south), abs(north)))
    native = math.log2(EARTH_CIRCUMFERENCE_M * math.cos(lat) / (256.0 * grid.resolution))
    maxzoom = int(min(24, max(0, math.ceil(native) + 1)))
    return max(0, maxzoom - 7), maxzoom


def layer_entry(da: xr.DataArray, grid: AnalysisGrid) -> dict[str, Any]:
    """The manifest entry of one layer: units, kind, dtype, value range, zooms, categories."""
    values = np.asarray(da.values)
    finite = values[np.isfinite(values)] if np.issubdtype(values.dtype, np.floating) else values.ravel()
    nodata = da.attrs.get("_FillValue")
    if nodata is not None and not np.issubdtype(values.dtype, np.floating):
        finite = finite[finite != nodata]
    value_range = [float(finite.min()), float(finite.max())] if finite.size else [None, None]
    minzoom, maxzoom = zoom_range(grid)
    entry: dict[str, Any] = {
        "name": str(da.name),
        "file": f"{da.name}.tif",
        "units": da.attrs.get("units", ""),
        "long_name": da.attrs.get("long_name", str(da.name)),
        "kind": layer_kind(da),
        "dtype": values.dtype.name,
        "nodata": None if np.issubdtype(values.dtype, np.floating) else nodata,
        "value_range": value_range,
        "minzoom": minzoom,
        "maxzoom": maxzoom,
    }
    if "flag_values" in da.attrs:
        labels = str(da.attrs.get("flag_meanings", "")).split()
        flags = [int(v) for v in np.atleast_1d(da.attrs["flag_values"])]
        entry["categories"] = {str(v): (labels[i].replace("_", " ") if i < len(labels) else str(v)) for i, v in enumerate(flags)}
    return entry


def write_run(
    out_dir: str | Path,
    dataset: xr.Dataset,
    *,
    name: str,
    title: str,
    metadata: dict[str, Any],
    indicators: dict[str, Any],
    tables: dict[str, list[dict[str, Any]]] | None = None,
    extras: dict[str, dict[str, Any]] | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write a finished analysis into ``out_dir`` atomically.

    Parameters
    ----------
    out_dir : str or Path
        The run directory to create.
    dataset : xr.Dataset
        Every (y, x) variable becomes ``<name>.tif``; the whole Dataset becomes
        ``dataset.nc``.
    name, title : str
        The run's name (used in URLs) and its human title.
    metadata : dict
        The scenario's ``[metadata]`` table (provenance, attribution).
    indicators : dict
        Written as ``summary.json``.
    tables : dict, optional
        Rows by file stem (``indicators``, ``gap_clusters``), written as
        ``<stem>.csv`` and listed in the manifest.
    extras : dict, optional
        GeoJSON documents by file stem (``gap_clusters``, ``sites``), written
        as ``<stem>.geojson`` and listed in the manifest.
    overwrite : bool
        Replace an existing directory.
    progress : callable, optional
        Called with each output file's name before it is written.

    Returns
    -------
    Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    grid = AnalysisGrid.from_dataarray(dataset)
    tick = progress or (lambda _name: None)
    layer_names = [str(v) for v in dataset.data_vars if dataset[v].dims == ("y", "x")]
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        layers = []
        for layer in layer_names:
            tick(f"{layer}.tif")
            write_cog(dataset[layer], tmp / f"{layer}.tif")
            layers.append(layer_entry(dataset[layer], grid))
        tick("dataset.nc")
        _write_netcdf(dataset, tmp / "dataset.nc")
        tick("summary.json")
        write_json(tmp / "summary.json", indicators)
        extra_files = {}
        for stem, rows in (tables or {}).items():
            tick(f"{stem}.csv")
            write_csv(tmp / f"{stem}.csv", rows)
            extra_files[f"{stem}_csv"] = f"{stem}.csv"
        for stem, doc in (extras or {}).items():
            tick(f"{stem}.geojson")
            write_json(tmp / f"{stem}.geojson", doc)
            extra_files[stem] = f"{stem}.geojson"
        manifest = {
            "name": name,
            "title": title,
            "covgap_version": __version__,
            "crs": grid.crs.to_string(),
            "bounds": [round(v, 7) for v in grid.lonlat_bounds()],
            "resolution_m": grid.resolution,
            "metadata": metadata,
            "attribution": list(metadata.get("attribution", [])),
            "layers": layers,
            "extras": extra_files,
        }
        tick("manifest.json")
        write_json(tmp / "manifest.json", manifest)
    return out_dir


def write_json(path: Path, doc: Any) -> None:
    """Write a JSON document (no NaN), indented, with a final newline."""
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV; the columns are every key, in order of first appearance."""
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _write_netcdf(dataset: xr.Dataset, path: Path) -> None:
    ds = dataset.copy()
    ds.attrs = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in ds.attrs.items()}
    # An explicit encoding replaces the variable's own: keep rioxarray's grid mapping.
    encoding = {
        str(v): {"zlib": True, "complevel": 4, **{k: ds[v].encoding[k] for k in ("grid_mapping",) if k in ds[v].encoding}}
        for v in ds.data_vars
    }
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)


def sites_geojson(sites: pd.DataFrame) -> dict[str, Any]:
    """The transmitters that were modelled, for point queries on the map."""
    columns = [c for c in ("site_id", "operator", "tech", "height_m", "freq_mhz", "eirp_dbm", "azimuth_deg") if c in sites]
    features = []
    for index, row in enumerate(sites.itertuples(index=False)):
        record = row._asdict()
        props: dict[str, Any] = {"index": index}
        for col in columns:
            value = record[col]
            props[col] = None if isinstance(value, float) and value != value else (value.item() if hasattr(value, "item") else value)
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(record["lon"]), float(record["lat"])]}, "properties": props})
    return {"type": "FeatureCollection", "features": features}
