"""geosubmit v2 (Mozilla ichnaea, beaconDB): one reading per cell tower of each item.

The body is ``{"items": [...]}``. Each item has ``timestamp`` (ms since the
epoch), ``position`` (``latitude``, ``longitude``, ``accuracy``, …) and
``cellTowers``; each tower has ``radioType`` (gsm/wcdma/umts/lte/nr),
``mobileCountryCode``, ``mobileNetworkCode``, ``locationAreaCode``,
``cellId``, ``primaryScramblingCode``, ``asu``, ``signalStrength``,
``timingAdvance``, ``serving`` and ``age``. Wi-Fi and Bluetooth entries and
unknown keys are ignored.

Mapping
-------
- ``time`` = item ``timestamp`` − tower ``age`` (both ms; a missing age is 0).
  An item without a timestamp takes ``received_at`` when given (ichnaea's
  rule: the time of the submission), else it is rejected.
- ``signal_dbm`` = ``signalStrength`` when present, else ``asu`` converted
  by radio (GSM 2·ASU − 113, UMTS ASU − 120, LTE/NR ASU − 140; ASU 99 and
  255 mean unknown). An ASU outside the radio's range is rejected.
- ``primaryScramblingCode`` is the PCI for LTE/NR (ichnaea's convention);
  a UMTS scrambling code has no column and is dropped.
- MCC/MNC may be strings with leading zeros (``"04"`` is MNC 4).
- Android's "unavailable" values 2147483647 and 9223372036854775807 mean
  unknown in every numeric field: an unknown LAC or cell id is simply absent,
  an unknown MCC is a missing required field.
- ``source`` is ``"geosubmit"``; ``device`` is absent (the format has none).

No-service representation
-------------------------
geosubmit has no field for it, so lomsong reads only an explicit extension:
a cell tower with ``"noService": true`` (and its ``radioType``,
``mobileCountryCode``, ``mobileNetworkCode``) means the phone had no service
from that carrier there. Nothing is inferred from absence:

- a tower with neither ``signalStrength`` nor ``asu`` (and no ``noService``)
  is an unknown signal, not no service: it is rejected
  (``signal_dbm: no signal strength``) because a reading in service needs one;
- an item whose ``cellTowers`` is empty or missing is no evidence either
  (phones without a SIM, Wi-Fi-only scans do this): it is counted in
  ``ignored``, not rejected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pandas as pd

from geodata.errors import BadEncodingError, BadJSONError
from geodata.formats._common import (
    ParsedChunk,
    RowRejections,
    Source,
    asu_to_dbm,
    numbers,
    open_binary,
    text_stream,
)
from geodata.formats.jsonstream import iter_json_list
from geodata.formats.native import scalar
from geodata.readings import READING_COLUMNS, Rejection
from geodata.text import unencodable_field

# A tower row, flattened: item-level fields, then tower fields, then a problem.
_FIELDS = (
    "index",
    "timestamp",
    "has_position",
    "latitude",
    "longitude",
    "accuracy",
    "radioType",
    "mobileCountryCode",
    "mobileNetworkCode",
    "locationAreaCode",
    "cellId",
    "primaryScramblingCode",
    "asu",
    "signalStrength",
    "age",
    "noService",
)
_TOWER_KEYS = _FIELDS[6:]
# Numeric source fields, and the reading field each one fills.
_NUMERIC_KEYS = (
    ("latitude", "lat"),
    ("longitude", "lon"),
    ("accuracy", "accuracy_m"),
    ("mobileCountryCode", "mcc"),
    ("mobileNetworkCode", "mnc"),
    ("locationAreaCode", "area_code"),
    ("cellId", "cell_id"),
    ("primaryScramblingCode", "pci"),
    ("signalStrength", "signal_dbm"),
    ("asu", "signal_dbm"),
    ("age", "time"),
)
# The reading field a geosubmit key fills, for rejections named by field.
_READING_FIELD = {**dict(_NUMERIC_KEYS), "radioType": "radio", "timestamp": "time"}
_RADIO = {"gsm": "gsm", "wcdma": "umts", "umts": "umts", "lte": "lte", "nr": "nr"}
# Milliseconds since the epoch that pandas can hold and a phone could send.
_MS_MAX = 4.1e12  # 2099-12-04


def parse_geosubmit(payload: object, *, received_at: pd.Timestamp | None = None) -> ParsedChunk:
    """Flatten a decoded geosubmit v2 body into readings, one per cell tower.

    Parameters
    ----------
    payload : object
        The decoded JSON body, ``{"items": [...]}``.
    received_at : pandas.Timestamp, optional
        The time of the submission, used for items without a ``timestamp``.

    Returns
    -------
    ParsedChunk
        Readings indexed by item position, counting from 1 (several per
        item when it lists several towers); rejections numbered the same way.

    Raises
    ------
    BadJSONError
        When the body is not an object with an ``items`` list.

    Examples
    --------
    >>> body = {"items": [{"timestamp": 1767236400000,
    ...     "position": {"latitude": 22.57, "longitude": 105.49, "accuracy": 10},
    ...     "cellTowers": [{"radioType": "lte", "mobileCountryCode": 452,
    ...                     "mobileNetworkCode": "04", "cellId": 2147483647, "asu": 30}]}]}
    >>> chunk = parse_geosubmit(body)
    >>> row = chunk.readings.iloc[0]
    >>> str(row["time"]), float(row["signal_dbm"]), float(row["mnc"]), pd.isna(row["cell_id"])
    ('2026-01-01 03:00:00+00:00', -110.0, 4.0, True)
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise BadJSONError("geosubmit: the body must be a JSON object with an 'items' list")
    items: list[object] = payload["items"]
    numbered = enumerate(items, start=1)
    rows = [row for position, item in numbered for row in _item_rows(position, item)]
    ignored = sum(1 for item in items if isinstance(item, dict) and not item.get("cellTowers"))
    problems = [Rejection(int(str(r[0])), str(r[1]), str(r[2])) for r in rows if len(r) == 3]
    towers = [r for r in rows if len(r) != 3]
    frame = pd.DataFrame(towers, columns=list(_FIELDS), dtype=object)
    chunk = _map_towers(frame, received_at)
    chunk.rejected = sorted(problems + chunk.rejected, key=lambda r: r.index)
    chunk.ignored = ignored
    return chunk


