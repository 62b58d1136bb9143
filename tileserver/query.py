"""Point queries: every layer's value at a point, and the best servers there."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from covgap.errors import RequestError
from covgap.results import Layer, Run, Site, haversine_m

__all__ = ["parse_lonlat", "point_report"]

BEST_SERVER_PREFIX = "best_server_"


def parse_lonlat(args: Mapping[str, str]) -> tuple[float, float]:
    """Read ``lon`` and ``lat`` (degrees) from query arguments.

    Raises
    ------
    RequestError
        If either is missing, not a number or out of range.
    """
    values = []
    for name, limit in (("lon", 180.0), ("lat", 90.0)):
        raw = args.get(name)
        if raw is None:
            raise RequestError(f"query argument {name!r} is required, e.g. ?lon=108.2&lat=16.05")
        try:
            value = float(raw)
        except ValueError:
            raise RequestError(f"{name} must be a number in degrees, got {raw!r}") from None
        if not -limit <= value <= limit:
            raise RequestError(f"{name} must be between {-limit:g} and {limit:g}, got {value:g}")
        values.append(value)
    return values[0], values[1]


def point_report(run: Run, lon: float, lat: float,
                 sample: Callable[[Layer], float | None] | None = None) -> dict[str, Any]:
    """Every layer's value at a point, and the best server of each technology.

    Parameters
    ----------
    run : covgap.results.Run
    lon, lat : float
        WGS84 degrees.
    sample : callable, optional
        Returns a layer's value at the point; default
        :meth:`covgap.results.Layer.sample` (reads the file).

    Returns
    -------
    dict
        ``{"run", "lon", "lat", "inside", "values": {layer: {"value", "units",
        "label"}}, "best_server": {suffix: {"index", "distance_m", ...site
        properties} or None} | None, "best_server_note"}``. ``best_server``
        is None when the run has no ``best_server_*`` layer or no site table.
    """
    values: dict[str, Any] = {}
    for layer in run.layers.values():
        value = sample(layer) if sample is not None else layer.sample(lon, lat)
        label = None
        if value is not None and layer.categories:
            label = layer.categories.get(int(value))
        values[layer.name] = {"value": value, "units": layer.units, "label": label}
    inside = any(v["value"] is not None for v in values.values())
    report: dict[str, Any] = {"run": run.name, "lon": lon, "lat": lat, "inside": inside, "values": values,
                              "best_server": None, "best_server_note": None}
    server_layers = [name for name in run.layers if name.startswith(BEST_SERVER_PREFIX)]
    if not server_layers:
        report["best_server_note"] = "this run has no best_server_* layer"
        return report
    sites = run.sites()
    if sites is None:
        report["best_server_note"] = "this run has no site table (sites.geojson)"
        return report
    report["best_server"] = {
        name[len(BEST_SERVER_PREFIX):]: _server(values[name]["value"], sites, lon, lat)
        for name in server_layers
    }
    return report


def _server(value: float | None, sites: list[Site], lon: float, lat: float) -> dict[str, Any] | None:
    if value is None or math.isnan(value) or value < 0 or int(value) >= len(sites):
        return None
    site = sites[int(value)]
    return {**site.properties, "index": site.index, "lon": site.lon, "lat": site.lat,
            "distance_m": round(haversine_m(lon, lat, site.lon, site.lat), 1)}
