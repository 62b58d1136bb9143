"""read_population on WorldPop-style GeoTIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from covgap.datasets import read_population
from covgap.errors import InputFileError, InputValueError


def test_counts_with_nodata(write_raster) -> None:
    data = np.array([[0.5, 10.0, -99999.0], [0.0, 69419.0, 3.25]], dtype=np.float32)
    pop = read_population(write_raster("pop.tif", data, nodata=-99999.0))
    assert pop.dims == ("y", "x") and pop.dtype == np.float32
    assert pop.rio.crs.to_epsg() == 4326
    assert pop.attrs["units"] == "people"
    assert np.isnan(pop.values[0, 2])
    assert float(pop.sum()) == pytest.approx(0.5 + 10 + 69419 + 3.25)


def test_integer_counts(write_raster) -> None:
    pop = read_population(write_raster("pop.tif", np.array([[1, 2], [3, 4]], np.uint16)))
    assert pop.dtype == np.float32 and float(pop.sum()) == 10


def test_negative_count_is_rejected(write_raster) -> None:
    data = np.array([[1.0, 2.0], [-5.0, -1.0]], dtype=np.float32)
    path = write_raster("pop.tif", data, nodata=-99999.0)
    with pytest.raises(
        InputValueError, match=r"pop\.tif: 2 cell\(s\) hold negative.*row 1, column 0.*-5\.0"
    ):
        read_population(path)


def test_raster_without_crs_is_rejected(write_raster) -> None:
    path = write_raster("pop.tif", np.ones((2, 2), np.float32), crs=None)
    with pytest.raises(
        InputFileError, match=r"pop\.tif: the raster has no coordinate reference system"
    ):
        read_population(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_population(tmp_path / "pop.tif")
