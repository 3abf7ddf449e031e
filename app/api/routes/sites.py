"""Carrier sites and cells: planners read them, admins import and delete them.

After a change, every village is re-judged in the background (a cell
reaches villages up to ~15 km away), so verdicts follow the new network.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.bodies import spool_upload
from app.api.deps import AdminDep, RefresherDep, SettingsDep, SiteReaderDep, StoreDep
from app.api.models import SiteCollection, SiteImportReport
from app.api.params import LimitParam, OffsetParam, parse_bbox
from app.api.responses import GeoJSONResponse, paged_collection
from app.services.imports import delete_site, import_sites
from app.services.queries import page
from geodata import constants as C

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])

RadioParam = Annotated[
    str | None, Query(pattern=C.RADIO_PATTERN, description="gsm, umts, lte or nr")
]
# The file is the body itself (raw CSV) or a multipart upload, gzip or not.
_CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


@router.get("", response_class=GeoJSONResponse, response_model=SiteCollection)
def list_sites(
    request: Request,
    store: StoreDep,
    caller: SiteReaderDep,
    carrier: Annotated[
        str | None, Query(description="A carrier's name (Viettel) or MCC-MNC code (452-04)")
    ] = None,
    radio: RadioParam = None,
    site_id: str | None = None,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in degrees (EPSG:4326)")
    ] = None,
    limit: LimitParam = None,
    offset: OffsetParam = 0,
) -> GeoJSONResponse:
    """Return the stored cells as GeoJSON points (planners and admins).

    Each feature is one cell: its site, carrier, radio, cell and area codes,
    antenna height, azimuth (``null``: omni), beamwidth, EIRP, frequency and range.
    """
    frame = store.find_sites(carrier=carrier, radio=radio, site_id=site_id, bbox=parse_bbox(bbox))
    return paged_collection(
        request,
        page(frame, limit=limit, offset=offset),
        total=len(frame),
        limit=limit,
        offset=offset,
    )


@router.post("/import", openapi_extra=_CSV_BODY)
async def import_site_file(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: AdminDep,
    refresher: RefresherDep,
    format: Annotated[
        Literal["native", "opencellid"],
        Query(description="native: OpenCelliD columns plus lomsong's; opencellid: those only"),
    ] = "native",
    replace: Annotated[
        bool, Query(description="The file is the whole network: delete the cells it lacks")
    ] = False,
) -> SiteImportReport:
    """Add or update cells from a site CSV or an OpenCelliD ``cell_towers.csv`` (admins).

    Cells are matched by radio, MCC, MNC, cell id (and LAC for GSM/UMTS):
    importing a file again changes nothing. Answers ``{"added", "updated",
    "unchanged", "removed", "rejected": [{"index", "field", "reason"}],
    "rejected_total", "rejected_by_reason", "refreshing"}``; ``index`` is the
    line number (header = 1). With ``replace=true`` a file with any refused
    row is refused whole (422) and nothing changes.
    """
    upload = await spool_upload(request, max_bytes=settings.max_import_bytes)
    try:
        report = await run_in_threadpool(
            import_sites,
            store,
            upload.file,
            format=format,
            replace=replace,
            on_changed=refresher.submit_communes,
        )
    finally:
        upload.close()
    return SiteImportReport.model_validate(report.as_dict())


@router.delete("/{site_id:path}", status_code=204)
def delete_site_cells(
    store: StoreDep,
    caller: AdminDep,
    refresher: RefresherDep,
    site_id: str,
    radio: RadioParam = None,
    cell_id: Annotated[
        int | None,
        Query(ge=C.CELL_ID_MIN, le=C.NR_CELL_ID_MAX, description="Only this cell of the site"),
    ] = None,
) -> Response:
    """Delete a site's cells (only those of ``radio`` / ``cell_id`` when given); 404 when none."""
    delete_site(
        store,
        site_id,
        radio=radio.lower() if radio else None,
        cell_id=cell_id,
        on_changed=refresher.submit_communes,
    )
    return Response(status_code=204)
