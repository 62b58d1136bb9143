"""``/tiles/<run>/<layer>/<z>/<x>/<y>[@2x].<png|webp>``: map tiles."""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from covgap.errors import RequestError
from covgap.tileserver.service import current_service as service

TILES = Blueprint("tiles", __name__)

_TILE_NAME = re.compile(r"^(?P<y>-?\d+)(?P<hidpi>@2x)?\.(?P<fmt>png|webp)$")


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise RequestError(f"tile {name} must be an integer, got {value!r}") from None


@TILES.route("/tiles/<run>/<layer>/<z>/<x>/<name>")
def get_tile(run: str, layer: str, z: str, x: str, name: str) -> Response:
    """A 256-pixel (or ``@2x`` 512-pixel) PNG or WebP tile.

    A tile that does not overlap the layer's data is a fully transparent
    tile (200), not an error.
    """
    match = _TILE_NAME.match(name)
    if match is None:
        raise RequestError(f"tile name must look like '<y>.png', '<y>@2x.png' or '<y>.webp', got {name!r}")
    fmt = match["fmt"]
    scale = 2 if match["hidpi"] else 1
    address = (_int(z, "z"), _int(x, "x"), _int(match["y"], "y"))
    tiles = service()
    etag = tiles.etag(run, layer, *address, scale, fmt)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={tiles.settings.max_age_s}"}
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    tile = tiles.tile(run, layer, *address, scale, fmt)
    return Response(tile.body, mimetype=tile.mimetype, headers=headers)
