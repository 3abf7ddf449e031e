"""The real commune boundaries of Tuyên Quang (GADM 4.1, ../shared/realdata) as villages.

With only the demo region's sites and readings, most of the province has no
reading and no known site within reach: it must come out ``unknown``, never
*trắng sóng*. The files are read from ../shared (licence: no redistribution),
never copied; the test skips when they are absent.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from coverage.pipeline import analyze
from geodata import constants as C
from geodata.demo import write_demo
from geodata.raster import utm_crs_for
from geodata.readings import read_readings_csv, validate_readings
from geodata.sites import read_sites
from geodata.villages import normalise_villages

COMMUNES = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "realdata"
    / ("tuyen_quang_communes.geojson")
)
pytestmark = pytest.mark.skipif(not COMMUNES.is_file(), reason="../shared/realdata is absent")


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> gpd.GeoDataFrame:
    gadm = gpd.read_file(COMMUNES)
    communes = normalise_villages(
        gpd.GeoDataFrame(
            {
                "id": gadm["GID_3"],
                "name": gadm["NAME_3"],
                "commune": gadm["NAME_3"],
                "district": gadm["NAME_2"],
                "province": gadm["NAME_1"],
                "households": 500,
            },
            geometry=gadm.geometry,
            crs="EPSG:4326",
        )
    )
    files = write_demo(tmp_path_factory.mktemp("demo"), seed=7)
    readings = validate_readings(read_readings_csv(files.readings)).valid
    sites = read_sites(files.sites)
    result = analyze(communes, sites, readings, dem=files.dem).villages
    metric = utm_crs_for(105.3, 22.0)
    points = gpd.GeoSeries(gpd.points_from_xy(sites["lon"], sites["lat"]), crs="EPSG:4326")
    tree_geoms = points.to_crs(metric).to_numpy()
    shapes = result.to_crs(metric).geometry.to_numpy()
    nearest = np.array([min(shape.distance(p) for p in tree_geoms) for shape in shapes])
    return result.assign(nearest_site_m=nearest)


def test_no_evidence_is_unknown_never_no_signal(judged: gpd.GeoDataFrame) -> None:
    beyond = judged.loc[
        (judged["nearest_site_m"] > C.MAX_CELL_RANGE_M) & (judged["readings_count"] == 0)
    ]
    assert len(beyond) >= 100  # most of the province, Sơn Dương among it
    assert (beyond["verdict"] == "unknown").all(), beyond.loc[
        beyond["verdict"] != "unknown", ["name", "verdict"]
    ]
    assert (beyond["confidence"] == 0.0).all()
    assert beyond["best_carrier"].isna().all()
    assert all("site database does not cover" in r[0] for r in beyond["reasons"])
    assert all("dữ liệu trạm chưa phủ" in r[0] for r in beyond["reasons_vi"])


def test_the_surveyed_communes_speak_from_their_readings(judged: gpd.GeoDataFrame) -> None:
    # Whole communes taken as one village: the centre is served (measured),
    # and whether an eighth of 500 households placed by the terrain prior
    # lack signal the evidence may not settle; what it says, it says with
    # the readings counted.
    surveyed = judged.loc[judged["name"].isin(["ThượngNông", "LinhPhú"])]
    assert len(surveyed) == 2
    assert (surveyed["readings_count"] > 10_000).all()
    assert (surveyed["verdict"] != "no_signal").all()
    assert all(any("readings in the village" in s for s in r) for r in surveyed["reasons"])
