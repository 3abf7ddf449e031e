"""Villages and their verdicts, as GeoJSON."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from app.deps import StoreDep
from app.geojson import GEOJSON_MEDIA_TYPE, GeoJSONResponse, feature, feature_collection

router = APIRouter(prefix="/api/v1", tags=["villages"])

Verdict = Literal["no_signal", "patchy", "covered", "unknown"]
_GEOJSON: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON_MEDIA_TYPE: {}}}}


@router.get("/villages", response_class=GeoJSONResponse, responses=_GEOJSON)
def list_villages(
    store: StoreDep,
    q: str | None = None,
    commune_id: str | None = None,
    verdict: Verdict | None = None,
    province: str | None = None,
    district: str | None = None,
    carrier: str | None = None,
) -> GeoJSONResponse:
    """A FeatureCollection of villages with verdicts; ``q`` ignores diacritics and case."""
    frame = store.find_villages(
        q=q,
        carrier=carrier,
        commune_id=commune_id,
        verdict=verdict,
        province=province,
        district=district,
    )
    return GeoJSONResponse(feature_collection(frame))


@router.get("/villages/{village_id}", response_class=GeoJSONResponse, responses=_GEOJSON)
def get_village(store: StoreDep, village_id: str) -> GeoJSONResponse:
    """One village as a GeoJSON Feature; 404 when unknown."""
    return GeoJSONResponse(feature(store.village(village_id)))
