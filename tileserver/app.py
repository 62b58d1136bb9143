"""The Flask app factory and the production server entry point.

Examples
--------
>>> from covgap.tileserver.app import create_app
>>> from covgap.tileserver.config import parse_settings
>>> app = create_app(parse_settings(directory="demo-output"))   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from covgap.results import open_results
from covgap.tileserver.config import TileserverSettings, parse_settings
from covgap.tileserver.errors import register_error_handlers
from covgap.tileserver.service import TileService

__all__ = ["create_app", "serve", "AccessLog"]

log = logging.getLogger("covgap.tileserver")
access_log = logging.getLogger("covgap.tileserver.access")


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
        error handlers. Its :class:`TileService` is ``app.extensions["covgap"]``.

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
    app.extensions["covgap"] = TileService(open_results(settings.directory), settings)
    for blueprint in (TILES, DOWNLOADS, META):
        app.register_blueprint(copy.deepcopy(blueprint))
    register_error_handlers(app)
    return app


class AccessLog:
    """WSGI middleware logging one line per request: client, request, status, bytes, ms."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start = time.perf_counter()
        status: list[str] = ["-"]
        size = 0

        def record(code: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, *args)

        try:
            for chunk in self.app(environ, record):
                size += len(chunk)
                yield chunk
        finally:
            path = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                path += "?" + environ["QUERY_STRING"]
            access_log.info('%s "%s %s" %s %d %.1fms', environ.get("REMOTE_ADDR", "-"),
                            environ.get("REQUEST_METHOD"), path, status[0], size,
                            (time.perf_counter() - start) * 1000)


def serve(directory: str, host: str = "127.0.0.1", port: int = 8000, threads: int = 8,
          settings: TileserverSettings | None = None) -> None:
    """Serve a results directory with waitress (a production WSGI server) until interrupted.

    Parameters
    ----------
    directory : str
        One run directory or a folder of run directories.
    host, port : str, int
        Address to listen on.
    threads : int
        Worker threads.
    settings : TileserverSettings, optional
        Other settings (default: the ``TILESERVER_*`` environment); ``directory``
        always wins.
    """
    from waitress import serve as waitress_serve

    settings = (settings or parse_settings())._replace(directory=str(directory))
    app = create_app(settings)
    if settings.preload:
        threading.Thread(target=app.extensions["covgap"].preload, name="preload", daemon=True).start()
    if not logging.getLogger().hasHandlers():
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.setLevel(logging.INFO)
    access_log.setLevel(logging.INFO if settings.log_requests else logging.WARNING)
    wsgi = AccessLog(app) if settings.log_requests else app
    log.info("covgap serving %s on http://%s:%d/ (%d threads)", directory, host, port, threads)
    waitress_serve(wsgi, host=host, port=port, threads=threads, ident="covgap", _quiet=True)
