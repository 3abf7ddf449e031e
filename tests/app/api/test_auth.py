"""API keys and roles: who may do what, what a refusal says, what is stored, rate limits."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.api.ratelimit import RateLimiter
from app.cli import READING_FORMATS, ROLES, main
from app.core.config import Settings
from app.core.errors import RateLimitedError
from app.core.security import INVALID_KEY_DETAIL, hash_key
from app.main import create_app
from app.services.keys import create_key
from app.store import Store
from geodata.formats import FORMATS
from tests.app.conftest import sqlite_only

UNAUTHORISED = {"detail": INVALID_KEY_DETAIL}
READING = {
    "time": "2026-01-05T03:00:00Z",
    "lat": 22.565,
    "lon": 105.495,
    "mcc": 452,
    "mnc": 4,
    "radio": "lte",
    "signal_dbm": -101,
    "no_service": False,
    "device": "imei-356938035643809",
}
CSV = (
    b"time,lat,lon,mcc,mnc,radio,signal_dbm,no_service\n"
    b"2026-01-05T03:00:00Z,22.57,105.49,452,4,lte,-99,false\n"
)
GEOSUBMIT = {
    "items": [
        {
            "timestamp": 1767582000000,
            "position": {"latitude": 22.565, "longitude": 105.495, "accuracy": 10},
            "cellTowers": [
                {"radioType": "lte", "mobileCountryCode": 452, "mobileNetworkCode": 4, "asu": 30}
            ],
        }
    ]
}


@pytest.fixture
def keys(store: Store) -> dict[str, str]:
    """One live key per role."""
    return {role: create_key(store, role, name=f"test {role}")[1] for role in ROLES}


def call(client: TestClient, action: str, key: str | None) -> Any:
    """Make the request ``action`` names, with ``key`` in ``X-API-Key`` (if any)."""
    headers = {} if key is None else {"X-API-Key": key}
    if action == "upload":
        return client.post("/api/v1/readings", json=[READING], headers=headers)
    if action == "import":
        return client.post("/api/v1/readings/import?format=csv", content=CSV, headers=headers)
    if action == "geosubmit":
        return client.post("/v2/geosubmit", json=GEOSUBMIT, headers=headers)
    if action == "export":
        return client.get("/api/v1/readings/export.csv", headers=headers)
    if action == "list_keys":
        return client.get("/api/v1/keys", headers=headers)
    if action == "villages":
        return client.get("/api/v1/villages", headers=headers)
    raise AssertionError(action)


ALLOWED = {
    "upload": {"collector", "admin"},
    "import": {"collector", "admin"},
    "geosubmit": {"collector", "admin"},
    "export": {"planner", "admin"},
    "list_keys": {"admin"},
}
DENIED_DETAIL = {
    "upload": "this key may not upload readings",
    "import": "this key may not upload readings",
    "geosubmit": "this key may not upload readings",
    "export": "this key may not read raw readings",
    "list_keys": "this key may not manage keys, sites or villages",
}


@pytest.mark.parametrize("action", sorted(ALLOWED))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_does_exactly_what_it_may(
    client: TestClient, keys: dict[str, str], action: str, role: str
) -> None:
    response = call(client, action, keys[role])

    if role in ALLOWED[action]:
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403
        assert response.json() == {"detail": DENIED_DETAIL[action]}


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_wrong_key_gets_the_same_answer_as_no_key(
    client: TestClient, store: Store, keys: dict[str, str], action: str
) -> None:
    missing = call(client, action, None)
    wrong = call(client, action, "lsk_00000000_" + "x" * 43)
    almost = call(client, action, keys["admin"][:-1])

    for response in (missing, wrong, almost):
        assert response.status_code == 401
        assert response.json() == UNAUTHORISED
    assert store.readings().empty


def test_read_endpoints_stay_public(client: TestClient, loaded_store: Store) -> None:
    assert call(client, "villages", None).status_code == 200
    assert client.get("/api/v1/dead-zones").status_code == 200


def test_revoked_key_is_refused_like_an_unknown_one(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    admin = {"X-API-Key": keys["admin"]}
    collector_id = store.api_key_by_hash(hash_key(keys["collector"])).id  # type: ignore[union-attr]
    assert call(client, "upload", keys["collector"]).status_code == 200

    assert client.delete(f"/api/v1/keys/{collector_id}", headers=admin).status_code == 204

    refused = call(client, "upload", keys["collector"])
    assert (refused.status_code, refused.json()) == (401, UNAUTHORISED)
    again = client.delete(f"/api/v1/keys/{collector_id}", headers=admin)
    assert again.status_code == 404
    listed = {k["id"]: k for k in client.get("/api/v1/keys", headers=admin).json()}
    assert listed[collector_id]["revoked"] is not None


def test_admin_creates_a_key_that_works_at_once(client: TestClient, keys: dict[str, str]) -> None:
    made = client.post(
        "/api/v1/keys",
        params={"role": "collector", "name": "Bản Giòng team"},
        headers={"X-API-Key": keys["admin"]},
    )

    assert made.status_code == 201
    body = made.json()
    assert (body["role"], body["name"], body["revoked"]) == ("collector", "Bản Giòng team", None)
    assert call(client, "upload", body["key"]).status_code == 200
    listed = client.get("/api/v1/keys", headers={"X-API-Key": keys["admin"]}).json()
    assert all("key" not in k and "key_hash" not in k for k in listed)


@sqlite_only  # reads the SQLite file's bytes
def test_only_the_hash_is_stored(client: TestClient, store: Store, keys: dict[str, str]) -> None:
    conn = sqlite3.connect(store.path)
    stored = {row[0] for row in conn.execute("SELECT key_hash FROM api_keys")}
    conn.close()

    assert stored == {hash_key(key) for key in keys.values()}
    files = [store.path, *store.path.parent.glob(store.path.name + "-*")]
    data = b"".join(path.read_bytes() for path in files)
    for key in keys.values():
        assert key.encode() not in data
        assert key.split("_", 2)[2].encode() not in data  # not even the secret part


def test_anonymous_upload_when_allowed(settings: Settings) -> None:
    open_settings = settings.model_copy(update={"allow_anonymous_upload": True})
    with TestClient(create_app(open_settings)) as client:
        assert call(client, "upload", None).status_code == 200
        assert call(client, "geosubmit", None).status_code == 200
        # A key that is sent must still be a good one, and reads stay guarded.
        assert call(client, "upload", "lsk_bad").status_code == 401
        assert call(client, "export", None).status_code == 401


def test_geosubmit_takes_the_key_from_the_query(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    response = client.post(f"/v2/geosubmit?key={keys['collector']}", json=GEOSUBMIT)

    assert (response.status_code, response.json()) == (200, {})
    assert len(store.readings()) == 1


def test_export_is_native_csv_without_devices(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    assert call(client, "upload", keys["collector"]).json()["accepted"] == 1

    response = call(client, "export", keys["planner"])

    assert response.headers["content-type"].startswith("text/csv")
    exported = pd.read_csv(io.StringIO(response.text))
    assert "device" not in exported.columns
    assert "imei" not in response.text
    assert exported[["lat", "lon", "signal_dbm"]].values.tolist() == [[22.565, 105.495, -101.0]]
    assert exported["no_service"].tolist() == [False]


def test_export_of_an_empty_store_is_a_header(client: TestClient, keys: dict[str, str]) -> None:
    response = call(client, "export", keys["admin"])

    assert response.status_code == 200
    assert response.text.startswith("time,lat,lon,")
    assert len(response.text.splitlines()) == 1


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"rate_limit_per_minute": 3}))) as c:
        yield c


def test_rate_limit_answers_429_with_retry_after(limited: TestClient) -> None:
    store: Store = limited.app.state.store  # type: ignore[attr-defined]
    first, second = (create_key(store, "collector")[1] for _ in range(2))

    statuses = [call(limited, "upload", first).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    refused = call(limited, "upload", first)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["detail"].startswith("too many requests")
    assert call(limited, "upload", second).status_code == 200  # per key


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    for _ in range(60):
        limiter.take("k")
    with pytest.raises(RateLimitedError) as refused:
        limiter.take("k")
    assert refused.value.headers == {"Retry-After": "1"}
    now[0] = 1.0
    limiter.take("k")


def test_cli_keys_create_list_revoke(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOMSONG_DEVICE_SALT", settings.device_salt)

    assert main(["keys", "create", "--role", "collector", "--name", "field team"]) == 0
    key = capsys.readouterr().out.split()[-1]

    with TestClient(create_app(settings)) as client:
        assert call(client, "upload", key).status_code == 200
        assert main(["keys", "list"]) == 0
        listing = capsys.readouterr().out
        assert "collector" in listing and "field team" in listing and key not in listing
        key_id = listing.split()[0]
        assert main(["keys", "revoke", key_id]) == 0
        assert call(client, "upload", key).status_code == 401
    assert main(["keys", "revoke", key_id]) == 1


def test_cli_choices_match_the_library() -> None:
    assert READING_FORMATS == FORMATS
    assert set(ROLES) == {"collector", "planner", "admin"}
