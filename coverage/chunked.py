"""Chunk geometry and the raster I/O of a chunked run (no Dask here).

A chunked run splits the :class:`~covgap.grid.AnalysisGrid` into square
chunks of ``chunk_size`` cells (the last row and column of chunks may be
smaller). Every stage of :mod:`covgap.distributed` works on one chunk, or
on one chunk and a *halo* of cells around it, read through windows of
GeoTIFFs on the analysis grid. Each chunk writes its part of a layer as
one tiled GeoTIFF; a VRT mosaics the parts and is copied into the final
Cloud-Optimized GeoTIFF.

Window-invariance (why the results equal the in-memory path cell for cell)
rests on sub-grids whose cell coordinates are the same floating-point
numbers as the whole grid's: :meth:`ChunkLayout.subgrid` checks it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import xarray as xr
from affine import Affine
from rasterio.windows import Window

from covgap.errors import GridError
from covgap.export import TAG_KEYS, layer_profile, tag_text
from covgap.grid import AnalysisGrid

__all__ = ["Chunk", "ChunkLayout", "combine_pairwise", "leaves", "pairwise_sum_ranges", "read_window", "write_tile", "write_vrt"]

#: GDAL creation options of the per-chunk parts (the final COGs use covgap.export's): Zstandard at
#: level 1 writes about 4x faster than DEFLATE at GDAL's default level, and files as small.
TILE_OPTIONS = {"driver": "GTiff", "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "ZSTD", "zstd_level": 1,
                "num_threads": "1"}


@dataclass(frozen=True)
class Chunk:
    """One chunk: rows ``[row0, row1)`` and columns ``[col0, col1)`` of the grid."""

    i: int
    j: int
    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def key(self) -> str:
        """File-name key, ``r<i>_c<j>``."""
        return f"r{self.i}_c{self.j}"

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return (self.row1 - self.row0, self.col1 - self.col0)


@dataclass(frozen=True)
class ChunkLayout:
    """The analysis grid split into chunks.

    Attributes
    ----------
    grid : AnalysisGrid
        The whole analysis grid.
    chunk_size : int
        Chunk side in cells.
    """

    grid: AnalysisGrid
    chunk_size: int

    def __post_init__(self) -> None:
        if self.chunk_size < 16:
            raise GridError(f"chunk_size must be at least 16 cells, got {self.chunk_size}")

    @property
    def n_rows(self) -> int:
        """Number of chunk rows."""
        return math.ceil(self.grid.height / self.chunk_size)

    @property
    def n_cols(self) -> int:
        """Number of chunk columns."""
        return math.ceil(self.grid.width / self.chunk_size)

    def chunks(self) -> Iterator[Chunk]:
        """Every chunk, in row-major order."""
        for i in range(self.n_rows):
            for j in range(self.n_cols):
                yield self.chunk(i, j)

    def chunk(self, i: int, j: int) -> Chunk:
        """Chunk ``(i, j)``."""
        size = self.chunk_size
        return Chunk(i, j, i * size, min((i + 1) * size, self.grid.height), j * size, min((j + 1) * size, self.grid.width))

    def col_starts(self) -> np.ndarray:
        """First column of every chunk column."""
        return np.arange(self.n_cols) * self.chunk_size

    def expand(self, row0: int, row1: int, col0: int, col1: int, halo: int) -> tuple[int, int, int, int]:
        """A window grown by ``halo`` cells on every side, clipped to the grid."""
        return (max(0, row0 - halo), min(self.grid.height, row1 + halo), max(0, col0 - halo), min(self.grid.width, col1 + halo))

    def subgrid(self, row0: int, row1: int, col0: int, col1: int) -> AnalysisGrid:
        """The grid of a window, with the same cell coordinates as the whole grid.

        Raises
        ------
        GridError
            If the window's cell centres are not bit-identical to the whole
            grid's (a resolution or origin not exact in binary floating point),
            which would make chunked results differ from the in-memory path.
        """
        t = self.grid.transform
        sub = AnalysisGrid(self.grid.crs, Affine(t.a, 0.0, t.c + col0 * t.a, 0.0, t.e, t.f + row0 * t.e), col1 - col0, row1 - row0)
        xs, ys = sub.coords()
        gx = t.c + (np.arange(col0, col1) + 0.5) * t.a
        gy = t.f - (np.arange(row0, row1) + 0.5) * t.a
        if not (np.array_equal(xs, gx) and np.array_equal(ys, gy)):
            raise GridError(
                f"grid resolution {t.a!r} m with origin ({t.c!r}, {t.f!r}) is not exact in floating point; "
                "chunked runs need a whole (or binary-fraction) number of metres, e.g. resolution_m = 100"
            )
        return sub


def read_window(path: Path, grid: AnalysisGrid, row0: int, row1: int, col0: int, col1: int, name: str, attrs: dict[str, Any]) -> xr.DataArray:
    """Read a window of a raster that lies on ``grid``'s parent grid as a DataArray on ``grid``.

    ``grid`` must be the window's sub-grid (:meth:`ChunkLayout.subgrid`).
    Float nodata comes back as NaN.
    """
    with rasterio.open(path) as src:
        values = src.read(1, window=Window(col0, row0, col1 - col0, row1 - row0))
    return grid.dataarray(values, name, str(attrs.get("units", "1")), str(attrs.get("long_name", name)), **{k: v for k, v in attrs.items() if k not in ("units", "long_name")})


def write_tile(da: xr.DataArray, path: Path) -> None:
    """Write one chunk's part of a layer as a tiled GeoTIFF, atomically (temporary name, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    profile = {**TILE_OPTIONS, **layer_profile(da)}
    if profile["width"] < 256 or profile["height"] < 256:
        profile.update(tiled=False)
        profile.pop("blockxsize")
        profile.pop("blockysize")
    with rasterio.Env(GDAL_NUM_THREADS="1"):
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.asarray(da.values), 1)
    os.replace(tmp, path)


