"""Where households live, without a population raster: buildings, terrain, readings."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from affine import Affine
from pyproj import CRS

from coverage.households import place_households, place_with_buildings, settle_from_evidence
from geodata.hexgrid import cell_centres, cells_in_polygons
from geodata.raster import Raster, utm_crs_for
from geodata.villages import normalise_villages


@pytest.fixture
def village() -> gpd.GeoDataFrame:
    # 2 km × 1 km; the centre in the western half.
    frame = gpd.GeoDataFrame(
        {
            "id": ["v"],
            "name": ["Bản Thử"],
            "commune": ["Thượng Nông"],
            "district": ["Na Hang"],
            "province": ["Tuyên Quang"],
            "households": [60],
            "centre_lon": [105.485],
            "centre_lat": [22.565],
        },
        geometry=[shapely.box(105.480, 22.560, 105.500, 22.570)],
        crs="EPSG:4326",
    )
    return normalise_villages(frame)


def _cells(village: gpd.GeoDataFrame) -> pd.DataFrame:
    return cells_in_polygons(village, resolution=10).rename(columns={"id": "village_id"})


def _valley_and_cliff(metric: CRS) -> Raster:
    """A DEM: flat valley floor west of 105.49, a 40° slope rising east of it."""
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    west, south = to_metric.transform(105.475, 22.555)
    east_edge = to_metric.transform(105.49, 22.565)[0]
    transform = Affine(30.0, 0, west, 0, -30.0, south + 6000)
    x = west + (np.arange(400) + 0.5) * 30.0
    height = 200.0 + np.tan(np.radians(40)) * np.maximum(x - east_edge, 0.0)
    return Raster(np.tile(height, (200, 1)), transform, metric)


def test_households_live_on_the_valley_floor_not_the_cliff(village) -> None:
    metric = utm_crs_for(105.49, 22.565)
    cells = _cells(village)
    placed = settle_from_evidence(
        cells, village, metric_crs=metric, terrain=_valley_and_cliff(metric)
    )
    assert placed["households"].sum() == pytest.approx(60.0)
    _, lon = cell_centres(placed["h3"].to_numpy(np.uint64))
    on_floor = placed.loc[lon < 105.489, "households"].sum()
    assert on_floor > 0.9 * 60


def test_readings_show_where_people_are(village) -> None:
    metric = utm_crs_for(105.49, 22.565)
    cells = _cells(village)
    _, lon = cell_centres(cells["h3"].to_numpy(np.uint64))
    read = cells["h3"].to_numpy(np.uint64)[lon > 105.495]  # phones read in the far east only
    placed = settle_from_evidence(cells, village, metric_crs=metric, reading_cells=read)
    _, placed_lon = cell_centres(placed["h3"].to_numpy(np.uint64))
    per_cell_read = placed.loc[placed_lon > 105.495, "households"].mean()
    per_cell_unread = placed.loc[placed_lon <= 105.495, "households"].mean()
    assert per_cell_read > 2 * per_cell_unread


def test_buildings_decide_where_they_are_given(village) -> None:
    metric = utm_crs_for(105.49, 22.565)
    cells = _cells(village)
    fallback = settle_from_evidence(cells, village, metric_crs=metric)
    lon = np.array([105.4985, 105.4986, 105.4987])
    lat = np.array([22.5685, 22.5685, 22.5686])
    placed = place_with_buildings(lon, lat, village, cells, resolution=10, fallback=fallback)
    assert placed["households"].sum() == pytest.approx(60.0)
    assert len(placed) <= 2  # three houses, in one or two res-10 cells


def test_a_village_without_buildings_falls_back(village) -> None:
    metric = utm_crs_for(105.49, 22.565)
    cells = _cells(village)
    far = gpd.GeoDataFrame(geometry=[shapely.Point(106.0, 21.0)], crs="EPSG:4326")
    placed = place_households(village, cells, resolution=10, metric_crs=metric, buildings=far)
    # No building inside, no terrain, no readings: an even spread.
    assert placed["households"].sum() == pytest.approx(60.0)
    assert placed["households"].nunique() == 1
