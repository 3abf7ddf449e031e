"""Dead zones (contiguous no-signal or patchy areas), as GeoJSON, for planners."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.api.deps import StoreDep
from app.api.models import DeadZoneCollection
from app.api.params import LimitParam, OffsetParam, PlaceFilterDep
from app.api.responses import GeoJSONResponse, paged_collection
from app.services.queries import ZoneSort, find_dead_zones, page, sort_dead_zones

router = APIRouter(prefix="/api/v1", tags=["dead zones"])


@router.get(
    "/dead-zones",
    response_class=GeoJSONResponse,
    response_model=DeadZoneCollection,
)
def list_dead_zones(
    request: Request,
    store: StoreDep,
    where: PlaceFilterDep,
    sort: ZoneSort | None = None,
    limit: LimitParam = None,
    offset: OffsetParam = 0,
) -> GeoJSONResponse:
    """List dead zones, filtered, sorted and paged.

    Without ``carrier``: the zones where even the best carrier fails
    (``carrier: "any"``); ``carrier=Viettel`` gives Viettel's own zones,
    ``radio=lte`` (with or without ``carrier``) those of one radio. Each zone
    lies in one village (``village_id``). ``verdict``, ``carrier`` and
    ``radio`` take several values (``verdict=no_signal,patchy``).
    ``sort=households|area`` (most first) or ``distance`` (nearest site first);
    ``limit``/``offset`` pages, with ``numberMatched`` and a ``next`` link.
    """
    zones = sort_dead_zones(find_dead_zones(store, where), sort)
    return paged_collection(
        request,
        page(zones, limit=limit, offset=offset),
        total=len(zones),
        limit=limit,
        offset=offset,
    )
