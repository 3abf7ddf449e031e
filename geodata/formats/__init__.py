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

With ``format="auto"``, :func:`detect_format` tells the format from the
file's first bytes (JSON or CSV, then the keys or header it has).

Sites and villages have one reader each too, row-tolerant like these:
:func:`read_sites` (:mod:`geodata.formats.cell_towers`) and
:func:`read_villages` (:mod:`geodata.formats.village_features`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from geodata.errors import InvalidInputError, UnsupportedFormatError
from geodata.formats._common import ParsedChunk, Source, open_binary
from geodata.formats.cell_towers import SITE_FORMATS, read_sites
from geodata.formats.geosubmit import parse_geosubmit, read_geosubmit
from geodata.formats.gnettrack import REQUIRED as GNETTRACK_REQUIRED
from geodata.formats.gnettrack import check_tz, read_gnettrack
from geodata.formats.native import native_objects, read_native_csv, read_native_json
from geodata.formats.opencellid import REQUIRED as OPENCELLID_REQUIRED
from geodata.formats.opencellid import read_opencellid
from geodata.formats.village_features import read_villages
from geodata.readings import REQUIRED_COLUMNS, ValidatedReadings, validate_readings

__all__ = [
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
FORMATS: tuple[str, ...] = ("csv", "json", "gnettrack", "opencellid", "geosubmit")

_HEAD_BYTES = 1 << 16
# A geosubmit body names its list "items"; a native JSON object names it "readings".
_ITEMS_KEY = re.compile(rb'^\s*\{\s*(?:"[^"]*"\s*:[^{\[]*?,\s*)*"items"\s*:')


def detect_format(source: Source) -> str:
    r"""Tell a readings file's format from its first 64 KiB.

    JSON whose top-level object starts with an ``items`` list (after other
    scalar members, if any) is ``geosubmit``, other JSON ``json``. A CSV
    header with G-NetTrack's columns is ``gnettrack``, with OpenCelliD's
    measurement columns ``opencellid``, with lomsong's ``csv``. A stream
    must be seekable (it is rewound).

    Raises
    ------
    UnsupportedFormatError
        When the start of the file matches none of them.

    Examples
    --------
    >>> import io
    >>> detect_format(io.BytesIO(b'{"items": [{"timestamp": 1}]}'))
    'geosubmit'
    >>> detect_format(io.BytesIO(b"Timestamp,Longitude,Latitude,NetworkMode,RSRP\n"))
    'gnettrack'
    """
    with open_binary(source) as stream:
        start = stream.tell() if stream.seekable() else None
        head = stream.read(_HEAD_BYTES)
        if start is not None:
            stream.seek(start)
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"[":
        return "json"
    if text[:1] == b"{":
        return "geosubmit" if _ITEMS_KEY.match(text) else "json"
    first = text.decode("utf-8", errors="replace").splitlines()[:1]
    header = {c.strip() for c in next(csv.reader(first), [])}
    for name, required in (
        ("gnettrack", GNETTRACK_REQUIRED),
        ("opencellid", OPENCELLID_REQUIRED),
        ("csv", REQUIRED_COLUMNS),
    ):
        if set(required) <= header:
            return name
    where = source if isinstance(source, str | Path) else "the file"
    raise UnsupportedFormatError(
        f"{where}: cannot tell the readings format from its start; name it"
        f" (one of {', '.join(FORMATS)})"
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
    format: str,
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
    format : str
        One of :data:`FORMATS`, or ``"auto"`` (:func:`detect_format`; a
        stream must then be seekable).
    tz : str, optional
        IANA time zone of the timestamps; required for ``gnettrack`` (its
        log is in the phone's local time), ignored otherwise.
    mcc, mnc : int, optional
        The operator of a ``gnettrack`` log that carries no MCC/MNC columns.
    chunk_rows : int
        Most source rows per chunk (a G-NetTrack 5G row gives two readings).

    Yields
    ------
    ParsedChunk
        Raw readings indexed by line number (CSV; header = line 1) or item
        position (JSON), and the parser's own rejections.

    Raises
    ------
    UnsupportedFormatError
        An unknown ``format`` (raised at the call, before any reading).
    InvalidInputError
        A missing or unknown ``tz`` for ``gnettrack`` (at the call); then, when reached
        while streaming: an empty file, a header without the required columns
        (:class:`~geodata.errors.MissingColumnError`), bytes that are not UTF-8
        (:class:`~geodata.errors.BadEncodingError`), malformed JSON
        (:class:`~geodata.errors.BadJSONError`).

    Examples
    --------
    >>> import io
    >>> from geodata.readings import validate_readings
    >>> text = (b"time,lat,lon,mcc,mnc,radio,signal_dbm,no_service\n"
    ...         b"2026-01-05T03:00:00Z,22.57,105.49,452,4,lte,-101,false\n"
    ...         b"2026-01-05T03:01:00Z,22.58,105.49,452,4,lte,,true\n")
    >>> [chunk] = read_readings(io.BytesIO(text), format="csv")
    >>> list(chunk.readings.index)
    [2, 3]
    >>> len(validate_readings(chunk.readings).valid)
    2
    """
    if format == "auto":
        format = detect_format(source)
    if format not in FORMATS:
        raise UnsupportedFormatError(
            f"unknown readings format {format!r}; expected one of {', '.join(FORMATS)}"
        )
    if chunk_rows < 1:
        raise InvalidInputError(f"chunk_rows must be at least 1, not {chunk_rows}")
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
    return read_native_csv(source, chunk_rows=chunk_rows)
