"""lomsong's own readings formats: native CSV and native JSON.

Both carry the columns of DESIGN.md (``time, lat, lon, accuracy_m, mcc, mnc,
radio, signal_dbm, no_service`` and the optional ``cell_id, area_code, pci,
rsrq_db, sinr_db, device, source``).

No-service representation
-------------------------
Explicit: ``no_service`` is ``true`` (also ``1``/``yes``) and ``signal_dbm``
is empty. ``radio`` still names the technology the phone would have used;
``mcc``/``mnc`` name the carrier that gave no service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd

from geodata.errors import BadEncodingError
from geodata.formats._common import (
    ParsedChunk,
    Source,
    csv_chunks,
    open_binary,
    readings_frame,
    text_stream,
)
from geodata.formats.jsonstream import iter_json_list
from geodata.readings import READING_COLUMNS, REQUIRED_COLUMNS, Rejection
from geodata.text import unencodable_field

# Text columns are read as strings so that pandas' type guessing never turns
# a timestamp, a flag or a device id into something else.
_CSV_DTYPES = {c: "object" for c in ("time", "radio", "no_service", "device", "source")}
_INT64 = 2**63


def read_native_csv(source: Source, *, chunk_rows: int) -> Iterator[ParsedChunk]:
    """Stream a native readings CSV; the index is the physical line number.

    Lines with more fields than the header are rejected (field ``line``);
    blank lines are counted in ``ignored``. Extra columns are ignored.
    """
    for frame, rejected, blank in csv_chunks(
        source, what="csv", required=REQUIRED_COLUMNS, chunk_rows=chunk_rows, dtype=_CSV_DTYPES
    ):
        yield ParsedChunk(frame.reindex(columns=list(READING_COLUMNS)), rejected, blank)


def read_native_json(source: Source, *, chunk_rows: int) -> Iterator[ParsedChunk]:
    """Stream a JSON list of native reading objects (or ``{"readings": [...]}``).

    The list is decoded item by item, so memory stays bounded by
    ``chunk_rows``. The index is the item's position in the list, counting
    from 1 (the first object is 1). Items are
    checked as :func:`native_objects` checks them.
    """
    with open_binary(source) as stream:
        text = text_stream(stream)
        try:
            batch: list[tuple[int, Any]] = []
            for position, item in iter_json_list(text, key="readings", what="json"):
                batch.append((position, item))
                if len(batch) >= chunk_rows:
                    yield native_objects(batch)
                    batch = []
            if batch:
                yield native_objects(batch)
        except UnicodeDecodeError as exc:
            raise BadEncodingError(f"json: the file is not UTF-8 text ({exc.reason})") from exc
        finally:
            text.detach()


def native_objects(batch: Iterable[tuple[int, Any]]) -> ParsedChunk:
    r"""Map ``(index, decoded JSON value)`` pairs of native reading objects to a chunk.

    The one JSON-object parser: native JSON files and ``POST /api/v1/readings``
    both come through here. Refused here, each with its field and reason:
    an item that is not an object (field ``item``), text that UTF-8 cannot
    hold (a lone surrogate such as ``"\ud800"``), and a nested object or list
    as a field's value (``"device": {...}``). The other values go through
    :func:`scalar`; keys that are not reading columns are ignored.

    Examples
    --------
    >>> chunk = native_objects(enumerate([{"lat": 22.5}, {"lon": [1, 2]}, "x"], start=1))
    >>> chunk.readings.index.tolist(), [(r.index, r.field) for r in chunk.rejected]
    ([1], [(2, 'lon'), (3, 'item')])
    """
    batch = list(batch)
    rejected = [
        Rejection(i, "item", "not a JSON object") for i, v in batch if not isinstance(v, dict)
    ]
    good = [(i, v) for i, v in batch if isinstance(v, dict)]
    # One pass of orjson's encoder clears the batch; only a refused one is searched.
    if unencodable_field([v for _, v in good]) is not None:
        sound = []
        for i, v in good:
            fault = unencodable_field(v)
            if fault is None:
                sound.append((i, v))
            else:
                rejected.append(Rejection(i, *fault))
        good = sound
    index = pd.Index([i for i, _ in good], dtype="int64")
    if not good:
        return ParsedChunk(readings_frame({}, index), sorted(rejected, key=_by_index))
    frame = pd.DataFrame.from_records(
        [v for _, v in good], index=index, columns=list(READING_COLUMNS)
    )
    nested = pd.Series(False, index=index)
    # pandas infers each column's dtype (numbers validate faster than objects);
    # what it could not type plainly goes through scalar(), value by value.
    for column in READING_COLUMNS:
        values = frame[column]
        flags = pd.api.types.is_bool_dtype(values.dtype)
        if flags and column == "no_service":  # the one true/false field
            continue
        if column == "time" or values.dtype == object or flags:
            cells = values.to_numpy(dtype=object, na_value=None).tolist()
            for position in _nested(cells):
                if not nested.iat[position]:
                    nested.iat[position] = True
                    rejected.append(
                        Rejection(int(index[position]), column, _shape(cells[position]))
                    )
                cells[position] = None
            frame[column] = pd.Series(
                _cells(cells, text=column == "time"), index=index, dtype=object
            )
    if nested.any():
        frame = frame.loc[~nested.to_numpy()]
    return ParsedChunk(frame, sorted(rejected, key=_by_index))


def _by_index(rejection: Rejection) -> int:
    return rejection.index


def _nested(cells: list[object]) -> list[int]:
    """Positions of the objects and lists among ``cells`` (none, in the common case)."""
    if not set(map(type, cells)) & {dict, list}:
        return []
    return [p for p, v in enumerate(cells) if isinstance(v, dict | list)]


def _shape(value: object) -> str:
    """Give the reason a nested value is refused, showing the value cut short."""
    kind = "a JSON object" if isinstance(value, dict) else "a JSON list"
    shown = json.dumps(value, ensure_ascii=False)
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return f"{kind} ({shown}), expected a single value"


_TEXT_KINDS = frozenset({str, type(None)})
_PLAIN_KINDS = frozenset({str, float, type(None)})


def _cells(values: list[object], *, text: bool) -> list[object]:
    """``values`` through :func:`scalar`, skipping the work when every one is already plain."""
    kinds = set(map(type, values))
    if kinds <= _TEXT_KINDS or (not text and kinds <= _PLAIN_KINDS):
        return values
    return [scalar(v, text) for v in values]


def scalar(value: object, text: bool = False) -> object:
    """Return a JSON value as a table cell: scalars kept, anything nested as its JSON text.

    With ``text``, numbers become strings too (a timestamp must be ISO 8601
    text, so ``1700000000`` is refused by validation, not guessed). Integers
    beyond 64 bits become strings, which validation reads as out of range.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        if text or (isinstance(value, int) and not -_INT64 <= value < _INT64):
            return str(value)
        return value
    return json.dumps(value, separators=(",", ":"), default=str)
