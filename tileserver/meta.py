"""JSON metadata (runs, legends, point queries, statistics, OpenAPI) and the web map page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from covgap.tileserver.openapi import openapi_document
from covgap.tileserver.query import parse_lonlat, point_report
from covgap.tileserver.render import legend_png
from covgap.tileserver.service import current_service as service

META = Blueprint("meta", __name__)


@META.route("/")
def get_index() -> str:
    """The web map."""
    return render_template("index.html")


@META.route("/api/runs")
def get_runs() -> Response:
    """Every run with its layers (bounds, zoom range, units, value range, kind)."""
    return jsonify([run.describe() for run in service().catalog.runs.values()])


@META.route("/api/runs/<run>")
def get_run(run: str) -> Response:
    """One run with its layers."""
    return jsonify(service().run(run).describe())


@META.route("/api/legend/<run>/<name>")
def get_legend(run: str, name: str) -> Response:
    """A layer's legend: JSON, or a PNG image when the name ends in ``.png``."""
    as_png = name.endswith(".png")
    layer_name = name[:-4] if as_png else name
    prepared = service().prepared(run, layer_name)
    layer = prepared.layer
    if as_png:
        title = f"{layer.long_name} ({layer.units})" if layer.units else layer.long_name
        response = Response(legend_png(prepared.style, title), mimetype="image/png")
    else:
        doc: dict[str, Any] = {"run": run, "layer": layer.name, "long_name": layer.long_name,
                               "units": layer.units, "data_range": prepared.data_range,
                               **prepared.style.legend()}
        response = jsonify(doc)
    response.headers["Cache-Control"] = f"public, max-age={service().settings.max_age_s}"
    return response


@META.route("/api/point/<run>")
def get_point(run: str) -> Response:
    """Every layer's value at ``?lon=&lat=`` and the best server of each technology."""
    tiles = service()
    found = tiles.run(run)
    lon, lat = parse_lonlat(request.args)
    return jsonify(point_report(found, lon, lat, lambda layer: tiles.sample(run, layer.name, lon, lat)))


@META.route("/api/stats/<run>")
def get_stats(run: str) -> Response:
    """The run's indicators (its ``summary.json``)."""
    return jsonify(service().run(run).summary())


@META.route("/openapi.json")
def get_openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_document())
