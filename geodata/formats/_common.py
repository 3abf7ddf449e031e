"""Shared pieces of the readings parsers: the chunk type, sources, CSV chunks, rejections.

Private to :mod:`geodata.formats`; the public names are re-exported there.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.errors import BadEncodingError, InvalidInputError, MissingColumnError
from geodata.formats.xlsx import SheetCSV, is_spreadsheet, sheet_as_csv
from geodata.readings import READING_COLUMNS, Rejection

#: What a reader accepts as its input: a path or an open binary stream.
Source = str | Path | BinaryIO


@dataclass
class ParsedChunk:
    """One bounded slice of a parsed readings source.

    Attributes
    ----------
    readings : pandas.DataFrame
        The native reading columns (``READING_COLUMNS``) holding raw values
        ready for :func:`geodata.readings.validate_readings`. The integer
        index is each row's number in the source: the physical line number
        for CSV files (the header is line 1), the item index for JSON lists
        and geosubmit. One source row may give several readings (a geosubmit
        item with three cell towers; a G-NetTrack 5G NSA row), which then
        share the number.
    rejected : list of Rejection
        Rows the parser itself could not map, numbered the same way, each with
        the field at fault and why.
    ignored : int
        Source rows that carried no observation at all and are not errors:
        blank CSV lines, geosubmit items without cell towers (Wi-Fi-only
        items, phones without a SIM).
    """

    readings: pd.DataFrame
    rejected: list[Rejection] = field(default_factory=list)
    ignored: int = 0


class RowRejections:
    """First-failure bookkeeping over a chunk, as in ``validate_readings``."""

    def __init__(self, index: pd.Index) -> None:
        self.index = index
        self.field = np.full(len(index), "", dtype=object)
        self.reason = np.full(len(index), "", dtype=object)

    def reject(self, mask: pd.Series | np.ndarray, name: str, why: str) -> None:
        """Reject the rows in ``mask`` not already rejected, naming field and reason."""
        hit = np.asarray(mask, dtype=bool) & (self.field == "")
        self.field[hit] = name
        self.reason[hit] = why

    @property
    def bad(self) -> np.ndarray:
        """Boolean mask of the rejected rows."""
        return np.asarray(self.field != "", dtype=bool)

    def rejections(self) -> list[Rejection]:
        bad = self.bad
        labels = self.index.to_numpy()[bad]
        return [
            Rejection(int(i), str(f), str(r))
            for i, f, r in zip(labels, self.field[bad], self.reason[bad], strict=True)
        ]


def readings_frame(columns: dict[str, object], index: pd.Index) -> pd.DataFrame:
    """Return a native-columns table: the given columns, the missing ones empty."""
    frame = pd.DataFrame(index=index)
    for column in READING_COLUMNS:
        value = columns.get(column, pd.NA)
        frame[column] = value if value is not pd.NA else pd.Series(pd.NA, index=index)
    return frame


def numbers(values: pd.Series, sentinels: frozenset[int] = C.ANDROID_UNAVAILABLE) -> pd.Series:
    """Numbers from raw values; unparseable and sentinel values become NaN."""
    out = pd.to_numeric(values, errors="coerce").astype("float64")
    return out.mask(out.isin([float(v) for v in sentinels]))


def asu_to_dbm(asu: pd.Series, radio: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Convert ASU to dBm by radio; returns ``(dbm, out_of_range)``.

    ASU values that mean "unknown" (99, 255) and unknown radios give NaN
    without being out of range; values outside the radio's ASU range are
    flagged (and give NaN).
    """
    scale = radio.map({r: s for r, (s, _) in C.ASU_TO_DBM.items()}).astype("float64")
    offset = radio.map({r: o for r, (_, o) in C.ASU_TO_DBM.items()}).astype("float64")
    low = radio.map({r: lo for r, (lo, _) in C.ASU_RANGE.items()}).astype("float64")
    high = radio.map({r: hi for r, (_, hi) in C.ASU_RANGE.items()}).astype("float64")
    unknown = asu.isin([float(v) for v in C.ASU_UNKNOWN])
    usable = asu.notna() & ~unknown & scale.notna()
    inside = usable & (asu >= low) & (asu <= high)
    dbm = (scale * asu + offset).where(inside)
    return dbm, usable & ~inside


