"""GET /api/v1/survey-plan: where to measure next in a commune, public and cached.

On the tiny region of ``tests/app/conftest.py``, with its one Viettel site at
Bản Giòng's centre made weak (40 dBm EIRP) and no readings: Nà Tà, 2 km west,
is judged from a prediction near the usable level alone. The plan is computed
from a fresh analysis of what the store holds.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import app.services.survey
from app.services.keys import create_key
from app.store import Store

URL = "/api/v1/survey-plan"


@pytest.fixture
def loaded_store(
    loaded_store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
) -> Store:
    """The tiny region with a weak site: Nà Tà's verdict rests on a doubtful prediction."""
    loaded_store.replace_region(communes, villages, sites.assign(eirp_dbm=40.0))
    return loaded_store


PLACE_FIELDS = {
    "rank",
    "commune_id",
    "village_id",
    "village",
    "lon",
    "lat",
    "kind",
    "households",
    "score",
    "reason",
    "reason_vi",
}


def test_the_plan_lists_places_with_coordinates_and_reasons(
    client: TestClient, loaded_store: Store
) -> None:
    response = client.get(URL, params={"commune_id": "thuong-nong"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"commune_id", "places"} and body["commune_id"] == "thuong-nong"
    places = body["places"]
    assert places, body
    assert [p["rank"] for p in places] == list(range(1, len(places) + 1))
    for place in places:
        assert set(place) == PLACE_FIELDS  # aggregates only: no device, reading or key
        assert place["commune_id"] == "thuong-nong"
        assert place["village_id"] in {"ban-giong", "na-ta"}
        assert 105.46 <= place["lon"] <= 105.51 and 22.55 <= place["lat"] <= 22.58
        assert place["reason"] and place["reason_vi"]
    first = places[0]
    assert (first["village_id"], first["kind"], first["households"]) == (
        "na-ta",
        "uncertain_verdict",
        40.0,
    )
    assert (first["lon"], first["lat"]) == (105.475, 22.565)  # the village centre
    assert first["reason_vi"].startswith("Dữ liệu chưa đủ để kết luận (độ tin cậy ")
    scores = [p["score"] for p in places]
    assert scores == sorted(scores, reverse=True)


def test_unknown_commune_and_missing_parameter(client: TestClient, loaded_store: Store) -> None:
    response = client.get(URL, params={"commune_id": "nowhere"})
    assert response.status_code == 404
    assert response.json() == {"detail": "commune 'nowhere' not found"}
    missing = client.get(URL)
    assert missing.status_code == 422
    assert [e["loc"] for e in missing.json()["detail"]] == [["query", "commune_id"]]


def test_the_plan_is_computed_once_per_results_version(
    client: TestClient, loaded_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = app.services.survey.analyse

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(app.services.survey, "analyse", counted)
    params = {"commune_id": "thuong-nong"}
    first = client.get(URL, params=params)
    again = client.get(URL, params=params, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert client.get(URL, params=params).json() == first.json()
    assert calls == [["thuong-nong"]]
    # A challenge changes what the plan says: a new version, one new computation.
    _, planner = create_key(loaded_store, "planner")
    client.post(
        "/api/v1/villages/ban-giong/challenges",
        json={"text": "Mất sóng ở nhà văn hóa", "author": "Trưởng thôn"},
        headers={"X-API-Key": planner},
    )
    changed = client.get(URL, params=params)
    assert changed.headers["etag"] != first.headers["etag"]
    assert changed.json()["places"][0]["kind"] == "challenge"
    assert calls == [["thuong-nong"], ["thuong-nong"]]
