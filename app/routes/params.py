"""Query parameters shared by the planner endpoints and the exports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from app.geojson import GeoJSONResponse, feature_collection
from app.queries import PlaceFilter, parse_bbox
from geodata import constants as C
from geodata.constants import Verdict

#: Most features one page returns.
MAX_LIMIT = 1000


def place_filter(
    province: str | None = None,
    district: str | None = None,
    commune_id: str | None = None,
    carrier: str | None = None,
    radio: Annotated[str | None, Query(pattern=C.RADIO_PATTERN)] = None,
    verdict: Verdict | None = None,
    min_households: Annotated[int | None, Query(ge=0)] = None,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in degrees (EPSG:4326)")
    ] = None,
) -> PlaceFilter:
    """The filters of a planner query; an invalid ``bbox`` is a 422 with a clear detail."""
    return PlaceFilter(
        province=province,
        district=district,
        commune_id=commune_id,
        carrier=carrier,
        radio=radio.lower() if radio else None,
        verdict=verdict,
        min_households=min_households,
        bbox=parse_bbox(bbox),
    )


PlaceFilterDep = Annotated[PlaceFilter, Depends(place_filter)]
LimitParam = Annotated[int | None, Query(ge=1, le=MAX_LIMIT)]
OffsetParam = Annotated[int, Query(ge=0)]


def paged_collection(
    request: Request, frame: Any, *, total: int, limit: int | None, offset: int
) -> GeoJSONResponse:
    """A FeatureCollection with ``numberMatched``/``numberReturned`` and a ``next`` link.

    The ``next`` link (also sent as an HTTP ``Link`` header) is there only
    when more features follow.
    """
    collection = feature_collection(frame)
    collection["numberMatched"] = total
    collection["numberReturned"] = len(frame)
    headers = {}
    if limit is not None and offset + len(frame) < total:
        url = str(request.url.include_query_params(offset=offset + limit, limit=limit))
        collection["links"] = [{"rel": "next", "href": url, "type": "application/geo+json"}]
        headers["Link"] = f'<{url}>; rel="next"'
    return GeoJSONResponse(collection, headers=headers)
