"""read_dem on GeoTIFFs and generated SRTM .hgt / .hgt.zip tiles."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from covgap.datasets import read_dem
from covgap.errors import InputFileError


def _hgt(n: int) -> np.ndarray:
    """An n x n tile rising 1 m per row southwards and per column eastwards, one void."""
    rows, cols = np.mgrid[0:n, 0:n]
    data = (rows + cols).astype(np.int16)
    data[5, 7] = -32768
    return data


def test_geotiff_int16_with_nodata(write_raster) -> None:
    data = np.array([[1, 2, 3], [4, -32768, 6]], dtype=np.int16)
    transform = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 1780000.0)
    dem = read_dem(
        write_raster("dem.tif", data, transform=transform, crs="EPSG:32649", nodata=-32768)
    )
    assert dem.dims == ("y", "x")
    assert dem.dtype == np.float32
    assert dem.rio.crs.to_epsg() == 32649
    assert dem.attrs["units"] == "m"
    assert dem.rio.transform() == transform
    np.testing.assert_array_equal(dem.x, [500015.0, 500045.0, 500075.0])
    np.testing.assert_array_equal(dem.y, [1779985.0, 1779955.0])
    np.testing.assert_array_equal(dem.values, [[1, 2, 3], [4, np.nan, 6]])


def test_geotiff_float_path_as_str(write_raster) -> None:
    data = np.array([[10.5, 20.25]], dtype=np.float64)
    dem = read_dem(str(write_raster("dem.tif", data)))
    np.testing.assert_array_equal(dem.values, np.float32([[10.5, 20.25]]))


@pytest.mark.parametrize("n", [1201, 3601])
def test_hgt_tile(tmp_path: Path, n: int) -> None:
    path = tmp_path / "N15E108.hgt"
    _hgt(n).astype(">i2").tofile(path)
    dem = read_dem(path)
    assert dem.shape == (n, n)
    assert dem.rio.crs.to_epsg() == 4326
    half = 0.5 / (n - 1)
    np.testing.assert_allclose(dem.rio.bounds(), (108 - half, 15 - half, 109 + half, 16 + half))
    assert (
        dem.values[0, 0] == 0 and dem.values[10, 20] == 30 and dem.values[n - 1, n - 1] == 2 * n - 2
    )
    assert np.isnan(dem.values[5, 7])
    assert np.isnan(dem.values).sum() == 1


def test_hgt_zip(tmp_path: Path) -> None:
    path = tmp_path / "S01W002.hgt.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("S01W002.hgt", _hgt(1201).astype(">i2").tobytes())
    dem = read_dem(path)
    half = 0.5 / 1200
    np.testing.assert_allclose(dem.rio.bounds(), (-2 - half, -1 - half, -1 + half, 0 + half))
    assert dem.values[10, 20] == 30
    assert np.isnan(dem.values[5, 7])


def test_hgt_with_a_renamed_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "tile.hgt"
    _hgt(1201).astype(">i2").tofile(path)
    with pytest.raises(InputFileError, match=r"tile\.hgt.*south-west corner"):
        read_dem(path)


def test_hgt_of_the_wrong_size_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "N15E108.hgt"
    np.zeros((100, 100), ">i2").tofile(path)
    with pytest.raises(InputFileError, match=r"20000 bytes.*2884802 \(1201 x 1201 int16\)"):
        read_dem(path)


def test_zip_without_hgt_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "N15E108.hgt.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(InputFileError, match="exactly one .hgt file inside, found none"):
        read_dem(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"nope\.tif: no such file"):
        read_dem(tmp_path / "nope.tif")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "dem.tif"
    path.write_text("not a raster")
    with pytest.raises(InputFileError, match=r"dem\.tif: cannot be read as a raster"):
        read_dem(path)


def test_raster_without_crs_is_rejected(write_raster) -> None:
    path = write_raster("dem.tif", np.ones((2, 2), np.int16), crs=None)
    with pytest.raises(InputFileError, match="no coordinate reference system"):
        read_dem(path)
