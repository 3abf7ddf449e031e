"""Query parameters shared by the planner endpoints and the exports."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from app.core.errors import UnprocessableError
from app.services.queries import PlaceFilter
from geodata import constants as C
from geodata.constants import Verdict


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``"west,south,east,north"`` in degrees, validated.

    Raises
    ------
    UnprocessableError
        When it is not four numbers in range with west < east and south < north.

    Examples
    --------
    >>> parse_bbox("105.4,22.5,105.6,22.7")
    (105.4, 22.5, 105.6, 22.7)
    """
    if text is None:
        return None
    parts = text.split(",")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise UnprocessableError(
            f"bbox must be four numbers west,south,east,north (degrees), got {text!r}"
        ) from None
    if not (C.LON_MIN <= west < east <= C.LON_MAX and C.LAT_MIN <= south < north <= C.LAT_MAX):
        raise UnprocessableError(
            "bbox must satisfy -180 <= west < east <= 180 and -90 <= south < north <= 90,"
            f" got {text!r}"
        )
    return west, south, east, north


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
    """Return the filters of a planner query; an invalid ``bbox`` is a 422 with a clear detail."""
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
