"""Terrain diffraction: the profile search against a profile read at every pixel."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS
from scipy import ndimage

import coverage.diffraction as diffraction
from coverage.diffraction import (
    COMPILED_SEARCH,
    FIXED_PROFILE_SAMPLES,
    dense_deygout_reference,
    diffraction_loss_db,
    knife_edge_v,
)
from geodata.raster import Raster


def flat_dem(height: float = 100.0) -> Raster:
    values = np.full((200, 200), height)
    return Raster(values, Affine(30.0, 0, 0, 0, -30.0, 6000.0), CRS.from_epsg(32648))


def rough_dem(seed: int, size: int = 240) -> Raster:
    """Smoothed noise, 200-800 m, with single-pixel spikes (a fixed step misses those)."""
    rng = np.random.default_rng(seed)
    values = ndimage.gaussian_filter(rng.standard_normal((size, size)), 3)
    values = 200 + 600 * (values - values.min()) / np.ptp(values)
    values[rng.random(values.shape) < 0.002] += 150.0
    return Raster(values, Affine(30.0, 0, 0, 0, -30.0, 30.0 * size), CRS.from_epsg(32648))


def test_profile_sampler_matches_the_raster_sampler() -> None:
    from coverage.diffraction import _bilinear, _pixel_coordinates, float32_terrain

    rng = np.random.default_rng(0)
    dem = Raster(
        rng.uniform(100, 900, (50, 60)),
        Affine(30.0, 0, 1000.0, 0, -30.0, 9000.0),
        CRS.from_epsg(32648),
    )
    x, y = rng.uniform(900, 2900, 500), rng.uniform(7400, 9100, 500)  # some off the raster
    col, row = _pixel_coordinates(dem, x, y)
    ours = _bilinear(float32_terrain(dem).values, col, row)
    theirs = dem.sample(x, y)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.nanmax(np.abs(ours - theirs)) < 1e-3


def test_a_thin_ridge_between_two_fixed_samples_is_found() -> None:
    # 48 samples over 5.4 km fall every ~110 m; a 30 m crest between two of
    # them is stepped over by the fixed scheme and found at the DEM's resolution.
    dem = flat_dem()
    ridged = dem.values.copy()
    ridged[:, 104] = 400.0  # x 3120-3150 m, between samples at ~3083 and ~3193 m
    wall = Raster(ridged, dem.transform, dem.crs)
    args = ((300.0, 3000.0), 30.0, np.array([5700.0]), np.array([3000.0]), 1800.0)
    fixed = diffraction_loss_db(wall, *args, samples=FIXED_PROFILE_SAMPLES)[0]
    found = diffraction_loss_db(wall, *args)[0]
    assert fixed < 2.0
    assert found > 25.0


def test_the_search_equals_a_profile_read_at_every_pixel() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    values = ndimage.gaussian_filter(rng.standard_normal((240, 240)), 3)
    values = 200 + 600 * (values - values.min()) / np.ptp(values)
    values[rng.random(values.shape) < 0.002] += 150.0  # single-pixel spikes
    dem = Raster(values, Affine(30.0, 0, 0, 0, -30.0, 7200.0), CRS.from_epsg(32648))
    site = (3600.0, 3600.0)
    rx = rng.uniform(0, 7200, (120, 2))
    found = diffraction_loss_db(dem, site, 30.0, rx[:, 0], rx[:, 1], 1800.0)
    dense = [dense_deygout_reference(dem, site, 30.0, x, y, 1800.0) for x, y in rx]
    assert np.max(np.abs(found - np.array(dense))) < 0.01


def test_enough_db_stops_at_a_lower_bound() -> None:
    dem = flat_dem()
    ridged = dem.values.copy()
    ridged[:, 60:64] = 900.0
    wall = Raster(ridged, dem.transform, dem.crs)
    args = ((300.0, 3000.0), 30.0, np.array([5000.0]), np.array([3000.0]), 1800.0)
    exact = diffraction_loss_db(wall, *args)[0]
    bounded = diffraction_loss_db(wall, *args, enough_db=np.array([20.0]))[0]
    assert 20.0 <= bounded <= exact + 1e-9


def test_the_compiled_search_is_built() -> None:
    # `make setup` (pip install -e .) compiles coverage/_deygout.c; without it
    # the numpy search runs, ~30x slower, and the province budget is lost.
    assert COMPILED_SEARCH


@pytest.mark.parametrize("seed", [4, 5])
def test_the_compiled_and_numpy_searches_agree(seed: int, monkeypatch) -> None:
    dem = rough_dem(seed)
    rng = np.random.default_rng(seed)
    rx = rng.uniform(-300, 7500, (400, 2))  # some off the DEM
    enough = rng.uniform(5, 60, 400)
    args = (dem, (3600.0, 3600.0), 30.0, rx[:, 0], rx[:, 1], 1800.0)
    compiled, compiled_stop = (
        diffraction_loss_db(*args),
        diffraction_loss_db(*args, enough_db=enough),
    )
    monkeypatch.setattr(diffraction, "_compiled", None)
    exact = diffraction_loss_db(*args)
    assert np.max(np.abs(compiled - exact)) < 1e-6
    # Stopped early, each search gives a loss between enough_db and the exact
    # one (which edge it stops at depends on the order it reads them in).
    below = exact < enough
    assert np.max(np.abs(compiled_stop - exact)[below]) < 1e-6
    assert np.all(compiled_stop[~below] >= enough[~below] - 1e-9)
    assert np.all(compiled_stop <= exact + 1e-9)


def test_the_default_search_error_against_every_pixel_is_bounded() -> None:
    # The bound: 0.01 dB (float32 sampling) on any profile; the 48 fixed
    # samples miss by tens of dB on the same profiles.
    dem = rough_dem(6, size=500)
    rng = np.random.default_rng(6)
    site = (7500.0, 7500.0)
    rx = rng.uniform(0, 15000, (150, 2))
    found = diffraction_loss_db(dem, site, 30.0, rx[:, 0], rx[:, 1], 1800.0)
    fixed = diffraction_loss_db(
        dem, site, 30.0, rx[:, 0], rx[:, 1], 1800.0, samples=FIXED_PROFILE_SAMPLES
    )
    dense = np.array([dense_deygout_reference(dem, site, 30.0, x, y, 1800.0) for x, y in rx])
    assert np.max(np.abs(found - dense)) < 0.01
    assert np.sqrt(np.mean((fixed - dense) ** 2)) > 5.0


def test_knife_edge_v_of_infinite_loss_is_infinite() -> None:
    assert knife_edge_v(np.array([np.inf, 0.0])).tolist() == [np.inf, -0.78]
