"""POST /api/v1/readings/import without ``format=``: each layout told from the file itself."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.keys import create_key
from app.store import Store
from tests.geodata.formats.spreadsheets import xlsx_bytes

URL = "/api/v1/readings/import"
SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples"
GNETTRACK = SAMPLES / "ucc5g_gnettrack_driving_B_2020.02.27_20.35.57.csv"

COLUMNS = ["time", "lat", "lon", "mcc", "mnc", "radio", "signal_dbm", "no_service"]
# Inside Bản Giòng (the test region of tests/app/conftest.py); the second is refused.
ROWS = [
    ["2026-01-05T03:00:00Z", 22.565, 105.495, 452, 4, "lte", -99, False],
    ["2026-01-05T03:01:00Z", 95.0, 105.495, 452, 4, "lte", -99, False],
    ["2026-01-05T03:02:00Z", 22.566, 105.496, 452, 2, "lte", None, True],
]


@pytest.fixture
def client(client: TestClient) -> TestClient:
    """The shared client, sending a collector's API key."""
    _, key = create_key(client.app.state.store, "collector")  # type: ignore[attr-defined]
    client.headers["X-API-Key"] = key
    return client


def native_csv(delimiter: str = ",", decimal: str = ".") -> str:
    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return str(v).lower()
        return str(v).replace(".", decimal) if isinstance(v, float) else str(v)

    lines = [delimiter.join(COLUMNS)] + [delimiter.join(cell(v) for v in r) for r in ROWS]
    return "\r\n".join(lines) + "\r\n"


def native_json() -> bytes:
    return json.dumps([dict(zip(COLUMNS, r, strict=True)) for r in ROWS]).encode()


def geojson() -> bytes:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r[2], r[1]]},
            "properties": {
                k: v for k, v in zip(COLUMNS, r, strict=True) if k not in ("lat", "lon")
            },
        }
        for r in ROWS
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def geosubmit() -> bytes:
    item = {
        "timestamp": 1767582000000,  # 2026-01-05T03:00:00Z
        "position": {"latitude": 22.565, "longitude": 105.495, "accuracy": 10},
        "cellTowers": [
            {
                "radioType": "lte",
                "mobileCountryCode": 452,
                "mobileNetworkCode": 4,
                "locationAreaCode": 3101,
                "cellId": 25601,
                "signalStrength": -99,
            }
        ],
    }
    bad = {**item, "position": {"latitude": 95.0, "longitude": 105.495}}
    nosvc = {
        **item,
        "timestamp": 1767582120000,
        "position": {"latitude": 22.566, "longitude": 105.496},
        "cellTowers": [
            {
                "radioType": "lte",
                "mobileCountryCode": 452,
                "mobileNetworkCode": 2,
                "noService": True,
            }
        ],
    }
    return json.dumps({"items": [item, bad, nosvc]}).encode()


BODIES = {
    "native csv": native_csv().encode(),
    "semicolon csv, decimal comma (Excel, Vietnamese locale)": native_csv(";", ",").encode(
        "utf-8-sig"
    ),
    "tab-separated UTF-16 (Excel's Unicode text)": native_csv("\t").encode("utf-16"),
    "native json": native_json(),
    "geojson points": geojson(),
    "geosubmit file": geosubmit(),
    "xlsx": xlsx_bytes([COLUMNS, *ROWS]),
}
# The refused reading's index: CSV and spreadsheets count lines (header = 1), JSON items from 1.
REFUSED_INDEX = {
    name: 3 if "csv" in name or "xlsx" in name or "UTF-16" in name else 2 for name in BODIES
}


def stored(store: Store) -> list[dict[str, Any]]:
    frame = store.readings().sort_values("time")
    return [
        {"lat": round(r.lat, 3), "mnc": int(r.mnc), "no_service": bool(r.no_service)}
        for r in frame.itertuples()
    ]


