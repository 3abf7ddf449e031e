"""GET /api/v1/villages, /api/v1/villages/{id} and /api/v1/dead-zones."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.store import Store

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


def test_invalid_verdict_is_422(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/api/v1/villages?verdict=bad")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "verdict"]


def test_one_village(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/api/v1/villages/dong-da-1")

    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert body["type"] == "Feature"
    assert body["properties"]["name"] == "Đống Đa 1"
    assert body["properties"]["best_carrier"] is None
    assert body["properties"]["last_reading"] is None


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
