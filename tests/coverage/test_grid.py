"""The analysis grid."""

from __future__ import annotations

import numpy as np
import pytest

from covgap.errors import GridError
from covgap.grid import AnalysisGrid, utm_crs


def test_utm_zone_of_da_nang_and_the_south() -> None:
    assert utm_crs(108.2, 16.0).to_epsg() == 32649
    assert utm_crs(28.0, -29.5).to_epsg() == 32735


def test_grid_from_lonlat_bounds_is_metric_and_covers_the_area() -> None:
    grid = AnalysisGrid.from_lonlat_bounds((108.08, 15.87, 108.32, 16.12), 100.0)
    assert grid.crs.to_epsg() == 32649
    assert grid.resolution == 100.0
    w, s, e, n = grid.lonlat_bounds()
    assert w <= 108.08 and s <= 15.87 and e >= 108.32 and n >= 16.12
    x, y = grid.coords()
    assert x.shape == (grid.width,) and y.shape == (grid.height,)
    assert np.all(np.diff(y) < 0)
    row, col = grid.rowcol(x[:3], np.full(3, y[4]))
    np.testing.assert_allclose(col, [0.5, 1.5, 2.5])
    np.testing.assert_allclose(row, 4.5)


@pytest.mark.parametrize(
    ("bounds", "res", "crs", "match"),
    [
        ((108.3, 15.8, 108.1, 16.1), 100.0, None, "west < east"),
        ((108.0, 15.8, 108.1, 16.1), 0.0, None, "positive number"),
        ((108.0, 15.8, 108.1, 16.1), 100.0, "EPSG:4326", "projected in metres"),
        ((108.0, 15.8, 108.1, 16.1), 100.0, "not-a-crs", "not a CRS"),
    ],
)
def test_bad_grids_are_refused(bounds: tuple, res: float, crs: str | None, match: str) -> None:
    with pytest.raises(GridError, match=match):
        AnalysisGrid.from_lonlat_bounds(bounds, res, crs)


def test_grid_inside_a_geographic_raster_has_data_in_every_cell() -> None:
    src_bounds = (108.08, 15.87, 108.32, 16.12)
    grid = AnalysisGrid.inside("EPSG:4326", src_bounds, 100.0)
    assert grid.crs.to_epsg() == 32649
    w, s, e, n = grid.lonlat_bounds()
    assert w >= 108.08 and s >= 15.87 and e <= 108.32 and n <= 16.12
    outer = AnalysisGrid.from_lonlat_bounds(src_bounds, 100.0)
    # Only the slivers lost to the zone's rotation (about 0.8 degrees, 3 degrees off
    # the central meridian: some 400 m per edge over 28 km) and to the snapping.
    assert outer.width - 12 <= grid.width < outer.width and outer.height - 12 <= grid.height < outer.height
