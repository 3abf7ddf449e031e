"""Readings files as field teams have them: Excel's CSVs, spreadsheets, other encodings, GeoJSON."""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from geodata.errors import BadEncodingError, InvalidInputError, UnsupportedFormatError
from geodata.formats import detect_format, read_readings, read_sites, validate_chunks
from tests.geodata.formats.helpers import NOW, as_tuples
from tests.geodata.formats.spreadsheets import xlsx_bytes

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples"
SAMPLE = SAMPLES / "ucc5g_gnettrack_driving_B_2020.02.27_20.35.57.csv"

COLUMNS = ["time", "lat", "lon", "mcc", "mnc", "radio", "signal_dbm", "no_service", "device"]
ROWS = [
    [
        "2026-01-05T03:00:00Z",
        "22,5712",
        "105,4931",
        "452",
        "4",
        "lte",
        "-101",
        "false",
        "Bản Giòng",
    ],
    ["2026-01-05T03:01:00Z", "22,5801", "abc", "452", "4", "lte", "", "true", "Thượng Nông"],
    # A negative coordinate with a decimal comma: an Australian phone (505-02) west of Perth.
    ["2026-01-05T03:02:00Z", "-22,5", "105,5", "505", "2", "umts", "-95", "false", "x"],
]


def text(delimiter: str, rows: list[list[str]] = ROWS, newline: str = "\r\n") -> str:
    return newline.join(delimiter.join(r) for r in [COLUMNS, *rows]) + newline


def read(data: bytes, **kwargs: object) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    result = validate_chunks(read_readings(io.BytesIO(data), **kwargs), now=NOW)  # type: ignore[arg-type]
    return result.valid, as_tuples(result.rejected)


def test_a_semicolon_csv_with_decimal_commas_reads_as_excel_wrote_it() -> None:
    valid, rejected = read(text(";").encode("utf-8-sig"))

    assert valid[["lat", "lon", "mcc", "mnc", "device"]].to_dict("records") == [
        {"lat": 22.5712, "lon": 105.4931, "mcc": 452, "mnc": 4, "device": "Bản Giòng"},
        {"lat": -22.5, "lon": 105.5, "mcc": 505, "mnc": 2, "device": "x"},
    ]
    # The bad value makes pandas keep the column as text: the good ones are still read.
    assert rejected == [(3, "lon", "not a number")]


def test_a_semicolon_csv_with_decimal_points_is_not_misread() -> None:
    rows = [[v.replace(",", ".") for v in row] for row in ROWS]
    valid, rejected = read(text(";", rows).encode())
    assert valid["lat"].tolist() == [22.5712, -22.5]
    assert rejected == [(3, "lon", "not a number")]


def test_excel_unicode_text_utf16_tab_separated_reads() -> None:
    valid, rejected = read(text("\t").encode("utf-16"))
    assert valid["device"].tolist() == ["Bản Giòng", "x"]
    assert valid["lat"].tolist() == [22.5712, -22.5]
    assert rejected == [(3, "lon", "not a number")]


def test_a_comma_csv_keeps_its_commas_as_delimiters() -> None:
    rows = [[v.replace(",", ".") for v in row] for row in ROWS]
    valid, _ = read(text(",", rows, newline="\n").encode())
    assert valid["lon"].tolist() == [105.4931, 105.5]


@pytest.mark.parametrize(
    ("encoding", "device", "byte", "value"),
    [
        # Windows-1258 writes Vietnamese decomposed: "ò" is "o" and a combining grave, 0xcc.
        ("cp1258", unicodedata.normalize("NFD", "Bò"), 113, 0xCC),
        ("latin-1", "Bò", 112, 0xF2),
    ],
)
def test_a_legacy_encoding_names_the_line_and_byte_and_says_csv_utf8(
    encoding: str, device: str, byte: int, value: int
) -> None:
    rows = [["2026-01-05T03:00:00Z", "22.57", "105.49", "452", "4", "lte", "-101", "false", device]]
    data = text(",", rows, newline="\n").encode(encoding)
    line = 2

    with pytest.raises(BadEncodingError) as caught:
        read(data, format="csv")

    assert str(caught.value) == (
        f"csv: line {line}, byte {byte}: 0x{value:02x} is not UTF-8 text (invalid continuation"
        " byte). lomsong reads UTF-8 (or UTF-16) text; this looks like a legacy encoding"
        " (Windows-1258, Latin-1, TCVN3). In Excel use Save As, 'CSV UTF-8 (Comma delimited)';"
        " in LibreOffice pick the character set 'Unicode (UTF-8)'"
    )


def test_a_bad_byte_far_into_the_file_is_located() -> None:
    good = "2026-01-05T03:00:00Z,22.57,105.49,452,4,lte,-101,false,a\n"
    data = (",".join(COLUMNS) + "\n" + good * 150_000).encode() + b"2026,\xe9\n"
    with pytest.raises(BadEncodingError, match=rf"line 150002, byte {len(data) - 2}: 0xe9"):
        read(data, format="csv")


