"""Each carrier's nearest site to a village centre, and whether a ridge hides it.

A flat DEM in UTM 48N with one ridge between the village centre and one of
two sites; distances and the line of sight are known by construction.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from affine import Affine

from coverage.nearest_sites import LINE_OF_SIGHT_LOSS_DB, nearest_sites
from coverage.points import carrier_readings_per_village
from geodata.raster import Raster

UTM = "EPSG:32648"
CENTRE_XY = (500_000.0, 2_495_000.0)
TO_WGS84 = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = TO_WGS84.transform(x, y)
    return float(lon), float(lat)


@pytest.fixture
def village() -> gpd.GeoDataFrame:
    lon, lat = lonlat(*CENTRE_XY)
    return gpd.GeoDataFrame(
        {"id": ["v"], "centre_lon": [lon], "centre_lat": [lat]},
        geometry=[shapely.Point(lon, lat).buffer(0.005)],
        crs="EPSG:4326",
    )


@pytest.fixture
def sites() -> pd.DataFrame:
    """Viettel 3 km east (two cells, one mast) and 6 km west; VinaPhone 2.5 km west."""
    rows = [
        ("vt-east", "Viettel", 503_000.0, 40.0, 1800.0),
        ("vt-east", "Viettel", 503_000.0, 30.0, 900.0),
        ("vt-west", "Viettel", 494_000.0, 30.0, 1800.0),
        ("vn-west", "VinaPhone", 497_500.0, 30.0, 2100.0),
    ]
    frame = pd.DataFrame(rows, columns=["site_id", "carrier", "x", "height_m", "freq_mhz"])
    lon, lat = zip(*(lonlat(x, CENTRE_XY[1]) for x in frame["x"]), strict=True)
    return frame.assign(lon=lon, lat=lat).drop(columns="x")


@pytest.fixture
def ridge_dem() -> Raster:
    """Flat at 100 m, with a 400 m ridge 1.5 km east of the centre (between it and vt-east)."""
    west, north, pixel = 493_000.0, 2_496_000.0, 30.0
    values = np.full((70, 400), 100.0)
    ridge_col = int((501_500.0 - west) / pixel)
    values[:, ridge_col : ridge_col + 3] = 400.0
    return Raster(values, Affine(pixel, 0, west, 0, -pixel, north), pyproj.CRS.from_epsg(32648))


def test_nearest_site_per_carrier_with_the_ridge_in_between(
    village: gpd.GeoDataFrame, sites: pd.DataFrame, ridge_dem: Raster
) -> None:
    found = nearest_sites(village, sites, metric_crs=UTM, terrain=ridge_dem).set_index("carrier")
    assert found.loc["Viettel", "site_id"] == "vt-east"
    assert found.loc["Viettel", "distance_m"] == pytest.approx(3000, abs=2)
    assert found.loc["VinaPhone", "distance_m"] == pytest.approx(2500, abs=2)
    assert found.loc["Viettel", "behind_terrain"] is True
    assert found.loc["Viettel", "terrain_loss_db"] > 20.0
    assert found.loc["VinaPhone", "behind_terrain"] is False
    assert found.loc["VinaPhone", "terrain_loss_db"] <= LINE_OF_SIGHT_LOSS_DB


def test_without_a_dem_the_terrain_is_not_known(
    village: gpd.GeoDataFrame, sites: pd.DataFrame
) -> None:
    found = nearest_sites(village, sites, metric_crs=UTM)
    assert found["behind_terrain"].isna().all() and found["terrain_loss_db"].isna().all()
    assert sorted(found["carrier"]) == ["Viettel", "VinaPhone"]


def test_no_sites_no_rows(village: gpd.GeoDataFrame, sites: pd.DataFrame) -> None:
    assert nearest_sites(village, sites.iloc[:0], metric_crs=UTM).empty


def test_carrier_readings_count_days_and_the_unusable_share(village: gpd.GeoDataFrame) -> None:
    lon, lat = lonlat(*CENTRE_XY)
    readings = pd.DataFrame(
        {
            "lat": [lat] * 5 + [lat + 1.0],  # the last one is far outside the village
            "lon": [lon] * 6,
            "mcc": 452,
            "mnc": [4, 4, 4, 2, 2, 4],
            "radio": ["lte", "lte", "lte", "umts", "umts", "lte"],
            # usable LTE is -115 dBm and up: -120 is not, nor a reading without service.
            "signal_dbm": [-90.0, -120.0, None, -80.0, -85.0, -90.0],
            "no_service": [False, False, True, False, False, False],
            "time": pd.to_datetime(
                [
                    "2026-01-01T01:00Z",
                    "2026-01-05T23:00Z",
                    "2026-01-14T02:00Z",
                    "2026-02-01T08:00Z",
                    "2026-02-01T09:00Z",
                    "2026-03-01T00:00Z",
                ]
            ),
        }
    )
    table = carrier_readings_per_village(village, readings).set_index("carrier")
    assert table.loc["Viettel", ["readings", "reading_days"]].tolist() == [3, 14]
    assert table.loc["Viettel", "unusable_share"] == pytest.approx(0.667)
    assert table.loc["VinaPhone", ["readings", "reading_days", "unusable_share"]].tolist() == [
        2,
        1,
        0.0,
    ]
