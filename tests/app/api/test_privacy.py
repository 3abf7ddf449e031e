"""Privacy through the service: public hexagons follow no one phone, public times are days.

A small region (``tests/app/conftest.py``) analysed for real on readings
built here; what the public routes serve is checked, and that the planner's
raw readings keep their times.
"""

from __future__ import annotations

import io
import json

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from app.services.analysis import analyze_communes
from app.services.keys import create_key
from app.store import Store
from geodata.hexgrid import cells_for_points, cells_to_strings
from geodata.readings import validate_readings

GEOJSON = "application/geo+json"


def readings(lat: np.ndarray, lon: np.ndarray, devices: list[str]) -> pd.DataFrame:
    """Viettel LTE readings, one every 47 s from 08:03:17 UTC on 5 January 2026."""
    n = len(lat)
    start = pd.Timestamp("2026-01-05T08:03:17Z")
    return validate_readings(
        pd.DataFrame(
            {
                "time": [(start + pd.Timedelta(seconds=47 * i)).isoformat() for i in range(n)],
                "lat": lat,
                "lon": lon,
                "accuracy_m": 10.0,
                "mcc": 452,
                "mnc": 4,
                "radio": "lte",
                "signal_dbm": -104.0,
                "no_service": False,
                "device": devices,
            }
        )
    ).valid


def one_phones_track() -> pd.DataFrame:
    """40 readings across Nà Tà and Bản Giòng (3 km), all from one phone."""
    lon = np.linspace(105.4705, 105.4995, 40)
    lat = 22.565 + 0.002 * np.sin(np.linspace(0, 5, 40))
    return readings(lat, lon, ["phone-1"] * 40)


def judge(
    store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    taken: pd.DataFrame,
) -> None:
    store.replace_region(communes, villages, sites)
    store.add_readings(taken)
    analyze_communes(store)


def exported_cells(client: TestClient) -> gpd.GeoDataFrame:
    response = client.get("/api/v1/exports/cells.geojson")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GEOJSON)
    return gpd.read_file(io.BytesIO(response.content))


def test_one_phones_track_shows_in_no_public_hexagon(
    client: TestClient, store: Store, communes, villages, sites
) -> None:
    track = one_phones_track()
    judge(store, communes, villages, sites, track)

    cells = exported_cells(client)
    csv = pd.read_csv(io.StringIO(client.get("/api/v1/exports/cells.csv").text))
    village = client.get("/api/v1/villages/ban-giong").json()["properties"]

    assert len(cells) > 0  # the model's hexagons are public
    assert cells["count"].sum() == 0
    assert csv["count"].sum() == 0
    touched = set(
        cells_to_strings(
            cells_for_points(track["lat"].to_numpy(), track["lon"].to_numpy(), resolution=9)
        )
    )
    assert not touched & set(cells["h3"])
    assert village["readings_count"] > 0  # the readings still judge the village


def test_three_phones_in_one_hexagon_make_it_public(
    client: TestClient, store: Store, communes, villages, sites
) -> None:
    lat, lon = np.full(9, 22.5652), np.full(9, 105.4752)
    judge(store, communes, villages, sites, readings(lat, lon, ["p1", "p2", "p3"] * 3))
    hexagon = cells_to_strings(cells_for_points(lat[:1], lon[:1], resolution=9))[0]

    cells = exported_cells(client)

    shown = cells.loc[cells["count"] > 0, ["h3", "carrier", "count"]]
    assert shown.values.tolist() == [[hexagon, "Viettel", 9]]


def test_public_last_reading_is_a_day(
    client: TestClient, store: Store, communes, villages, sites
) -> None:
    judge(store, communes, villages, sites, one_phones_track())

    one = client.get("/api/v1/villages/ban-giong")
    listed = client.get("/api/v1/villages", params={"commune_id": "thuong-nong"}).json()
    csv = client.get("/api/v1/exports/villages.csv").text
    geojson = client.get("/api/v1/exports/villages.geojson").text
    page = client.get("/maps/communes/thuong-nong").text

    assert one.status_code == 200
    assert one.json()["properties"]["last_reading"] == "2026-01-05"
    days = {f["properties"]["id"]: f["properties"]["last_reading"] for f in listed["features"]}
    assert days == {"ban-giong": "2026-01-05", "na-ta": "2026-01-05"}
    exported = pd.read_csv(io.StringIO(csv)).set_index("id")["last_reading"]
    assert exported.loc[["ban-giong", "na-ta"]].tolist() == ["2026-01-05"] * 2
    assert pd.isna(exported.loc["dong-da-1"])  # no readings
    features = json.loads(geojson)["features"]
    assert {f["properties"]["last_reading"] for f in features} == {"2026-01-05", None}
    assert "05/01/2026" in page  # dd/mm/yyyy for people
    # The last reading was at 08:33:50 UTC; no public body says so.
    for body in (one.text, json.dumps(listed), csv, geojson, page):
        assert "08:33" not in body
        assert "T08:" not in body


def test_the_planners_raw_readings_keep_their_times(
    client: TestClient, store: Store, communes, villages, sites
) -> None:
    judge(store, communes, villages, sites, one_phones_track())
    planner = create_key(store, "planner", name="planner")[1]

    response = client.get("/api/v1/readings/export.csv", headers={"X-API-Key": planner})

    assert response.status_code == 200
    times = pd.to_datetime(pd.read_csv(io.StringIO(response.text))["time"], utc=True)
    assert times.min() == pd.Timestamp("2026-01-05T08:03:17Z")
    assert len(times) == 40
