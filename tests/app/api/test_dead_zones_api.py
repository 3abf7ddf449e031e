"""GET /api/v1/dead-zones: filters, sorting and pages on constructed zones."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient

from app.store import Store


@pytest.fixture
def zones_store(loaded_store: Store) -> Store:
    """Five best-carrier zones (households, area, nearest site chosen so each sort differs).

    Beside them, per-carrier zones: Viettel misses all of Bản Giòng (98
    households) though VinaPhone serves most of it, so no best-carrier zone
    holds those households; Viettel LTE and MobiFone have zones of their own.
    """
    rows = [
        ("thuong-nong", "z1", "patchy", 40, 0.3, 2600.0, ["Viettel"], 105.491),
        ("thuong-nong", "z2", "no_signal", 98, 0.1, 900.0, ["Viettel", "MobiFone"], 105.495),
        ("thuong-nong", "z3", "patchy", 12, 1.5, 4100.0, ["VinaPhone"], 105.472),
        ("linh-phu", "z4", "no_signal", 61, 1.1, 3500.0, ["MobiFone", "Viettel"], 105.411),
        ("linh-phu", "z5", "patchy", 98, 0.7, 1500.0, ["Viettel"], 105.415),
        ("thuong-nong", "v1", "no_signal", 98, 0.9, 2500.0, ["Viettel"], 105.490),
        ("thuong-nong", "v2", "no_signal", 98, 0.9, 2500.0, ["Viettel"], 105.490),
        ("linh-phu", "m1", "patchy", 20, 0.2, 1800.0, ["MobiFone"], 105.412),
        ("linh-phu", "m2", "patchy", 20, 0.2, 1800.0, ["MobiFone"], 105.412),
    ]
    # (carrier, radio) of each zone; the others are best-of-any-carrier zones.
    layers = {
        "v1": ("Viettel", None),
        "v2": ("Viettel", "lte"),
        "m1": ("MobiFone", None),
        "m2": ("MobiFone", "umts"),
    }
    frame = gpd.GeoDataFrame(
        {
            "id": [r[1] for r in rows],
            "commune_id": [r[0] for r in rows],
            "verdict": [r[2] for r in rows],
            "households": [r[3] for r in rows],
            "area_km2": [r[4] for r in rows],
            "nearest_site_m": [r[5] for r in rows],
            "carriers_absent": [r[6] for r in rows],
            "village_ids": [[] for _ in rows],
            "carrier": [layers.get(r[1], ("any", None))[0] for r in rows],
            "radio": [layers.get(r[1], ("any", None))[1] for r in rows],
            "village_id": ["ban-giong" if r[0] == "thuong-nong" else "dong-da-1" for r in rows],
        },
        geometry=[
            shapely.box(
                r[7],
                (22.561 if r[0] == "thuong-nong" else 22.011),
                r[7] + 0.002,
                (22.563 if r[0] == "thuong-nong" else 22.013),
            )
            for r in rows
        ],
        crs="EPSG:4326",
    )
    loaded_store.replace_dead_zones(frame)
    return loaded_store


def ids(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [f["properties"]["id"] for f in body["features"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=households", ["z2", "z5", "z4", "z1", "z3"]),
        ("sort=area", ["z3", "z4", "z5", "z1", "z2"]),
        ("sort=distance", ["z2", "z5", "z1", "z4", "z3"]),
        ("sort=households&verdict=patchy", ["z5", "z1", "z3"]),
        ("sort=households&min_households=61", ["z2", "z5", "z4"]),
        ("sort=area&district=chiem hoa", ["z4", "z5"]),
        ("sort=area&province=Tuyên Quang&commune_id=thuong-nong", ["z3", "z1", "z2"]),
        ("sort=distance&carrier=any", ["z2", "z5", "z1", "z4", "z3"]),
        ("sort=households&carrier=viettel", ["v1"]),
        ("sort=households&carrier=Viettel,MobiFone", ["v1", "m1"]),
        ("sort=households&carrier=viettel&carrier=mobifone", ["v1", "m1"]),
        ("sort=households&carrier=Viettel&radio=LTE", ["v2"]),
        ("sort=households&radio=lte,umts", ["v2", "m2"]),
        ("sort=households&carrier=MobiFone&radio=lte", []),
        ("sort=households&verdict=no_signal,patchy", ["z2", "z5", "z4", "z1", "z3"]),
        ("sort=households&verdict=no_signal&verdict=patchy", ["z2", "z5", "z4", "z1", "z3"]),
        ("sort=households&verdict=no_signal,patchy&carrier=mobifone", ["m1"]),
        ("sort=households&bbox=105.40,22.0,105.42,22.02", ["z5", "z4"]),
        ("sort=households&bbox=105.490,22.55,105.494,22.57", ["z1"]),
    ],
)
def test_filters_and_sorts(
    client: TestClient, zones_store: Store, query: str, expected: list[str]
) -> None:
    response = client.get(f"/api/v1/dead-zones?{query}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert ids(body) == expected
    assert body["numberMatched"] == len(expected)


def test_pages_with_next_links(client: TestClient, zones_store: Store) -> None:
    first = client.get("/api/v1/dead-zones?sort=households&limit=2")
    body = first.json()

    assert ids(body) == ["z2", "z5"]
    assert (body["numberMatched"], body["numberReturned"]) == (5, 2)
    (link,) = body["links"]
    assert link["rel"] == "next"
    assert first.headers["link"] == f'<{link["href"]}>; rel="next"'
    second = client.get(link["href"]).json()
    assert ids(second) == ["z4", "z1"]
    last = client.get(second["links"][0]["href"]).json()
    assert ids(last) == ["z3"] and "links" not in last


def test_carrier_zones_hold_households_the_best_carrier_zones_miss(
    client: TestClient, zones_store: Store
) -> None:
    body = client.get("/api/v1/dead-zones?carrier=Viettel").json()

    (zone,) = body["features"]
    assert zone["properties"]["carrier"] == "Viettel"
    assert zone["properties"]["radio"] is None
    assert zone["properties"]["village_id"] == "ban-giong"
    assert zone["properties"]["households"] == 98
    best = client.get("/api/v1/dead-zones").json()["features"]
    assert {f["properties"]["carrier"] for f in best} == {"any"}
    lte = client.get("/api/v1/dead-zones?carrier=viettel&radio=lte").json()["features"]
    assert [(f["properties"]["carrier"], f["properties"]["radio"]) for f in lte] == [
        ("Viettel", "lte")
    ]


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("bbox=1,2,3", "bbox must be four numbers west,south,east,north (degrees), got '1,2,3'"),
        (
            "bbox=a,b,c,d",
            "bbox must be four numbers west,south,east,north (degrees), got 'a,b,c,d'",
        ),
        (
            "bbox=106,22,105,23",
            "bbox must satisfy -180 <= west < east <= 180 and -90 <= south"
            " < north <= 90, got '106,22,105,23'",
        ),
        ("verdict=covered", "dead zones are 'no_signal' or 'patchy' only"),
        ("verdict=patchy,unknown", "dead zones are 'no_signal' or 'patchy' only"),
        (
            "carrier=any&radio=lte",
            "radio applies to a carrier's dead zones, not to carrier='any'",
        ),
    ],
)
def test_invalid_parameters_are_422(
    client: TestClient, zones_store: Store, query: str, detail: str
) -> None:
    response = client.get(f"/api/v1/dead-zones?{query}")

    assert response.status_code == 422
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=size", "sort"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("radio=5g", "radio"),
        ("min_households=-3", "min_households"),
        ("verdict=no_signal,nosignal", "verdict"),
        ("carrier=Vietel", "carrier"),
    ],
)
def test_invalid_query_values_name_the_field(
    client: TestClient, zones_store: Store, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/dead-zones?{query}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "verdict=no_signal,nosignal",
            "unknown verdict 'nosignal'; expected one of: no_signal, patchy, covered, unknown",
        ),
        (
            "verdict=patchy&verdict=bad",
            "unknown verdict 'bad'; expected one of: no_signal, patchy, covered, unknown",
        ),
        ("radio=lte,5g", "unknown radio '5g'; expected one of: gsm, umts, lte, nr"),
        (
            "carrier=Vietel",
            "unknown carrier 'Vietel'; expected one of: Gmobile, I-Telecom, MobiFone,"
            " Vietnamobile, Viettel, VinaPhone, any",
        ),
    ],
)
def test_an_unknown_filter_value_is_named(
    client: TestClient, zones_store: Store, query: str, message: str
) -> None:
    response = client.get(f"/api/v1/dead-zones?{query}")

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["detail"]
    assert error["msg"] == message
