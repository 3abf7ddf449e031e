"""Exports of villages, dead zones and hex cells for GIS and spreadsheets."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from app.api.deps import StoreDep
from app.api.params import PlaceFilterDep
from app.services.queries import find_cells, find_dead_zones, find_villages
from coverage.map_cells import cells_geoframe
from geodata.exports import (
    CSV_MEDIA_TYPE,
    GEOJSON_MEDIA_TYPE,
    GPKG_MEDIA_TYPE,
    to_csv,
    to_geojson,
    to_geopackage,
)

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

Dataset = Literal["villages", "dead-zones", "cells"]
Format = Literal["geojson", "csv", "gpkg"]
_MEDIA_TYPES = {"geojson": GEOJSON_MEDIA_TYPE, "csv": CSV_MEDIA_TYPE, "gpkg": GPKG_MEDIA_TYPE}


@router.get(
    "/{dataset}.{fmt}",
    response_class=Response,
    responses={200: {"content": {m: {} for m in _MEDIA_TYPES.values()}}},
)
async def export(store: StoreDep, where: PlaceFilterDep, dataset: Dataset, fmt: Format) -> Response:
    """Every matching feature (same filters as the queries) as GeoJSON, CSV or GeoPackage."""

    def build() -> bytes:
        if dataset == "villages":
            frame = find_villages(store, where)
        elif dataset == "dead-zones":
            frame = find_dead_zones(store, where)
        else:
            frame = cells_geoframe(find_cells(store, where))
        layer = dataset.replace("-", "_")
        if fmt == "geojson":
            return to_geojson(frame)
        if fmt == "csv":
            return to_csv(frame)
        return to_geopackage(frame, layer=layer)

    body = await run_in_threadpool(build)
    filename = f"lomsong-{dataset}.{fmt}"
    disposition = f'attachment; filename="{filename}"'
    return Response(
        body, media_type=_MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition}
    )
