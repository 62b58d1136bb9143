"""Pure rendering parts: tile addressing, colormaps, the tile cache, settings."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from covgap.errors import InputValueError, RequestError
from covgap.results import Layer
from covgap.tileserver.cache import TileCache
from covgap.tileserver.colormaps import style_for
from covgap.tileserver.config import parse_settings
from covgap.tileserver.mercator import MercatorGrid, native_zoom
from covgap.tileserver.render import check_tile, empty_tile, encode_tile, tile_indices

GRID = MercatorGrid(zoom=10, col0=1000, row0=2000,
                    index=np.arange(1, 1 + 300 * 400, dtype=np.int64).reshape(300, 400).astype(np.uint8) | 1)


def _layer(kind: str, name: str = "x", value_range=(0.0, 10.0), categories=None) -> Layer:
    from pathlib import Path
    return Layer(name=name, path=Path("x.tif"), units="", long_name=name, kind=kind, dtype="float32",
                 nodata=None, value_range=value_range, categories=categories or {}, minzoom=0, maxzoom=18,
                 bounds=(0.0, 0.0, 1.0, 1.0))


@pytest.mark.parametrize("z, x, y", [(-1, 0, 0), (25, 0, 0), (0, 1, 0), (3, 0, 8), (3, -1, 0)])
def test_check_tile_rejects(z: int, x: int, y: int) -> None:
    with pytest.raises(RequestError, match="zoom must be|must be between 0 and"):
        check_tile(z, x, y)


@settings(max_examples=60, deadline=None)
@given(col=st.integers(0, 300 // 256 + 1), row=st.integers(0, 300 // 256 + 1))
def test_tile_at_native_zoom_is_a_slice_of_the_grid(col: int, row: int) -> None:
    """Tile pixels and grid windows round-trip at the grid's own zoom."""
    x = GRID.col0 // 256 + col
    y = GRID.row0 // 256 + row
    out = tile_indices(GRID, GRID.zoom, x, y)
    c0, r0 = x * 256 - GRID.col0, y * 256 - GRID.row0
    expected = np.zeros((256, 256), dtype=np.uint8)
    src = GRID.index[max(r0, 0):r0 + 256, max(c0, 0):c0 + 256]
    expected[max(-r0, 0):max(-r0, 0) + src.shape[0], max(-c0, 0):max(-c0, 0) + src.shape[1]] = src
    if not expected.any():
        assert out is None
    else:
        np.testing.assert_array_equal(out, expected)


