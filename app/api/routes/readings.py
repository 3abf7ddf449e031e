"""Uploads of signal readings (JSON batches, files) and the planners' raw export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.bodies import (
    SpooledUpload,
    decode_json,
    gunzip_bytes,
    is_gzip,
    read_body,
    spool_upload,
)
from app.api.deps import (
    IdempotencyDep,
    PlannerDep,
    RefresherDep,
    SettingsDep,
    StoreDep,
    UploaderDep,
)
from app.api.models import UploadQueued, UploadReport
from app.api.routes.uploads import JobsDep
from app.core.config import Settings
from app.services.idempotency import request_digest
from app.services.ingest import (
    READINGS_SHAPE,
    ImportJobs,
    ingest_file,
    ingest_readings,
    queue_import,
)
from app.services.refresh import Refresher
from app.store import Store
from geodata.exports import csv_text
from geodata.readings import READING_COLUMNS

router = APIRouter(prefix="/api/v1", tags=["readings"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe uploads: the same key and body replay the first answer.",
    ),
]
ImportFormat = Literal["auto", "csv", "json", "gnettrack", "opencellid", "geojson", "xlsx"]

#: Columns of the raw export: everything but the (hashed) device, still an identifier.
EXPORT_COLUMNS = tuple(c for c in READING_COLUMNS if c != "device")


@router.post("/readings")
async def post_readings(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: UploaderDep,
    refresher: RefresherDep,
    idempotency: IdempotencyDep,
    idempotency_key: IdempotencyKey = None,
) -> UploadReport:
    """Store a JSON batch of readings: a list, or ``{"readings": [...]}`` (gzip accepted).

    Bad rows never sink the good ones: each is listed (the first 1,000) and counted.
    """
    body = await read_body(request, max_bytes=settings.max_body_bytes)
    if is_gzip(request.headers, body):
        body = gunzip_bytes(body, max_bytes=settings.max_body_bytes)
    payload = decode_json(body, expected=READINGS_SHAPE)
    answer = await run_in_threadpool(
        idempotency.run,
        lambda tag: ingest_readings(
            store, payload, on_stored=refresher.submit, request=tag, owner=caller.scope
        ).as_dict(),
        scope=f"{caller.scope}:readings",
        key=idempotency_key,
        digest=request_digest(body),
    )
    return UploadReport.model_validate(answer)


@router.post(
    "/readings/import",
    response_model=UploadReport,
    responses={202: {"model": UploadQueued, "description": "Queued as a job: see Location."}},
)
async def import_readings(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: UploaderDep,
    refresher: RefresherDep,
    idempotency: IdempotencyDep,
    jobs: JobsDep,
    format: Annotated[
        ImportFormat, Query(description="The file's layout (default: sniffed).")
    ] = "auto",
    tz: Annotated[
        str | None, Query(description="IANA time zone of a G-NetTrack log, e.g. Asia/Ho_Chi_Minh")
    ] = None,
    mcc: Annotated[int | None, Query(ge=1, le=999, description="G-NetTrack: the MCC")] = None,
    mnc: Annotated[int | None, Query(ge=0, le=999, description="G-NetTrack: the MNC")] = None,
    idempotency_key: IdempotencyKey = None,
    run_async: Annotated[
        bool,
        Query(
            alias="async",
            description="Answer 202 at once and import as a job (``GET /api/v1/uploads/{id}``).",
        ),
    ] = False,
    prefer: Annotated[
        str | None, Header(description="``respond-async``: the same as ``?async=true``.")
    ] = None,
) -> UploadReport | JSONResponse:
    """Import a file sent as the raw body or as a multipart upload, gzip or not.

    The body is spooled to disk (at most ``LOMSONG_MAX_IMPORT_BYTES``), then
    parsed, validated and stored in chunks: memory stays bounded. With
    ``?async=true`` (or ``Prefer: respond-async``) the answer is 202 with the
    upload's id and ``Location`` as soon as the file is spooled; one worker
    thread imports it (no ``Idempotency-Key`` replay for jobs).
    """
    upload = await spool_upload(request, max_bytes=settings.max_import_bytes)
    if run_async or "respond-async" in (prefer or "").lower():
        return await run_in_threadpool(
            _queue_import,
            store,
            jobs,
            upload,
            caller.scope,
            refresher,
            settings,
            format,
            tz,
            mcc,
            mnc,
        )
    try:
        answer = await run_in_threadpool(
            idempotency.run,
            lambda tag: ingest_file(
                store,
                upload.file,
                format=format,
                tz=tz,
                mcc=mcc,
                mnc=mnc,
                chunk_rows=settings.import_chunk_rows,
                on_stored=refresher.submit,
                request=tag,
                owner=caller.scope,
            ).as_dict(),
            scope=f"{caller.scope}:import",
            key=idempotency_key,
            digest=request_digest(upload.sha256, format, tz, str(mcc), str(mnc)),
        )
    finally:
        upload.close()
    return UploadReport.model_validate(answer)


def _queue_import(
    store: Store,
    jobs: ImportJobs,
    upload: SpooledUpload,
    owner: str,
    refresher: Refresher,
    settings: Settings,
    format: str,
    tz: str | None,
    mcc: int | None,
    mnc: int | None,
) -> JSONResponse:
    """Queue the spooled file as a job (it closes the file when done); answer 202."""
    upload_id = queue_import(
        store,
        jobs,
        upload.file,
        owner=owner,
        format=format,
        tz=tz,
        mcc=mcc,
        mnc=mnc,
        chunk_rows=settings.import_chunk_rows,
        on_stored=refresher.submit,
        on_done=upload.close,
    )
    location = f"/api/v1/uploads/{upload_id}"
    body = UploadQueued(id=upload_id, status="queued", location=location)
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": location})


def _export_csv(store: Store) -> Iterator[str]:
    header = True
    for batch in store.iter_readings(EXPORT_COLUMNS):
        batch["no_service"] = batch["no_service"].map({0: "false", 1: "true"}.get)
        yield csv_text(batch, header=header)  # collectors' text: formulas neutralised
        header = False
    if header:  # no readings at all: still a valid CSV
        yield ",".join(EXPORT_COLUMNS) + "\n"


@router.get(
    "/readings/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_readings(store: StoreDep, caller: PlannerDep) -> StreamingResponse:
    """Every stored reading as native CSV (planners; no device column)."""
    return StreamingResponse(
        _export_csv(store),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="readings.csv"'},
    )
