"""POST /api/v1/readings: what is accepted, what is refused and why, what is stored."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.services.analysis
from app.services.keys import create_key
from app.store import Store
from geodata.formats import read_readings, validate_chunks

URL = "/api/v1/readings"
SHAPE = "expected a JSON list of reading objects or an object with a 'readings' list"


@pytest.fixture
def client(client: TestClient) -> TestClient:
    """The shared client, sending a collector's API key."""
    _, key = create_key(client.app.state.store, "collector")  # type: ignore[attr-defined]
    client.headers["X-API-Key"] = key
    return client


def wait_for_refresh(client: TestClient) -> None:
    """Block (bounded) until the background refresh after an upload is done."""
    assert client.app.state.refresher.wait_idle(timeout=60)  # type: ignore[attr-defined]


def reading(**overrides: Any) -> dict[str, Any]:
    """A valid LTE reading inside Bản Giòng."""
    base: dict[str, Any] = {
        "time": "2026-01-05T03:00:00Z",
        "lat": 22.565,
        "lon": 105.495,
        "accuracy_m": 12,
        "mcc": 452,
        "mnc": 4,
        "radio": "LTE",
        "signal_dbm": -101,
        "no_service": False,
        "device": "phone-1",
        "source": "test",
    }
    base.update(overrides)
    return base


def test_good_batch_is_stored_with_hashed_devices(client: TestClient, store: Store) -> None:
    batch = [reading(), reading(time="2026-01-05T03:01:00Z", no_service=True, signal_dbm=None)]

    response = client.post(URL, json=batch)

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, [])
    assert body["rejected_by_reason"] == {}
    stored = store.readings()
    assert len(stored) == 2
    assert stored["no_service"].tolist() == [False, True]
    assert stored["radio"].tolist() == ["lte", "lte"]
    assert "phone-1" not in set(stored["device"])
    assert stored["device"].nunique() == 1


def test_object_with_readings_list_is_accepted(client: TestClient, store: Store) -> None:
    response = client.post(URL, json={"readings": [reading()]})

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert len(store.readings()) == 1


def test_mixed_batch_stores_valid_rows_and_names_each_rejection(
    client: TestClient, store: Store
) -> None:
    missing_mcc = reading(time="2026-01-05T03:09:00Z")
    del missing_mcc["mcc"]
    batch = [
        reading(),
        reading(lat=95.0),
        reading(radio="wimax"),
        reading(signal_dbm=-30),
        reading(time="2099-01-01T00:00:00Z"),
        missing_mcc,
        reading(time="2026-01-05T03:10:00Z"),
        "not an object",
    ]

    response = client.post(URL, json=batch)

    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 0
    assert body["rejected"] == [
        {"index": 2, "field": "lat", "reason": "lat: outside -90..90"},
        {
            "index": 3,
            "field": "radio",
            "reason": "radio: unknown radio, expected one of gsm, umts, lte, nr",
        },
        {"index": 4, "field": "signal_dbm", "reason": "signal_dbm: outside -140..-43 dBm for lte"},
        {"index": 5, "field": "time", "reason": "time: in the future"},
        {"index": 6, "field": "mcc", "reason": "mcc: required field is missing"},
        {"index": 8, "field": "item", "reason": "item: not a JSON object"},
    ]
    assert body["rejected_by_reason"] == {
        "lat: outside -90..90": 1,
        "radio: unknown radio, expected one of gsm, umts, lte, nr": 1,
        "signal_dbm: outside -140..-43 dBm for lte": 1,
        "time: in the future": 1,
        "mcc: required field is missing": 1,
        "item: not a JSON object": 1,
    }
    stored = store.readings()
    assert sorted(stored["time"].dt.strftime("%H:%M").tolist()) == ["03:00", "03:10"]


def test_the_api_parses_objects_as_native_json_files_do(client: TestClient, store: Store) -> None:
    batch = [
        reading(lat=[22.5, 22.6]),  # nested: refused by the parser, the value shown
        reading(lat=True),  # a boolean is not a coordinate
        reading(time=1767236400),  # a timestamp must be ISO 8601 text
        reading(device={"imei": 1}, extra={"ignored": [1, 2]}),  # refused; extra ignored
        reading(time=None),
        reading(extra={"ignored": [1, 2]}),  # accepted
    ]

    response = client.post(URL, json=batch)

    assert response.status_code == 200
    body = response.json()
    assert body["rejected"] == [
        {
            "index": 1,
            "field": "lat",
            "reason": "lat: a JSON list ([22.5, 22.6]), expected a single value",
        },
        {"index": 2, "field": "lat", "reason": "lat: not a number"},
        {"index": 3, "field": "time", "reason": "time: not an ISO 8601 timestamp"},
        {
            "index": 4,
            "field": "device",
            "reason": 'device: a JSON object ({"imei": 1}), expected a single value',
        },
        {"index": 5, "field": "time", "reason": "time: required field is missing"},
    ]
    assert body["accepted"] == 1
    file_chunk = validate_chunks(
        read_readings(io.BytesIO(json.dumps(batch).encode()), format="json")
    )
    assert [r.as_dict() for r in file_chunk.rejected] == body["rejected"]
    stored = store.readings()
    assert len(stored) == 1 and stored["device"].iloc[0] is not None


