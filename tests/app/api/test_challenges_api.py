"""Challenges through the API: who may make one, what is refused, what the public sees.

On the tiny region of ``tests/app/conftest.py`` (squares, one Viettel site,
no readings until a test uploads them). The round trip stores a challenge,
shows it, finds it first in the survey plan, and settles it with readings a
field team uploads in the village afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.keys import create_key
from app.store import Store
from coverage import thresholds as T

BODY = {"text": "Nhà văn hóa không có sóng", "author": "Chủ tịch UBND xã Thượng Nông"}


@pytest.fixture
def keys(loaded_store: Store) -> dict[str, Any]:
    planner_key, planner = create_key(loaded_store, "planner", name="UBND xã Thượng Nông")
    _, collector = create_key(loaded_store, "collector", name="team")
    return {"planner": planner, "planner_id": planner_key.id, "collector": collector}


def _post(client: TestClient, key: str | None, village: str = "na-ta", **body: Any) -> Any:
    headers = {"X-API-Key": key} if key else {}
    return client.post(
        f"/api/v1/villages/{village}/challenges", json={**BODY, **body}, headers=headers
    )


def test_a_planner_key_challenges_and_anyone_reads_it(
    client: TestClient, loaded_store: Store, keys: dict[str, Any]
) -> None:
    response = _post(client, keys["planner"], lon=105.475, lat=22.565)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    made = response.json()
    assert made == {
        "id": 1,
        "village_id": "na-ta",
        "text": "Nhà văn hóa không có sóng",
        "author": "Chủ tịch UBND xã Thượng Nông",
        "lon": 105.475,
        "lat": 22.565,
        "created": made["created"],
        "verdict": "covered",  # the stored verdict it disputes
        "status": "open",
        "settled": None,
        "verdict_settled": None,
    }
    assert abs(datetime.fromisoformat(made["created"]) - datetime.now(UTC)) < timedelta(minutes=1)
    # Stored with who sent it; the public never sees the key.
    stored = loaded_store.challenges()
    assert stored["key_id"].tolist() == [keys["planner_id"]]
    public = client.get("/api/v1/villages/na-ta/challenges")
    assert public.status_code == 200
    assert public.headers["content-type"] == "application/json"
    assert public.json() == {"village_id": "na-ta", "challenges": [made]}
    assert keys["planner_id"] not in public.text
    assert client.get("/api/v1/villages/ban-giong/challenges").json()["challenges"] == []


def test_only_a_planner_key_may_challenge(
    client: TestClient, loaded_store: Store, keys: dict[str, Any]
) -> None:
    anonymous = _post(client, None)
    assert anonymous.status_code == 401
    collector = _post(client, keys["collector"])
    assert collector.status_code == 403
    assert collector.json() == {"detail": "this key may not challenge a verdict"}
    assert loaded_store.challenges().empty


@pytest.mark.parametrize(
    ("village", "body", "status", "detail"),
    [
        ("nowhere", {}, 404, "village 'nowhere' not found"),
        ("na-ta", {"text": "   "}, 422, "text: empty ('   ')"),
        ("na-ta", {"author": "\n"}, 422, "author: empty ('\\n')"),
        ("na-ta", {"lon": 105.475}, 422, "lat: missing (lon and lat come together)"),
        # Đống Đa 1's commune (Linh Phú), not Nà Tà's.
        (
            "na-ta",
            {"lon": 105.415, "lat": 22.015},
            422,
            "lon, lat: (105.415, 22.015) is outside the commune 'thuong-nong'",
        ),
    ],
)
def test_bad_challenges_are_refused_naming_the_field_and_value(
    client: TestClient,
    loaded_store: Store,
    keys: dict[str, Any],
    village: str,
    body: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    response = _post(client, keys["planner"], village=village, **body)
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert loaded_store.challenges().empty


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ({"text": ""}, "text", ""),
        ({"text": "x" * 1001}, "text", "x" * 1001),
        ({"lat": 95.0, "lon": 105.475}, "lat", 95.0),
        ({"colour": "red"}, "colour", "red"),
    ],
)
def test_malformed_bodies_are_refused_by_the_schema(
    client: TestClient,
    loaded_store: Store,
    keys: dict[str, Any],
    body: dict[str, Any],
    field: str,
    value: Any,
) -> None:
    response = _post(client, keys["planner"], **body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["input"]) == (["body", field], value)
    assert loaded_store.challenges().empty


def _readings_in_na_ta(after: datetime, n: int) -> list[dict[str, Any]]:
    """``n`` Viettel readings in one cell of Nà Tà, taken just after ``after``."""
    return [
        {
            "time": (after + timedelta(seconds=5 * (i + 1))).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lat": 22.5650 + 0.00002 * i,
            "lon": 105.4750,
            "accuracy_m": 8,
            "mcc": 452,
            "mnc": 4,
            "radio": "LTE",
            "signal_dbm": -108,
            "no_service": False,
            "device": "team-phone",
        }
        for i in range(n)
    ]


def test_round_trip_store_show_rank_settle(
    client: TestClient, loaded_store: Store, keys: dict[str, Any]
) -> None:
    made = _post(client, keys["planner"]).json()
    # Ranked: the challenged village goes first, whatever the others' doubt.
    plan = client.get("/api/v1/survey-plan", params={"commune_id": "thuong-nong"}).json()
    first = plan["places"][0]
    assert (first["rank"], first["village_id"], first["kind"]) == (1, "na-ta", "challenge")
    assert first["village"] == "Nà Tà" and first["households"] == 40.0
    assert "Nhà văn hóa không có sóng" in first["reason_vi"]

    # Too few readings after it: still open, still first.
    created = datetime.fromisoformat(made["created"])
    collector = {"X-API-Key": keys["collector"]}
    few = _readings_in_na_ta(created, T.MIN_READINGS_MEASURED - 1)
    assert client.post("/api/v1/readings", json=few, headers=collector).json()["accepted"] == 2
    assert client.app.state.refresher.wait_idle(timeout=120)  # type: ignore[attr-defined]
    shown = client.get("/api/v1/villages/na-ta/challenges").json()["challenges"]
    assert [c["status"] for c in shown] == ["open"]

    # Enough to make a cell measured: the refresh re-judges Nà Tà and settles it.
    more = _readings_in_na_ta(created + timedelta(seconds=30), T.MIN_READINGS_MEASURED)
    response = client.post("/api/v1/readings", json=more, headers=collector)
    assert response.json()["accepted"] == T.MIN_READINGS_MEASURED
    assert client.app.state.refresher.wait_idle(timeout=120)  # type: ignore[attr-defined]
    village = client.get("/api/v1/villages/na-ta").json()["properties"]
    [settled] = client.get("/api/v1/villages/na-ta/challenges").json()["challenges"]
    assert settled["status"] == "settled"
    assert settled["verdict_settled"] == village["verdict"]
    assert settled["settled"] >= settled["created"]
    plan = client.get("/api/v1/survey-plan", params={"commune_id": "thuong-nong"}).json()
    assert "challenge" not in {p["kind"] for p in plan["places"]}


def test_the_village_page_shows_its_challenges(
    client: TestClient, loaded_store: Store, keys: dict[str, Any]
) -> None:
    before = client.get("/maps/villages/na-ta").text
    assert "Phản ánh về kết luận" not in before
    made = _post(client, keys["planner"], text="<b>Mất sóng</b> ở nhà văn hóa").json()
    page = client.get("/maps/villages/na-ta")
    assert page.status_code == 200
    day = datetime.fromisoformat(made["created"]).strftime("%d/%m/%Y")
    assert "Phản ánh về kết luận (1)" in page.text
    assert (
        f'<span class="lomsong-challenge-date">{day}</span> · Chủ tịch UBND xã Thượng Nông:'
        " “&lt;b&gt;Mất sóng&lt;/b&gt; ở nhà văn hóa”"
        " <small>(kết luận khi đó: Có sóng; đang chờ số đo mới)</small>"
    ) in page.text
    assert keys["planner_id"] not in page.text
    english = client.get("/maps/villages/na-ta", params={"lang": "en"}).text
    assert "Challenges to the verdict (1)" in english
    assert "waiting for new readings" in english
    # Only the challenged village's page says so.
    assert "Phản ánh về kết luận" not in client.get("/maps/villages/ban-giong").text
