"""POST /api/v1/readings/import and `lomsong ingest`: formats, encodings, limits, retries."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.core.config import Settings
from app.main import create_app
from app.services.keys import create_key
from app.services.rejections import MAX_LISTED_REJECTIONS
from app.store import Store

URL = "/api/v1/readings/import"
SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "samples"
GNETTRACK = SAMPLES / "ucc5g_gnettrack_driving_B_2020.02.27_20.35.57.csv"
HEADER = "time,lat,lon,accuracy_m,mcc,mnc,radio,signal_dbm,no_service,device"


def csv_rows(count: int, *, lat: float = 22.565, minute0: int = 0) -> str:
    """``count`` valid LTE readings inside Bản Giòng, one a minute."""
    lines = [HEADER]
    for i in range(minute0, minute0 + count):
        hour, minute = divmod(i, 60)
        lines.append(
            f"2026-01-05T{hour:02d}:{minute:02d}:00Z,{lat},105.495,10,452,4,lte,-99,false,p1"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture
def client(client: TestClient) -> TestClient:
    """The shared client, sending a collector's API key."""
    _, key = create_key(client.app.state.store, "collector")  # type: ignore[attr-defined]
    client.headers["X-API-Key"] = key
    return client


def post_csv(client: TestClient, body: bytes, **headers: str) -> Any:
    return client.post(
        f"{URL}?format=csv", content=body, headers={"content-type": "text/csv", **headers}
    )


def test_raw_csv_is_stored_and_bad_lines_named(client: TestClient, store: Store) -> None:
    lines = csv_rows(3).splitlines(keepends=True)
    lines[2] = lines[2].replace("22.565", "95")  # line 3 of the file: the 2nd reading
    body = "".join(lines)

    response = post_csv(client, body.encode())

    assert response.status_code == 200
    assert response.json() == {
        "upload_id": 1,
        "accepted": 2,
        "duplicates": 0,
        "outside_region": 0,
        "rejected": [{"index": 3, "field": "lat", "reason": "lat: outside -90..90"}],
        "rejected_total": 1,
        "rejected_by_reason": {"lat: outside -90..90": 1},
        "notes": [],
    }
    assert len(store.readings()) == 2


@pytest.mark.parametrize("how", ["content-encoding", "magic bytes only"])
def test_gzip_body(client: TestClient, store: Store, how: str) -> None:
    headers = {"content-encoding": "gzip"} if how == "content-encoding" else {}

    response = post_csv(client, gzip.compress(csv_rows(5).encode()), **headers)

    assert response.json()["accepted"] == 5
    assert len(store.readings()) == 5


@pytest.mark.parametrize("name", ["readings.csv", "readings.csv.gz"])
def test_multipart_upload(client: TestClient, store: Store, name: str) -> None:
    data = csv_rows(4).encode()
    data = gzip.compress(data) if name.endswith(".gz") else data

    response = client.post(f"{URL}?format=csv", files={"file": (name, data, "text/csv")})

    assert response.status_code == 200
    assert response.json()["accepted"] == 4
    assert len(store.readings()) == 4


def test_json_file(client: TestClient, store: Store) -> None:
    items = [
        {
            "time": "2026-01-05T03:00:00Z",
            "lat": 22.565,
            "lon": 105.495,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "no_service": True,
        },
        {
            "time": "2026-01-05T03:01:00Z",
            "lat": 22.565,
            "lon": 105.495,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -101,
        },
    ]

    response = client.post(f"{URL}?format=json", json={"readings": items})

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected_by_reason"]) == (
        1,
        {"no_service: required field is missing": 1},
    )
    assert store.readings()["no_service"].tolist() == [True]


def test_opencellid_measurements(client: TestClient, store: Store) -> None:
    body = (
        "mcc,mnc,lac,cellid,lon,lat,signal,measured_at,rating,speed,direction,act,ta,psc,tac,pci\n"
        "452,4,,1001,105.495,22.565,30,2026-01-05T03:00:00Z,12,0,0,LTE,,,101,7\n"
        "452,4,101,2001,105.495,22.565,-85,1767582060,12,0,0,GSM,,,,\n"
    )

    response = client.post(f"{URL}?format=opencellid", content=body.encode())

    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert sorted(store.readings()["signal_dbm"].tolist()) == [-110.0, -85.0]


