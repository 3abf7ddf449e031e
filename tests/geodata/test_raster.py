"""Rasters in any CRS, windowed, sampled in metres."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geodata.errors import InvalidInputError
from geodata.raster import read_raster


def write(path: Path, values: np.ndarray, transform, crs: str) -> None:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=-9999,
    ) as out:
        out.write(values.astype("float32"), 1)


def test_projected_raster_is_windowed(tmp_path: Path) -> None:
    path = tmp_path / "dem.tif"
    values = np.arange(400 * 400, dtype=float).reshape(400, 400)
    write(path, values, from_origin(540000, 2500000, 30, 30), "EPSG:32648")
    full = read_raster(path)
    part = read_raster(path, bounds_wgs84=(105.39, 22.58, 105.40, 22.59))
    assert full.values.shape == (400, 400)
    assert part.values.size < full.values.size
    assert part.crs.to_epsg() == 32648
    x, y = 540000 + 30 * 10.5, 2500000 - 30 * 20.5  # centre of pixel (row 20, col 10)
    assert full.sample(np.array([x]), np.array([y]))[0] == pytest.approx(values[20, 10])


def test_geographic_raster_is_warped_to_utm(tmp_path: Path) -> None:
    path = tmp_path / "dem4326.tif"
    write(path, np.full((100, 100), 500.0), from_origin(105.4, 22.6, 0.0003, 0.0003), "EPSG:4326")
    raster = read_raster(path)
    assert raster.crs.to_epsg() == 32648
    assert 25 < raster.pixel_size < 40
    assert np.nanmax(raster.values) == pytest.approx(500.0)


def test_nodata_becomes_nan(tmp_path: Path) -> None:
    path = tmp_path / "pop.tif"
    values = np.ones((10, 10))
    values[0, 0] = -9999
    write(path, values, from_origin(540000, 2500000, 100, 100), "EPSG:32648")
    assert np.isnan(read_raster(path).values[0, 0])


def test_not_a_raster(tmp_path: Path) -> None:
    path = tmp_path / "x.tif"
    path.write_text("nope")
    with pytest.raises(InvalidInputError, match="not a readable raster"):
        read_raster(path)
