"""POST /v2/geosubmit: what stumblers send, what is stored, what a bad body gets."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.config import Settings
from app.main import create_app
from app.services.keys import create_key
from app.store import Store

URL = "/v2/geosubmit"
UNAVAILABLE = 2147483647
T0 = 1767582000000  # 2026-01-05T03:00:00Z in ms


def item(i: int = 0, **tower: Any) -> dict[str, Any]:
    """One geosubmit item in Bản Giòng with one LTE tower (overridable)."""
    cell = {
        "radioType": "lte",
        "mobileCountryCode": 452,
        "mobileNetworkCode": 4,
        "locationAreaCode": 101,
        "cellId": 1001 + i,
        "signalStrength": -101,
        "serving": 1,
    }
    cell.update(tower)
    return {
        "timestamp": T0 + 1000 * i,
        "position": {"latitude": 22.565, "longitude": 105.495, "accuracy": 12, "source": "gps"},
        "cellTowers": [cell],
    }


@pytest.fixture
def key(store: Store) -> str:
    return create_key(store, "collector")[1]


def submit(client: TestClient, key: str, body: bytes, **headers: str) -> Any:
    return client.post(f"{URL}?key={key}", content=body, headers=headers)


def test_tower_collector_batch(client: TestClient, store: Store, key: str) -> None:
    """~85 items, unknown LAC and cell id sent as Integer.MAX_VALUE, ASU only."""
    items = [item(i) for i in range(85)]
    items[0]["cellTowers"][0].update(locationAreaCode=UNAVAILABLE, cellId=UNAVAILABLE)
    items[1]["cellTowers"][0] = {
        "radioType": "gsm",
        "mobileCountryCode": 452,
        "mobileNetworkCode": 2,
        "asu": 10,
        "timingAdvance": 1,
        "age": 2000,
    }
    items[2]["wifiAccessPoints"] = [{"macAddress": "01:23:45:67:89:ab", "signalStrength": -51}]
    items[3]["somethingNew"] = {"x": 1}

    response = submit(client, key, json.dumps({"items": items}).encode())

    assert (response.status_code, response.json()) == (200, {})
    stored = store.readings()
    assert len(stored) == 85
    first = stored.sort_values("time").iloc[0]
    assert first["cell_id"] is pd.NA and first["area_code"] is pd.NA
    gsm = stored[stored["radio"] == "gsm"].iloc[0]
    assert gsm["signal_dbm"] == 2 * 10 - 113
    assert str(gsm["time"]) == "2026-01-05 02:59:59+00:00"  # timestamp minus the tower's age


def test_neostumbler_gzip_batch_with_string_codes(
    client: TestClient, store: Store, key: str
) -> None:
    items = [item(i, mobileCountryCode="452", mobileNetworkCode="04") for i in range(950)]
    items[0]["cellTowers"].append(
        {
            "radioType": "nr",
            "mobileCountryCode": "452",
            "mobileNetworkCode": "04",
            "signalStrength": -95,
        }
    )
    body = gzip.compress(json.dumps({"items": items}).encode())

    response = submit(client, key, body, **{"content-encoding": "gzip"})

    assert (response.status_code, response.json()) == (200, {})
    stored = store.readings()
    assert len(stored) == 951
    assert set(stored["mnc"]) == {4}
    assert (stored["radio"] == "nr").sum() == 1


def test_gzip_recognised_by_its_magic_bytes(client: TestClient, store: Store, key: str) -> None:
    body = gzip.compress(json.dumps({"items": [item()]}).encode())

    assert submit(client, key, body).status_code == 200
    assert len(store.readings()) == 1


def test_no_service_extension_is_stored_as_no_service(
    client: TestClient, store: Store, key: str
) -> None:
    body = {"items": [item(0, signalStrength=None, noService=True)]}

    assert submit(client, key, json.dumps(body).encode()).json() == {}

    stored = store.readings()
    assert stored["no_service"].tolist() == [True]
    assert stored["signal_dbm"].isna().all()


def test_resubmission_stores_nothing_twice(client: TestClient, store: Store, key: str) -> None:
    body = json.dumps({"items": [item(i) for i in range(3)]}).encode()

    for _ in range(3):
        assert submit(client, key, body).status_code == 200

    assert len(store.readings()) == 3


def test_bad_rows_are_dropped_and_the_rest_kept(client: TestClient, store: Store, key: str) -> None:
    items = [item(0), item(1, signalStrength=-30), item(2, radioType="cdma"), "junk"]

    response = submit(client, key, json.dumps({"items": items}).encode())

    assert (response.status_code, response.json()) == (200, {})
    assert len(store.readings()) == 1


@pytest.mark.parametrize(
    ("body", "headers", "detail"),
    [
        (b"\x1f\x8b\x08\x00garbage", {}, "request body is not valid gzip: "),
        (b"{}", {"content-encoding": "gzip"}, "request body is not valid gzip: "),
        (
            gzip.compress(b'{"items": []}')[:-4],
            {},
            "request body is not valid gzip: the stream is truncated",
        ),
        (b'{"items": ["\xe9t\xe9"]}', {}, "request body is not UTF-8: "),
        (b'{"items": [', {}, "request body is not valid JSON: "),
        (b"", {}, 'request body is empty; expected a geosubmit v2 object {"items": [...]}'),
        (b"[]", {}, "geosubmit: the body must be a JSON object with an 'items' list"),
        (b'{"items": 3}', {}, "geosubmit: the body must be a JSON object with an 'items' list"),
    ],
)
def test_unreadable_bodies_get_a_400_with_a_clear_detail(
    client: TestClient,
    store: Store,
    key: str,
    body: bytes,
    headers: dict[str, str],
    detail: str,
) -> None:
    response = submit(client, key, body, **headers)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert store.readings().empty


@pytest.fixture
def small(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"max_body_bytes": 4096}))) as client:
        yield client


def test_body_over_the_limit_is_a_413(small: TestClient) -> None:
    key = create_key(small.app.state.store, "collector")[1]  # type: ignore[attr-defined]
    big = json.dumps({"items": [item(i) for i in range(100)]}).encode()
    bomb = gzip.compress(json.dumps({"items": [], "pad": "0" * 1_000_000}).encode())
    assert len(bomb) < 4096

    for body in (big, bomb):
        response = submit(small, key, body)
        assert response.status_code == 413
        assert response.json() == {"detail": "request body is larger than 4096 bytes"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_TOWER_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.sampled_from([UNAVAILABLE, 2**63 - 1, "04", "", "lte", "nr"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
_TOWER_KEYS = (
    "radioType",
    "mobileCountryCode",
    "mobileNetworkCode",
    "locationAreaCode",
    "cellId",
    "primaryScramblingCode",
    "asu",
    "signalStrength",
    "age",
    "noService",
)
_TOWER = st.fixed_dictionaries({}, optional=dict.fromkeys(_TOWER_KEYS, _TOWER_VALUES))
_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": _TOWER_VALUES,
        "position": st.fixed_dictionaries(
            {}, optional={"latitude": _TOWER_VALUES, "longitude": _TOWER_VALUES}
        )
        | _JSON,
        "cellTowers": st.lists(_TOWER, max_size=3) | _JSON,
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.one_of(_JSON, st.fixed_dictionaries({"items": st.lists(_ITEM, max_size=4)})))
def test_any_json_gets_an_answer_never_a_500(client: TestClient, key: str, payload: Any) -> None:
    body = json.dumps(payload, allow_nan=True).encode()

    response = submit(client, key, body)

    assert response.status_code in (200, 400), response.text


def test_refused_items_are_counted_in_the_callers_uploads(
    client: TestClient, store: Store, key: str
) -> None:
    """Stumblers only see ``{}``; their key's upload list says what was refused."""
    items = [item(0), item(1, mobileNetworkCode=99), item(2, signalStrength=-20)]

    response = submit(client, key, json.dumps({"items": items}).encode())

    assert response.status_code == 200
    assert response.json() == {}
    listed = client.get("/api/v1/uploads", headers={"X-API-Key": key})
    assert listed.status_code == 200
    (upload,) = listed.json()["uploads"]
    assert (upload["origin"], upload["accepted"], upload["rejected_total"]) == ("geosubmit", 1, 2)
    assert upload["rejected_by_reason"] == {
        "mnc: 99 is not a known network of MCC 452": 1,
        "signal_dbm: outside -140..-43 dBm for lte": 1,
    }
    assert len(store.readings()) == 1