def write_vrt(path: Path, grid: AnalysisGrid, parts: list[tuple[Path, int, int, int, int]], *, dtype: str, attrs: dict[str, Any]) -> None:
    """Mosaic per-chunk GeoTIFFs into one VRT on ``grid``.

    Parameters
    ----------
    path : Path
        The ``.vrt`` file to write.
    grid : AnalysisGrid
        The whole grid.
    parts : list of (file, row0, col0, rows, cols)
        The parts and where they go.
    dtype : str
        numpy dtype name of the layer.
    attrs : dict
        The layer's attrs: ``units``, ``long_name``... become GDAL metadata
        (copied into the COG), ``_FillValue`` the nodata of integer layers.
    """
    gdal_type = {"float32": "Float32", "float64": "Float64", "uint8": "Byte", "int32": "Int32", "int16": "Int16", "uint16": "UInt16", "int64": "Int64"}[dtype]
    t = grid.transform
    tags = "".join(f'<MDI key="{k}">{escape(tag_text(attrs[k]))}</MDI>' for k in TAG_KEYS if k in attrs)
    if np.issubdtype(np.dtype(dtype), np.floating):
        nodata = "<NoDataValue>nan</NoDataValue>"
    elif attrs.get("_FillValue") is not None:
        nodata = f"<NoDataValue>{int(attrs['_FillValue'])}</NoDataValue>"
    else:
        nodata = ""
    sources = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(Path(part).absolute()))}</SourceFilename>'
        f"<SourceBand>1</SourceBand>"
        f'<SrcRect xOff="0" yOff="0" xSize="{cols}" ySize="{rows}"/>'
        f'<DstRect xOff="{col0}" yOff="{row0}" xSize="{cols}" ySize="{rows}"/></SimpleSource>'
        for part, row0, col0, rows, cols in parts
    )
    xml = (
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">'
        f"<SRS>{escape(grid.crs.to_wkt())}</SRS>"
        f"<GeoTransform>{t.c!r}, {t.a!r}, 0.0, {t.f!r}, 0.0, {t.e!r}</GeoTransform>"
        f"<Metadata>{tags}</Metadata>"
        f'<VRTRasterBand dataType="{gdal_type}" band="1">{nodata}<Metadata>{tags}</Metadata>{sources}</VRTRasterBand>'
        "</VRTDataset>"
    )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(xml, encoding="utf-8")
    os.replace(tmp, path)


def pairwise_sum_ranges(n: int, leaf: int) -> list[tuple[Any, ...]]:
    """numpy's pairwise-summation tree over ``n`` elements, cut at ranges of at most ``leaf``.

    ``np.add.reduce`` of a contiguous float array sums it pairwise: ranges
    above 128 elements are split at ``n // 2`` rounded down to a multiple of
    8. Summing each leaf range with numpy and combining the partial sums
    along this tree (:func:`combine_pairwise`) gives the bit-identical
    total of one ``np.sum`` over the whole array, without holding it.

    Returns
    -------
    list
        A nested tree: ``("leaf", start, stop)`` or ``("node", left, right)``.
    """

    def build(start: int, size: int) -> tuple[Any, ...]:
        if size <= max(leaf, 128):
            return ("leaf", start, start + size)
        half = size // 2
        half -= half % 8
        return ("node", build(start, half), build(start + half, size - half))

    return [build(0, n)]


def leaves(tree: tuple[Any, ...]) -> Iterator[tuple[int, int]]:
    """Leaf ranges of a :func:`pairwise_sum_ranges` tree, left to right."""
    if tree[0] == "leaf":
        yield (tree[1], tree[2])
    else:
        yield from leaves(tree[1])
        yield from leaves(tree[2])


def combine_pairwise(tree: tuple[Any, ...], sums: dict[tuple[int, int], float]) -> float:
    """Add leaf sums along the tree, in numpy's order."""
    if tree[0] == "leaf":
        return sums[(tree[1], tree[2])]
    return combine_pairwise(tree[1], sums) + combine_pairwise(tree[2], sums)
