"""Planner queries: the one home of the filters over villages, dead zones and cells.

Filters on stored columns (commune, verdict, province, district, the name
search, bounding boxes of cells) run in SQL, on folded names where they
ignore diacritics; filters on what a verdict says per carrier run here on
the frames the store hands back. Then this module orders and slices them.
Text filters (province, district, carrier, ``q``) ignore diacritics and
case, so "Chiem Hoa" finds "Chiêm Hóa".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.core.errors import UnprocessableError
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


def _in_bbox(frame: gpd.GeoDataFrame, bbox: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(frame.geometry.intersects(shapely.box(*bbox)), dtype=bool)


def _has_radio(carriers: Any, radio: str, carrier: str | None) -> bool:
    summaries = {fold(k): v for k, v in (carriers or {}).items()}
    wanted = [summaries.get(fold(carrier))] if carrier else list(summaries.values())
    return any(s and str(s.get("radio", "")).lower() == radio.lower() for s in wanted)


def _lacks_carrier(carriers: dict[str, Any] | None, wanted: str) -> bool:
    """Whether ``wanted`` (folded) leaves households without usable signal, or has no summary."""
    summaries = {fold(name): s for name, s in (carriers or {}).items()}
    summary = summaries.get(wanted)
    return summary is None or int(summary.get("households_without_signal") or 0) > 0


def find_villages(store: Store, where: PlaceFilter) -> gpd.GeoDataFrame:
    """Villages matching ``where``; ``min_households`` bounds households without signal.

    ``carrier`` keeps the villages that carrier leaves households without
    usable signal in: its summary there counts some, or it has no summary
    there at all.
    """
    frame = store.villages(
        commune_id=where.commune_id,
        verdict=where.verdict,
        province=where.province or None,
        district=where.district or None,
        name_contains=where.q or None,
    )
    keep = np.ones(len(frame), dtype=bool)
    if where.carrier:
        wanted = fold(where.carrier)
        keep &= np.array([_lacks_carrier(c, wanted) for c in frame["carriers"]], dtype=bool)
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
    zones = store.dead_zones(
        commune_id=where.commune_id,
        verdict=where.verdict,
        province=where.province or None,
        district=where.district or None,
        with_places=True,
    )
    keep = np.ones(len(zones), dtype=bool)
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
    """Return stored cells matching ``where`` (``verdict`` maps onto cell classes)."""
    cells = store.cells(
        commune_ids=[where.commune_id] if where.commune_id else None,
        carrier=where.carrier,
        radio=where.radio,
        bbox=where.bbox,
        province=where.province or None,
        district=where.district or None,
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
