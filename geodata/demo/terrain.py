"""Synthetic karst terrain: limestone ridges, tower peaks and narrow valleys.

The landscape is built in UTM 48N at 30 m from gaussian random fields:
ridged noise for the limestone ranges, thresholded fine noise for the tower
karst (fengcong) peaks, a smooth valley floor, and valleys carved along the
region's roads, village basins and hamlet spurs, so that roads and
settlements follow the valleys as they do in Na Hang and Chiêm Hóa. The
Bản Giòng ridge is raised last, on top of the carving.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from scipy import ndimage

from geodata.demo.noise import gaussian_field
from geodata.demo.region import CRS_UTM, Region, ridge_lines

DEM_PIXEL_M = 30.0
# Margin around the union of the communes, so that sites just outside them
# and the terrain profiles towards them stay on the raster.
DEM_MARGIN_M = 3000.0
DEM_NODATA = -9999.0

# Valley floors of the Gâm river basin lie at roughly 250-420 m.
_FLOOR_MEAN_M, _FLOOR_SIGMA_M = 330.0, 40.0
# Relief above the floor: limestone ranges and tower peaks (summits to ~1300 m).
_RANGE_RELIEF_M, _TOWER_RELIEF_M = 560.0, 420.0
_SUMMIT_SOFT_CAP_M = 1150.0
# Valley cross-sections (flat floor half-width, foot of the slopes), metres.
_ROAD_VALLEY_M = (80.0, 380.0)
_BASIN_M = (280.0, 720.0)
_SPUR_VALLEY_M = (50.0, 260.0)
# The explicit ridge: crest height above the floor and gaussian half-width.
_RIDGE_HEIGHT_M, _RIDGE_WIDTH_M = 620.0, 260.0


@dataclass(frozen=True)
class Terrain:
    """A DEM in UTM with the valley mask the simulator uses for clutter."""

    elevation: np.ndarray  # float32 metres, row 0 at the north edge
    valley: np.ndarray  # 1 on valley floors, 0 on slopes and ridges
    transform: Affine

    def sample(self, x: np.ndarray, y: np.ndarray, *, layer: str = "elevation") -> np.ndarray:
        """Bilinear values of ``layer`` at UTM points (edge values outside)."""
        col, row = _pixel_of(self.transform, np.asarray(x, float), np.asarray(y, float))
        coords = np.vstack([np.ravel(row) - 0.5, np.ravel(col) - 0.5])
        values = ndimage.map_coordinates(getattr(self, layer), coords, order=1, mode="nearest")
        sampled: np.ndarray = values.reshape(np.shape(x))
        return sampled

    def nearest_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the pixel under each UTM point, clipped to the raster."""
        rows, cols = self.elevation.shape
        col, row = _pixel_of(self.transform, x, y)
        col, row = col.astype(np.intp), row.astype(np.intp)
        return np.clip(row, 0, rows - 1), np.clip(col, 0, cols - 1)