def test_a_header_of_200000_columns_is_refused_at_once() -> None:
    header = ",".join(f"c{i}" for i in range(200_000)) + "\n"
    with pytest.raises(InvalidInputError) as caught:
        read((header + "1\n").encode(), format="csv")
    assert str(caught.value) == (
        "csv: the header line is longer than 65,536 bytes; the first line must name the columns"
        " (a readings file has fewer than 100)"
    )


def test_a_header_of_too_many_short_columns_is_refused() -> None:
    header = ";".join("a" for _ in range(1001)) + "\n"
    with pytest.raises(InvalidInputError) as caught:
        read((header + "1\n").encode(), format="csv")
    assert str(caught.value) == (
        "csv: the header names 1,001 columns, more than the 1,000 read;"
        " the first line must name the columns"
    )
    with pytest.raises(InvalidInputError, match="1,001 columns"):
        detect_format(io.BytesIO(header.encode()))


def test_a_one_column_header_hints_at_the_delimiter() -> None:
    with pytest.raises(InvalidInputError, match=r"it is one column 'time\|lat\|lon'"):
        read(b"time|lat|lon\n1|2|3\n", format="csv")


NATIVE_SHEET: list[list[object]] = [
    [None],
    ["time", "lat", "lon", "mcc", "mnc", "radio", "signal_dbm", "no_service", "cell_id"],
    ["2026-01-05T03:00:00Z", 22.5712, 105.4931, 452, 4, "lte", -101, False, 25601],
    [None],
    ["2026-01-05T03:01:00Z", 95, 105.49, 452, 4, "lte", None, True, None],
    ["2026-01-05T03:02:00Z", 22.58, 105.49, 452, 2, "LTE", -99.0, "false", 1e3],
]


@pytest.mark.parametrize("format", ["auto", "xlsx", "csv", None])
def test_an_xlsx_is_read_as_its_first_sheet_numbered_by_spreadsheet_row(
    format: str | None,
) -> None:
    data = xlsx_bytes(NATIVE_SHEET, [["time"], ["not read"]])
    assert detect_format(io.BytesIO(data)) == "xlsx"

    valid, rejected = read(data, format=format)

    assert valid[["lat", "mcc", "mnc", "signal_dbm", "no_service", "cell_id"]].to_dict(
        "records"
    ) == [
        {
            "lat": 22.5712,
            "mcc": 452,
            "mnc": 4,
            "signal_dbm": -101.0,
            "no_service": False,
            "cell_id": 25601,
        },
        {
            "lat": 22.58,
            "mcc": 452,
            "mnc": 2,
            "signal_dbm": -99.0,
            "no_service": False,
            "cell_id": 1000,
        },
    ]
    assert rejected == [(5, "lat", "outside -90..90")]  # Excel's row 5


def test_an_xlsx_gives_the_rejections_of_the_same_csv() -> None:
    rows = [[("" if v is None else str(v)) for v in row] for row in NATIVE_SHEET[1:]]
    as_csv = "\n".join(",".join(r) for r in rows) + "\n"
    csv_valid, csv_rejected = read(as_csv.encode(), format="csv")
    xlsx_valid, xlsx_rejected = read(xlsx_bytes(NATIVE_SHEET[1:]), format="xlsx")
    assert xlsx_rejected == csv_rejected
    assert len(xlsx_valid) == len(csv_valid) == 2


def test_a_broken_or_foreign_spreadsheet_is_refused_clearly() -> None:
    with pytest.raises(InvalidInputError, match="xlsx: not a readable spreadsheet"):
        read(b"PK\x03\x04 not really a zip", format="auto")
    json_sheet = xlsx_bytes([['[{"time": 1}]']])
    with pytest.raises(InvalidInputError, match="cannot tell the readings format"):
        read(json_sheet, format="xlsx")


def test_sites_can_come_as_a_spreadsheet() -> None:
    sheet = [
        ["radio", "mcc", "net", "area", "cell", "lon", "lat"],
        ["LTE", 452, 4, 3101, 25601, 105.4901, 22.5702],
        ["LTE", 452, 4, 3101, 25602, 105.4901, 95],
    ]
    sites = read_sites(io.BytesIO(xlsx_bytes(sheet)))
    assert sites.valid["cell_id"].tolist() == [25601]
    assert [(r.index, r.field) for r in sites.rejected] == [(3, "lat")]


