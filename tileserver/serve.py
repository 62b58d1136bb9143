"""Run the tile server with waitress (a production WSGI server), one log line per request.

``covgap serve DIR`` calls :func:`serve`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from covgap.tileserver.app import create_app
from covgap.tileserver.config import TileserverSettings, parse_settings

__all__ = ["serve", "AccessLog"]

log = logging.getLogger("covgap.tileserver")
access_log = logging.getLogger("covgap.tileserver.access")


class AccessLog:
    """WSGI middleware logging one line per request: client, request, status, bytes, ms."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start = time.perf_counter()
        answer: list[str] = ["-", "-"]

        def record(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            answer[0] = status.split(" ", 1)[0]
            answer[1] = next((v for k, v in headers if k.lower() == "content-length"), "-")
            return start_response(status, headers, *args)

        return _Logged(self.app(environ, record), environ, answer, start)


class _Logged:
    """A response body that writes the access-log line when the server closes it."""

    def __init__(self, body: Iterable[bytes], environ: dict[str, Any], answer: list[str], start: float) -> None:
        self.body, self.environ, self.answer, self.start = body, environ, answer, start

    def __iter__(self) -> Any:
        return iter(self.body)

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()
        env = self.environ
        path = env.get("PATH_INFO", "")
        if env.get("QUERY_STRING"):
            path += "?" + env["QUERY_STRING"]
        access_log.info('%s "%s %s" %s %s %.1fms', env.get("REMOTE_ADDR", "-"), env.get("REQUEST_METHOD"),
                        path, self.answer[0], self.answer[1], (time.perf_counter() - self.start) * 1000)


def serve(directory: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8000, threads: int = 8,
          settings: TileserverSettings | None = None) -> None:
    """Serve a results directory with waitress (a production WSGI server) until interrupted.

    Parameters
    ----------
    directory : str or path-like
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
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth is N" under load
    access_log.setLevel(logging.INFO if settings.log_requests else logging.WARNING)
    wsgi = AccessLog(app) if settings.log_requests else app
    log.info("covgap serving %s on http://%s:%d/ (%d threads)", directory, host, port, threads)
    waitress_serve(wsgi, host=host, port=port, threads=threads, ident="covgap", _quiet=True)