def _pixel_of(transform: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (column, row) of points under a north-up transform."""
    return (x - transform.c) / transform.a, (y - transform.f) / transform.e


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    smooth: np.ndarray = t * t * (3.0 - 2.0 * t)
    return smooth


def _distance_to_lines(
    lines: list[np.ndarray], shape: tuple[int, int], transform: Affine
) -> np.ndarray:
    """Metres from every pixel to the nearest of ``lines`` (rasterise + EDT)."""
    mask = np.ones(shape, dtype=bool)
    for line in lines:
        seg = np.diff(line, axis=0)
        steps = np.maximum(np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / 10.0), 1).astype(int)
        points = np.vstack(
            [line[i] + np.linspace(0.0, 1.0, n + 1)[:, None] * seg[i] for i, n in enumerate(steps)]
        )
        col, row = _pixel_of(transform, points[:, 0], points[:, 1])
        row, col = row.astype(int), col.astype(int)
        inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
        mask[row[inside], col[inside]] = False
    distance: np.ndarray = ndimage.distance_transform_edt(mask, sampling=DEM_PIXEL_M)
    return distance


def _smooth_field(shape: tuple[int, int], corr_m: float, rng: np.random.Generator) -> np.ndarray:
    """Draw a gaussian field; broad ones are drawn on a 4× coarser grid and upsampled.

    Fields correlated over kilometres lose nothing at 120 m, and the FFT of
    the full 30 m grid is the slowest step of the terrain.
    """
    factor = 4 if corr_m >= 20 * DEM_PIXEL_M else 1
    coarse = (-(-shape[0] // factor), -(-shape[1] // factor))
    field = gaussian_field(coarse, corr_m / (DEM_PIXEL_M * factor), rng)
    if factor == 1:
        return field
    fine: np.ndarray = ndimage.zoom(field, factor, order=1, grid_mode=True, mode="nearest")
    return fine[: shape[0], : shape[1]]


def _ridged(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Ridged multi-octave noise in 0..1: sharp crests along zero crossings."""
    octaves = ((1200.0, 1.0), (500.0, 0.6), (220.0, 0.35), (90.0, 0.2))
    total = np.zeros(shape)
    for corr_m, weight in octaves:
        field = _smooth_field(shape, corr_m, rng)
        total += weight * (1.0 - np.minimum(np.abs(field) / 1.8, 1.0)) ** 2
    return total / sum(w for _, w in octaves)


def build_terrain(region: Region, rng: np.random.Generator) -> Terrain:
    """Synthesise the karst DEM over both communes plus a margin.

    Parameters
    ----------
    region : Region
        Geography whose roads, village centres and hamlet spurs become valleys.
    rng : numpy.random.Generator

    Returns
    -------
    Terrain
    """
    x_min, y_min, x_max, y_max = region.communes.total_bounds
    x_min = np.floor((x_min - DEM_MARGIN_M) / DEM_PIXEL_M) * DEM_PIXEL_M
    y_max = np.ceil((y_max + DEM_MARGIN_M) / DEM_PIXEL_M) * DEM_PIXEL_M
    cols = int(np.ceil((x_max + DEM_MARGIN_M - x_min) / DEM_PIXEL_M))
    rows = int(np.ceil((y_max - (y_min - DEM_MARGIN_M)) / DEM_PIXEL_M))
    transform = Affine(DEM_PIXEL_M, 0.0, x_min, 0.0, -DEM_PIXEL_M, y_max)
    shape = (rows, cols)

    floor = np.clip(_FLOOR_MEAN_M + _FLOOR_SIGMA_M * _smooth_field(shape, 3900.0, rng), 255, 430)
    ranges = _ridged(shape, rng)
    towers = np.clip((_smooth_field(shape, 150.0, rng) - 0.9) / 1.5, 0.0, 1.0) ** 0.6
    massif = 0.7 + 0.3 * np.tanh(_smooth_field(shape, 3000.0, rng))
    relief = massif * (_RANGE_RELIEF_M * ranges + _TOWER_RELIEF_M * towers)

    centres = [
        np.array([[x, y], [x + 1.0, y]])
        for x, y in region.villages[["centre_x", "centre_y"]].to_numpy()
    ]
    valley_shape = np.minimum.reduce(
        [
            _smoothstep((_distance_to_lines(lines, shape, transform) - lo) / (hi - lo))
            for lines, (lo, hi) in (
                ([line for _, line in region.roads], _ROAD_VALLEY_M),
                (centres, _BASIN_M),
                ([line for _, line in region.spurs], _SPUR_VALLEY_M),
            )
        ]
    )
    elevation = floor + valley_shape * relief
    ridge_distance = _distance_to_lines(ridge_lines(), shape, transform)
    crest = (
        _RIDGE_HEIGHT_M * (0.85 + 0.3 * ranges) * np.exp(-((ridge_distance / _RIDGE_WIDTH_M) ** 2))
    )
    elevation = np.maximum(elevation, floor + crest)
    # Soft cap: the highest summits of the area reach about 1300 m.
    high = elevation > _SUMMIT_SOFT_CAP_M
    elevation[high] = _SUMMIT_SOFT_CAP_M + 150.0 * np.tanh((elevation[high] - 1150.0) / 150.0)
    return Terrain(
        elevation=elevation.astype(np.float32),
        valley=(1.0 - valley_shape).astype(np.float32),
        transform=transform,
    )


def write_dem(terrain: Terrain, path: Path) -> Path:
    """Write the DEM as a tiled, compressed float32 GeoTIFF in EPSG:32648."""
    rows, cols = terrain.elevation.shape
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 1,
        "dtype": "float32",
        "crs": CRS_UTM,
        "transform": terrain.transform,
        "nodata": DEM_NODATA,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(terrain.elevation, 1)
    return path
