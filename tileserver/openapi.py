"""The OpenAPI 3 document of the tile server, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from covgap import __version__

__all__ = ["openapi_document"]


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": True, "schema": schema, "description": description}


_RUN = _param("run", "path", {"type": "string"}, "Run name, as listed by /api/runs.")
_LAYER = _param("layer", "path", {"type": "string"}, "Layer name, as listed by /api/runs.")
_ERRORS = {
    "400": {"$ref": "#/components/responses/Error"},
    "404": {"$ref": "#/components/responses/Error"},
}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def openapi_document() -> dict[str, Any]:
    """Build the OpenAPI document.

    Returns
    -------
    dict
        OpenAPI 3.0 document as JSON-ready data.
    """
    tile_params = [
        _RUN, _LAYER,
        _param("z", "path", {"type": "integer", "minimum": 0, "maximum": 24}, "Zoom."),
        _param("x", "path", {"type": "integer", "minimum": 0}, "Column, 0 .. 2**z - 1."),
        _param("tile", "path", {"type": "string", "pattern": r"^\d+(@2x)?\.(png|webp)$"},
               "Row and format: '<y>.png', '<y>@2x.png' (512 px), '<y>.webp' or '<y>@2x.webp'."),
    ]
    paths: dict[str, Any] = {
        "/tiles/{run}/{layer}/{z}/{x}/{tile}": {"get": {
            "summary": "A map tile (XYZ, web mercator). A tile outside the data is a transparent "
                       "tile (200). Answers ETag and Cache-Control; 304 on If-None-Match.",
            "parameters": tile_params,
            "responses": {"200": {"description": "Tile image",
                                  "content": {"image/png": {}, "image/webp": {}}},
                          "304": {"description": "Not modified"}, **_ERRORS}}},
        "/api/runs": {"get": {"summary": "Runs and their layers.", "responses": {
            "200": _json("Runs", {"type": "array", "items": {"$ref": "#/components/schemas/Run"}})}}},
        "/api/runs/{run}": {"get": {"summary": "One run.", "parameters": [_RUN], "responses": {
            "200": _json("Run", {"$ref": "#/components/schemas/Run"}), **_ERRORS}}},
        "/api/legend/{run}/{layer}": {"get": {
            "summary": "A layer's legend as JSON (colour stops or classes); append '.png' to the "
                       "layer name for an image.",
            "parameters": [_RUN, _LAYER],
            "responses": {"200": {"description": "Legend",
                                  "content": {"application/json": {}, "image/png": {}}}, **_ERRORS}}},
        "/api/point/{run}": {"get": {
            "summary": "Every layer's value at a point, and each technology's best server with "
                       "its distance (when the run has best_server_* layers and sites.geojson).",
            "parameters": [_RUN,
                           _param("lon", "query", {"type": "number", "minimum": -180, "maximum": 180},
                                  "Longitude, degrees."),
                           _param("lat", "query", {"type": "number", "minimum": -90, "maximum": 90},
                                  "Latitude, degrees.")],
            "responses": {"200": _json("Point report"), **_ERRORS}}},
        "/api/stats/{run}": {"get": {"summary": "The run's indicators (summary.json).",
                                     "parameters": [_RUN],
                                     "responses": {"200": _json("Indicators"), **_ERRORS}}},
        "/download/{run}/{file}": {"get": {
            "summary": "Download '<layer>.tif' (Cloud-Optimized GeoTIFF) or an extra file of the "
                       "run (e.g. 'gap_clusters.geojson'), with Content-Disposition.",
            "parameters": [_RUN, _param("file", "path", {"type": "string"}, "File name.")],
            "responses": {"200": {"description": "File", "content": {
                "image/tiff": {}, "application/geo+json": {}, "text/csv": {}}}, **_ERRORS}}},
        "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": _json("OpenAPI")}}},
    }
    layer_schema = {"type": "object", "properties": {
        "name": {"type": "string"}, "units": {"type": "string"}, "long_name": {"type": "string"},
        "kind": {"type": "string", "enum": ["continuous", "categorical", "boolean", "hillshade"]},
        "bounds": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                   "description": "[west, south, east, north] in degrees"},
        "minzoom": {"type": "integer"}, "maxzoom": {"type": "integer"},
        "value_range": {"type": "array", "items": {"type": "number"}, "nullable": True},
        "categories": {"type": "object", "nullable": True}}}
    run_schema = {"type": "object", "properties": {
        "name": {"type": "string"}, "title": {"type": "string"},
        "bounds": layer_schema["properties"]["bounds"], "attribution": {"type": "array"},
        "metadata": {"type": "object"},
        "extras": {"type": "object", "description": "optional files: key -> file name under /download/{run}/"},
        "layers": {"type": "array", "items": {"$ref": "#/components/schemas/Layer"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "covgap tile server", "version": __version__,
                 "description": "Tiles, metadata and downloads of covgap analysis runs."},
        "paths": paths,
        "components": {
            "schemas": {"Layer": layer_schema, "Run": run_schema, "Error": {"type": "object", "properties": {
                "status": {"type": "integer"}, "error": {"type": "string"}, "message": {"type": "string"}}}},
            "responses": {"Error": _json("Error", {"$ref": "#/components/schemas/Error"})},
        },
    }
