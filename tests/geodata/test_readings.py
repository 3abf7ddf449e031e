"""Contract of geodata.readings: normalisation, per-row rejection, content keys."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pandas as pd
import pytest

from geodata.errors import MissingColumnError
from geodata.formats import read_readings
from geodata.readings import READING_COLUMNS, hash_devices, read_readings_csv, validate_readings

NOW = pd.Timestamp("2026-03-01T00:00:00Z")


def good_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "time": "2026-01-10T03:04:05Z",
        "lat": 22.57,
        "lon": 105.49,
        "accuracy_m": 12.0,
        "mcc": 452,
        "mnc": 2,
        "radio": "lte",
        "signal_dbm": -101.0,
        "no_service": False,
        "cell_id": 12345,
        "area_code": 1201,
        "pci": 77,
        "device": "phone-1",
        "source": "test",
    }
    row.update(overrides)
    return row


def test_valid_rows_come_back_canonical() -> None:
    batch = pd.DataFrame(
        [
            good_row(),
            good_row(radio="WCDMA", signal_dbm=-90, pci=None),
            good_row(no_service="true", signal_dbm=None),
        ]
    )
    result = validate_readings(batch, now=NOW)
    assert result.rejected == []
    assert list(result.valid["radio"]) == ["lte", "umts", "lte"]
    assert list(result.valid["no_service"]) == [False, False, True]
    assert set(READING_COLUMNS) <= set(result.valid.columns)
    assert str(result.valid["time"].dt.tz) == "UTC"
    assert result.valid["content_key"].is_unique


@pytest.mark.parametrize(
    ("override", "field", "reason"),
    [
        ({"lat": 95.0}, "lat", "outside -90..90"),
        ({"lon": -181.0}, "lon", "outside -180..180"),
        ({"radio": "wimax"}, "radio", "unknown radio, expected one of gsm, umts, lte, nr"),
        ({"signal_dbm": -20.0}, "signal_dbm", "outside -140..-43 dBm for lte"),
        ({"radio": "gsm", "signal_dbm": -120.0}, "signal_dbm", "outside -113..-51 dBm for gsm"),
        ({"time": "2026-12-01T00:00:00Z"}, "time", "in the future"),
        ({"time": "2010-01-01T00:00:00Z"}, "time", "before 2016-01-01"),
        ({"time": "yesterday"}, "time", "not an ISO 8601 timestamp"),
        ({"mcc": None}, "mcc", "required field is missing"),
        ({"signal_dbm": None}, "signal_dbm", "required when no_service is false"),
        ({"no_service": "maybe"}, "no_service", "not true or false"),
        ({"accuracy_m": 5000}, "accuracy_m", "worse than 1000 m"),
        ({"pci": 900}, "pci", "outside 0..503 (LTE) / 0..1007 (NR)"),
    ],
)
def test_bad_row_is_rejected_with_index_field_and_reason(
    override: dict[str, object], field: str, reason: str
) -> None:
    batch = pd.DataFrame([good_row(), good_row(**override), good_row(lat=22.58)])
    result = validate_readings(batch, now=NOW)
    assert [r.as_dict() for r in result.rejected] == [
        {"index": 1, "field": field, "reason": f"{field}: {reason}"}
    ]
    assert len(result.valid) == 2
    assert result.rejected_by_reason == {f"{field}: {reason}": 1}


def test_android_unavailable_sentinels_mean_unknown() -> None:
    batch = pd.DataFrame([good_row(cell_id=2147483647, area_code=2147483647)])
    result = validate_readings(batch, now=NOW)
    assert result.rejected == []
    assert result.valid["cell_id"].isna().all()
    assert result.valid["area_code"].isna().all()


def test_missing_required_column_fails_the_table() -> None:
    with pytest.raises(MissingColumnError, match="missing required column"):
        validate_readings(pd.DataFrame([{"lat": 1.0}]), now=NOW)


def test_content_key_is_stable_across_uploads() -> None:
    first = validate_readings(pd.DataFrame([good_row()]), now=NOW).valid["content_key"]
    again = validate_readings(pd.DataFrame([good_row()]), now=NOW).valid["content_key"]
    other = validate_readings(pd.DataFrame([good_row(signal_dbm=-102)]), now=NOW).valid
    assert first.iloc[0] == again.iloc[0]
    assert other["content_key"].iloc[0] != first.iloc[0]


# Keys already stored must keep matching re-uploads: a change to how keys are
# computed would let every old reading in twice. Pinned on JSON and CSV input.
PINNED_CSV = (
    b"time,lat,lon,mcc,mnc,radio,signal_dbm,no_service,device,cell_id\n"
    b"2026-01-05T03:00:00Z,22.57,105.49,452,2,LTE,-101,false,phone-1,12345\n"
    b"2026-01-05T03:00:01.250+07:00,22.5712345,105.4912345,452,4,umts,,true,,\n"
)
PINNED_KEYS = [-934545887625101283, -7289648651103510533]


def test_content_keys_match_those_stored_by_earlier_versions() -> None:
    rows = [
        {
            "time": "2026-01-05T03:00:00Z",
            "lat": 22.57,
            "lon": 105.49,
            "mcc": 452,
            "mnc": 2,
            "radio": "LTE",
            "signal_dbm": -101,
            "no_service": False,
            "device": "phone-1",
            "cell_id": 12345,
        },
        {
            "time": "2026-01-05T03:00:01.250+07:00",
            "lat": 22.5712345,
            "lon": 105.4912345,
            "mcc": 452,
            "mnc": 4,
            "radio": "umts",
            "signal_dbm": None,
            "no_service": True,
            "device": None,
        },
    ]
    from_json = validate_readings(pd.DataFrame(rows), now=NOW).valid
    chunk = next(read_readings(io.BytesIO(PINNED_CSV), format="csv"))
    from_csv = validate_readings(chunk.readings, now=NOW).valid
    assert from_json["content_key"].tolist() == PINNED_KEYS
    assert from_csv["content_key"].tolist() == PINNED_KEYS


def test_device_hash_is_salted_and_never_raw() -> None:
    devices = pd.Series(["phone-1", "phone-2", "phone-1", None], dtype="string")
    hashed = hash_devices(devices, salt="s1")
    assert hashed.iloc[0] == hashed.iloc[2] != hashed.iloc[1]
    assert "phone" not in "".join(hashed.dropna())
    assert pd.isna(hashed.iloc[3])
    assert hash_devices(devices, salt="s2").iloc[0] != hashed.iloc[0]


def test_nr_cell_ids_may_use_36_bits_the_others_28() -> None:
    batch = pd.DataFrame(
        [
            good_row(radio="nr", cell_id=2**36 - 1, pci=None),
            good_row(radio="nr", cell_id=2**36, pci=None),
            good_row(radio="lte", cell_id=2**28),
        ]
    )

    result = validate_readings(batch, now=NOW)

    assert result.valid["cell_id"].tolist() == [2**36 - 1]
    assert [(r.index, r.field, r.reason) for r in result.rejected] == [
        (1, "cell_id", "outside 1..268435455 (NR: ..68719476735)"),
        (2, "cell_id", "outside 1..268435455 (NR: ..68719476735)"),
    ]


def test_the_csv_wrapper_leaves_refused_lines_out_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "readings.csv"
    path.write_text(
        "time,lat,lon,mcc,mnc,radio,signal_dbm,no_service\n"
        "2026-01-05T03:00:00Z,22.57,105.49,452,4,lte,-101,false\n"
        "2026-01-05T03:01:00Z,22.57,105.49,452,4,lte,-101,false,extra\n"
        "2026-01-05T03:02:00Z,22.58,105.49,452,4,lte,,true\n"
    )

    with caplog.at_level(logging.WARNING, logger="geodata.readings"):
        raw = read_readings_csv(path)

    assert list(raw.index) == [0, 1] and raw["time"].tolist()[1] == "2026-01-05T03:02:00Z"
    assert len(validate_readings(raw).valid) == 2
    assert caplog.messages == [f"{path}: 1 lines refused: {{'line: expected 8 fields, saw 9': 1}}"]


# --- known networks and their countries ---------------------------------------


def test_phantom_mnc_is_refused_naming_the_value() -> None:
    batch = pd.DataFrame(
        [good_row(), good_row(mnc=99), good_row(mnc=99, lat=22.6), good_row(mnc=9)]
    )

    result = validate_readings(batch, now=NOW)

    assert [(r.index, r.field, r.reason) for r in result.rejected] == [
        (1, "mnc", "99 is not a known network of MCC 452"),
        (2, "mnc", "99 is not a known network of MCC 452"),
    ]
    assert result.rejected_by_reason == {"mnc: 99 is not a known network of MCC 452": 2}
    # 452-09 (REDDI) is in the ITU/ichnaea list: a real network, kept.
    assert result.valid["mnc"].tolist() == [2, 9]


def test_mcc_without_any_network_is_refused_on_mcc() -> None:
    batch = pd.DataFrame([good_row(mcc=998, mnc=1)])

    result = validate_readings(batch, now=NOW)

    assert [(r.index, r.field, r.reason) for r in result.rejected] == [
        (0, "mcc", "998 has no known network")
    ]


def test_many_distinct_phantoms_share_one_reason_past_the_named_ones() -> None:
    batch = pd.DataFrame(
        [good_row(mnc=m, time=f"2026-01-10T03:{m % 60:02d}:05Z") for m in range(100, 160)]
    )

    result = validate_readings(batch, now=NOW)

    assert len(result.rejected) == 60
    assert len(result.rejected_by_reason) == 21
    assert result.rejected_by_reason["mnc: not a known network of its MCC"] == 40


def test_reading_outside_its_mcc_country_is_refused() -> None:
    """The Irish drive log tagged 452/4: Cork is 9,000 km from Vietnam."""
    batch = pd.DataFrame(
        [
            good_row(mcc=452, mnc=4, lat=51.89, lon=-8.47),  # Cork, tagged Vietnamese
            good_row(mcc=272, mnc=2, lat=51.89, lon=-8.47),  # Cork, Irish: no polygon shipped
            good_row(mcc=452, mnc=4, lat=21.03, lon=105.85),  # Hà Nội
            good_row(mcc=452, mnc=4, lat=22.9, lon=106.7),  # 0.2° into China: inside the buffer
        ]
    )

    result = validate_readings(batch, now=NOW)

    reason = "452 is Vietnam's (VN); the position lies outside it"
    assert [(r.index, r.field, r.reason) for r in result.rejected] == [(0, "mcc", reason)]
    assert result.valid.index.tolist() == [1, 2, 3]