@settings(max_examples=30, deadline=None)
@given(dz=st.integers(1, 4), col=st.integers(0, 399), row=st.integers(0, 299))
def test_deeper_zoom_repeats_grid_cells(dz: int, col: int, row: int) -> None:
    """A grid pixel covers 2**dz x 2**dz pixels of a tile dz zooms deeper."""
    gx, gy = (GRID.col0 + col) * 2**dz, (GRID.row0 + row) * 2**dz
    out = tile_indices(GRID, GRID.zoom + dz, gx // 256, gy // 256)
    assert out is not None
    assert out[gy % 256, gx % 256] == GRID.index[row, col]


def test_outside_tile_is_none_and_empty_tile_is_transparent() -> None:
    assert tile_indices(GRID, GRID.zoom, 0, 0) is None
    for fmt in ("png", "webp"):
        image = Image.open(io.BytesIO(empty_tile(fmt, 512))).convert("RGBA")
        assert image.size == (512, 512)
        assert image.getextrema()[3] == (0, 0)


def test_hidpi_tile_has_512_pixels() -> None:
    out = tile_indices(GRID, GRID.zoom, GRID.col0 // 256 + 1, GRID.row0 // 256 + 1, size=512)
    assert out.shape == (512, 512)
    np.testing.assert_array_equal(out[::2, ::2], tile_indices(GRID, GRID.zoom, GRID.col0 // 256 + 1,
                                                             GRID.row0 // 256 + 1))


def test_continuous_style_maps_range_and_nodata() -> None:
    style = style_for(_layer("continuous", "received_power_4G", (-120.0, -40.0)))
    values = np.array([[-120.0, -40.0, np.nan, -200.0]])
    idx = style.encode(values, ~np.isnan(values))
    assert idx.tolist() == [[1, 255, 0, 1]]
    assert style.palette[0, 3] == 0
    assert style.legend()["stops"][0]["value"] == -120.0


def test_population_style_is_log_and_skips_zero() -> None:
    style = style_for(_layer("continuous", "uncovered_population", (0.0, 1000.0)))
    idx = style.encode(np.array([0.0, 1.0, 1000.0]), np.ones(3, bool))
    assert idx[0] == 0 and idx[2] == 255 and 1 < idx[1] < 128  # log scale lifts small values


def test_categorical_and_boolean_styles() -> None:
    cats = {0: "none", 2: "2G", 4: "4G"}
    style = style_for(_layer("categorical", "best_technology", None, cats))
    idx = style.encode(np.array([0, 2, 4, 3]), np.ones(4, bool))
    assert idx[3] == 0 and len(set(idx[:3])) == 3
    assert [c["label"] for c in style.legend()["classes"]] == ["none", "2G", "4G"]
    boolean = style_for(_layer("boolean", "covered_4G", None, {0: "no", 1: "yes"}))
    assert boolean.encode(np.array([0, 1]), np.ones(2, bool)).tolist() == [1, 2]
    servers = style_for(_layer("categorical", "best_server_4G", None))
    assert servers.encode(np.array([-1, 0, 11]), np.ones(3, bool)).tolist()[0] == 0


def test_value_range_from_data_when_manifest_has_none() -> None:
    style = style_for(_layer("continuous", "elevation", None), data_range=(5.0, 705.0))
    assert (style.vmin, style.vmax) == (5.0, 705.0)


def test_linear_ramp_uses_stretch_log_ramp_keeps_full_range() -> None:
    power = style_for(_layer("continuous", "received_power_4G", (-160.0, -40.0)), stretch=(-120.0, -60.0))
    assert (power.vmin, power.vmax) == (-120.0, -60.0)
    people = style_for(_layer("continuous", "population", (0.0, 500.0)), stretch=(0.0, 80.0))
    assert (people.vmin, people.vmax) == (0.0, 500.0)


def test_encoded_png_keeps_transparency() -> None:
    style = style_for(_layer("continuous"))
    indices = np.zeros((256, 256), dtype=np.uint8)
    indices[:10] = 200
    image = Image.open(io.BytesIO(encode_tile(indices, style, "png"))).convert("RGBA")
    assert image.getpixel((0, 0))[3] > 0
    assert image.getpixel((0, 100))[3] == 0


def test_native_zoom_pixels_no_larger_than_cells() -> None:
    assert native_zoom(100.0, 16.0) == 11
    assert native_zoom(30.0, 0.0) == 13
    assert native_zoom(1e9, 0.0) == 0


def test_cache_evicts_least_recently_used() -> None:
    cache = TileCache(10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"1234")
    assert cache.get("b") is None and cache.get("a") and cache.get("c")
    assert cache.nbytes == 8
    cache.put("big", b"x" * 11)
    assert cache.get("big") is None


def test_settings_from_environment_and_errors() -> None:
    s = parse_settings({"TILESERVER_CACHE_MB": "8", "TILESERVER_PRELOAD": "no"}, directory="d")
    assert (s.cache_mb, s.preload, s.directory) == (8, False, "d")
    with pytest.raises(InputValueError, match="TILESERVER_PNG_LEVEL must be between 0 and 9"):
        parse_settings({"TILESERVER_PNG_LEVEL": "12"})
    with pytest.raises(InputValueError, match="must be an integer"):
        parse_settings({"TILESERVER_CACHE_MB": "lots"})
    with pytest.raises(InputValueError, match="unknown tile-server setting 'colour'"):
        parse_settings({}, colour="red")
