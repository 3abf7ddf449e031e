"""Query parameters shared by the planner endpoints and the exports.

The one home of filter parsing: a filter that takes a value from a
vocabulary (``verdict``, ``carrier``, ``radio``) takes several, comma
separated or repeated (``verdict=no_signal,patchy`` or
``verdict=no_signal&verdict=patchy``), in any case; a value outside the
vocabulary is a 422 naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Final

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError

from app.core.errors import UnprocessableError
from app.services.queries import ANY_CARRIER, PlaceFilter
from geodata import constants as C
from geodata.constants import Verdict
from geodata.text import fold

#: A carrier ``lomsong`` has no brand for: ``MCC-MNC`` (see :func:`geodata.sites.carrier_name`).
_CODE_CARRIER: Final = re.compile(r"^\d{3}-\d{2,3}$")
VERDICTS: Final = {v.value: v.value for v in Verdict}
RADIOS: Final = {r: r for r in C.RADIOS}
CARRIERS: Final = {
    fold(name): name for name in (*sorted(C.CARRIERS.values(), key=fold), ANY_CARRIER)
}


def split_values(values: Iterable[str] | None) -> list[str]:
    """Comma-separated and repeated values as one list, trimmed, first spelling kept.

    >>> split_values(["no_signal,patchy", " patchy", ""])
    ['no_signal', 'patchy']
    """
    seen: dict[str, str] = {}
    for value in values or ():
        for part in value.split(","):
            part = part.strip()
            if part and fold(part) not in seen:
                seen[fold(part)] = part
    return list(seen.values())


def parse_choices(
    field: str, values: Iterable[str] | None, vocabulary: Mapping[str, str]
) -> tuple[str, ...] | None:
    """Return the values of a many-valued filter, spelled as ``vocabulary`` spells them.

    ``vocabulary`` maps folded values to their spelling. ``None`` when the
    filter is absent or empty.

    Raises
    ------
    RequestValidationError
        A 422 whose ``loc`` is the field and whose message names the value.

    Examples
    --------
    >>> parse_choices("radio", ["LTE,nr"], {"lte": "lte", "nr": "nr"})
    ('lte', 'nr')
    """
    parsed = []
    for value in split_values(values):
        known = vocabulary.get(fold(value))
        if known is None and field == "carrier" and _CODE_CARRIER.match(value):
            known = value
        if known is None:
            expected = ", ".join(vocabulary.values())
            raise RequestValidationError(
                [
                    {
                        "type": "enum",
                        "loc": ("query", field),
                        "msg": f"unknown {field} {value!r}; expected one of: {expected}",
                        "input": value,
                        "ctx": {"expected": expected},
                    }
                ]
            )
        parsed.append(known)
    return tuple(parsed) or None


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


def _many(vocabulary: Mapping[str, str]) -> object:
    return Query(
        description="One or more of: "
        + ", ".join(vocabulary.values())
        + " (comma separated or repeated; any case)",
    )


def place_filter(
    province: str | None = None,
    district: str | None = None,
    commune_id: str | None = None,
    carrier: Annotated[list[str] | None, _many(CARRIERS)] = None,
    radio: Annotated[list[str] | None, _many(RADIOS)] = None,
    verdict: Annotated[list[str] | None, _many(VERDICTS)] = None,
    min_households: Annotated[int | None, Query(ge=0)] = None,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in degrees (EPSG:4326)")
    ] = None,
) -> PlaceFilter:
    """Return the filters of a planner query; an invalid value or ``bbox`` is a 422 naming it."""
    verdicts = parse_choices("verdict", verdict, VERDICTS)
    return PlaceFilter(
        province=province,
        district=district,
        commune_id=commune_id,
        carrier=parse_choices("carrier", carrier, CARRIERS),
        radio=parse_choices("radio", radio, RADIOS),
        verdict=None if verdicts is None else tuple(Verdict(v) for v in verdicts),
        min_households=min_households,
        bbox=parse_bbox(bbox),
    )


PlaceFilterDep = Annotated[PlaceFilter, Depends(place_filter)]
LimitParam = Annotated[int | None, Query(ge=1, le=MAX_LIMIT)]
OffsetParam = Annotated[int, Query(ge=0)]
