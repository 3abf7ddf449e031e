"""Readings uploaded as JSON: lenient parsing, strict validation, storage, refresh."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.analysis import refresh_for_readings
from app.errors import BadRequestError, PayloadTooLargeError, UnprocessableError
from app.store import Store
from geodata.readings import REQUIRED_COLUMNS, Rejection, validate_readings

_SHAPE = "expected a JSON list of reading objects or an object with a 'readings' list"


@dataclass
class IngestReport:
    """What happened to an uploaded batch (the body of the API's answer)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    villages_refreshed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer: counts, each rejection, and rejections by reason."""
        rejected = sorted(self.rejected, key=lambda r: r.index)
        by_reason = Counter(str(r.as_dict()["reason"]) for r in rejected)
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in rejected],
            "rejected_by_reason": dict(by_reason),
            "villages_refreshed": self.villages_refreshed,
        }


def parse_readings_body(body: bytes, *, max_bytes: int) -> tuple[pd.DataFrame, list[Rejection]]:
    """Turn a JSON body into a raw readings table and per-item rejections.

    The table's index is each reading's position in the uploaded list.

    Raises
    ------
    PayloadTooLargeError, BadRequestError, UnprocessableError
        For a body too large, empty or not JSON, or JSON of the wrong shape.
    """
    if len(body) > max_bytes:
        raise PayloadTooLargeError(f"request body is larger than {max_bytes} bytes")
    if not body.strip():
        raise BadRequestError(f"request body is empty; {_SHAPE}")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from exc
    if isinstance(payload, dict) and "readings" in payload:
        payload = payload["readings"]
    if not isinstance(payload, list):
        raise UnprocessableError(_SHAPE)
    objects = {i: item for i, item in enumerate(payload) if isinstance(item, dict)}
    rejected = [
        Rejection(i, "reading", "not a JSON object")
        for i, item in enumerate(payload)
        if not isinstance(item, dict)
    ]
    frame = pd.DataFrame.from_records(list(objects.values()), index=list(objects.keys()))
    for column in REQUIRED_COLUMNS:
        if column not in frame.columns:
            # A field missing from every row rejects each row, not the batch.
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype=object)
    return frame, rejected


def ingest_readings(
    store: Store, frame: pd.DataFrame, *, rejected: list[Rejection] | None = None
) -> IngestReport:
    """Validate, store and account for a batch, then refresh touched villages.

    Parameters
    ----------
    store : Store
    frame : pandas.DataFrame
        Raw readings; the index gives each row's position in the upload.
    rejected : list of Rejection, optional
        Rejections already made while parsing (kept in the report).
    """
    report = IngestReport(rejected=list(rejected or []))
    if frame.empty:
        return report
    validated = validate_readings(frame)
    report.rejected += validated.rejected
    report.accepted, report.duplicates = store.add_readings(validated.valid)
    if report.accepted:
        report.villages_refreshed = refresh_for_readings(store, validated.valid)
    return report