def read_geosubmit(source: Source, *, chunk_rows: int) -> Iterator[ParsedChunk]:
    """Stream a geosubmit v2 file (``{"items": [...]}``, or the list itself), item by item.

    What :func:`parse_geosubmit` does for a request body, in chunks of at
    most ``chunk_rows`` items; readings and rejections are numbered by the
    item's position in the whole file, from 1. A file has no time of submission, so
    an item without a ``timestamp`` is rejected.
    """
    with open_binary(source) as stream:
        text = text_stream(stream)
        try:
            start, batch = 0, list[object]()
            for position, item in iter_json_list(text, key="items", what="geosubmit"):
                if not batch:
                    start = position
                batch.append(item)
                if len(batch) >= chunk_rows:
                    yield _numbered_from(parse_geosubmit({"items": batch}), start - 1)
                    batch = []
            if batch:
                yield _numbered_from(parse_geosubmit({"items": batch}), start - 1)
        except UnicodeDecodeError as exc:
            raise BadEncodingError(f"geosubmit: the file is not UTF-8 text ({exc.reason})") from exc
        finally:
            text.detach()


def _numbered_from(chunk: ParsedChunk, offset: int) -> ParsedChunk:
    """Return ``chunk`` with its rows and rejections numbered ``offset`` further on."""
    chunk.readings.index = chunk.readings.index + offset
    chunk.rejected = [dataclasses.replace(r, index=r.index + offset) for r in chunk.rejected]
    return chunk


