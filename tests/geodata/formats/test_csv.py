"""Native readings CSV: line numbers, bad lines, explicit no-service rows, streaming."""

from __future__ import annotations

import io

import pytest

from geodata.errors import (
    BadEncodingError,
    InvalidInputError,
    MissingColumnError,
    UnsupportedFormatError,
)
from geodata.formats import FORMATS, read_readings
from tests.geodata.formats.helpers import as_tuples, gather, stream, validated

HEADER = "time,lat,lon,accuracy_m,mcc,mnc,radio,signal_dbm,no_service,cell_id,device\n"
GOOD = "2026-01-10T03:04:05Z,22.57,105.49,12,452,04,LTE,-101,false,12345,phone-1\n"
NO_SERVICE = "2026-01-10T03:05:05Z,22.58,105.49,12,452,2,lte,,true,,phone-1\n"


def test_good_rows_keep_their_line_numbers_and_validate() -> None:
    readings, rejected, ignored = gather(
        read_readings(stream(HEADER + GOOD + NO_SERVICE), format="csv")
    )
    assert list(readings.index) == [2, 3]
    assert rejected == [] and ignored == 0
    result, _ = validated(read_readings(stream(HEADER + GOOD + NO_SERVICE), format="csv"))
    assert result.rejected == []
    assert result.valid["no_service"].tolist() == [False, True]
    assert result.valid["signal_dbm"].isna().tolist() == [False, True]
    assert result.valid["mnc"].tolist() == [4, 2]


def test_bad_rows_are_rejected_by_line_with_field_and_reason() -> None:
    text = (
        HEADER
        + GOOD
        + "\n"  # line 3: blank, ignored
        + GOOD.replace("22.57", "95")  # line 4
        + GOOD.rstrip("\n")
        + ",extra\n"  # line 5: one field too many
        + GOOD.replace("-101", "")  # line 6
        + "yesterday"
        + GOOD[20:]  # line 7
        + GOOD  # line 8
    )
    chunks = list(read_readings(stream(text), format="csv"))
    _, parser_rejected, ignored = gather(chunks)
    assert ignored == 1
    assert as_tuples(parser_rejected) == [(5, "line", "expected 11 fields, saw 12")]
    result, _ = validated(read_readings(stream(text), format="csv"))
    assert as_tuples(result.rejected) == [
        (4, "lat", "outside -90..90"),
        (6, "signal_dbm", "required when no_service is false"),
        (7, "time", "not an ISO 8601 timestamp"),
    ]
    assert len(result.valid) == 2


@pytest.mark.parametrize("chunk_rows", [1, 100])
def test_overlong_lines_first_and_last_are_refused_not_shifted(chunk_rows: int) -> None:
    """Found in review: an overlong first line used to become the index, shifting
    every column; an overlong last line was dropped without a rejection."""
    overlong = GOOD.rstrip("\n") + ",extra\n"
    text = HEADER + overlong + overlong + GOOD + GOOD.replace("03:04", "03:09") + overlong

    readings, parser_rejected, _ = gather(
        read_readings(stream(text), format="csv", chunk_rows=chunk_rows)
    )

    assert as_tuples(parser_rejected) == [
        (2, "line", "expected 11 fields, saw 12"),
        (3, "line", "expected 11 fields, saw 12"),
        (6, "line", "expected 11 fields, saw 12"),
    ]
    assert list(readings.index) == [4, 5]
    assert readings["lat"].tolist() == [22.57, 22.57]
    assert readings["device"].tolist() == ["phone-1", "phone-1"]


def test_streaming_in_chunks_of_two_keeps_line_numbers() -> None:
    bad_line = GOOD.rstrip("\n") + ",x\n"
    text = HEADER + GOOD + bad_line + GOOD + "\n" + GOOD + GOOD.replace("LTE", "wimax") + GOOD
    chunks = list(read_readings(stream(text), format="csv", chunk_rows=2))
    assert len(chunks) > 2
    readings, rejected, ignored = gather(chunks)
    assert list(readings.index) == [2, 4, 6, 7, 8]
    assert as_tuples(rejected) == [(3, "line", "expected 11 fields, saw 12")]
    assert ignored == 1
    result, _ = validated(read_readings(stream(text), format="csv", chunk_rows=2))
    assert as_tuples(result.rejected) == [
        (7, "radio", "unknown radio, expected one of gsm, umts, lte, nr")
    ]


def test_android_sentinels_mean_unknown() -> None:
    row = GOOD.replace("12345", "2147483647")
    result, _ = validated(read_readings(stream(HEADER + row), format="csv"))
    assert result.rejected == []
    assert result.valid["cell_id"].isna().all()


def test_crlf_and_bom_are_read(tmp_path: pytest.TempPathFactory) -> None:
    text = "\ufeff" + (HEADER + GOOD + NO_SERVICE).replace("\n", "\r\n")
    readings, rejected, _ = gather(read_readings(stream(text), format="csv"))
    assert list(readings.index) == [2, 3] and rejected == []
    assert readings["device"].tolist() == ["phone-1", "phone-1"]


def test_a_path_is_read(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "readings.csv"
    path.write_text(HEADER + GOOD)
    readings, _, _ = gather(read_readings(path, format="csv"))
    assert list(readings.index) == [2]
    readings, _, _ = gather(read_readings(str(path), format="csv"))
    assert len(readings) == 1


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", InvalidInputError, "csv: the file is empty"),
        (GOOD.encode(), MissingColumnError, "the header line lacks required column"),
        ((HEADER + GOOD).encode() + b"\xff\xfe\n", BadEncodingError, "not UTF-8"),
    ],
)
def test_whole_file_problems_raise_clear_errors(
    data: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        list(read_readings(io.BytesIO(data), format="csv"))


def test_unknown_format_and_bad_chunk_size() -> None:
    assert FORMATS == ("csv", "json", "gnettrack", "opencellid", "geosubmit", "geojson", "xlsx")
    with pytest.raises(UnsupportedFormatError, match="unknown readings format 'ods'"):
        read_readings(stream(HEADER), format="ods")
    with pytest.raises(InvalidInputError, match="chunk_rows must be at least 1"):
        read_readings(stream(HEADER), format="csv", chunk_rows=0)


def test_header_only_file_gives_no_readings() -> None:
    readings, rejected, _ = gather(read_readings(stream(HEADER), format="csv"))
    assert len(readings) == 0 and rejected == []


def test_missing_path_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="cannot open"):
        list(read_readings("/nonexistent/readings.csv", format="csv"))
