"""Spreadsheets (``.xlsx``, also ``.xls`` and ``.ods``): the first sheet, read as a CSV.

Field teams keep their logs in Excel. A workbook is read with python-calamine
(a Rust reader, ~10x openpyxl's speed): the first sheet's rows are written as
UTF-8 CSV to a temporary file, which then goes through the very CSV pipeline
of its layout (native, G-NetTrack, OpenCelliD, sites), so a spreadsheet gets
the same rejections as the CSV it would be saved as. Rows keep their
spreadsheet numbers: the first non-empty row is the header, and a rejection's
index is the row number Excel shows.

Cells become CSV text as Excel would save them: whole numbers without
``.0`` (an MCC typed as 452 is read back as ``452``), booleans as
``true``/``false``, dates as ISO 8601 (no offset: read as UTC), and line
breaks inside a cell as spaces (so that one row stays one line).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
import zipfile
from typing import BinaryIO

import python_calamine

from geodata import constants as C
from geodata.errors import InvalidInputError

#: The first bytes of a zip (``.xlsx``, ``.ods``) and of an OLE2 compound file (``.xls``).
SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


class SheetCSV(io.BufferedRandom):
    """A spreadsheet's first sheet as UTF-8 CSV in an unnamed temporary file.

    ``first_row`` is the spreadsheet row number of its first line (the header),
    so that CSV line *n* is spreadsheet row ``first_row + n - 1``.
    """

    first_row: int = 1

    def __init__(self, raw: io.RawIOBase) -> None:
        super().__init__(raw)
        self.first_row = 1


def is_spreadsheet(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts like a workbook."""
    return head.startswith(SPREADSHEET_MAGIC)


def sheet_as_csv(stream: BinaryIO, *, what: str) -> SheetCSV:
    """Write the first sheet of the workbook in ``stream`` as CSV; the caller closes it.

    Raises
    ------
    InvalidInputError
        A workbook larger than :data:`geodata.constants.XLSX_MAX_BYTES` or
        inflating to more than :data:`~geodata.constants.XLSX_MAX_INFLATED_BYTES`
        (it is read whole into memory), one calamine cannot read (corrupt, encrypted),
        or one without sheets.
    """
    start = stream.tell()
    size = stream.seek(0, io.SEEK_END) - start
    stream.seek(start)
    if size > C.XLSX_MAX_BYTES:
        raise InvalidInputError(
            f"{what}: a spreadsheet of {size / 1e6:.0f} MB is larger than the"
            f" {C.XLSX_MAX_BYTES / 1e6:.0f} MB read at once; save it as CSV UTF-8 and send that"
        )
    _check_inflated_size(stream, what)
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(stream)
        if not book.sheet_names:
            raise InvalidInputError(f"{what}: the spreadsheet has no sheet")
        sheet = book.get_sheet_by_index(0)
        rows = iter(sheet.iter_rows())
    except python_calamine.CalamineError as exc:
        raise InvalidInputError(f"{what}: not a readable spreadsheet ({exc})") from exc
    fd, path = tempfile.mkstemp(prefix="lomsong-sheet-", suffix=".csv")
    os.unlink(path)
    out = SheetCSV(io.FileIO(fd, "w+b"))
    try:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        for row in rows:  # empty rows above the header are left out, and counted
            if any(v not in ("", None) for v in row):
                writer.writerow([_text(v) for v in row])
                break
            out.first_row += 1
        writer.writerows([_text(v) for v in row] for row in rows)
        text.flush()
        text.detach()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out


def _check_inflated_size(stream: BinaryIO, what: str) -> None:
    """Refuse a zipped workbook whose parts declare more than the inflated bound."""
    start = stream.tell()
    try:
        with zipfile.ZipFile(stream) as book:
            inflated = sum(part.file_size for part in book.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a zip (.xls) or a broken one: calamine says what is wrong
    finally:
        stream.seek(start)
    if inflated > C.XLSX_MAX_INFLATED_BYTES:
        raise InvalidInputError(
            f"{what}: the spreadsheet inflates to {inflated / 1e6:,.0f} MB, more than the"
            f" {C.XLSX_MAX_INFLATED_BYTES / 1e6:,.0f} MB read at once; save it as CSV UTF-8"
            " and send that"
        )


def _text(value: object) -> str:
    """Write a cell as the text Excel writes for it in a CSV."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**63:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)