@pytest.mark.skipif(not SAMPLE.is_file(), reason="../shared/samples not present")
@pytest.mark.parametrize("layout", ["semicolon", "xlsx"])
def test_the_real_gnettrack_log_reads_the_same_from_excel(layout: str) -> None:
    kw = {"tz": "Europe/Dublin", "mcc": 272, "mnc": 1}
    original = validate_chunks(read_readings(SAMPLE, format="gnettrack", **kw), now=NOW)
    with SAMPLE.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if layout == "xlsx":
        data = xlsx_bytes(rows)
    else:  # as Excel in a comma-decimal locale saves it
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerows([[v.replace(".", ",") if _decimal(v) else v for v in r] for r in rows])
        data = out.getvalue().encode("utf-8-sig")
    assert detect_format(io.BytesIO(data)) == ("xlsx" if layout == "xlsx" else "gnettrack")

    again = validate_chunks(read_readings(io.BytesIO(data), **kw), now=NOW)

    assert len(original.valid) > 1000
    pd.testing.assert_frame_equal(again.valid, original.valid, check_dtype=False)
    assert again.rejected == original.rejected


def _decimal(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return "." in value


def _feature(geometry: object, **properties: object) -> dict[str, object]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def test_geojson_points_are_read_as_readings() -> None:
    reading = {
        "time": "2026-01-05T03:00:00Z",
        "mcc": 452,
        "mnc": 4,
        "radio": "lte",
        "signal_dbm": -101,
        "no_service": False,
    }
    features = [
        _feature({"type": "Point", "coordinates": [105.4931, 22.5712]}, **reading, lat=1),
        _feature({"type": "LineString", "coordinates": [[105, 22], [106, 23]]}, **reading),
        _feature(None, **reading),
        _feature({"type": "Point", "coordinates": [105.49, 95.0]}, **reading),
        _feature(
            {"type": "Point", "coordinates": [105.5, 22.6]},
            **{**reading, "signal_dbm": None, "no_service": True},
        ),
    ]
    body = pd.io.json.ujson_dumps({"type": "FeatureCollection", "features": features})
    data = body.encode()
    assert detect_format(io.BytesIO(data)) == "geojson"

    valid, rejected = read(data)

    assert valid[["lat", "lon", "no_service"]].to_dict("records") == [
        {"lat": 22.5712, "lon": 105.4931, "no_service": False},
        {"lat": 22.6, "lon": 105.5, "no_service": True},
    ]
    assert rejected == [
        (2, "geometry", "a LineString, not a Point (a reading is one position)"),
        (3, "geometry", "missing (a reading is a Point)"),
        (4, "lat", "outside -90..90"),
    ]


@pytest.mark.parametrize(
    ("head", "format"),
    [
        ("Timestamp;Longitude;Latitude;Operatorname;NetworkMode;RSRP\r\n", "gnettrack"),
        ("mcc\tmnc\tlon\tlat\tsignal\tmeasured_at\tact\n", "opencellid"),
        ('{"type": "FeatureCollection", "features": []}', "geojson"),
        ('{"features": [], "type": "FeatureCollection"}', "geojson"),
        ('{"type": "FeatureCollection", "name": "x", "crs": {"a": 1}, "features": []}', "geojson"),
        ('{"readings": [{"device": "FeatureCollection"}]}', "json"),
    ],
)
def test_more_layouts_are_told_apart(head: str, format: str) -> None:
    assert detect_format(io.BytesIO(head.encode())) == format


def test_utf16_csv_layouts_are_told_apart() -> None:
    head = "time\tlat\tlon\tmcc\tmnc\tradio\tno_service\r\n".encode("utf-16")
    assert detect_format(io.BytesIO(head)) == "csv"


def test_an_unknown_header_is_named_in_the_refusal() -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        detect_format(io.BytesIO(b"a;b;c\n1;2;3\n"))
    message = str(caught.value)
    assert message.startswith(
        "the file: cannot tell the readings format from its start; name it (one of csv, json,"
        " gnettrack, opencellid, geosubmit, geojson, xlsx). Its first line names a, b, c;"
    )
    assert "opencellid: mcc, mnc, lon, lat, signal, measured_at, act" in message


def test_a_spreadsheet_zip_bomb_is_refused_before_it_is_inflated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from geodata import constants

    monkeypatch.setattr(constants, "XLSX_MAX_INFLATED_BYTES", 2_000_000)  # 500 MB in service
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        source = zipfile.ZipFile(io.BytesIO(xlsx_bytes(NATIVE_SHEET)))
        for part in source.infolist():
            book.writestr(part, source.read(part))
        book.writestr("xl/worksheets/padding.xml", b" " * 3_000_000)
    data = buffer.getvalue()
    assert len(data) < 10_000  # 3 MB of XML in a few kB: the bound is on the inflated size

    with pytest.raises(InvalidInputError) as caught:
        read(data)
    assert str(caught.value) == (
        "xlsx: the spreadsheet inflates to 3 MB, more than the 2 MB read at once;"
        " save it as CSV UTF-8 and send that"
    )
