"""The tile service: the catalogue, prepared layers and the tile cache (no Flask).

One :class:`TileService` belongs to one app. Layers are prepared once (read,
coloured, put on the web-mercator grid) on first use or by :meth:`preload`;
encoded tiles are kept in an LRU cache keyed by their canonical URL path
(:func:`tile_path`), so that :class:`covgap.tileserver.hot.CachedTiles` can
answer a repeated request before Flask routes it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from flask import current_app

from covgap.results import Catalog, Layer, LayerData, Run
from covgap.tileserver.cache import TileCache
from covgap.tileserver.colormaps import STYLE_VERSION, Style, style_for
from covgap.tileserver.config import TileserverSettings
from covgap.tileserver.mercator import TILE_SIZE, MercatorGrid, to_mercator
from covgap.tileserver.render import MIMETYPES, TileFormat, check_tile, empty_tile, encode_tile, tile_indices

__all__ = ["PreparedLayer", "TileService", "Tile", "current_service", "tile_path"]

log = logging.getLogger(__name__)

#: Percentiles of the valid cells that linear colour ramps span (outliers are clipped).
STRETCH_PERCENTILES = (2.0, 98.0)


@dataclass(frozen=True)
class PreparedLayer:
    """A layer ready to draw and query: its cells, style, web-mercator grid and cache token."""

    layer: Layer
    data: LayerData
    style: Style
    grid: MercatorGrid
    data_range: tuple[float, float] | None
    token: str


@dataclass(frozen=True)
class Tile:
    """An encoded tile, its entity tag and media type."""

    body: bytes
    etag: str
    mimetype: str

    def __len__(self) -> int:
        return len(self.body)


class TileService:
    """Serve the runs of a catalogue as tiles, legends and metadata.

    Parameters
    ----------
    catalog : covgap.results.Catalog
    settings : TileserverSettings
    """

    def __init__(self, catalog: Catalog, settings: TileserverSettings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.cache = TileCache(settings.cache_mb * 2**20)
        self._prepared: dict[tuple[str, str], PreparedLayer] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {
            (run.name, name): threading.Lock() for run in catalog.runs.values() for name in run.layers
        }

    def run(self, name: str) -> Run:
        """The run called ``name`` (NotFoundError otherwise)."""
        return self.catalog.run(name)

    def prepared(self, run: str, layer: str) -> PreparedLayer:
        """The prepared layer, preparing it on first use.

        Raises
        ------
        NotFoundError
            If the run or layer does not exist.
        """
        key = (run, layer)
        found = self._prepared.get(key)
        if found is not None:
            return found
        source = self.catalog.layer(run, layer)
        with self._locks[key]:
            found = self._prepared.get(key)
            if found is None:
                found = self._prepare(run, source)
                self._prepared[key] = found
        return found

    def _prepare(self, run: str, layer: Layer) -> PreparedLayer:
        data = layer.read(max_cells=self.settings.max_layer_cells)
        data_range = stretch = None
        if data.valid.any():
            cells = data.values[data.valid]
            data_range = (float(np.min(cells)), float(np.max(cells)))
            if layer.kind == "continuous":
                low, high = np.percentile(cells, STRETCH_PERCENTILES)
                stretch = (float(low), float(high)) if high > low else data_range
        style = style_for(layer, data_range, stretch)
        index = style.encode(data.values, data.valid)
        grid = to_mercator(index, data.transform, data.crs, max_cells=self.settings.max_layer_cells)
        token = hashlib.sha1(
            f"{run}/{layer.name}/{layer.version}/{STYLE_VERSION}".encode()
        ).hexdigest()[:16]
        log.debug("prepared %s/%s at zoom %d, %s pixels", run, layer.name, grid.zoom, grid.index.shape)
        return PreparedLayer(layer=layer, data=data, style=style, grid=grid, data_range=data_range, token=token)

    def preload(self) -> None:
        """Prepare every layer of every run (errors are logged, not raised)."""
        start = time.perf_counter()
        for run in self.catalog.runs.values():
            for name in run.layers:
                try:
                    self.prepared(run.name, name)
                except Exception:  # noqa: BLE001 - a broken layer must not stop the others
                    log.exception("cannot prepare layer %s/%s", run.name, name)
        log.info("prepared %d layers in %.1f s", len(self._prepared), time.perf_counter() - start)

    def sample(self, run: str, layer: str, lon: float, lat: float) -> float | None:
        """A layer's value at a WGS84 point, from the cells held in memory.

        Falls back to reading the file when the layer is held decimated.
        """
        prepared = self.prepared(run, layer)
        if prepared.data.full_resolution:
            return prepared.data.value_at(lon, lat)
        return prepared.layer.sample(lon, lat)

    def etag(self, run: str, layer: str, z: int, x: int, y: int, scale: int, fmt: TileFormat) -> str:
        """The entity tag of a tile, known without drawing it.

        Raises
        ------
        NotFoundError
            Unknown run or layer.
        RequestError
            Bad tile address.
        """
        prepared = self.prepared(run, layer)
        check_tile(z, x, y)
        return f'"{prepared.token}-{z}-{x}-{y}-{scale}.{fmt}"'

    def tile(self, run: str, layer: str, z: int, x: int, y: int, scale: int = 1,
             fmt: TileFormat = "png") -> Tile:
        """Draw (or fetch from the cache) one tile.

        Parameters
        ----------
        run, layer : str
            Names from the catalogue.
        z, x, y : int
            XYZ tile address.
        scale : int
            1 for 256-pixel tiles, 2 for 512-pixel (``@2x``) tiles.
        fmt : {"png", "webp"}

        Returns
        -------
        Tile
            A transparent tile when the tile does not overlap the data.

        Raises
        ------
        NotFoundError
            Unknown run or layer.
        RequestError
            Zoom outside 0-24 or x/y outside the zoom's range.
        """
        etag = self.etag(run, layer, z, x, y, scale, fmt)
        path = tile_path(run, layer, z, x, y, scale, fmt)
        tile = self.cache.get(path)
        if tile is None or tile.etag != etag:
            prepared = self._prepared[(run, layer)]
            size = TILE_SIZE * scale
            indices = tile_indices(prepared.grid, z, x, y, size)
            if indices is None:
                body = empty_tile(fmt, size)
            else:
                body = encode_tile(indices, prepared.style, fmt, png_level=self.settings.png_level,
                                   webp_quality=self.settings.webp_quality)
            tile = Tile(body=body, etag=etag, mimetype=MIMETYPES[fmt])
            self.cache.put(path, tile)
        return tile


def tile_path(run: str, layer: str, z: int, x: int, y: int, scale: int, fmt: str) -> str:
    """The canonical URL path of a tile (the tile cache's key).

    Examples
    --------
    >>> tile_path("today", "covered_4G", 12, 3280, 1863, 2, "png")
    '/tiles/today/covered_4G/12/3280/1863@2x.png'
    """
    return f"/tiles/{run}/{layer}/{z}/{x}/{y}{'@2x' if scale == 2 else ''}.{fmt}"


def current_service() -> TileService:
    """The tile service of the Flask app handling the current request."""
    return current_app.extensions["covgap"]
