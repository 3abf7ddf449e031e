"""geosubmit v2: one reading per cell tower, real clients' quirks, explicit no-service."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from geodata.errors import BadJSONError, InvalidInputError
from geodata.formats import detect_format, parse_geosubmit, read_readings, validate_chunks
from geodata.readings import validate_readings
from tests.geodata.formats.helpers import NOW, as_tuples

T0 = 1767236400000  # 2026-01-01T03:00:00Z in ms


def item(*towers: dict[str, object], **overrides: object) -> dict[str, object]:
    out: dict[str, object] = {
        "timestamp": T0,
        "position": {"latitude": 22.57, "longitude": 105.49, "accuracy": 10.0, "age": 3000},
        "cellTowers": list(towers),
        "wifiAccessPoints": [{"macAddress": "01:23:45:67:89:ab", "signalStrength": -51}],
        "bluetoothBeacons": [{"macAddress": "ff:23:45:67:89:ab"}],
        "someFutureKey": {"ignored": True},
    }
    out.update(overrides)
    return out


def tower(**overrides: object) -> dict[str, object]:
    out: dict[str, object] = {
        "radioType": "lte",
        "mobileCountryCode": 452,
        "mobileNetworkCode": 4,
        "locationAreaCode": 1201,
        "cellId": 25601,
        "primaryScramblingCode": 77,
        "signalStrength": -101,
        "timingAdvance": 3,
        "serving": 1,
        "age": 1500,
    }
    out.update(overrides)
    return out


def test_each_tower_is_a_reading_numbered_by_item() -> None:
    body = {
        "items": [
            item(tower(), tower(radioType="wcdma", primaryScramblingCode=300, signalStrength=-90)),
            item(tower(radioType="nr", signalStrength=None, asu=40, age=None)),
        ]
    }
    chunk = parse_geosubmit(body)
    assert chunk.rejected == [] and chunk.ignored == 0
    assert list(chunk.readings.index) == [1, 1, 2]
    result = validate_readings(chunk.readings, now=NOW)
    assert result.rejected == []
    valid = result.valid
    assert valid["radio"].tolist() == ["lte", "umts", "nr"]
    assert valid["signal_dbm"].tolist() == [-101.0, -90.0, -100.0]  # NR: ASU 40 − 140
    assert valid["time"].tolist() == [
        pd.Timestamp(T0 - 1500, unit="ms", tz="UTC"),
        pd.Timestamp(T0 - 1500, unit="ms", tz="UTC"),
        pd.Timestamp(T0, unit="ms", tz="UTC"),
    ]
    assert valid["pci"].tolist()[0] == 77 and pd.isna(valid["pci"].tolist()[1])  # UMTS PSC
    assert valid["accuracy_m"].tolist() == [10.0] * 3
    assert valid["source"].tolist() == ["geosubmit"] * 3


@pytest.mark.parametrize(
    ("radio", "asu", "dbm"),
    [("gsm", 20, -73.0), ("wcdma", 30, -90.0), ("umts", 30, -90.0), ("lte", 30, -110.0)],
)
def test_asu_is_converted_by_radio(radio: str, asu: int, dbm: float) -> None:
    chunk = parse_geosubmit({"items": [item(tower(radioType=radio, signalStrength=None, asu=asu))]})
    assert chunk.readings["signal_dbm"].tolist() == [dbm]


def test_tower_collector_and_neostumbler_quirks() -> None:
    quirky = tower(
        mobileCountryCode="452",
        mobileNetworkCode="04",
        locationAreaCode=2147483647,
        cellId=9223372036854775807,
        primaryScramblingCode=2147483647,
        age=2147483647,
    )
    result = validate_readings(parse_geosubmit({"items": [item(quirky)]}).readings, now=NOW)
    assert result.rejected == []
    row = result.valid.iloc[0]
    assert (row["mcc"], row["mnc"]) == (452, 4)
    assert pd.isna(row["area_code"]) and pd.isna(row["cell_id"]) and pd.isna(row["pci"])
    assert row["time"] == pd.Timestamp(T0, unit="ms", tz="UTC")  # unknown age -> 0


def test_no_service_extension() -> None:
    silent = {"radioType": "lte", "mobileCountryCode": 452, "mobileNetworkCode": 2}
    body = {"items": [item({**silent, "noService": True}), item({**silent, "noService": "maybe"})]}
    chunk = parse_geosubmit(body)
    assert as_tuples(chunk.rejected) == [(2, "no_service", "noService must be true or false")]
    result = validate_readings(chunk.readings, now=NOW)
    assert result.valid["no_service"].tolist() == [True]
    assert result.valid["signal_dbm"].isna().all()


def test_missing_signal_and_empty_towers_are_not_no_service() -> None:
    silent = {"radioType": "lte", "mobileCountryCode": 452, "mobileNetworkCode": 2}
    body = {"items": [item(silent), item(), item(cellTowers=None), {"position": {}}]}
    chunk = parse_geosubmit(body)
    assert as_tuples(chunk.rejected) == [
        (1, "signal_dbm", "no signal strength (neither signalStrength nor a known asu)")
    ]
    assert len(chunk.readings) == 0
    assert chunk.ignored == 3


def test_bad_items_and_towers_are_rejected_with_field_and_reason() -> None:
    body = {
        "items": [
            item(tower()),  # 0: good
            "junk",  # 1
            item(tower(), cellTowers={"a": 1}),  # 2
            item(tower(), "junk"),  # 3: one good tower, one junk entry
            item(tower(), timestamp=None),  # 4
            item(tower(), timestamp="soon"),  # 5
            item(tower(), position=None),  # 6
            item(tower(signalStrength=None, asu=64, radioType="gsm")),  # 7
            item(tower(mobileCountryCode=[452])),  # 8
            item(tower(), timestamp=10**20),  # 9
            item(tower(radioType="cdma")),  # 10: left to validation
        ]
    }
    chunk = parse_geosubmit(body)
    assert as_tuples(chunk.rejected) == [
        (2, "item", "not a JSON object"),
        (3, "cellTowers", "not a list"),
        (4, "cellTowers", "an entry is not a JSON object"),
        (5, "time", "the item has no timestamp"),
        (6, "time", "timestamp is not a number (ms since the epoch)"),
        (7, "lat", "the item has no position"),
        (8, "signal_dbm", "asu outside the radio's ASU range"),
        (9, "mcc", "mobileCountryCode is not a number"),
        (10, "time", "timestamp minus age is not a plausible time"),
    ]
    assert list(chunk.readings.index) == [1, 4, 11]
    result = validate_readings(chunk.readings, now=NOW)
    assert as_tuples(result.rejected) == [
        (11, "radio", "unknown radio, expected one of gsm, umts, lte, nr")
    ]


def test_received_at_stands_in_for_a_missing_timestamp() -> None:
    received = pd.Timestamp("2026-02-01T00:00:00Z")
    chunk = parse_geosubmit({"items": [item(tower(age=0), timestamp=None)]}, received_at=received)
    assert chunk.rejected == []
    assert chunk.readings["time"].tolist() == [received]


@pytest.mark.parametrize("payload", [[], {"items": {}}, {"item": []}, None, "x"])
def test_wrong_shape_raises(payload: object) -> None:
    with pytest.raises(BadJSONError, match="an 'items' list") as caught:
        parse_geosubmit(payload)
    assert isinstance(caught.value, InvalidInputError)


def test_empty_items() -> None:
    chunk = parse_geosubmit({"items": []})
    assert len(chunk.readings) == 0 and chunk.rejected == []


def test_a_geosubmit_file_streams_in_chunks_numbered_across_the_file() -> None:
    items = [
        item(tower()),
        "not an object",
        item(tower(), timestamp=None),
        item(),  # no towers: ignored
        item(tower(), tower(radioType="nr", signalStrength=None, asu=40)),
    ]
    data = json.dumps({"items": items}).encode()
    assert detect_format(io.BytesIO(data)) == "geosubmit"
    chunks = list(read_readings(io.BytesIO(data), format="auto", chunk_rows=2))
    assert [list(c.readings.index) for c in chunks] == [[1], [], [5, 5]]
    assert [as_tuples(c.rejected) for c in chunks] == [
        [(2, "item", "not a JSON object")],
        [(3, "time", "the item has no timestamp")],
        [],
    ]
    assert sum(c.ignored for c in chunks) == 1
    result = validate_chunks(chunks, now=NOW)
    assert result.valid["radio"].tolist() == ["lte", "lte", "nr"]
    assert result.rejected_by_reason == {
        "item: not a JSON object": 1,
        "time: the item has no timestamp": 1,
    }


def test_text_utf8_cannot_hold_is_rejected_with_the_reading_field() -> None:
    body = {
        "items": [
            item(tower(radioType="\ud800")),
            item(tower(), position={"latitude": 22.56, "longitude": 105.49, "x": "a\udfff"}),
            item(tower(cellId=1001)),
        ]
    }

    chunk = parse_geosubmit(body)

    assert as_tuples(chunk.rejected) == [
        (1, "radio", "'\\ud800' is not valid Unicode text (a lone surrogate at character 0)"),
        (2, "x", "'a\\udfff' is not valid Unicode text (a lone surrogate at character 1)"),
    ]
    assert chunk.readings.index.tolist() == [3]
