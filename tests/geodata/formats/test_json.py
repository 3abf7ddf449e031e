"""Native JSON readings: a list (or {"readings": [...]}), decoded item by item."""

from __future__ import annotations

import io
import json

import pytest

from geodata.errors import BadEncodingError, BadJSONError
from geodata.formats import read_readings
from tests.geodata.formats.helpers import as_tuples, gather, validated


def reading(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "time": "2026-01-10T03:04:05Z",
        "lat": 22.57,
        "lon": 105.49,
        "accuracy_m": 12.0,
        "mcc": 452,
        "mnc": "04",
        "radio": "LTE",
        "signal_dbm": -101,
        "no_service": False,
        "cell_id": 2147483647,
        "device": "phone-1",
        "extra": {"ignored": True},
    }
    row.update(overrides)
    return row


def body(payload: object) -> io.BytesIO:
    return io.BytesIO(json.dumps(payload).encode())


def test_list_and_wrapped_object_give_the_same_readings() -> None:
    items = [reading(), reading(no_service=True, signal_dbm=None, radio="nr")]
    for payload in (items, {"source": "x", "readings": items, "after": [1, {"a": 2}]}):
        result, rejected = validated(read_readings(body(payload), format="json"))
        assert rejected == [] and result.rejected == []
        assert result.valid["no_service"].tolist() == [False, True]
        assert result.valid["radio"].tolist() == ["lte", "nr"]
        assert result.valid["mnc"].tolist() == [4, 4]
        assert result.valid["cell_id"].isna().all()  # Android's "unavailable"


def test_bad_items_are_rejected_by_position() -> None:
    items = [
        reading(),
        "not an object",
        reading(lat=[22.5, 22.6]),
        reading(time=1767236400),
        reading(no_service="maybe"),
        reading(lat=True),
        reading(mcc=10**30),
    ]
    chunks = list(read_readings(body(items), format="json", chunk_rows=2))
    assert len(chunks) == 4
    readings, rejected, _ = gather(read_readings(body(items), format="json", chunk_rows=2))
    assert list(readings.index) == [1, 4, 5, 6, 7]
    assert as_tuples(rejected) == [
        (2, "item", "not a JSON object"),
        (3, "lat", "a JSON list ([22.5, 22.6]), expected a single value"),
    ]
    result, _ = validated(read_readings(body(items), format="json", chunk_rows=2))
    assert as_tuples(result.rejected) == [
        (4, "time", "not an ISO 8601 timestamp"),
        (5, "no_service", "not true or false"),
        (6, "lat", "not a number"),
        (7, "mcc", "outside 1..999"),
    ]


def test_items_split_across_read_buffers() -> None:
    items = [reading(device="d" * 5000, lat=22.5 + i / 1e4) for i in range(40)]
    readings, _, _ = gather(read_readings(body(items), format="json", chunk_rows=7))
    assert list(readings.index) == list(range(1, 41))
    assert readings["lat"].tolist() == [22.5 + i / 1e4 for i in range(40)]


def test_empty_list() -> None:
    readings, rejected, _ = gather(read_readings(io.BytesIO(b" [ ] "), format="json"))
    assert len(readings) == 0 and rejected == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "expected a JSON list or an object with a 'readings' list"),
        (b'{"items": []}', "the object has no 'readings' list"),
        (b"42", "expected a JSON list"),
        (b'[{"lat": 1}', "not valid JSON at character 11: expected one of , ]"),
        (b'[{"lat": }]', "not valid JSON at character 1: Expecting value"),
        (b"[1] [2]", "extra data after the top-level value"),
    ],
)
def test_malformed_json_raises_bad_json(data: bytes, message: str) -> None:
    with pytest.raises(BadJSONError, match=message):
        list(read_readings(io.BytesIO(data), format="json"))


def test_undecodable_bytes() -> None:
    with pytest.raises(BadEncodingError, match="not UTF-8"):
        list(read_readings(io.BytesIO(b'[{"device": "\xff"}]'), format="json"))


def test_caller_stream_is_not_closed() -> None:
    source = body([reading()])
    list(read_readings(source, format="json"))
    assert not source.closed


def test_the_third_object_and_the_third_data_row_are_named_from_1() -> None:
    # One convention (issue 12): JSON items count from 1, CSV lines too (header = line 1).
    items = [reading(), reading(lat=22.58), reading(lat=95.0), reading(lat=22.59)]
    result, _ = validated(read_readings(body(items), format="json"))
    assert as_tuples(result.rejected) == [(3, "lat", "outside -90..90")]
    assert sorted(result.valid["lat"].tolist()) == [22.57, 22.58, 22.59]
    columns = ["time", "lat", "lon", "mcc", "mnc", "radio", "signal_dbm", "no_service"]
    lines = [",".join(columns)] + [
        f"2026-01-10T03:04:05Z,{lat},105.49,452,4,lte,-101,false" for lat in (22.57, 22.58, 95.0)
    ]
    csv = io.BytesIO("\n".join(lines).encode())
    result, _ = validated(read_readings(csv, format="csv"))
    assert as_tuples(result.rejected) == [(4, "lat", "outside -90..90")]
    assert sorted(result.valid["lat"].tolist()) == [22.57, 22.58]
