"""Planner queries: filters, sorting, ranking and pages over villages, dead zones and cells.

The store hands back frames; this module narrows, orders and slices them.
Text filters (province, district, carrier) ignore diacritics and case, so
"Chiem Hoa" finds "Chiêm Hóa".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.errors import UnprocessableError
from app.store import Store
from geodata import constants as C
from geodata.constants import Verdict
from geodata.text import fold

ZoneSort = Literal["households", "area", "distance"]
#: Cell classes that count as each village verdict, for filtering cells by verdict.
_CLASSES_OF_VERDICT: dict[str, tuple[str, ...]] = {
    "no_signal": ("no_signal",),
    "patchy": ("patchy",),
    "covered": ("good", "fair", "weak"),
    "unknown": ("unknown",),
}


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


@dataclass(frozen=True)
class PlaceFilter:
    """The filters every planner query and export takes (``None`` = no filter)."""

    province: str | None = None
    district: str | None = None
    commune_id: str | None = None
    carrier: str | None = None
    radio: str | None = None
    verdict: Verdict | None = None
    min_households: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    q: str | None = None


def _folded_equal(series: pd.Series, wanted: str) -> np.ndarray:
    key = fold(wanted)
    return np.array([fold(str(v)) == key for v in series], dtype=bool)


def _in_bbox(frame: gpd.GeoDataFrame, bbox: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(frame.geometry.intersects(shapely.box(*bbox)), dtype=bool)


def _has_radio(carriers: Any, radio: str, carrier: str | None) -> bool:
    summaries = {fold(k): v for k, v in (carriers or {}).items()}
    wanted = [summaries.get(fold(carrier))] if carrier else list(summaries.values())
    return any(s and str(s.get("radio", "")).lower() == radio.lower() for s in wanted)


def find_villages(store: Store, where: PlaceFilter) -> gpd.GeoDataFrame:
    """Villages matching ``where``; ``min_households`` bounds households without signal."""
    frame = store.find_villages(
        q=where.q, carrier=where.carrier, commune_id=where.commune_id, verdict=where.verdict
    )
    keep = np.ones(len(frame), dtype=bool)
    if where.province:
        keep &= _folded_equal(frame["province"], where.province)
    if where.district:
        keep &= _folded_equal(frame["district"], where.district)
    if where.radio:
        keep &= np.array(
            [_has_radio(c, where.radio, where.carrier) for c in frame["carriers"]], dtype=bool
        )
    if where.min_households is not None:
        without = pd.to_numeric(frame["households_without_signal"]).fillna(0).to_numpy()
        keep &= without >= where.min_households
    if where.bbox:
        keep &= _in_bbox(frame, where.bbox)
    return frame.loc[keep]


def rank_villages(
    frame: gpd.GeoDataFrame, *, weight: Literal["poverty"] | None
) -> gpd.GeoDataFrame:
    """Villages by households without usable signal, most first (ties by id).

    With ``weight="poverty"`` a village scores ``without × (1 + poverty_rate)``:
    each poor household counts twice; a village with no poverty rate counts
    its households once. The score is added as ``rank_score``.
    """
    without = pd.to_numeric(frame["households_without_signal"]).fillna(0).astype(float)
    score = without
    if weight == "poverty":
        poverty = pd.to_numeric(frame["poverty_rate"]).fillna(0.0).clip(0, 1)
        score = without * (1.0 + poverty)
    ranked = frame.assign(rank_score=score.round(3))
    return ranked.sort_values(["rank_score", "id"], ascending=[False, True], kind="stable")


def find_dead_zones(store: Store, where: PlaceFilter) -> gpd.GeoDataFrame:
    """Dead zones matching ``where``, with their commune's district and province.

    ``carrier`` keeps zones that carrier is absent from; ``radio`` keeps zones
    holding a stored cell of that radio (and carrier) without reliable signal.
    """
    zones = store.dead_zones(commune_id=where.commune_id, verdict=where.verdict)  # type: ignore[arg-type]
    communes = pd.DataFrame(store.communes().drop(columns="geometry"))
    places = communes.set_index("id")[["district", "province"]]
    zones = zones.join(places, on="commune_id")
    keep = np.ones(len(zones), dtype=bool)
    if where.province:
        keep &= _folded_equal(zones["province"], where.province)
    if where.district:
        keep &= _folded_equal(zones["district"], where.district)
    if where.carrier:
        wanted = fold(where.carrier)
        keep &= np.array(
            [wanted in {fold(str(c)) for c in (a or [])} for a in zones["carriers_absent"]],
            dtype=bool,
        )
    if where.min_households is not None:
        keep &= pd.to_numeric(zones["households"]).fillna(0).to_numpy() >= where.min_households
    if where.bbox:
        keep &= _in_bbox(zones, where.bbox)
    zones = zones.loc[keep]
    if where.radio and len(zones):
        cells = store.cells(carrier=where.carrier, radio=where.radio)
        bad = cells.loc[cells["p_usable"].fillna(0) < C.USABLE_P_HIGH]
        points = gpd.points_from_xy(bad["lon"], bad["lat"])
        _, zone_index = zones.sindex.query(points, predicate="within")
        zones = zones.iloc[np.unique(zone_index)]
    return zones


def sort_dead_zones(zones: gpd.GeoDataFrame, by: ZoneSort | None) -> gpd.GeoDataFrame:
    """Most households or largest area first, or nearest site first (ties by id)."""
    if by is None:
        return zones
    column, ascending = {
        "households": ("households", False),
        "area": ("area_km2", False),
        "distance": ("nearest_site_m", True),
    }[by]
    return zones.sort_values(
        [column, "id"], ascending=[ascending, True], kind="stable", na_position="last"
    )


def find_cells(store: Store, where: PlaceFilter) -> pd.DataFrame:
    """Stored cells matching ``where`` (``verdict`` maps onto cell classes)."""
    communes = store.communes()
    keep = np.ones(len(communes), dtype=bool)
    if where.province:
        keep &= _folded_equal(communes["province"], where.province)
    if where.district:
        keep &= _folded_equal(communes["district"], where.district)
    if where.commune_id:
        keep &= (communes["id"] == where.commune_id).to_numpy()
    filtered = bool(where.province or where.district or where.commune_id)
    cells = store.cells(
        commune_ids=communes.loc[keep, "id"].tolist() if filtered else None,
        carrier=where.carrier,
        radio=where.radio,
        bbox=where.bbox,
    )
    if where.verdict:
        cells = cells.loc[cells["cell_class"].isin(_CLASSES_OF_VERDICT[where.verdict])]
    if where.min_households is not None:
        raise UnprocessableError("min_households does not apply to cells")
    return cells


def page(frame: pd.DataFrame, *, limit: int | None, offset: int) -> pd.DataFrame:
    """Rows ``offset`` to ``offset + limit`` (all from ``offset`` when ``limit`` is None)."""
    end = None if limit is None else offset + limit
    return frame.iloc[offset:end]
