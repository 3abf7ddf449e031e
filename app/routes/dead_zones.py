"""Dead zones (contiguous no-signal or patchy areas), as GeoJSON."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from app.deps import StoreDep
from app.geojson import GEOJSON_MEDIA_TYPE, GeoJSONResponse, feature_collection

router = APIRouter(prefix="/api/v1", tags=["dead zones"])


@router.get(
    "/dead-zones",
    response_class=GeoJSONResponse,
    responses={200: {"content": {GEOJSON_MEDIA_TYPE: {}}}},
)
def list_dead_zones(
    store: StoreDep,
    commune_id: str | None = None,
    verdict: Literal["no_signal", "patchy"] | None = None,
) -> GeoJSONResponse:
    """A FeatureCollection of dead zones, optionally of one commune and verdict."""
    return GeoJSONResponse(
        feature_collection(store.dead_zones(commune_id=commune_id, verdict=verdict))
    )
