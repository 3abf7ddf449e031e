"""``format="auto"``: a readings file's format told from its first bytes."""

from __future__ import annotations

import io

import pytest

from geodata.errors import UnsupportedFormatError
from geodata.formats import detect_format, read_readings, validate_chunks
from tests.geodata.formats.helpers import NOW

NATIVE_CSV = (
    "time,lat,lon,mcc,mnc,radio,signal_dbm,no_service\n"
    "2026-01-05T03:00:00Z,22.57,105.49,452,4,lte,-101,false\n"
    "2026-01-05T03:01:00Z,95,105.49,452,4,lte,,true\n"
)


@pytest.mark.parametrize(
    ("head", "format"),
    [
        (NATIVE_CSV, "csv"),
        ("\ufefftime,lat,lon,accuracy_m,mcc,mnc,radio,no_service\n", "csv"),
        ("Timestamp,Longitude,Latitude,Speed,Operatorname,NetworkMode,RSRP\n", "gnettrack"),
        ("mcc,mnc,lac,cellid,lon,lat,signal,measured_at,rating,act\n", "opencellid"),
        ('[{"time": "2026-01-05T03:00:00Z"}]', "json"),
        ('  {"readings": [], "items": []}', "json"),
        ('{"items": [{"timestamp": 1}]}', "geosubmit"),
        ('{"source": "tower-collector", "version": 2, "items": []}', "geosubmit"),
    ],
)
def test_formats_are_told_apart(head: str, format: str) -> None:
    source = io.BytesIO(head.encode())
    assert detect_format(source) == format
    assert source.tell() == 0  # rewound for the reader


def test_an_unknown_layout_is_refused_with_the_formats_to_name() -> None:
    with pytest.raises(UnsupportedFormatError, match=r"cannot tell the readings format.*gnettrack"):
        detect_format(io.BytesIO(b"a,b,c\n1,2,3\n"))


def test_auto_reads_like_the_named_format() -> None:
    named = validate_chunks(read_readings(io.BytesIO(NATIVE_CSV.encode()), format="csv"), now=NOW)
    auto = validate_chunks(read_readings(io.BytesIO(NATIVE_CSV.encode()), format="auto"), now=NOW)
    assert auto.valid.equals(named.valid)
    assert auto.rejected == named.rejected == named.rejected[:1]
    assert [(r.index, r.field) for r in auto.rejected] == [(3, "lat")]