@pytest.mark.skipif(not GNETTRACK.is_file(), reason="shared/samples G-NetTrack log not present")
def test_real_gnettrack_log(client: TestClient, store: Store) -> None:
    url = f"{URL}?format=gnettrack&tz=Europe/Dublin&mcc=272&mnc=2"

    response = client.post(url, files={"file": (GNETTRACK.name, GNETTRACK.read_bytes())})

    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] > 500
    assert body["accepted"] == len(store.readings())
    assert "nr" in set(store.readings()["radio"])  # the 5G (NSA) rows' NR readings


def test_gnettrack_needs_a_time_zone(client: TestClient) -> None:
    response = client.post(f"{URL}?format=gnettrack", content=b"Timestamp\n")

    assert response.status_code == 422
    assert "tz" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "detail"),
    [
        (b"\x1f\x8b\x08\x00garbage", {}, 400, "request body is not valid gzip"),
        (b"abc", {"content-encoding": "gzip"}, 400, "request body is not valid gzip"),
        (gzip.compress(b"time,lat\n")[:-6], {}, 400, "request body is not valid gzip"),
        (b"time,lat\n\xe9t\xe9\n", {}, 400, "csv: line 2, byte 9: 0xe9 is not UTF-8 text"),
        (b"lat,lon\n22.5,105.4\n", {}, 422, "lacks required column(s) time, mcc"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_detail(
    client: TestClient,
    store: Store,
    body: bytes,
    headers: dict[str, str],
    status: int,
    detail: str,
) -> None:
    response = post_csv(client, body, **headers)

    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert store.readings().empty


def test_unknown_format_is_a_422(client: TestClient) -> None:
    assert client.post(f"{URL}?format=kml", content=b"x").status_code == 422


@pytest.fixture
def small(settings: Settings) -> Iterator[TestClient]:
    """A service taking files of at most 2 kB, parsed 3 rows at a time."""
    update = {"max_import_bytes": 2048, "import_chunk_rows": 3}
    with TestClient(create_app(settings.model_copy(update=update))) as client:
        _, key = create_key(client.app.state.store, "collector")  # type: ignore[attr-defined]
        client.headers["X-API-Key"] = key
        yield client


def test_file_over_the_limit_is_a_413(small: TestClient) -> None:
    response = post_csv(small, csv_rows(40).encode())

    assert response.status_code == 413
    assert response.json() == {"detail": "request body is larger than 2048 bytes"}


def test_gzip_that_inflates_past_the_limit_is_a_413(small: TestClient) -> None:
    bomb = gzip.compress(b"0" * 1_000_000)
    assert len(bomb) < 2048

    response = post_csv(small, bomb)

    assert response.status_code == 413


def test_files_are_stored_chunk_by_chunk(
    small: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: Store = small.app.state.store  # type: ignore[attr-defined]
    sizes: list[int] = []
    add = store.add_readings
    monkeypatch.setattr(
        store,
        "add_readings",
        lambda valid, **options: (sizes.append(len(valid)), add(valid, **options))[1],
    )

    response = post_csv(small, csv_rows(10).encode())

    assert response.json()["accepted"] == 10
    assert sizes == [3, 3, 3, 1]


def test_rejections_are_listed_up_to_a_cap_and_all_counted(client: TestClient) -> None:
    count = MAX_LISTED_REJECTIONS + 200
    body = csv_rows(count).replace(",lte,", ",wimax,")

    answer = post_csv(client, body.encode()).json()

    assert answer["accepted"] == 0
    assert len(answer["rejected"]) == MAX_LISTED_REJECTIONS
    assert answer["rejected"][0]["index"] == 2
    assert answer["rejected_total"] == count
    assert sum(answer["rejected_by_reason"].values()) == count


def test_reupload_stores_nothing_twice(client: TestClient, store: Store) -> None:
    body = csv_rows(6).encode()
    assert post_csv(client, body).json()["accepted"] == 6

    again = post_csv(client, body).json()

    assert (again["accepted"], again["duplicates"]) == (0, 6)
    assert len(store.readings()) == 6


@pytest.mark.parametrize("url", [f"{URL}?format=csv", "/api/v1/readings"])
def test_idempotency_key_replays_the_first_answer(
    client: TestClient, store: Store, url: str
) -> None:
    if url.endswith("csv"):
        body, other = csv_rows(4).encode(), csv_rows(5).encode()
    else:
        rows = [
            {
                "time": f"2026-01-05T03:0{i}:00Z",
                "lat": 22.565,
                "lon": 105.495,
                "mcc": 452,
                "mnc": 4,
                "radio": "lte",
                "signal_dbm": -99,
                "no_service": False,
            }
            for i in range(5)
        ]
        body, other = json.dumps(rows[:4]).encode(), json.dumps(rows).encode()
    key = {"Idempotency-Key": "batch-2026-01-05-001"}

    first = client.post(url, content=body, headers=key)
    retry = client.post(url, content=body, headers=key)
    changed = client.post(url, content=other, headers=key)

    assert first.json()["accepted"] == 4
    assert retry.status_code == 200
    assert retry.json() == first.json()  # replayed: not "0 accepted, 4 duplicates"
    assert changed.status_code == 422
    assert changed.json() == {
        "detail": "Idempotency-Key 'batch-2026-01-05-001' was already used for a different"
        " request; send a new key with a new body"
    }
    assert len(store.readings()) == 4


@pytest.mark.parametrize("url", [f"{URL}?format=csv", "/api/v1/readings"])
def test_a_retry_after_dying_before_the_answer_was_saved_gets_the_first_answer(
    client: TestClient, store: Store, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if url.endswith("csv"):
        body = csv_rows(4).encode()
    else:
        body = json.dumps(
            [
                {
                    "time": f"2026-01-05T03:0{i}:00Z",
                    "lat": 22.565,
                    "lon": 105.495,
                    "mcc": 452,
                    "mnc": 4,
                    "radio": "lte",
                    "signal_dbm": -99,
                    "no_service": False,
                }
                for i in range(4)
            ]
        ).encode()
    key = {"Idempotency-Key": "dies-before-answering"}

    def die(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed after storing, before saving the answer")

    with monkeypatch.context() as patch:
        patch.setattr(store, "save_idempotent_response", die)
        with pytest.raises(RuntimeError, match="killed after storing"):
            client.post(url, content=body, headers=key)
    assert len(store.readings()) == 4  # stored, but the client never heard

    retry = client.post(url, content=body, headers=key)
    other = client.post(url, content=body, headers={"Idempotency-Key": "another-request"})

    assert (retry.json()["accepted"], retry.json()["duplicates"]) == (4, 0)
    assert (other.json()["accepted"], other.json()["duplicates"]) == (0, 4)
    assert len(store.readings()) == 4


def test_import_refreshes_touched_villages_in_the_background(
    client: TestClient, loaded_store: Store
) -> None:
    response = post_csv(client, csv_rows(3).encode())
    assert response.json()["accepted"] == 3

    deadline = time.monotonic() + 30
    while True:
        village = client.get("/api/v1/villages/ban-giong").json()
        props = village.get("properties") or village["features"][0]["properties"]
        # The verdict is written just before the worker counts the refresh done.
        if props["readings_count"] == 3 and client.get("/healthz").json()["refresh_pending"] == 0:
            break
        assert time.monotonic() < deadline, "verdict not refreshed within 30 s"
        time.sleep(0.1)


def test_cli_ingest_stores_into_the_service_data_dir(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOMSONG_DEVICE_SALT", settings.device_salt)
    path = tmp_path / "readings.csv"
    path.write_text(csv_rows(5) + "not,a,row\n")

    assert main(["ingest", str(path), "--format", "csv"]) == 0
    first = capsys.readouterr().out
    assert main(["ingest", str(path)]) == 0
    second = capsys.readouterr().out

    assert "accepted           5" in first and "rejected           1" in first
    assert "accepted           0" in second and "duplicates         5" in second
    store = Store(settings.database, device_salt=settings.device_salt)
    assert len(store.readings()) == 5
    store.close()
