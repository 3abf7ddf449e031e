"""Candidate sites: co-location, terrain high points, uploaded lists (tiny constructed data)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from affine import Affine

from coverage.candidates import (
    DEFAULT_COSTS,
    MIN_SEEN_HOUSEHOLDS,
    Costs,
    InvalidCandidateError,
    all_candidates,
    colocation_candidates,
    distinct_ids,
    terrain_candidates,
    uploaded_candidates,
)
from geodata.hexgrid import cells_in_polygons
from geodata.raster import Raster
from geodata.sites import CANDIDATE_COLUMNS, normalise_sites

UTM = pyproj.CRS.from_epsg(32648)
TO_WGS84 = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
X0, Y0 = 500_000.0, 2_490_000.0  # UTM 48N, ~22.5 N 105 E


def _lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = TO_WGS84.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


def _sites(rows: list[tuple[str, int, float, float, float, str]]) -> pd.DataFrame:
    """Cells ``(site_id, mnc, x, y, height, radio)`` at metric offsets, normalised."""
    frame = pd.DataFrame(
        [
            {
                "site_id": site,
                "radio": radio,
                "mcc": 452,
                "net": mnc,
                "area": 1,
                "cell": i + 1,
                "lon": _lonlat(x, y)[0],
                "lat": _lonlat(x, y)[1],
                "height_m": height,
            }
            for i, (site, mnc, x, y, height, radio) in enumerate(rows)
        ]
    )
    return normalise_sites(frame)


def test_colocation_every_other_carrier_on_every_mast() -> None:
    sites = _sites(
        [
            ("A", 4, 0.0, 0.0, 30.0, "LTE"),  # Viettel, two cells on one mast
            ("A", 4, 0.0, 0.0, 42.0, "LTE"),
            ("B", 1, 20.0, 0.0, 25.0, "LTE"),  # MobiFone 20 m away: the same compound
            ("C", 2, 3000.0, 0.0, 35.0, "UMTS"),  # VinaPhone far off, UMTS only
            ("C", 2, 3000.0, 0.0, 35.0, "UMTS"),
        ]
    )
    found = colocation_candidates(sites)
    assert list(found.columns) == list(CANDIDATE_COLUMNS)
    assert found["candidate_id"].tolist() == [
        "co-A-VinaPhone",
        "co-B-VinaPhone",
        "co-C-MobiFone",
        "co-C-Viettel",
    ]
    by_id = found.set_index("candidate_id")
    assert by_id.at["co-A-VinaPhone", "height_m"] == 42.0  # the mast's tallest cell
    assert by_id.at["co-A-VinaPhone", "radio"] == "umts"  # VinaPhone's main radio here
    assert by_id.at["co-C-Viettel", "radio"] == "lte"
    assert (found["kind"] == "colocation").all()
    assert (found["cost"] == DEFAULT_COSTS.colocation).all()
    assert found["host_site_id"].tolist() == ["A", "B", "C", "C"]
    only = colocation_candidates(sites, carriers=["viettel", "452-02"])
    assert only["candidate_id"].tolist() == ["co-A-VinaPhone", "co-B-VinaPhone", "co-C-Viettel"]
    with pytest.raises(InvalidCandidateError, match=r"carrier 'Orange': not a known carrier"):
        colocation_candidates(sites, carriers=["Orange"])
    assert colocation_candidates(sites.iloc[0:0]).empty


def test_costs() -> None:
    assert DEFAULT_COSTS.colocation < DEFAULT_COSTS.new_site / 2
    assert "assumed" in DEFAULT_COSTS.source
    cheap = Costs(colocation=1.0e8, new_site=9.0e8, source="a carrier's own figures")
    sites = _sites([("A", 4, 0.0, 0.0, 30.0, "LTE"), ("C", 2, 3000.0, 0.0, 35.0, "LTE")])
    assert colocation_candidates(sites, costs=cheap)["cost"].tolist() == [1.0e8, 1.0e8]
    with pytest.raises(InvalidCandidateError, match=r"cost of colocation: -1.0 is not a positive"):
        Costs(colocation=-1.0, new_site=1.0, source="x")


# --- Terrain ---------------------------------------------------------------------
# A 6 km square of flat valley at 100 m with one rounded hill (+150 m) 1.5 km
# west of a village that lies on the flat, and a steep wall along the north
# edge, 3.5 km from the village, whose crest (+250 m) is also a local high.


def _terrain() -> Raster:
    size, pixel = 200, 30.0
    col, row = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    x, y = col * pixel, (size - row) * pixel
    height = 100.0 + 150.0 * np.exp(-((x - 2000.0) ** 2 + (y - 3000.0) ** 2) / (2 * 300.0**2))
    height += 250.0 * np.exp(-(((y - 5900.0) / 150.0) ** 2))
    return Raster(height, Affine(pixel, 0, X0, 0, -pixel, Y0 + size * pixel), UTM)


def _village() -> gpd.GeoDataFrame:
    west, south = _lonlat(3500.0, 2500.0)
    east, north = _lonlat(4500.0, 3500.0)
    centre = _lonlat(4000.0, 3000.0)
    return gpd.GeoDataFrame(
        {
            "id": ["v"],
            "name": ["Bản Thử"],
            "households": [60],
            "centre_lon": [centre[0]],
            "centre_lat": [centre[1]],
        },
        geometry=[shapely.box(west, south, east, north)],
        crs="EPSG:4326",
    )


def test_terrain_candidates_on_the_hill_that_sees_the_village() -> None:
    sites = _sites([("A", 4, 0.0, 0.0, 30.0, "LTE"), ("C", 2, 5900.0, 0.0, 35.0, "LTE")])
    village = _village()
    found = terrain_candidates(village, _terrain(), sites, metric_crs=UTM, spacing_m=500.0)
    assert list(found.columns) == list(CANDIDATE_COLUMNS)
    assert (found["kind"] == "new_site").all()
    assert sorted(found["carrier"].unique()) == ["Viettel", "VinaPhone"]
    assert (found["cost"] == DEFAULT_COSTS.new_site).all()
    assert found["host_site_id"].isna().all()
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    x, y = to_utm.transform(found["lon"].to_numpy(), found["lat"].to_numpy())
    x, y = np.asarray(x) - X0, np.asarray(y) - Y0
    # The hill's top is a candidate (within a pixel or two of its peak), first.
    top = found.loc[found["candidate_id"] == "new-1-Viettel"].index[0]
    assert np.hypot(x[top] - 2000.0, y[top] - 3000.0) < 60.0
    # Nothing on the flat: every position stands on the hill or the crest.
    on_hill = np.hypot(x - 2000.0, y - 3000.0) < 700.0
    on_crest = np.abs(y - 5900.0) < 200.0
    assert (on_hill | on_crest).all()
    # The crest is 2.9 km from the village's edge (within NEAR_VILLAGE_M).
    assert on_crest.any()
    ids = found["candidate_id"].tolist()
    assert len(set(ids)) == len(ids)
    assert {i.rsplit("-", 1)[0] for i in ids if i.endswith("-Viettel")} == {
        i.rsplit("-", 1)[0] for i in ids if i.endswith("-VinaPhone")
    }
    few = terrain_candidates(
        village, _terrain(), sites, metric_crs=UTM, spacing_m=500.0, max_positions=1
    )
    assert few["candidate_id"].tolist() == ["new-1-Viettel", "new-1-VinaPhone"]


def test_terrain_candidates_need_households_in_sight() -> None:
    sites = _sites([("A", 4, 0.0, 0.0, 30.0, "LTE")])
    village = _village()
    cells = cells_in_polygons(village, resolution=10)
    # The households the positions see, in one cell of the village: three are
    # too few for any position to count (MIN_SEEN_HOUSEHOLDS), thirty enough.
    households = pd.DataFrame(
        {"village_id": "v", "h3": cells["h3"].to_numpy(np.uint64)[:1], "households": 3.0}
    )
    assert MIN_SEEN_HOUSEHOLDS > 3.0
    found = terrain_candidates(
        village, _terrain(), sites, metric_crs=UTM, spacing_m=500.0, households=households
    )
    assert found.empty
    households["households"] = 30.0
    found = terrain_candidates(
        village, _terrain(), sites, metric_crs=UTM, spacing_m=500.0, households=households
    )
    assert len(found) >= 1


def test_terrain_candidates_without_a_dem_grid_the_settled_cells() -> None:
    sites = _sites([("A", 4, 0.0, 0.0, 30.0, "LTE")])
    village = _village()
    found = terrain_candidates(village, None, sites, metric_crs=UTM, spacing_m=500.0)
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    x, y = to_utm.transform(found["lon"].to_numpy(), found["lat"].to_numpy())
    x, y = np.asarray(x) - X0, np.asarray(y) - Y0
    # One per 500 m block the 1 km village touches, all inside it.
    assert 4 <= len(found) <= 9
    assert ((x > 3450) & (x < 4550) & (y > 2450) & (y < 3550)).all()
    with pytest.raises(InvalidCandidateError, match=r"spacing_m: 0.0 is not a positive distance"):
        terrain_candidates(village, None, sites, metric_crs=UTM, spacing_m=0.0)


def test_terrain_candidates_refuse_a_dem_in_another_crs() -> None:
    from geodata.errors import CRSMismatchError

    sites = _sites([("A", 4, 0.0, 0.0, 30.0, "LTE")])
    terrain = _terrain()
    other = Raster(terrain.values, terrain.transform, pyproj.CRS.from_epsg(32647))
    with pytest.raises(CRSMismatchError, match="the DEM is in"):
        terrain_candidates(_village(), other, sites, metric_crs=UTM)


# --- Uploaded lists -----------------------------------------------------------------


def test_uploaded_candidates_defaults_and_ids() -> None:
    frame = pd.DataFrame(
        {
            "lon": [105.45, 105.46],
            "lat": [22.55, 22.56],
            "carrier": ["viettel", "MobiFone"],
            "height_m": [40.0, None],
            "radio": ["LTE", ""],
            "cost": [None, 2.0e9],
        }
    )
    found = uploaded_candidates(frame)
    assert list(found.columns) == list(CANDIDATE_COLUMNS)
    assert found["candidate_id"].tolist() == ["up-1", "up-2"]
    assert found["carrier"].tolist() == ["Viettel", "MobiFone"]
    assert found["height_m"].tolist() == [40.0, 30.0]
    assert found["radio"].tolist() == ["lte", None]  # None: the carrier's main radio
    assert found["cost"].tolist() == [DEFAULT_COSTS.new_site, 2.0e9]
    assert (found["kind"] == "uploaded").all()
    named = uploaded_candidates(frame.assign(candidate_id=["tram-khe", None]))
    assert named["candidate_id"].tolist() == ["tram-khe", "up-2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lon": [105.45, 205.0]}, r"row 2: lon 205.0 is not a longitude"),
        ({"lat": ["x", 22.5]}, r"row 1: lat 'x' is not a number"),
        ({"carrier": ["Viettel", "Orange"]}, r"row 2: carrier 'Orange' is not a known carrier"),
        ({"radio": ["lte", "wimax"]}, r"row 2: radio 'wimax' is not one of gsm, lte, nr, umts"),
        ({"height_m": [-5.0, 30.0]}, r"row 1: height_m -5.0 is not a mast height"),
        ({"cost": [1.0, -2.0]}, r"row 2: cost -2.0 is not a cost"),
    ],
)
def test_uploaded_candidates_bad_rows(change: dict[str, list[object]], message: str) -> None:
    frame = pd.DataFrame(
        {"lon": [105.45, 105.46], "lat": [22.55, 22.56], "carrier": ["Viettel", "MobiFone"]}
    )
    for column, values in change.items():
        frame[column] = values
    with pytest.raises(InvalidCandidateError, match=message):
        uploaded_candidates(frame)


def test_uploaded_candidates_missing_columns() -> None:
    with pytest.raises(InvalidCandidateError, match=r"missing column\(s\) lat, carrier"):
        uploaded_candidates(pd.DataFrame({"lon": [105.0]}))


def test_all_candidates_have_distinct_ids() -> None:
    sites = _sites([("A", 4, 0.0, 0.0, 30.0, "LTE"), ("C", 2, 3000.0, 0.0, 35.0, "LTE")])
    lon, lat = _lonlat(4000.0, 3000.0)
    uploaded = pd.DataFrame(
        {
            "candidate_id": ["co-A-VinaPhone", "mine"],
            "lon": [lon, lon],
            "lat": [lat, lat],
            "carrier": ["VinaPhone", "Viettel"],
        }
    )
    found = all_candidates(
        _village(), sites, _terrain(), metric_crs=UTM, uploaded=uploaded, spacing_m=500.0
    )
    assert found["candidate_id"].is_unique
    assert set(found["kind"]) == {"colocation", "new_site", "uploaded"}
    assert "co-A-VinaPhone-2" in set(found["candidate_id"])
    assert found.loc[found["candidate_id"] == "co-A-VinaPhone-2", "kind"].item() == "uploaded"
    assert distinct_ids(pd.Series(["a", "a-2", "a"])).tolist() == ["a", "a-2", "a-3"]


def test_checked_values_fill_costs_by_kind() -> None:
    from coverage.candidates import checked_values

    frame = pd.DataFrame(
        {
            "kind": ["colocation", "new_site", "hypothetical"],
            "lon": [105.4, 105.5, 105.6],
            "lat": [22.5, 22.5, 22.5],
            "carrier": ["Viettel", "452-01", "vinaphone"],
            "cost": [None, None, 7.0e8],
        }
    )
    values = checked_values(frame, label="candidates")
    assert values["cost"].tolist() == [DEFAULT_COSTS.colocation, DEFAULT_COSTS.new_site, 7.0e8]
    assert values["carrier"].tolist() == ["Viettel", "MobiFone", "VinaPhone"]
    assert values["height_m"].tolist() == [30.0, 30.0, 30.0]
    assert values["radio"].tolist() == [None, None, None]