@contextlib.contextmanager
def open_binary(source: Source) -> Iterator[BinaryIO]:
    """Yield a binary stream for a path or pass an open stream through (not closed)."""
    if isinstance(source, str | Path):
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InvalidInputError(f"{source}: cannot open ({exc.strerror})") from exc
        with handle:
            yield handle
    else:
        yield source


_SKIPPED_LINE = re.compile(r"Skipping line (\d+): (.*)")
# ``warnings.catch_warnings`` swaps the process-wide filters (it is not
# thread-safe before Python 3.14): two files read at once in two threads
# (an import job and a request) would restore each other's filters and lose
# the bad-line warnings that become rejections. One reader records at a time.
_RECORDING = threading.Lock()


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV file is written: its encoding, field delimiter and decimal mark."""

    encoding: str = "utf-8-sig"
    delimiter: str = ","
    decimal: str = "."


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")
_DECIMAL_COMMA_SUB = r"^\s*([+-]?\d+),(\d+)\s*$"


def head_text(head: bytes) -> tuple[str, str]:
    """Return the encoding of a file's first bytes (UTF-16 by BOM, else UTF-8) and their text."""
    if head.startswith(_UTF16_BOMS):
        usable = head[: len(head) - len(head) % 2]
        return "utf-16", usable.decode("utf-16", errors="replace")
    return "utf-8-sig", head.decode("utf-8-sig", errors="replace")


def sniff_layout(head: bytes, *, what: str) -> tuple[CsvLayout, list[str]]:
    r"""Tell the layout of a CSV from its first bytes, and its header's column names.

    The delimiter is the one of ``,`` ``;`` tab that splits the header into
    the most columns (``,`` on a tie); the decimal mark is ``,`` when the
    delimiter is not a comma and a data field in ``head`` looks like
    ``22,5712`` (Excel in a Vietnamese locale). UTF-16 is told by its BOM
    (Excel's "Unicode text"), UTF-8 with or without one otherwise.

    Raises
    ------
    InvalidInputError
        A header line longer than :data:`~geodata.constants.CSV_HEADER_MAX_BYTES`
        or naming more than :data:`~geodata.constants.CSV_HEADER_MAX_COLUMNS` columns.

    Examples
    --------
    >>> sniff_layout(b"time;lat;lon\n2026-01-05;22,5712;105,49\n", what="csv")
    (CsvLayout(encoding='utf-8-sig', delimiter=';', decimal=','), ['time', 'lat', 'lon'])
    """
    encoding, text = head_text(head)
    newline = text.find("\n")
    if newline < 0 and len(head) >= C.CSV_HEADER_MAX_BYTES:
        raise InvalidInputError(
            f"{what}: the header line is longer than {C.CSV_HEADER_MAX_BYTES:,} bytes;"
            " the first line must name the columns (a readings file has fewer than 100)"
        )
    lines = text.splitlines()
    first = lines[0] if lines else ""
    best, columns = ",", next(csv.reader([first]), [])
    for delimiter in C.CSV_DELIMITERS[1:]:
        split = next(csv.reader([first], delimiter=delimiter), [])
        if len(split) > len(columns):
            best, columns = delimiter, split
    if len(columns) > C.CSV_HEADER_MAX_COLUMNS:
        raise InvalidInputError(
            f"{what}: the header names {len(columns):,} columns, more than the"
            f" {C.CSV_HEADER_MAX_COLUMNS:,} read; the first line must name the columns"
        )
    decimal = "."
    if best != ",":
        rows = csv.reader(lines[1:-1] or lines[1:], delimiter=best)
        if any(_DECIMAL_COMMA.match(v) for row in rows for v in row):
            decimal = ","
    return CsvLayout(encoding, best, decimal), [c.strip() for c in columns]


