"""``/download/<run>/<file>``: layer GeoTIFFs and the run's extra files."""

from __future__ import annotations

from flask import Blueprint, Response, send_file

from covgap.errors import NotFoundError
from covgap.tileserver.service import current_service as service

DOWNLOADS = Blueprint("downloads", __name__)

MIMETYPES = {".tif": "image/tiff", ".geojson": "application/geo+json", ".csv": "text/csv",
             ".json": "application/json"}


@DOWNLOADS.route("/download/<run>/<name>")
def get_download(run: str, name: str) -> Response:
    """A layer's Cloud-Optimized GeoTIFF (``<layer>.tif``) or an extra file by its name.

    Files are found in the run's catalogue entry (manifest), never by
    joining the request into a path.
    """
    found = service().run(run)
    if name.endswith(".tif") and name[:-4] in found.layers:
        path = found.layers[name[:-4]].path
    else:
        paths = {p.name: p for p in found.extras.values()}
        if name not in paths:
            files = [f"{layer}.tif" for layer in found.layers] + sorted(paths)
            raise NotFoundError(f"run {run!r} has no file {name!r}; files: {', '.join(files)}")
        path = paths[name]
    mimetype = MIMETYPES.get(path.suffix, "application/octet-stream")
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=f"{run}_{path.name}",
                     conditional=True, max_age=service().settings.max_age_s)
