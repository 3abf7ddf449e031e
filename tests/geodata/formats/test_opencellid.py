"""OpenCelliD measurement CSV: header-matched, ASU or dBm, ISO or epoch times."""

from __future__ import annotations

import pandas as pd
import pytest

from geodata.errors import MissingColumnError
from geodata.formats import read_readings
from tests.geodata.formats.helpers import as_tuples, gather, stream, validated

HEADER = "mcc,mnc,lac,cellid,lon,lat,signal,measured_at,rating,speed,direction,act,ta,psc,tac,pci\n"


def row(signal: str = "-101", act: str = "LTE", at: str = "2026-01-10T03:04:05Z") -> str:
    return f"452,4,1201,25601,105.49,22.57,{signal},{at},15,0,,{act},,,3101,77\n"


@pytest.mark.parametrize(
    ("signal", "act", "dbm"),
    [
        ("-101", "LTE", -101.0),  # negative: dBm
        ("30", "LTE", -110.0),  # ASU − 140
        ("40", "NR", -100.0),
        ("20", "GSM", -73.0),  # 2·ASU − 113
        ("30", "UMTS", -90.0),  # ASU − 120
        ("25", "HSPA+", -95.0),
        ("-75", "GSM", -75.0),
    ],
)
def test_signal_is_resolved_by_sign_and_radio(signal: str, act: str, dbm: float) -> None:
    readings, rejected, _ = gather(
        read_readings(stream(HEADER + row(signal, act)), format="opencellid")
    )
    assert rejected == []
    assert readings["signal_dbm"].tolist() == [dbm]


def test_mapping_of_a_good_row() -> None:
    result, rejected = validated(read_readings(stream(HEADER + row()), format="opencellid"))
    assert rejected == [] and result.rejected == []
    valid = result.valid.iloc[0]
    assert (valid["radio"], valid["area_code"], valid["pci"], valid["accuracy_m"]) == (
        "lte",
        3101,
        77,
        15.0,
    )
    assert bool(valid["no_service"]) is False
    assert valid["source"] == "opencellid"


@pytest.mark.parametrize(
    "at", ["2026-01-10T03:04:05Z", "2026-01-10 03:04:05", "1768014245", "1768014245000"]
)
def test_measured_at_is_iso_or_epoch(at: str) -> None:
    readings, _, _ = gather(read_readings(stream(HEADER + row(at=at)), format="opencellid"))
    assert readings["time"].tolist() == [pd.Timestamp("2026-01-10T03:04:05Z")]


def test_bad_rows_are_rejected_with_line_field_and_reason() -> None:
    text = (
        HEADER
        + row()  # 2
        + row(signal="99", act="GSM")  # 3
        + row(signal="45", act="GSM")  # 4
        + row(signal="")  # 5
        + row(act="CDMA")  # 6
        + row(act="")  # 7
        + row(at="last tuesday")  # 8
        + row(signal="strong")  # 9
        + row().replace("22.57", "122.57")  # 10: left to validation
    )
    chunks = list(read_readings(stream(text), format="opencellid", chunk_rows=2))
    readings, rejected, _ = gather(chunks)
    assert as_tuples(rejected) == [
        (3, "signal_dbm", "signal is ASU 'unknown' (99/255)"),
        (4, "signal_dbm", "positive signal outside the radio's ASU range"),
        (5, "signal_dbm", "signal is empty"),
        (6, "radio", "act is not GSM, UMTS, LTE or NR"),
        (7, "radio", "act is empty"),
        (8, "time", "measured_at is neither ISO 8601 nor epoch seconds/ms"),
        (9, "signal_dbm", "signal is not a number"),
    ]
    assert list(readings.index) == [2, 10]
    result, _ = validated(read_readings(stream(text), format="opencellid", chunk_rows=2))
    assert as_tuples(result.rejected) == [(10, "lat", "outside -90..90")]


def test_sentinels_and_header_order() -> None:
    shuffled = "act,signal,measured_at,lat,lon,mnc,mcc,cellid,lac,extra\n"
    line = "UMTS,-90,2026-01-10T03:04:05Z,22.57,105.49,04,452,2147483647,2147483647,x\n"
    result, rejected = validated(read_readings(stream(shuffled + line), format="opencellid"))
    assert rejected == [] and result.rejected == []
    assert result.valid["cell_id"].isna().all() and result.valid["area_code"].isna().all()


def test_header_must_name_the_columns() -> None:
    with pytest.raises(MissingColumnError, match=r"lacks required column.*act"):
        list(read_readings(stream("mcc,mnc,lon,lat,signal,measured_at\n"), format="opencellid"))