def csv_chunks(
    source: Source,
    *,
    what: str,
    required: tuple[str, ...],
    chunk_rows: int,
    dtype: dict[str, str] | None = None,
    na_values: list[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, list[Rejection], int]]:
    """Stream a CSV in chunks of at most ``chunk_rows`` rows, numbered by line.

    Yields ``(frame, rejected, blank)``: the chunk with its index set to the
    line number of each row (header = line 1), rejections for lines with too
    many fields, and the count of blank lines dropped. Line numbers count
    records: a quoted field spanning lines shifts the numbers after it.

    The layout is told from the first 64 KiB (:func:`sniff_layout`): ``,``
    ``;`` or tab between fields, a decimal comma, UTF-8 (a BOM or not) or
    UTF-16. A spreadsheet (``.xlsx``, ``.xls``, ``.ods``) is read as its first
    sheet (:mod:`geodata.formats.xlsx`), numbered by spreadsheet row. Streams
    that cannot seek are read as comma-separated UTF-8.

    Raises
    ------
    InvalidInputError
        Empty file, unreadable CSV, a header too long or too wide;
        :class:`MissingColumnError` when the header lacks a required column;
        :class:`BadEncodingError` for bytes that are not UTF-8, naming the
        line and byte offset.
    """
    if chunk_rows < 1:
        raise InvalidInputError(f"chunk_rows must be at least 1, not {chunk_rows}")
    with open_binary(source) as stream, contextlib.ExitStack() as cleanup:
        layout, head, start = CsvLayout(), "", 0
        if stream.seekable():
            start = stream.tell()
            raw_head = stream.read(C.CSV_HEADER_MAX_BYTES)
            stream.seek(start)
            if is_spreadsheet(raw_head):
                stream = cleanup.enter_context(sheet_as_csv(stream, what=what))
                start = 0
                raw_head = stream.read(C.CSV_HEADER_MAX_BYTES)
                stream.seek(start)
            layout, _ = sniff_layout(raw_head, what=what)
            head = head_text(raw_head)[1]
        first_row = stream.first_row if isinstance(stream, SheetCSV) else 1
        overflows = _leading_overflows(head, layout.delimiter, first_row)
        try:
            yield from _read_chunks(
                stream,
                layout=layout,
                overflows=overflows,
                first_row=first_row,
                what=what,
                required=required,
                chunk_rows=chunk_rows,
                dtype=dtype,
                na_values=na_values,
            )
        except UnicodeDecodeError as exc:
            raise BadEncodingError(_encoding_message(stream, start, what, exc)) from exc
        except pd.errors.EmptyDataError as exc:
            raise InvalidInputError(f"{what}: the file is empty (no header line)") from exc
        except pd.errors.ParserError as exc:
            raise InvalidInputError(f"{what}: not a readable CSV ({exc})") from exc


def _read_chunks(
    stream: BinaryIO,
    *,
    layout: CsvLayout,
    overflows: list[tuple[int, str]],
    first_row: int,
    what: str,
    required: tuple[str, ...],
    chunk_rows: int,
    dtype: dict[str, str] | None,
    na_values: list[str] | None,
) -> Iterator[tuple[pd.DataFrame, list[Rejection], int]]:
    offset = first_row - 1  # line n of the CSV is row n + offset of a spreadsheet
    reader = pd.read_csv(
        stream,
        chunksize=chunk_rows,
        sep=layout.delimiter,
        decimal=layout.decimal,
        skiprows=[line - offset - 1 for line, _ in overflows] or None,
        # Never read a first column as the index: with it, a first row
        # with one field too many would shift every column silently.
        index_col=False,
        dtype=dtype,
        na_values=na_values,
        skip_blank_lines=False,
        on_bad_lines="warn",
        encoding=layout.encoding,
        encoding_errors="strict",
    )
    with reader:
        next_line = 2 + offset
        skipped_seen: list[int] = [line for line, _ in overflows]
        seen: list[str] = []  # the columns, once a chunk has named them
        while True:
            with _RECORDING, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    chunk = reader.get_chunk()
                except StopIteration:
                    chunk = None
            skipped = [(line + offset, why) for line, why in _skipped_lines(caught)]
            if chunk is None:
                # Lines refused while pandas looked for a next chunk
                # and found none: the file ends with them.
                if skipped:
                    empty = pd.DataFrame(columns=seen, index=pd.Index([], "int64"))
                    yield empty, [Rejection(n, "line", why) for n, why in skipped], 0
                break
            first = next_line == 2 + offset
            if first:
                skipped = overflows + skipped
            chunk.columns = seen = [str(c).strip() for c in chunk.columns]
            if first:
                _check_header(seen, required, what)
            skipped_seen.extend(line for line, _ in skipped if line not in skipped_seen)
            lines = _line_numbers(next_line, len(chunk), skipped_seen)
            if len(lines):
                next_line = int(lines[-1]) + 1
            skipped_seen = [s for s in skipped_seen if s >= next_line]
            chunk.index = pd.Index(lines, dtype="int64")
            if layout.decimal == ",":
                _decimal_commas(chunk, dtype or {})
            blank = chunk.isna().all(axis=1).to_numpy()
            rejected = [Rejection(line, "line", why) for line, why in skipped]
            yield chunk.loc[~blank], rejected, int(blank.sum())


