"""Flask tile server and web map over finished covgap results.

:func:`create_app` builds the WSGI app; :func:`serve` runs it with waitress.
"""

from covgap.tileserver.app import create_app, serve

__all__ = ["create_app", "serve"]
