"""Households: points in a few settlement clusters per village, and their raster.

A village (thôn/bản) is a main cluster round its centre plus hamlets (xóm)
up side valleys and along the road. The population raster is these points
summed per 100 m pixel: what a user would get from WorldPop or GHSL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine

from geodata.demo.region import CRS_UTM, Region
from geodata.demo.terrain import Terrain

POPULATION_PIXEL_M = 100.0
POPULATION_NODATA = -1.0
# Spread of houses round a cluster's middle (metres).
_CLUSTER_SIGMA_M = (50.0, 110.0)
# Hamlets along the road sit this far from the village centre (metres).
_ROAD_HAMLET_M = (300.0, 800.0)


def _inside(points: np.ndarray, polygon: shapely.Geometry, anchor: np.ndarray) -> np.ndarray:
    """Pull points outside ``polygon`` halfway towards ``anchor`` until inside."""
    for _ in range(8):
        outside = ~shapely.contains_xy(polygon, points[:, 0], points[:, 1])
        if not outside.any():
            break
        points[outside] = anchor + 0.5 * (points[outside] - anchor)
    return points


def place_households(region: Region, rng: np.random.Generator) -> pd.DataFrame:
    """One point per household, in clusters on valley floors.

    Parameters
    ----------
    region : Region
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Columns ``village_id``, ``x``, ``y`` (UTM), one row per household.
    """
    spurs: dict[str, list[np.ndarray]] = {}
    for village_id, line in region.spurs:
        spurs.setdefault(village_id, []).append(line)
    road_points = np.vstack(
        [
            shapely.get_coordinates(shapely.segmentize(shapely.LineString(line), 25.0))
            for _, line in region.roads
        ]
    )
    frames = []
    for village in region.villages.itertuples():
        centre = np.array([village.centre_x, village.centre_y])
        anchors = [centre]
        for line in spurs.get(village.id, []):
            # A hamlet on the upper half of the side valley.
            t = rng.uniform(0.55, 1.0)
            anchors.append(line[0] + t * (line[-1] - line[0]))
        distance = np.hypot(*(road_points - centre).T)
        near_road = road_points[
            (distance > _ROAD_HAMLET_M[0])
            & (distance < _ROAD_HAMLET_M[1])
            & shapely.contains_xy(village.geometry, road_points[:, 0], road_points[:, 1])
        ]
        if len(near_road):
            anchors.append(near_road[rng.integers(len(near_road))])
        # The main cluster round the centre holds the largest share.
        weights = rng.dirichlet(np.r_[4.0, np.full(len(anchors) - 1, 1.5)])
        counts = rng.multinomial(village.households, weights)
        for anchor, count in zip(anchors, counts, strict=True):
            sigma = rng.uniform(*_CLUSTER_SIGMA_M)
            points = anchor + rng.normal(0.0, sigma, size=(count, 2))
            points = _inside(points, village.geometry, anchor)
            frames.append(
                pd.DataFrame({"village_id": village.id, "x": points[:, 0], "y": points[:, 1]})
            )
    return pd.concat(frames, ignore_index=True)


def write_population(households: pd.DataFrame, terrain: Terrain, path: Path) -> Path:
    """Write households per 100 m pixel over the DEM's extent (EPSG:32648).

    Every household falls on the raster, so the raster sums to the villages'
    households.
    """
    rows, cols = terrain.elevation.shape
    left, top = terrain.transform.c, terrain.transform.f
    width = cols * terrain.transform.a
    height = rows * -terrain.transform.e
    n_cols = int(np.ceil(width / POPULATION_PIXEL_M))
    n_rows = int(np.ceil(height / POPULATION_PIXEL_M))
    col = ((households["x"].to_numpy() - left) // POPULATION_PIXEL_M).astype(np.intp)
    row = ((top - households["y"].to_numpy()) // POPULATION_PIXEL_M).astype(np.intp)
    grid = np.zeros((n_rows, n_cols), dtype=np.float32)
    np.add.at(grid, (row, col), 1.0)
    transform = Affine(POPULATION_PIXEL_M, 0.0, left, 0.0, -POPULATION_PIXEL_M, top)
    profile = {
        "driver": "GTiff",
        "height": n_rows,
        "width": n_cols,
        "count": 1,
        "dtype": "float32",
        "crs": CRS_UTM,
        "transform": transform,
        "nodata": POPULATION_NODATA,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(grid, 1)
    return path
