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
geosubmit v2 (:func:`parse_geosubmit`, a decoded request body)
    only the lomsong extension ``"noService": true`` on a cell tower; nothing
    is inferred from missing towers or signals (:mod:`geodata.formats.geosubmit`).
"""

from __future__ import annotations

from collections.abc import Iterator

from geodata.errors import InvalidInputError, UnsupportedFormatError
from geodata.formats._common import ParsedChunk, Source
from geodata.formats.geosubmit import parse_geosubmit
from geodata.formats.gnettrack import check_tz, read_gnettrack
from geodata.formats.native import read_native_csv, read_native_json
from geodata.formats.opencellid import read_opencellid

__all__ = ["FORMATS", "ParsedChunk", "parse_geosubmit", "read_readings"]

#: Names of the file formats :func:`read_readings` reads.
FORMATS: tuple[str, ...] = ("csv", "json", "gnettrack", "opencellid")


def read_readings(
    source: Source,
    *,
    format: str,
    tz: str | None = None,
    mcc: int | None = None,
    mnc: int | None = None,
    chunk_rows: int = 100_000,
) -> Iterator[ParsedChunk]:
    """Stream readings from a file in one of :data:`FORMATS`, in bounded memory.

    Parameters
    ----------
    source : str, Path or binary file object
        A path, or an open binary stream (read, not closed).
    format : str
        One of ``"csv"``, ``"json"``, ``"gnettrack"``, ``"opencellid"``.
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
    >>> text = (b"time,lat,lon,mcc,mnc,radio,signal_dbm,no_service\\n"
    ...         b"2026-01-05T03:00:00Z,22.57,105.49,452,4,lte,-101,false\\n"
    ...         b"2026-01-05T03:01:00Z,22.58,105.49,452,4,lte,,true\\n")
    >>> [chunk] = read_readings(io.BytesIO(text), format="csv")
    >>> list(chunk.readings.index)
    [2, 3]
    >>> len(validate_readings(chunk.readings).valid)
    2
    """
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
    return read_native_csv(source, chunk_rows=chunk_rows)
