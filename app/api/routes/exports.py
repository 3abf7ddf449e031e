"""Exports of villages, dead zones and hex cells for GIS and spreadsheets."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from app.api.deps import StoreDep
from app.api.params import PlaceFilterDep
from app.core.errors import UnprocessableError
from app.services.queries import find_cells, find_dead_zones, find_villages
from geodata.exports import (
    CSV_MEDIA_TYPE,
    GEOJSON_MEDIA_TYPE,
    GPKG_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    Delimiter,
    to_csv,
    to_geojson,
    to_geopackage,
    to_xlsx,
)
from geodata.outputs import cells_export_frame

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

Dataset = Literal["villages", "dead-zones", "cells"]
Format = Literal["geojson", "csv", "gpkg", "xlsx"]
Geometry = Literal["point", "wkt"]
_MEDIA_TYPES = {
    "geojson": GEOJSON_MEDIA_TYPE,
    "csv": CSV_MEDIA_TYPE,
    "gpkg": GPKG_MEDIA_TYPE,
    "xlsx": XLSX_MEDIA_TYPE,
}


@router.get(
    "/{dataset}.{fmt}",
    response_class=Response,
    responses={200: {"content": {m: {} for m in _MEDIA_TYPES.values()}}},
)
async def export(
    store: StoreDep,
    where: PlaceFilterDep,
    dataset: Dataset,
    fmt: Format,
    delimiter: Annotated[
        Delimiter | None,
        Query(
            description="CSV only: ``comma`` (``,`` and a decimal point, the default) or"
            " ``semicolon`` (``;`` and a decimal comma, as Excel in a Vietnamese locale"
            " reads it)."
        ),
    ] = None,
    geometry: Annotated[
        Geometry,
        Query(
            description="CSV and xlsx: ``point`` (``lon``/``lat`` of a point inside each"
            " shape) or ``wkt`` (also its WKT, simplified to fit a spreadsheet cell;"
            " ``wkt_simplified_m`` says by how much)."
        ),
    ] = "point",
) -> Response:
    """Every matching feature (same filters as the queries) as GeoJSON, CSV, xlsx or GeoPackage.

    CSV, xlsx and GeoPackage have one column per carrier and field
    (``hh_without_viettel``, ``p_usable_viettel``...); the GeoJSON keeps the
    nested ``carriers``. Cells have one schema in every format, the one of
    ``lomsong analyze``'s ``cells.gpkg``.
    """
    if delimiter is not None and fmt != "csv":
        raise UnprocessableError(f"delimiter applies to csv only, not to {fmt}")
    if geometry != "point" and fmt not in ("csv", "xlsx"):
        raise UnprocessableError(f"geometry={geometry} applies to csv and xlsx only")

    def build() -> bytes:
        if dataset == "villages":
            frame = find_villages(store, where)
        elif dataset == "dead-zones":
            frame = find_dead_zones(store, where)
        else:
            frame = cells_export_frame(find_cells(store, where))
        layer = dataset.replace("-", "_")
        if fmt == "geojson":
            return to_geojson(frame)
        if fmt == "csv":
            return to_csv(frame, delimiter=delimiter or "comma", wkt=geometry == "wkt")
        if fmt == "xlsx":
            return to_xlsx(frame, sheet=layer, wkt=geometry == "wkt")
        return to_geopackage(frame, layer=layer)

    body = await run_in_threadpool(build)
    filename = f"lomsong-{dataset}.{fmt}"
    disposition = f'attachment; filename="{filename}"'
    return Response(
        body, media_type=_MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition}
    )