@pytest.mark.parametrize("how", ["raw", "multipart", "multipart gzip"])
@pytest.mark.parametrize("name", list(BODIES))
def test_each_layout_is_sniffed_without_format(
    client: TestClient, store: Store, name: str, how: str
) -> None:
    body = BODIES[name]
    if how == "raw":
        response = client.post(URL, content=body)
    else:
        data = gzip.compress(body) if how == "multipart gzip" else body
        response = client.post(URL, files={"file": ("upload", io.BytesIO(data))})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["accepted"] == 2
    assert answer["rejected_total"] == 1
    [refused] = answer["rejected"]
    assert refused["index"] == REFUSED_INDEX[name]
    assert refused["field"] == "lat"
    assert stored(store) == [
        {"lat": 22.565, "mnc": 4, "no_service": False},
        {"lat": 22.566, "mnc": 2, "no_service": True},
    ]


@pytest.mark.skipif(not GNETTRACK.is_file(), reason="../shared/samples not present")
def test_a_gnettrack_log_is_told_by_its_header_and_still_needs_its_zone(client: TestClient) -> None:
    body = GNETTRACK.read_bytes()
    refused = client.post(URL, content=body)
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "gnettrack: the tz parameter is required (the log's timestamps are in local"
        " time; e.g. tz='Asia/Ho_Chi_Minh')"
    }
    response = client.post(f"{URL}?tz=Europe/Dublin&mcc=272&mnc=1", content=body)
    assert response.status_code == 200
    assert response.json()["accepted"] > 1000


def test_a_vietnamese_gnettrack_log_needs_no_mcc_mnc(client: TestClient, store: Store) -> None:
    body = (
        b"Timestamp,Longitude,Latitude,Operatorname,NetworkMode,RSRP,RSRQ,SNR\n"
        b"2026.01.05_10.00.00,105.495,22.565,Viettel,LTE,-101,-12,4.0\n"
        b"2026.01.05_10.00.05,105.495,22.565,VN VINAPHONE,LTE,-97,-11,5.0\n"
        b"2026.01.05_10.00.10,105.495,22.565,B,LTE,-97,-11,5.0\n"
    )
    response = client.post(f"{URL}?tz=Asia/Ho_Chi_Minh", content=body)
    assert response.status_code == 200
    assert response.json()["rejected"] == [
        {
            "index": 4,
            "field": "mcc",
            "reason": "mcc: the log carries no MCC and its Operatorname names no one network:"
            " pass mcc= for it",
        }
    ]
    assert sorted(store.readings()["mnc"].tolist()) == [2, 4]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (
            b"a;b;c\n1;2;3\n",
            422,
            "the file: cannot tell the readings format from its start; name it (one of csv,"
            " json, gnettrack, opencellid, geosubmit, geojson, xlsx). Its first line names a, b,"
            " c; the CSV formats need gnettrack: Timestamp, Longitude, Latitude, NetworkMode,"
            " RSRP; opencellid: mcc, mnc, lon, lat, signal, measured_at, act; csv: time, lat,"
            " lon, mcc, mnc, radio, no_service",
        ),
        (
            (",".join(f"c{i}" for i in range(200_000)) + "\n1\n").encode(),
            422,
            "the file: the header line is longer than 65,536 bytes; the first line must name"
            " the columns (a readings file has fewer than 100)",
        ),
        (
            b"PK\x03\x04 a truncated workbook",
            422,
            "xlsx: not a readable spreadsheet (Cannot detect file format)",
        ),
    ],
)
def test_what_cannot_be_sniffed_is_refused_with_a_clear_detail(
    client: TestClient, store: Store, body: bytes, status: int, detail: str
) -> None:
    response = client.post(URL, content=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": detail}
    assert store.readings().empty


def test_a_latin1_file_is_refused_naming_line_and_byte(client: TestClient, store: Store) -> None:
    body = native_csv().replace("lte", "lté", 1).encode("latin-1")
    response = client.post(URL, content=body)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert body.index(b"\xe9") == 94
    assert detail.startswith("csv: line 2, byte 94: 0xe9 is not UTF-8 text")
    assert "'CSV UTF-8 (Comma delimited)'" in detail
    assert store.readings().empty