def _item_rows(position: int, item: object) -> list[tuple[object, ...]]:
    """Flatten one item into tower tuples, or a ``(index, field, reason)`` problem."""
    if not isinstance(item, dict):
        return [(position, "item", "not a JSON object")]
    fault = unencodable_field(item)
    if fault is not None:  # text UTF-8 cannot hold (a lone surrogate), named by its field
        key, reason = fault
        return [(position, _READING_FIELD.get(key, key), reason)]
    towers = item.get("cellTowers")
    if not towers:
        return []
    if not isinstance(towers, list):
        return [(position, "cellTowers", "not a list")]
    where = item.get("position")
    place = where if isinstance(where, dict) else {}
    head = (
        position,
        scalar(item.get("timestamp")),
        bool(place),
        scalar(place.get("latitude")),
        scalar(place.get("longitude")),
        scalar(place.get("accuracy")),
    )
    item_radio = scalar(item.get("radioType"))
    return [
        head
        + tuple(scalar(t.get(k, item_radio if k == "radioType" else None)) for k in _TOWER_KEYS)
        if isinstance(t, dict)
        else (position, "cellTowers", "an entry is not a JSON object")
        for t in towers
    ]


def _map_towers(frame: pd.DataFrame, received_at: pd.Timestamp | None) -> ParsedChunk:
    index = pd.Index(frame["index"].astype("int64"), dtype="int64")
    frame = frame.set_axis(index)
    rows = RowRejections(index)

    flag = frame["noService"].astype("string").str.lower()
    no_service = flag.eq("true").fillna(False).to_numpy(bool)
    rows.reject(
        (frame["noService"].notna() & ~flag.isin(["true", "false"])).to_numpy(bool),
        "no_service",
        "noService must be true or false",
    )

    for key, name in _NUMERIC_KEYS:
        raw = frame[key]
        not_number = raw.notna() & pd.to_numeric(raw, errors="coerce").isna()
        rows.reject(not_number.to_numpy(bool), name, f"{key} is not a number")

    stamp = numbers(frame["timestamp"])
    age = numbers(frame["age"]).fillna(0.0)
    if received_at is not None:
        received = pd.Timestamp(received_at)
        received = received if received.tzinfo else received.tz_localize("UTC")
        stamp = stamp.where(frame["timestamp"].notna(), received.value / 1e6)
    if received_at is None:
        rows.reject(frame["timestamp"].isna().to_numpy(), "time", "the item has no timestamp")
    rows.reject(stamp.isna().to_numpy(), "time", "timestamp is not a number (ms since the epoch)")
    millis = stamp - age
    rows.reject(~millis.between(0, _MS_MAX), "time", "timestamp minus age is not a plausible time")
    rows.reject(~frame["has_position"].astype(bool), "lat", "the item has no position")

    radio_text = frame["radioType"].astype("string").str.strip().str.lower()
    radio = radio_text.map(_RADIO)
    signal = numbers(frame["signalStrength"])
    asu = numbers(frame["asu"])
    from_asu, asu_outside = asu_to_dbm(asu, radio.astype(object))
    rows.reject(
        signal.isna() & ~no_service & asu_outside, "signal_dbm", "asu outside the radio's ASU range"
    )
    signal = signal.fillna(from_asu)
    rows.reject(
        signal.isna() & ~no_service,
        "signal_dbm",
        "no signal strength (neither signalStrength nor a known asu)",
    )

    bad = rows.bad
    keep = frame.loc[~bad]
    time = pd.to_datetime(millis[~bad].round(), unit="ms", utc=True)
    lte_like = radio[~bad].isin(["lte", "nr"]).fillna(False).to_numpy(bool)
    psc = numbers(keep["primaryScramblingCode"])
    readings = pd.DataFrame(
        {
            "time": time,
            "lat": keep["latitude"],
            "lon": keep["longitude"],
            "accuracy_m": keep["accuracy"],
            "mcc": numbers(keep["mobileCountryCode"]),
            "mnc": numbers(keep["mobileNetworkCode"]),
            "radio": keep["radioType"],
            "signal_dbm": signal[~bad].where(~no_service[~bad]),
            "no_service": no_service[~bad],
            "cell_id": numbers(keep["cellId"]),
            "area_code": numbers(keep["locationAreaCode"]),
            "pci": psc.where(lte_like),
            "rsrq_db": np.nan,
            "sinr_db": np.nan,
            "device": pd.NA,
            "source": "geosubmit",
        },
        index=keep.index,
    )
    return ParsedChunk(readings[list(READING_COLUMNS)], rows.rejections())
