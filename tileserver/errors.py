"""Map errors to HTTP answers in one place: JSON ``{"status", "error", "message"}``.

==========================  ======
exception                   status
==========================  ======
``NotFoundError``           404
``RequestError``            400
other ``CovgapError``       500 (a broken results file; logged)
Werkzeug ``HTTPException``  its own code (unknown URL 404, bad method 405)
anything else               500 (logged with its traceback)
==========================  ======
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from covgap.errors import CovgapError, NotFoundError, RequestError

__all__ = ["STATUS", "register_error_handlers"]

log = logging.getLogger(__name__)

#: HTTP status of each covgap error class; subclasses inherit their parent's.
STATUS: dict[type[CovgapError], int] = {NotFoundError: 404, RequestError: 400, CovgapError: 500}


def _answer(status: int, error: str, message: str) -> tuple[Response, int]:
    return jsonify(status=status, error=error, message=message), status


def _covgap_error(exc: CovgapError) -> tuple[Response, int]:
    status = next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    return _answer(status, type(exc).__name__, str(exc))


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    return _answer(exc.code or 500, type(exc).__name__, exc.description or exc.name)


def _unexpected(exc: Exception) -> tuple[Response, int]:
    if current_app.debug:
        raise exc
    log.exception("unexpected error")
    return _answer(500, "InternalError", "internal error; see the server log")


def register_error_handlers(app: Flask) -> None:
    """Answer every error of ``app`` with JSON and the status in :data:`STATUS`."""
    app.register_error_handler(CovgapError, _covgap_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
