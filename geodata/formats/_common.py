"""Shared pieces of the readings parsers: the chunk type, sources, CSV chunks, rejections.

Private to :mod:`geodata.formats`; the public names are re-exported there.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.errors import BadEncodingError, InvalidInputError, MissingColumnError
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

    Raises
    ------
    InvalidInputError
        Empty file, unreadable CSV; :class:`MissingColumnError` when the
        header lacks a required column; :class:`BadEncodingError` for bytes
        that are not UTF-8.
    """
    if chunk_rows < 1:
        raise InvalidInputError(f"chunk_rows must be at least 1, not {chunk_rows}")
    with open_binary(source) as stream:
        overflows = _leading_overflows(stream)
        try:
            reader = pd.read_csv(
                stream,
                chunksize=chunk_rows,
                skiprows=[line - 1 for line, _ in overflows] or None,
                # Never read a first column as the index: with it, a first row
                # with one field too many would shift every column silently.
                index_col=False,
                dtype=dtype,
                na_values=na_values,
                skip_blank_lines=False,
                on_bad_lines="warn",
                encoding="utf-8-sig",
                encoding_errors="strict",
            )
            with reader:
                next_line = 2
                skipped_seen: list[int] = [line for line, _ in overflows]
                seen: list[str] = []  # the columns, once a chunk has named them
                while True:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        try:
                            chunk = reader.get_chunk()
                        except StopIteration:
                            chunk = None
                    skipped = _skipped_lines(caught)
                    if chunk is None:
                        # Lines refused while pandas looked for a next chunk
                        # and found none: the file ends with them.
                        if skipped:
                            empty = pd.DataFrame(columns=seen, index=pd.Index([], "int64"))
                            yield empty, [Rejection(n, "line", why) for n, why in skipped], 0
                        break
                    if next_line == 2:
                        skipped = overflows + skipped
                    chunk.columns = seen = [str(c).strip() for c in chunk.columns]
                    if next_line == 2:
                        _check_header([str(c) for c in chunk.columns], required, what)
                    skipped_seen.extend(line for line, _ in skipped if line not in skipped_seen)
                    lines = _line_numbers(next_line, len(chunk), skipped_seen)
                    if len(lines):
                        next_line = int(lines[-1]) + 1
                    skipped_seen = [s for s in skipped_seen if s >= next_line]
                    chunk.index = pd.Index(lines, dtype="int64")
                    blank = chunk.isna().all(axis=1).to_numpy()
                    rejected = [Rejection(line, "line", why) for line, why in skipped]
                    yield chunk.loc[~blank], rejected, int(blank.sum())
        except UnicodeDecodeError as exc:
            raise BadEncodingError(f"{what}: the file is not UTF-8 text ({exc.reason})") from exc
        except pd.errors.EmptyDataError as exc:
            raise InvalidInputError(f"{what}: the file is empty (no header line)") from exc
        except pd.errors.ParserError as exc:
            raise InvalidInputError(f"{what}: not a readable CSV ({exc})") from exc


def _leading_overflows(stream: BinaryIO) -> list[tuple[int, str]]:
    """Return the first data lines with more fields than the header, and why.

    pandas cannot flag those itself: it takes the extra field of the first
    data line for an index (shifting every column) or, with
    ``index_col=False``, silently drops it from every line. So they are
    found here and skipped; later overlong lines pandas reports itself.
    Only seekable streams (files, spooled uploads) are checked, on their
    first 64 KiB.
    """
    if not stream.seekable():
        return []
    start = stream.tell()
    head = stream.read(1 << 16)
    stream.seek(start)
    rows = csv.reader(head.decode("utf-8-sig", errors="replace").splitlines())
    header = next(rows, [])
    found = []
    for line, row in enumerate(rows, start=2):
        if len(row) <= len(header):
            break
        found.append((line, f"expected {len(header)} fields, saw {len(row)}"))
    return found


def _check_header(columns: list[str], required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise MissingColumnError(
            f"{what}: the header line lacks required column(s) {', '.join(missing)}"
            " (the first line must name the columns)"
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