def test_field_missing_from_every_row_rejects_rows_not_the_batch(
    client: TestClient, store: Store
) -> None:
    batch = [reading(), reading(time="2026-01-05T03:05:00Z")]
    for row in batch:
        del row["no_service"]

    response = client.post(URL, json=batch)

    assert response.status_code == 200
    assert response.json()["rejected_by_reason"] == {"no_service: required field is missing": 2}
    assert store.readings().empty


def test_reupload_counts_duplicates_and_stores_nothing_twice(
    client: TestClient, store: Store
) -> None:
    batch = [reading(), reading(time="2026-01-05T03:01:00Z")]
    assert client.post(URL, json=batch).json()["accepted"] == 2

    again = client.post(URL, json=[*batch, reading(time="2026-01-05T03:02:00Z")]).json()

    assert (again["accepted"], again["duplicates"]) == (1, 2)
    assert len(store.readings()) == 3


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"", 400, f"request body is empty; {SHAPE}"),
        (b"   \n", 400, f"request body is empty; {SHAPE}"),
        (
            b"time,lat\n2026,22",
            400,
            "request body is not valid JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        (b'{"readings": 3}', 422, SHAPE),
        (b'{"time": "2026-01-05T03:00:00Z"}', 422, SHAPE),
        (b'"a string"', 422, SHAPE),
    ],
)
def test_unreadable_bodies_are_refused_with_a_clear_detail(
    client: TestClient, store: Store, body: bytes, status: int, detail: str
) -> None:
    response = client.post(URL, content=body, headers={"content-type": "application/json"})

    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert store.readings().empty


def test_body_over_the_limit_is_refused(client: TestClient, store: Store) -> None:
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]

    response = client.post(URL, content=b"[" + b" " * limit + b"]")

    assert response.status_code == 413
    assert response.json() == {"detail": f"request body is larger than {limit} bytes"}
    assert store.readings().empty


def test_upload_refreshes_only_the_touched_communes(
    client: TestClient, loaded_store: Store
) -> None:
    """Touched villages -> their communes re-analysed -> results stored; others kept."""
    body = client.post(URL, json=[reading()]).json()

    assert body["accepted"] == 1
    wait_for_refresh(client)
    judged = loaded_store.villages().set_index("id")
    # Thượng Nông was re-analysed with the real pipeline: one reading in Bản Giòng.
    assert judged.loc["ban-giong", "readings_count"] == 1
    assert judged.loc["na-ta", "readings_count"] == 0
    # Linh Phú was not touched: its stored verdict and dead zone stay as they were.
    assert judged.loc["dong-da-1", "verdict"] == "no_signal"
    assert judged.loc["dong-da-1", "households_without_signal"] == 61
    assert "linh-phu-dz-001" in loaded_store.dead_zones()["id"].tolist()


def test_upload_changes_the_verdict_of_a_touched_village(
    client: TestClient, loaded_store: Store
) -> None:
    """With the real analysis: a site at the centre, then a campaign finding no service."""
    app.services.analysis.analyze_communes(loaded_store)
    before = loaded_store.village("ban-giong")["verdict"].iloc[0]
    assert before == "covered"
    campaign = [
        reading(
            time=f"2026-01-{day:02d}T0{hour}:00:00Z",
            lat=22.561 + 0.002 * i,
            lon=105.491 + 0.002 * j,
            no_service=True,
            signal_dbm=None,
            device=f"phone-{day % 3}",
        )
        for day in (5, 6, 7)
        for hour in (1, 2)
        for i in range(5)
        for j in range(5)
    ]

    body = client.post(URL, json=campaign).json()

    assert body["accepted"] == len(campaign)
    wait_for_refresh(client)
    after = loaded_store.village("ban-giong")
    assert after["verdict"].iloc[0] in {"no_signal", "patchy"}
    assert after["readings_count"].iloc[0] == len(campaign)
    # Nà Tà, in the same commune but not touched, keeps a verdict of its own.
    assert loaded_store.village("na-ta")["readings_count"].iloc[0] == 0
