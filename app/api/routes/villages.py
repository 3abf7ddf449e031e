"""Villages and their verdicts, as GeoJSON: filters, ranking and pages for planners."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from fastapi import APIRouter, Request

from app.api.deps import StoreDep
from app.api.models import VillageCollection, VillageFeature
from app.api.params import LimitParam, OffsetParam, PlaceFilterDep
from app.api.responses import GeoJSONResponse, feature, paged_collection
from app.services.queries import find_villages, page, rank_villages

router = APIRouter(prefix="/api/v1", tags=["villages"])


@router.get("/villages", response_class=GeoJSONResponse, response_model=VillageCollection)
def list_villages(
    request: Request,
    store: StoreDep,
    where: PlaceFilterDep,
    q: str | None = None,
    rank: Literal["households_without_signal"] | None = None,
    weight: Literal["poverty"] | None = None,
    limit: LimitParam = None,
    offset: OffsetParam = 0,
) -> GeoJSONResponse:
    """Return a FeatureCollection of villages with verdicts.

    ``q`` ignores diacritics and case; ``min_households`` bounds the households
    without usable signal. ``rank=households_without_signal`` orders by them
    (``weight=poverty``: each poor household counts twice, see ``rank_score``).
    """
    frame = find_villages(store, replace(where, q=q))
    if rank is not None or weight is not None:
        frame = rank_villages(frame, weight=weight)
    return paged_collection(
        request,
        page(frame, limit=limit, offset=offset),
        total=len(frame),
        limit=limit,
        offset=offset,
    )


@router.get("/villages/{village_id}", response_class=GeoJSONResponse, response_model=VillageFeature)
def get_village(store: StoreDep, village_id: str) -> GeoJSONResponse:
    """One village as a GeoJSON Feature; 404 when unknown."""
    return GeoJSONResponse(feature(store.village(village_id)))
