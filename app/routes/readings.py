"""Uploads of signal readings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from app.deps import SettingsDep, StoreDep
from app.errors import PayloadTooLargeError
from app.ingest import ingest_readings, parse_readings_body

router = APIRouter(prefix="/api/v1", tags=["readings"])


async def _read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused as soon as it grows past ``max_bytes``."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLargeError(f"request body is larger than {max_bytes} bytes")
    return bytes(body)


@router.post("/readings")
async def post_readings(request: Request, store: StoreDep, settings: SettingsDep) -> Any:
    """Store a JSON batch of readings: a list, or ``{"readings": [...]}``.

    Answers ``{"accepted", "duplicates", "rejected": [{"index", "field",
    "reason"}], "rejected_by_reason", "villages_refreshed"}``; bad rows never
    sink the good ones.
    """
    body = await _read_body(request, settings.max_body_bytes)
    frame, rejected = parse_readings_body(body, max_bytes=settings.max_body_bytes)
    report = await run_in_threadpool(ingest_readings, store, frame, rejected=rejected)
    return report.as_dict()
