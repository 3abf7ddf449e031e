"""G-NetTrack's Operatorname names the carrier: MCC/MNC without --mcc/--mnc where unambiguous."""

from __future__ import annotations

import pandas as pd
import pytest

from geodata.formats import read_readings
from geodata.formats.gnettrack import operator_codes
from tests.geodata.formats.helpers import as_tuples, gather, stream

HEADER = "Timestamp,Longitude,Latitude,Operatorname,NetworkMode,RSRP,RSRQ,SNR\n"


def row(operator: str, second: int = 0) -> str:
    return f"2026.01.10_10.00.{second:02d},105.49,22.57,{operator},LTE,-101,-12,4.0\n"


@pytest.mark.parametrize(
    ("name", "mcc", "mnc"),
    [
        ("Viettel", 452, 4),
        ("VIETTEL", 452, 4),
        ("Viettel Mobile", 452, 4),
        ("VN VINAPHONE", 452, 2),
        ("VNPT-VinaPhone", 452, 2),
        ("Vinaphone", 452, 2),
        ("MobiFone", 452, 1),
        ("VN MOBIFONE", 452, 1),
        ("Vietnamobile", 452, 5),
        ("Gmobile", 452, 7),
        ("Wintel", 452, 7),
        ("I-Telecom", 452, 8),
        ("45204", 452, 4),
        ("452 01", 452, 1),
    ],
)
def test_vietnamese_operator_names_give_their_codes(name: str, mcc: int, mnc: int) -> None:
    readings, rejected, _ = gather(
        read_readings(stream(HEADER + row(name)), format="gnettrack", tz="Asia/Ho_Chi_Minh")
    )
    assert rejected == []
    assert readings[["mcc", "mnc"]].to_dict("records") == [{"mcc": mcc, "mnc": mnc}]


@pytest.mark.parametrize("name", ["B", "VN", "Beeline", "Mobile", "-", "", "27201", "Vodafone IE"])
def test_an_unknown_or_ambiguous_name_still_asks_for_the_codes(name: str) -> None:
    readings, rejected, _ = gather(
        read_readings(stream(HEADER + row(name)), format="gnettrack", tz="Asia/Ho_Chi_Minh")
    )
    assert readings.empty
    assert as_tuples(rejected) == [
        (
            2,
            "mcc",
            "the log carries no MCC and its Operatorname names no one network: pass mcc= for it",
        )
    ]
    given = gather(
        read_readings(
            stream(HEADER + row(name)), format="gnettrack", tz="Asia/Ho_Chi_Minh", mcc=452, mnc=5
        )
    )[0]
    assert given[["mcc", "mnc"]].to_dict("records") == [{"mcc": 452, "mnc": 5}]


def test_each_row_keeps_its_own_operator_and_a_clash_with_the_arguments_is_refused() -> None:
    text = HEADER + row("Viettel", 0) + row("MobiFone", 1) + row("B", 2)
    readings, rejected, _ = gather(
        read_readings(stream(text), format="gnettrack", tz="Asia/Ho_Chi_Minh", mcc=452, mnc=4)
    )
    assert readings.loc[[2, 4], "mnc"].tolist() == [4, 4]
    assert as_tuples(rejected) == [
        (3, "mnc", "Operatorname names another network than the mcc=452, mnc=4 given")
    ]


def test_mcc_mnc_columns_win_over_the_name() -> None:
    header = HEADER.replace("\n", ",MCC,MNC\n")
    text = header + row("Viettel").replace("\n", ",452,2\n")
    readings, rejected, _ = gather(
        read_readings(stream(text), format="gnettrack", tz="Asia/Ho_Chi_Minh", mcc=452, mnc=5)
    )
    assert rejected == []
    assert readings[["mcc", "mnc"]].to_dict("records") == [{"mcc": 452, "mnc": 2}]


def test_operator_codes_work_per_distinct_name() -> None:
    mcc, mnc = operator_codes(pd.Series(["Viettel"] * 3 + [None, "x"], index=[5, 6, 7, 8, 9]))
    assert mcc.index.tolist() == [5, 6, 7, 8, 9]
    assert mnc.fillna(-1).tolist() == [4, 4, 4, -1, -1]