def _decimal_commas(chunk: pd.DataFrame, text_columns: dict[str, str]) -> None:
    """Read ``22,5712`` as ``22.5712`` in a column pandas could not type as numbers.

    pandas applies ``decimal=","`` only to columns whose every value parses;
    one bad value elsewhere in the column leaves its good ones as text.
    """
    for name in chunk.columns:
        values = chunk[name]
        if name not in text_columns and not pd.api.types.is_numeric_dtype(values.dtype):
            chunk[name] = values.str.replace(_DECIMAL_COMMA_SUB, r"\1.\2", regex=True)


_CSV_UTF8_HINT = (
    "lomsong reads UTF-8 (or UTF-16) text; this looks like a legacy encoding"
    " (Windows-1258, Latin-1, TCVN3). In Excel use Save As, 'CSV UTF-8 (Comma delimited)';"
    " in LibreOffice pick the character set 'Unicode (UTF-8)'"
)


def _encoding_message(stream: BinaryIO, start: int, what: str, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 lies (line, byte offset), and what to do."""
    found = _first_bad_byte(stream, start) if stream.seekable() else None
    if found is None:
        return f"{what}: the file is not UTF-8 text ({exc.reason}). {_CSV_UTF8_HINT}"
    line, offset, byte = found
    return (
        f"{what}: line {line}, byte {offset}: 0x{byte:02x} is not UTF-8 text ({exc.reason})."
        f" {_CSV_UTF8_HINT}"
    )


def _first_bad_byte(stream: BinaryIO, start: int) -> tuple[int, int, int] | None:
    """``(line, byte offset from the file's start, byte)`` of the first non-UTF-8 byte.

    Read in 1 MiB blocks, so a file without line breaks costs no more memory.
    """
    stream.seek(start)
    base, lines, carry = 0, 1, b""  # base: file offset of data[0]
    while True:
        block = stream.read(1 << 20)
        data = carry + block
        try:
            data.decode("utf-8")
            carry = b""
        except UnicodeDecodeError as exc:
            if block and exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
                carry = data[exc.start :]  # a character cut by the block's end
                data = data[: exc.start]
            else:
                return lines + data.count(b"\n", 0, exc.start), base + exc.start, data[exc.start]
        if not block:
            return None
        lines += data.count(b"\n")
        base += len(data)


def _leading_overflows(head: str, delimiter: str, first_row: int) -> list[tuple[int, str]]:
    """Return the first data lines with more fields than the header, and why.

    pandas cannot flag those itself: it takes the extra field of the first
    data line for an index (shifting every column) or, with
    ``index_col=False``, silently drops it from every line. So they are
    found here and skipped; later overlong lines pandas reports itself.
    Only seekable streams (files, spooled uploads) are checked, on their
    first 64 KiB (``head``, decoded).
    """
    rows = csv.reader(head.splitlines(), delimiter=delimiter)
    header = next(rows, [])
    found = []
    for line, row in enumerate(rows, start=first_row + 1):
        if len(row) <= len(header):
            break
        found.append((line, f"expected {len(header)} fields, saw {len(row)}"))
    return found


def _check_header(columns: list[str], required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        hint = ""
        if len(columns) == 1:
            hint = f"; it is one column {columns[0][:80]!r}: fields go between ',' ';' or tabs"
        raise MissingColumnError(
            f"{what}: the header line lacks required column(s) {', '.join(missing)}"
            f" (the first line must name the columns{hint})"
        )


def _skipped_lines(caught: list[warnings.WarningMessage]) -> list[tuple[int, str]]:
    out = []
    for warning in caught:
        for match in _SKIPPED_LINE.finditer(str(warning.message)):
            out.append((int(match.group(1)), match.group(2).strip()))
    return out


def _line_numbers(start: int, count: int, skipped: list[int]) -> np.ndarray:
    candidates = np.arange(start, start + count + len(skipped), dtype=np.int64)
    if skipped:
        candidates = candidates[~np.isin(candidates, np.array(skipped, dtype=np.int64))]
    return candidates[:count]


def text_stream(stream: BinaryIO) -> io.TextIOWrapper:
    """Return a strict UTF-8 text view of a binary stream (a BOM is skipped)."""
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
