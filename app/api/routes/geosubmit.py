"""``POST /v2/geosubmit``: the wire format Tower Collector, NeoStumbler and other stumblers send.

The body is ichnaea's geosubmit v2 (``{"items": [...]}``), gzip or plain. The
answer is ``{}`` as those clients expect; rows refused by validation are
logged with their reasons, since the clients would not show them anyway.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from app.api.bodies import decode_json, gunzip_bytes, is_gzip, read_body
from app.api.deps import GeosubmitUploaderDep, RefresherDep, SettingsDep, StoreDep
from app.api.models import GeosubmitAnswer
from app.services.ingest import ingest_geosubmit

logger = logging.getLogger(__name__)

router = APIRouter(tags=["geosubmit"])

_SHAPE = 'expected a geosubmit v2 object {"items": [...]}'


@router.post("/v2/geosubmit")
async def geosubmit(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: GeosubmitUploaderDep,
    refresher: RefresherDep,
) -> GeosubmitAnswer:
    """Store the cell observations of a geosubmit v2 batch; answers ``{}``.

    The key comes as ``?key=`` or ``X-API-Key``. Wi-Fi and Bluetooth entries
    and unknown fields are ignored.
    """
    body = await read_body(request, max_bytes=settings.max_body_bytes)
    if is_gzip(request.headers, body):
        body = gunzip_bytes(body, max_bytes=settings.max_body_bytes)
    payload = decode_json(body, expected=_SHAPE)
    report = await run_in_threadpool(
        ingest_geosubmit, store, payload, on_stored=refresher.submit, owner=caller.scope
    )
    logger.info(
        "geosubmit from %s: %d new, %d duplicates, %d ignored, rejected %s",
        caller.identity,
        report.accepted,
        report.duplicates,
        report.ignored,
        dict(report.rejected_by_reason) or "none",
    )
    return GeosubmitAnswer()
