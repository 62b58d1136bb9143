"""Flask tile server and web map over finished covgap results.

:func:`covgap.tileserver.app.create_app` builds the WSGI app;
:func:`covgap.tileserver.serve.serve` runs it with waitress.
"""

from covgap.tileserver.app import create_app

__all__ = ["create_app"]
