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


def test_a_raster_is_copied_as_a_cloud_optimised_geotiff(tmp_path: Path) -> None:
    import subprocess

    from geodata.raster import copy_as_cog, raster_info

    values = np.arange(600 * 500, dtype="float32").reshape(600, 500)
    write(tmp_path / "dem.tif", values, from_origin(500_000, 2_500_000, 30, 30), "EPSG:32648")
    info = copy_as_cog(tmp_path / "dem.tif", tmp_path / "region" / "dem.tif")
    assert (info.layout, info.width, info.height, info.crs) == ("COG", 500, 600, "EPSG:32648")
    assert info.bytes == (tmp_path / "region" / "dem.tif").stat().st_size
    west, south, east, north = info.bounds_wgs84
    assert 104.9 < west < east < 105.2 and 22.4 < south < north < 22.7
    with rasterio.open(tmp_path / "region" / "dem.tif") as copy:
        assert np.array_equal(copy.read(1), values)
        assert copy.nodata == -9999
        assert copy.overviews(1)  # tiles and overviews: windows read cheaply
    assert raster_info(tmp_path / "dem.tif").layout is None  # a plain GeoTIFF is not a COG
    gdalinfo = subprocess.run(
        ["gdalinfo", str(tmp_path / "region" / "dem.tif")], capture_output=True, text=True
    )
    if gdalinfo.returncode == 0:  # the tool is optional; rasterio's tag said it already
        assert "LAYOUT=COG" in gdalinfo.stdout
    assert not list((tmp_path / "region").glob(".*partial"))


def test_a_raster_without_crs_is_not_copied(tmp_path: Path) -> None:
    from geodata.raster import copy_as_cog

    with rasterio.open(
        tmp_path / "bare.tif",
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="uint8",
        transform=from_origin(0, 4, 1, 1),
    ) as out:
        out.write(np.zeros((1, 4, 4), "uint8"))
    with pytest.raises(InvalidInputError, match=r"bare\.tif: the raster declares no CRS"):
        copy_as_cog(tmp_path / "bare.tif", tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()
