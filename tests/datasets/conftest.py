"""Fixtures of the datasets tests: small rasters written as real GeoTIFFs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

WriteRaster = Callable[..., Path]

#: 0.001 degree pixels from (108 E, 16 N).
DEFAULT_TRANSFORM = Affine(0.001, 0.0, 108.0, 0.0, -0.001, 16.0)


@pytest.fixture
def write_raster(tmp_path: Path) -> WriteRaster:
    """Return ``write(name, data, *, transform=..., crs="EPSG:4326", nodata=None)`` -> path."""

    def write(
        name: str,
        data: np.ndarray,
        *,
        transform: Affine = DEFAULT_TRANSFORM,
        crs: str | None = "EPSG:4326",
        nodata: float | None = None,
    ) -> Path:
        path = tmp_path / name
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=data.shape[1],
            height=data.shape[0],
            count=1,
            dtype=data.dtype,
            crs=crs,
            transform=transform,
            nodata=nodata,
        ) as dst:
            dst.write(data, 1)
        return path

    return write
