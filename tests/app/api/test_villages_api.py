"""GET /api/v1/villages, /api/v1/villages/{id} and /api/v1/dead-zones."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient

from app.store import Store
from geodata.villages import normalise_villages

GEOJSON = "application/geo+json"


def ids(response_json: dict) -> list[str]:  # type: ignore[type-arg]
    return [f["properties"]["id"] for f in response_json["features"]]


def test_all_villages_as_geojson(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/api/v1/villages")

    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert sorted(ids(body)) == ["ban-giong", "dong-da-1", "na-ta"]
    giong = next(f for f in body["features"] if f["properties"]["id"] == "ban-giong")
    assert giong["geometry"]["type"] == "Polygon"
    props = giong["properties"]
    assert {k: props[k] for k in ("name", "commune_id", "commune", "district", "province")} == {
        "name": "Bản Giòng",
        "commune_id": "thuong-nong",
        "commune": "Thượng Nông",
        "district": "Na Hang",
        "province": "Tuyên Quang",
    }
    assert (props["verdict"], props["households"], props["households_without_signal"]) == (
        "patchy",
        98,
        40,
    )
    assert props["best_carrier"] == "VinaPhone"
    assert props["carriers"]["Viettel"]["evidence"] == "predicted"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=ban giong", ["ban-giong"]),
        ("q=BAN%20GIONG", ["ban-giong"]),
        ("q=Bản Giòng", ["ban-giong"]),
        ("q=dong da", ["dong-da-1"]),
        ("q=xyz", []),
        ("commune_id=thuong-nong", ["ban-giong", "na-ta"]),
        ("verdict=no_signal", ["dong-da-1"]),
        ("district=Chiêm Hóa", ["dong-da-1"]),
        ("province=Tuyên Quang&verdict=covered", ["na-ta"]),
        ("carrier=viettel", ["ban-giong", "dong-da-1"]),
        ("carrier=VinaPhone&commune_id=thuong-nong", ["ban-giong", "na-ta"]),
        ("q=na&commune_id=thuong-nong", ["na-ta"]),
        # Several values: comma separated or repeated, any case.
        ("verdict=no_signal,patchy", ["ban-giong", "dong-da-1"]),
        ("verdict=no_signal&verdict=Covered", ["dong-da-1", "na-ta"]),
        ("verdict=no_signal,patchy&commune_id=thuong-nong", ["ban-giong"]),
        ("carrier=VinaPhone,Viettel&commune_id=thuong-nong", ["ban-giong", "na-ta"]),
        ("radio=nr,LTE&carrier=VinaPhone", ["ban-giong"]),
    ],
)
def test_filters(client: TestClient, loaded_store: Store, query: str, expected: list[str]) -> None:
    response = client.get(f"/api/v1/villages?{query}")

    assert response.status_code == 200
    assert sorted(ids(response.json())) == expected


def test_villages_without_results_are_unknown(
    client: TestClient, loaded_store: Store, villages: object
) -> None:
    loaded_store.replace_region(loaded_store.communes(), villages, loaded_store.sites())  # type: ignore[arg-type]

    body = client.get("/api/v1/villages?verdict=unknown").json()

    assert sorted(ids(body)) == ["ban-giong", "dong-da-1", "na-ta"]
    assert {f["properties"]["households_without_signal"] for f in body["features"]} == {None}


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [
        ("verdict=bad", "verdict", "bad"),
        ("verdict=no_signal,bad", "verdict", "bad"),
        ("verdict=patchy&verdict=trang_song", "verdict", "trang_song"),
        ("carrier=Viettel,Vinafone", "carrier", "Vinafone"),
        ("radio=lte,wifi", "radio", "wifi"),
    ],
)
def test_an_unknown_filter_value_is_a_422_naming_it(
    client: TestClient, loaded_store: Store, query: str, field: str, value: str
) -> None:
    response = client.get(f"/api/v1/villages?{query}")

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert error["input"] == value
    assert error["msg"].startswith(f"unknown {field} {value!r}; expected one of: ")


def test_carrier_any_is_for_dead_zones_only(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/api/v1/villages?carrier=any")

    assert response.status_code == 422
    assert response.json() == {
        "detail": "carrier 'any' names the best-of-any-carrier dead zones;"
        " villages and cells take a carrier's name"
    }


def test_one_village(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/api/v1/villages/dong-da-1")

    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert body["type"] == "Feature"
    assert body["properties"]["name"] == "Đống Đa 1"
    assert body["properties"]["best_carrier"] is None
    assert body["properties"]["last_reading"] is None


def test_api_pages_are_the_exports_geojson(client: TestClient, loaded_store: Store) -> None:
    """One encoder: counter-clockwise outer rings and 6 decimals, as in the GeoJSON export."""
    clockwise = shapely.Polygon(
        [(105.4101234567, 22.011), (105.4101234567, 22.019), (105.419, 22.019), (105.419, 22.011)]
    )
    raw = loaded_store.villages(ids=["dong-da-1"], with_results=False).set_geometry([clockwise])
    loaded_store.upsert_villages(normalise_villages(raw))
    page = client.get("/api/v1/villages/dong-da-1").json()
    export = client.get("/api/v1/exports/villages.geojson", params={"commune_id": "linh-phu"})

    assert page == export.json()["features"][0]
    ring = page["geometry"]["coordinates"][0]
    assert shapely.LinearRing(ring).is_ccw
    assert {lon for lon, _ in ring} == {105.410123, 105.419}


def test_unknown_village_is_404(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/api/v1/villages/nowhere")

    assert response.status_code == 404
    assert response.json() == {"detail": "village 'nowhere' not found"}


def test_dead_zones(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/api/v1/dead-zones?commune_id=thuong-nong")

    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    (zone,) = response.json()["features"]
    assert zone["properties"] == {
        "id": "thuong-nong-dz-001",
        "commune_id": "thuong-nong",
        "carrier": "any",
        "radio": None,
        "village_id": "ban-giong",
        "verdict": "patchy",
        "area_km2": 0.3,
        "households": 40,
        "village_ids": ["ban-giong"],
        "carriers_absent": ["Viettel"],
        "nearest_site_m": 2600.0,
        "district": "Na Hang",
        "province": "Tuyên Quang",
    }
    no_signal = client.get("/api/v1/dead-zones?verdict=no_signal").json()
    assert [f["properties"]["id"] for f in no_signal["features"]] == ["linh-phu-dz-001"]
    assert client.get("/api/v1/dead-zones?verdict=covered").status_code == 422


def test_healthz(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["counts"]["villages"] == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Households without signal: ban-giong 40, na-ta 0, dong-da-1 61.
        ("rank=households_without_signal", ["dong-da-1", "ban-giong", "na-ta"]),
        # × (1 + poverty): dong-da-1 61 × 1.2 = 73.2, ban-giong 40 × 1.6 = 64, na-ta 0.
        ("rank=households_without_signal&weight=poverty", ["dong-da-1", "ban-giong", "na-ta"]),
        ("rank=households_without_signal&min_households=1", ["dong-da-1", "ban-giong"]),
        ("rank=households_without_signal&province=tuyen quang&limit=1", ["dong-da-1"]),
        ("rank=households_without_signal&limit=2&offset=1", ["ban-giong", "na-ta"]),
        ("bbox=105.46,22.55,105.485,22.58", ["na-ta"]),
        ("radio=lte&carrier=VinaPhone", ["ban-giong"]),
        ("radio=nr", []),
    ],
)
def test_ranks_and_planner_filters(
    client: TestClient, loaded_store: Store, query: str, expected: list[str]
) -> None:
    response = client.get(f"/api/v1/villages?{query}")

    assert response.status_code == 200
    assert ids(response.json()) == expected


def test_poverty_weight_can_change_the_order(
    client: TestClient, loaded_store: Store, results: object
) -> None:
    import pandas as pd

    frame = pd.DataFrame(results).copy()
    frame.loc[frame["id"] == "ban-giong", "households_without_signal"] = 50  # 50 × 1.6 = 80
    loaded_store.save_results(frame)

    plain = client.get("/api/v1/villages?rank=households_without_signal").json()
    weighted = client.get("/api/v1/villages?rank=households_without_signal&weight=poverty").json()

    assert ids(plain) == ["dong-da-1", "ban-giong", "na-ta"]  # 61 > 50 > 0
    assert ids(weighted) == ["ban-giong", "dong-da-1", "na-ta"]  # 80 > 73.2 > 0
    assert [f["properties"]["rank_score"] for f in weighted["features"]] == [80.0, 73.2, 0.0]


def test_villages_bbox_must_be_valid(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/api/v1/villages?bbox=105,22")

    assert response.status_code == 422
    assert response.json() == {
        "detail": "bbox must be four numbers west,south,east,north (degrees), got '105,22'"
    }


def test_a_judged_village_says_how_sure_and_why(client: TestClient, loaded_store: Store) -> None:
    import app.services.analysis

    app.services.analysis.analyze_communes(loaded_store)
    response = client.get("/api/v1/villages/ban-giong")
    assert response.status_code == 200
    props = response.json()["properties"]
    assert props["verdict"] in {"no_signal", "patchy", "covered", "unknown"}
    assert 0.0 <= props["confidence"] <= 1.0
    assert props["reasons"] and all(isinstance(r, str) for r in props["reasons"])
    assert len(props["reasons_vi"]) == len(props["reasons"])
    assert any("households" in r for r in props["reasons"])
    assert any(" hộ " in r for r in props["reasons_vi"])
