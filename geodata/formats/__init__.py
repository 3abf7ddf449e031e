"""Readers for every readings format field teams upload, streaming and row-tolerant.

Each reader turns a source into :class:`ParsedChunk` objects: native reading
columns with raw values, ready for :func:`geodata.readings.validate_readings`,
indexed by each row's number in the source, plus the rows the parser itself
could not map (field and reason). One bad row never fails the rest; only a
source that is unreadable as a whole raises
:class:`~geodata.errors.InvalidInputError`.

Formats and how each represents *no service* (the phone had no service from
a carrier: lõm sóng / trắng sóng evidence):

``csv`` / ``json``
    lomsong's native columns; explicit ``no_service = true`` with an empty
    ``signal_dbm`` (:mod:`geodata.formats.native`).
``gnettrack``
    G-NetTrack Pro drive logs; a row with no signal whose ``NetworkMode`` is
    empty or says "no service" (:mod:`geodata.formats.gnettrack`).
``opencellid``
    OpenCelliD measurement CSV; none: every row is a measured cell
    (:mod:`geodata.formats.opencellid`).
``geosubmit`` (a file), :func:`parse_geosubmit` (a decoded request body)
    only the lomsong extension ``"noService": true`` on a cell tower; nothing
    is inferred from missing towers or signals (:mod:`geodata.formats.geosubmit`).

``geojson``
    a FeatureCollection of Points whose properties are native columns; as
    native JSON (:mod:`geodata.formats.geojson_points`).
``xlsx``
    a spreadsheet (also ``.xls``, ``.ods``) whose first sheet holds one of
    the CSV formats (:mod:`geodata.formats.xlsx`).

Every CSV format may separate fields by ``,`` ``;`` or tab, write decimals
with a comma (``22,5712``, when fields are not comma-separated) and be
UTF-8 (with or without a BOM) or UTF-16 (Excel's "Unicode text"); a
spreadsheet given as one of them is read as its first sheet.

With ``format="auto"`` (the default), :func:`detect_format` tells the format
from the file's first bytes (a spreadsheet, JSON or CSV, then the keys or
header it has).

Sites and villages have one reader each too, row-tolerant like these:
:func:`read_sites` (:mod:`geodata.formats.cell_towers`) and
:func:`read_villages` (:mod:`geodata.formats.village_features`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from geodata import constants as C
from geodata.errors import InvalidInputError, UnsupportedFormatError
from geodata.formats._common import ParsedChunk, Source, open_binary, sniff_layout
from geodata.formats.cell_towers import SITE_FORMATS, read_sites
from geodata.formats.geojson_points import read_geojson_points
from geodata.formats.geosubmit import parse_geosubmit, read_geosubmit
from geodata.formats.gnettrack import REQUIRED as GNETTRACK_REQUIRED
from geodata.formats.gnettrack import check_tz, read_gnettrack
from geodata.formats.native import native_objects, read_native_csv, read_native_json
from geodata.formats.opencellid import REQUIRED as OPENCELLID_REQUIRED
from geodata.formats.opencellid import read_opencellid
from geodata.formats.village_features import read_villages
from geodata.formats.xlsx import SheetCSV, is_spreadsheet, sheet_as_csv
from geodata.readings import REQUIRED_COLUMNS, ValidatedReadings, validate_readings

__all__ = [
    "CSV_FORMATS",
    "FORMATS",
    "SITE_FORMATS",
    "ParsedChunk",
    "detect_format",
    "native_objects",
    "parse_geosubmit",
    "read_readings",
    "read_sites",
    "read_villages",
    "validate_chunks",
]

#: Names of the file formats :func:`read_readings` reads.
FORMATS: tuple[str, ...] = (
    "csv",
    "json",
    "gnettrack",
    "opencellid",
    "geosubmit",
    "geojson",
    "xlsx",
)
_HEAD_BYTES = C.CSV_HEADER_MAX_BYTES
#: The formats written as CSV: a spreadsheet holds one of them.
CSV_FORMATS: tuple[str, ...] = ("csv", "gnettrack", "opencellid")

# A top-level object whose list comes first after scalar members: geosubmit
# names it "items", native JSON "readings", GeoJSON "features".
_LIST_KEY = re.compile(rb'^\s*\{\s*(?:"[^"]*"\s*:[^{\[]*?,\s*)*"(items|readings|features)"\s*:')
_FEATURE_COLLECTION = re.compile(rb'"type"\s*:\s*"FeatureCollection"')


def detect_format(source: Source) -> str:
    r"""Tell a readings file's format from its first 64 KiB.

    A zip or OLE2 file is a spreadsheet, ``xlsx`` (also ``.xls``, ``.ods``).
    JSON whose top-level object starts with an ``items`` list (after other
    scalar members, if any) is ``geosubmit``, with a ``features`` list or
    ``"type": "FeatureCollection"`` ``geojson``, other JSON ``json``. A CSV
    header (``,`` ``;`` or tab between fields, UTF-8 or UTF-16) with
    G-NetTrack's columns is ``gnettrack``, with OpenCelliD's measurement
    columns ``opencellid``, with lomsong's ``csv``. A stream must be
    seekable (it is rewound).

    Raises
    ------
    UnsupportedFormatError
        When the start of the file matches none of them, naming the columns
        it has and those each CSV format needs.
    InvalidInputError
        A CSV header too long or too wide (:func:`~geodata.formats._common.sniff_layout`).

    Examples
    --------
    >>> import io
    >>> detect_format(io.BytesIO(b'{"items": [{"timestamp": 1}]}'))
    'geosubmit'
    >>> detect_format(io.BytesIO(b"Timestamp;Longitude;Latitude;NetworkMode;RSRP\n"))
    'gnettrack'
    """
    with open_binary(source) as stream:
        start = stream.tell() if stream.seekable() else None
        head = stream.read(_HEAD_BYTES)
        if start is not None:
            stream.seek(start)
    if is_spreadsheet(head):
        return "xlsx"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"[":
        return "json"
    if text[:1] == b"{":
        key = _LIST_KEY.match(text)
        if key is not None:
            return {b"items": "geosubmit", b"features": "geojson"}.get(key.group(1), "json")
        return "geojson" if _FEATURE_COLLECTION.search(text) else "json"
    where = source if isinstance(source, str | Path) else "the file"
    _, columns = sniff_layout(head, what=str(where))
    header = set(columns)
    needs = (
        ("gnettrack", GNETTRACK_REQUIRED),
        ("opencellid", OPENCELLID_REQUIRED),
        ("csv", REQUIRED_COLUMNS),
    )
    for name, required in needs:
        if set(required) <= header:
            return name
    named = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    wanted = "; ".join(f"{name}: {', '.join(required)}" for name, required in needs)
    raise UnsupportedFormatError(
        f"{where}: cannot tell the readings format from its start; name it"
        f" (one of {', '.join(FORMATS)}). Its first line names {named or 'nothing'};"
        f" the CSV formats need {wanted}"
    )


def validate_chunks(
    chunks: Iterable[ParsedChunk], *, now: pd.Timestamp | None = None
) -> ValidatedReadings:
    r"""Validate parsed chunks into one table: every valid reading, every rejection.

    The rejections are the parsers' own (a line with too many fields) and the
    validation's, in source order; rows the parser ignored (blank lines) are
    neither. The valid table is indexed from 0.

    Examples
    --------
    >>> import io
    >>> text = (b"time,lat,lon,mcc,mnc,radio,signal_dbm,no_service\n"
    ...         b"2026-01-05T03:00:00Z,22.57,105.49,452,4,lte,-101,false\n"
    ...         b"2026-01-05T03:01:00Z,95,105.49,452,4,lte,,true\n")
    >>> result = validate_chunks(read_readings(io.BytesIO(text), format="csv"))
    >>> len(result.valid), result.rejected_by_reason
    (1, {'lat: outside -90..90': 1})
    """
    valid: list[pd.DataFrame] = []
    rejected = []
    for chunk in chunks:
        result = validate_readings(chunk.readings, now=now)
        valid.append(result.valid)
        rejected += sorted([*chunk.rejected, *result.rejected], key=lambda r: r.index)
    if not valid:
        return validate_readings(pd.DataFrame({c: [] for c in REQUIRED_COLUMNS}))
    return ValidatedReadings(pd.concat(valid, ignore_index=True), rejected)


def read_readings(
    source: Source,
    *,
    format: str | None = "auto",
    tz: str | None = None,
    mcc: int | None = None,
    mnc: int | None = None,
    chunk_rows: int = 100_000,
) -> Iterator[ParsedChunk]:
    r"""Stream readings from a file in one of :data:`FORMATS`, in bounded memory.

    Parameters
    ----------
    source : str, Path or binary file object
        A path, or an open binary stream (read, not closed).
    format : str or None
        One of :data:`FORMATS`, or ``"auto"``/``None`` (the default:
        :func:`detect_format`; a stream must then be seekable). ``xlsx`` is
        a spreadsheet whose first sheet holds one of :data:`CSV_FORMATS`,
        told from its header row; a spreadsheet given as one of those is
        read as that.
    tz : str, optional
        IANA time zone of the timestamps; required for ``gnettrack`` (its
        log is in the phone's local time), ignored otherwise.
    mcc, mnc : int, optional
        The operator of a ``gnettrack`` log whose rows neither carry MCC/MNC
        columns nor name a known operator (:data:`geodata.constants.GNETTRACK_OPERATORS`).
    chunk_rows : int
        Most source rows per chunk (a G-NetTrack 5G row gives two readings).

    Yields
    ------
    ParsedChunk
        Raw readings indexed by line number (CSV; header = line 1; a
        spreadsheet's row number) or item position (JSON, from 1), and the
        parser's own rejections.

    Raises
    ------
    UnsupportedFormatError
        An unknown ``format``, or one :func:`detect_format` cannot tell
        (raised at the call, before any reading).
    InvalidInputError
        A missing or unknown ``tz`` for ``gnettrack`` (at the call); then, when reached
        while streaming: an empty file, a header without the required columns
        (:class:`~geodata.errors.MissingColumnError`) or too wide, bytes that are
        not UTF-8 (:class:`~geodata.errors.BadEncodingError`, naming the line and
        byte), malformed JSON (:class:`~geodata.errors.BadJSONError`).

    Examples
    --------
    >>> import io
    >>> from geodata.readings import validate_readings
    >>> text = (b"time,lat,lon,mcc,mnc,radio,signal_dbm,no_service\n"
    ...         b"2026-01-05T03:00:00Z,22.57,105.49,452,4,lte,-101,false\n"
    ...         b"2026-01-05T03:01:00Z,22.58,105.49,452,4,lte,,true\n")
    >>> [chunk] = read_readings(io.BytesIO(text))
    >>> list(chunk.readings.index)
    [2, 3]
    >>> len(validate_readings(chunk.readings).valid)
    2
    """
    if format is None or format == "auto":
        format = detect_format(source)
    if format not in FORMATS:
        raise UnsupportedFormatError(
            f"unknown readings format {format!r}; expected one of {', '.join(FORMATS)}"
        )
    if chunk_rows < 1:
        raise InvalidInputError(f"chunk_rows must be at least 1, not {chunk_rows}")
    if format == "xlsx":
        with open_binary(source) as stream:
            sheet = sheet_as_csv(stream, what="xlsx")
        try:
            layout = detect_format(sheet)
            if layout not in CSV_FORMATS:
                raise UnsupportedFormatError(
                    f"xlsx: the first sheet holds {layout}, not one of {', '.join(CSV_FORMATS)}"
                )
            chunks = _reader(sheet, layout, tz=tz, mcc=mcc, mnc=mnc, chunk_rows=chunk_rows)
        except BaseException:
            sheet.close()
            raise
        return _closing(chunks, sheet)
    return _reader(source, format, tz=tz, mcc=mcc, mnc=mnc, chunk_rows=chunk_rows)


def _reader(
    source: Source,
    format: str,
    *,
    tz: str | None,
    mcc: int | None,
    mnc: int | None,
    chunk_rows: int,
) -> Iterator[ParsedChunk]:
    if format == "gnettrack":
        # Checked here, so a missing tz fails at the call rather than at the first chunk.
        check_tz(tz)
        return read_gnettrack(source, tz=tz, mcc=mcc, mnc=mnc, chunk_rows=chunk_rows)
    if format == "json":
        return read_native_json(source, chunk_rows=chunk_rows)
    if format == "opencellid":
        return read_opencellid(source, chunk_rows=chunk_rows)
    if format == "geosubmit":
        return read_geosubmit(source, chunk_rows=chunk_rows)
    if format == "geojson":
        return read_geojson_points(source, chunk_rows=chunk_rows)
    return read_native_csv(source, chunk_rows=chunk_rows)


def _closing(chunks: Iterator[ParsedChunk], sheet: SheetCSV) -> Iterator[ParsedChunk]:
    """Yield the chunks, then close the sheet's temporary file (also on an early stop)."""
    try:
        yield from chunks
    finally:
        sheet.close()
