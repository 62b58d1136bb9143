"""Answer repeated tile requests from the tile cache before Flask routes them.

A tile in the cache was drawn by the Flask ``tiles`` route for exactly the
same canonical path, with its status, headers and entity tag already
decided; serving it again needs none of Flask's routing, request context
or error handling, which cost more than the lookup itself. Everything else,
including every tile not yet in the cache and every bad request, goes on to
the Flask app unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from covgap.tileserver.service import Tile, TileService

__all__ = ["CachedTiles"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class CachedTiles:
    """WSGI middleware: GET/HEAD of a cached tile path answers 200 (or 304) at once.

    Parameters
    ----------
    app : WSGI application
        The Flask app's ``wsgi_app``.
    service : TileService
        Owner of the tile cache.
    """

    def __init__(self, app: WSGIApp, service: TileService) -> None:
        self.app = app
        self.service = service
        self.cache_control = f"public, max-age={service.settings.max_age_s}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if (method == "GET" or method == "HEAD") and path.startswith("/tiles/"):
            tile: Tile | None = self.service.cache.get(path)
            if tile is not None:
                headers = [("ETag", tile.etag), ("Cache-Control", self.cache_control)]
                if tile.etag in environ.get("HTTP_IF_NONE_MATCH", ""):
                    start_response("304 NOT MODIFIED", headers)
                    return [b""]
                headers += [("Content-Type", tile.mimetype), ("Content-Length", str(len(tile.body)))]
                start_response("200 OK", headers)
                return [b""] if method == "HEAD" else [tile.body]
        return self.app(environ, start_response)
