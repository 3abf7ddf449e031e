"""Villages as admins manage them: import a GeoJSON FeatureCollection, delete one.

Reading villages is public (:mod:`app.api.routes.villages`). After a change, the
communes of the changed villages are re-judged in the background.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.bodies import spool_upload
from app.api.deps import AdminDep, RefresherDep, SettingsDep, StoreDep
from app.api.models import VillageImportReport
from app.services.imports import delete_village, import_villages
from geodata.exports import GEOJSON_MEDIA_TYPE

router = APIRouter(prefix="/api/v1/villages", tags=["villages"])

# The collection is the body itself or a multipart upload, gzip or not.
_GEOJSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            GEOJSON_MEDIA_TYPE: {"schema": {"type": "object"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


@router.post("/import", openapi_extra=_GEOJSON_BODY)
async def import_village_file(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: AdminDep,
    refresher: RefresherDep,
) -> VillageImportReport:
    """Add or update villages from a GeoJSON FeatureCollection, by id (admins).

    Polygons in lon/lat with ``id``, ``name``, ``commune``, ``district``,
    ``province``, ``households`` and optional ``commune_id``, ``population``,
    ``poverty_rate``, ``centre_lon``/``centre_lat``. Answers ``{"added",
    "updated", "unchanged", "communes_added", "rejected": [{"index", "field",
    "reason"}], "rejected_total", "rejected_by_reason", "refreshing"}``;
    ``index`` is the feature's position in ``features``.
    """
    upload = await spool_upload(request, max_bytes=settings.max_import_bytes)
    try:
        report = await run_in_threadpool(
            import_villages, store, upload.file, on_changed=refresher.submit_communes
        )
    finally:
        upload.close()
    return VillageImportReport.model_validate(report.as_dict())


@router.delete("/{village_id}", status_code=204)
def delete_village_by_id(
    store: StoreDep, caller: AdminDep, refresher: RefresherDep, village_id: str
) -> Response:
    """Delete a village and its verdict (admins); 404 when unknown."""
    delete_village(store, village_id, on_changed=refresher.submit_communes)
    return Response(status_code=204)
