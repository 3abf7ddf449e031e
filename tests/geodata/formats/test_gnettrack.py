"""G-NetTrack Pro drive logs: local time, sentinels, 5G NSA rows, no-service rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from geodata.errors import InvalidInputError, MissingColumnError
from geodata.formats import read_readings
from tests.geodata.formats.helpers import as_tuples, gather, stream, validated

SAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "samples"
SAMPLE = SAMPLES / "ucc5g_gnettrack_driving_B_2020.02.27_20.35.57.csv"

HEADER = (
    "Timestamp,Longitude,Latitude,Speed,Operatorname,CellID,NetworkMode,RSRP,RSRQ,SNR,CQI,RSSI,"
    "DL_bitrate,UL_bitrate,State,PINGAVG,PINGMIN,PINGMAX,PINGSTDEV,PINGLOSS,CELLHEX,NODEHEX,"
    "LACHEX,RAWCELLID,NRxRSRP,NRxRSRQ\n"
)
TAIL = ",0,0,D,-,-,-,-,-,C,A709,9CBA,10946828"
LTE = "2026.01.10_10.00.00,105.49,22.57,30,B,12,LTE,-101,-12,4.0,10,-80" + TAIL + ",-,-\n"
NR = (
    "2026.01.10_10.00.01,105.49,22.57,30,B,12,5G,-95,-11,6.0,12,-75"
    + TAIL
    + ",-98.0,2147483647.0\n"
)
HSPA = "2026.01.10_10.00.02,105.49,22.57,30,B,10505,HSPA+,-85,-,-,-,-" + TAIL + ",-51.0,-\n"
EDGE = "2026.01.10_10.00.03,105.49,22.57,30,B,77,EDGE,-90,-,-,-,-" + TAIL + ",-,-\n"
NOSVC = "2026.01.10_10.00.04,105.49,22.57,30,B,-,-,-,-,-,-,-" + TAIL + ",-,-\n"
KW = {"tz": "Asia/Ho_Chi_Minh", "mcc": 452, "mnc": 4}


def test_each_network_mode_maps_to_its_radio_and_signal() -> None:
    text = HEADER + LTE + NR + HSPA + EDGE + NOSVC
    readings, rejected, _ = gather(read_readings(stream(text), format="gnettrack", **KW))
    assert rejected == []
    assert list(readings.index) == [2, 3, 3, 4, 5, 6]
    assert readings["radio"].tolist() == ["lte", "nr", "lte", "umts", "gsm", "lte"]
    assert readings["signal_dbm"].tolist()[:5] == [-101.0, -98.0, -95.0, -85.0, -90.0]
    assert readings["no_service"].tolist() == [False] * 5 + [True]
    nr = readings.iloc[1]
    assert pd.isna(nr["rsrq_db"])  # NRxRSRQ sentinel 2147483647 dropped
    assert nr["cell_id"] == 10946828 and nr["area_code"] == 0x9CBA  # the LTE anchor's ids
    assert readings.iloc[2]["rsrq_db"] == -11.0 and readings.iloc[2]["sinr_db"] == 6.0
    # Local time UTC+7 -> UTC.
    assert readings["time"].iloc[0] == pd.Timestamp("2026-01-10T03:00:00Z")
    result, _ = validated(read_readings(stream(text), format="gnettrack", **KW))
    assert result.rejected == [] and len(result.valid) == 6


def test_bad_rows_are_rejected_with_line_field_and_reason() -> None:
    text = (
        HEADER
        + LTE.replace("2026.01.10_10.00.00", "10/01/2026")  # 2
        + LTE.replace("-101", "-200")  # 3: sentinel RSRP -> no signal
        + LTE.replace("LTE", "WIMAX")  # 4
        + LTE.replace("105.49,22.57", "0,0")  # 5
        + NOSVC.replace(",-,-,-,-,-,-" + TAIL, ",-,-,-,-,-,-110" + TAIL)  # 6
        + LTE.replace("9CBA", "XYZ")  # 7
        + NR.replace("-98.0", "-")  # 8: no NR signal, the LTE anchor still counts
        + LTE  # 9
    )
    readings, rejected, _ = gather(read_readings(stream(text), format="gnettrack", **KW))
    assert as_tuples(rejected) == [
        (2, "time", "not a G-NetTrack timestamp (YYYY.MM.DD_HH.MM.SS)"),
        (3, "signal_dbm", "no signal level in the row (RSRP/RSSI)"),
        (4, "radio", "unknown NetworkMode (expected LTE, 5G, HSPA+/UMTS or EDGE/GSM)"),
        (5, "lat", "position (0, 0): no GPS fix"),
        (6, "radio", "NetworkMode names no service but the row has a signal"),
        (7, "area_code", "LACHEX is not hexadecimal"),
        (8, "signal_dbm", "no NRxRSRP in a 5G row"),
    ]
    assert list(readings.index) == [8, 9]
    assert readings["radio"].tolist() == ["lte", "lte"]


def test_streaming_in_chunks_of_two_keeps_line_numbers() -> None:
    text = HEADER + LTE + NR + HSPA + LTE.replace("LTE", "?") + EDGE + NOSVC + LTE
    chunks = list(read_readings(stream(text), format="gnettrack", chunk_rows=2, **KW))
    assert len(chunks) == 4
    readings, rejected, _ = gather(chunks)
    assert list(readings.index) == [2, 3, 3, 4, 6, 7, 8]
    assert [r.index for r in rejected] == [5]


def test_operator_codes_are_required_somewhere() -> None:
    readings, rejected, _ = gather(
        read_readings(stream(HEADER + LTE), format="gnettrack", tz="Asia/Ho_Chi_Minh", mnc=4)
    )
    assert as_tuples(rejected) == [
        (
            2,
            "mcc",
            "the log carries no MCC and its Operatorname names no one network: pass mcc= for it",
        )
    ]
    with_codes = HEADER.replace("\n", ",MCC,MNC\n") + LTE.replace("\n", ",452,2\n")
    readings, rejected, _ = gather(
        read_readings(stream(with_codes), format="gnettrack", tz="Asia/Ho_Chi_Minh")
    )
    assert rejected == [] and (readings["mcc"].iloc[0], readings["mnc"].iloc[0]) == (452, 2)


def test_time_zone_is_required_and_checked() -> None:
    with pytest.raises(InvalidInputError, match="the tz parameter is required"):
        read_readings(stream(HEADER + LTE), format="gnettrack")
    with pytest.raises(InvalidInputError, match="unknown time zone 'Mars/Olympus'"):
        read_readings(stream(HEADER + LTE), format="gnettrack", tz="Mars/Olympus")


def test_dst_gap_is_rejected() -> None:
    row = LTE.replace("2026.01.10_10.00.00", "2026.03.29_01.30.00")  # Dublin springs forward
    _, rejected, _ = gather(
        read_readings(stream(HEADER + row), format="gnettrack", tz="Europe/Dublin", mcc=272, mnc=1)
    )
    assert as_tuples(rejected) == [
        (2, "time", "local time does not exist or is ambiguous in Europe/Dublin")
    ]


def test_missing_header_column() -> None:
    with pytest.raises(MissingColumnError, match="lacks required column"):
        list(read_readings(stream(LTE), format="gnettrack", **KW))


def test_real_drive_log() -> None:
    if not SAMPLE.exists():
        pytest.skip(f"sample G-NetTrack log not found at {SAMPLE}")
    readings, rejected, _ = gather(
        read_readings(
            SAMPLE, format="gnettrack", tz="Europe/Dublin", mcc=272, mnc=1, chunk_rows=100
        )
    )
    lines = set(readings.index) | {r.index for r in rejected}
    assert lines == set(range(2, 860))  # 858 rows, every one accounted for
    assert Counter(readings["radio"]) == {"umts": 531, "lte": 3 + 324, "nr": 316}
    assert Counter(r.reason for r in rejected) == {"no NRxRSRP in a 5G row": 8}
    nr = readings[readings["radio"] == "nr"]
    assert nr["rsrq_db"].notna().sum() < len(nr)  # the 2147483647 sentinel is gone
    assert nr["rsrq_db"].max() < 0
    result, _ = validated(
        read_readings(SAMPLE, format="gnettrack", tz="Europe/Dublin", mcc=272, mnc=1)
    )
    assert result.rejected == [] and len(result.valid) == len(readings)
    assert result.valid["time"].min() == pd.Timestamp("2020-02-27T20:35:57Z")  # GMT in February
