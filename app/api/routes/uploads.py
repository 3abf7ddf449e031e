"""Uploads as batches with an id: the caller's list, one upload (a job's progress), delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from app.api.deps import RefresherDep, StoreDep, UploaderDep
from app.api.models import UploadDeleted, UploadDetail, UploadList, UploadSummary
from app.services.ingest import ImportJobs, delete_upload, list_uploads, upload_of

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

UploadId = Annotated[int, Path(ge=1, le=2**62, description="The upload's id.")]


def get_jobs(request: Request) -> ImportJobs:
    """Return the app's import job runner (started in the lifespan)."""
    jobs: ImportJobs = request.app.state.jobs
    return jobs


JobsDep = Annotated[ImportJobs, Depends(get_jobs)]


def _summary(record: dict[str, Any]) -> UploadSummary:
    return UploadSummary.model_validate({k: v for k, v in record.items() if k != "report"})


@router.get("")
def get_uploads(store: StoreDep, caller: UploaderDep) -> UploadList:
    """List the caller's uploads, newest first (an admin sees everyone's), with counts and rejects.

    Geosubmit bodies are listed too: their refused items are counted here,
    since stumbler clients only ever see ``{}``.
    """
    return UploadList(uploads=[_summary(r) for r in list_uploads(store, caller)])


@router.get("/{upload_id}")
def get_upload(upload_id: UploadId, store: StoreDep, caller: UploaderDep) -> UploadDetail:
    """Return one upload: its status, rows read so far and, once done, its report.

    ``status`` is queued, running, done or failed; ``report`` is the answer a
    synchronous upload gets.
    """
    return UploadDetail.model_validate(upload_of(store, caller, upload_id))


@router.delete("/{upload_id}")
async def remove_upload(
    upload_id: UploadId, store: StoreDep, caller: UploaderDep, refresher: RefresherDep
) -> UploadDeleted:
    """Delete an upload and its readings (its owner or an admin).

    The villages its readings touched are re-judged in the background, and
    their content keys are freed: sending the same file again stores it again.
    """
    removed = await run_in_threadpool(
        delete_upload, store, caller, upload_id, on_removed=refresher.submit_removed
    )
    return UploadDeleted(id=upload_id, readings_removed=removed, refreshing=removed > 0)
