"""The Flask app factory (the server entry point is :mod:`covgap.tileserver.serve`).

Examples
--------
>>> from covgap.tileserver.app import create_app
>>> from covgap.tileserver.config import parse_settings
>>> app = create_app(parse_settings(directory="demo-output"))   # doctest: +SKIP
"""

from __future__ import annotations

import copy

from flask import Flask

from covgap.results import open_results
from covgap.tileserver.config import TileserverSettings, parse_settings
from covgap.tileserver.errors import register_error_handlers
from covgap.tileserver.hot import CachedTiles
from covgap.tileserver.service import TileService

__all__ = ["create_app"]


def create_app(settings: TileserverSettings | None = None) -> Flask:
    """Build the tile-server app for ``settings.directory``.

    Parameters
    ----------
    settings : TileserverSettings, optional
        Defaults to :func:`~covgap.tileserver.config.parse_settings` (the
        ``TILESERVER_*`` environment).

    Returns
    -------
    flask.Flask
        With the blueprints ``tiles``, ``downloads`` and ``meta`` and JSON
        error handlers. Its :class:`TileService` is ``app.extensions["covgap"]``;
        cached tiles are answered by :class:`~covgap.tileserver.hot.CachedTiles`
        in front of Flask.

    Raises
    ------
    InputFileError, InputValueError
        If the directory holds no readable run.
    """
    from covgap.tileserver.downloads import DOWNLOADS
    from covgap.tileserver.meta import META
    from covgap.tileserver.tiles import TILES

    settings = settings or parse_settings()
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    service = TileService(open_results(settings.directory), settings)
    app.extensions["covgap"] = service
    app.wsgi_app = CachedTiles(app.wsgi_app, service)  # type: ignore[method-assign]
    for blueprint in (TILES, DOWNLOADS, META):
        app.register_blueprint(copy.deepcopy(blueprint))
    register_error_handlers(app)
    return app
