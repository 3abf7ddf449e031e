"""Planner queries: the one home of the filters over villages, dead zones and cells.

Filters on stored columns (commune, verdict, province, district, the name
search, bounding boxes of cells) run in SQL, on folded names where they
ignore diacritics; filters on what a verdict says per carrier run here on
the frames the store hands back. Then this module orders and slices them.
Text filters (province, district, carrier, ``q``) ignore diacritics and
case, so "Chiem Hoa" finds "Chiêm Hóa".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from app.core.errors import UnprocessableError
from app.store import Store
from app.store.results import ANY_CARRIER
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


__all__ = ["ANY_CARRIER", "PlaceFilter", "ZoneSort"]
#: What a dead zone's verdict can be.
_ZONE_VERDICTS = frozenset({Verdict.NO_SIGNAL, Verdict.PATCHY})


@dataclass(frozen=True)
class PlaceFilter:
    """The filters every planner query and export takes (``None`` = no filter).

    ``carrier``, ``radio`` and ``verdict`` hold one or more values (a row
    matches any of them); one value as a plain string is taken as a
    one-value tuple.
    """

    province: str | None = None
    district: str | None = None
    commune_id: str | None = None
    carrier: tuple[str, ...] | None = None
    radio: tuple[str, ...] | None = None
    verdict: tuple[Verdict, ...] | None = None
    min_households: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    q: str | None = None

    def __post_init__(self) -> None:
        """Take one value as a one-value tuple, and an empty one as no filter."""
        for name in ("carrier", "radio", "verdict"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value) if value else None)

    def real_carriers(self) -> tuple[str, ...] | None:
        """Return ``carrier`` for villages and cells, where ``any`` means nothing."""
        if self.carrier and ANY_CARRIER in self.carrier:
            raise UnprocessableError(
                f"carrier {ANY_CARRIER!r} names the best-of-any-carrier dead zones;"
                " villages and cells take a carrier's name"
            )
        return self.carrier


def _single(values: Sequence[str] | None) -> str | None:
    """Return the one value of a filter, for SQL; ``None`` when absent or several."""
    return values[0] if values and len(values) == 1 else None


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

    ``carrier`` keeps the villages one of those carriers leaves households
    without usable signal in: its summary there counts some, or it has no
    summary there at all. ``radio`` keeps those where one of the carriers
    (any, without ``carrier``) is judged on one of the radios.
    """
    carriers = where.real_carriers()
    frame = store.villages(
        commune_id=where.commune_id,
        verdict=_single(where.verdict),
        province=where.province or None,
        district=where.district or None,
        name_contains=where.q or None,
        bbox=where.bbox,  # in the database (GiST on PostgreSQL), then exactly
    )
    keep = np.ones(len(frame), dtype=bool)
    if where.verdict and len(where.verdict) > 1:
        keep &= frame["verdict"].astype(str).isin([str(v) for v in where.verdict]).to_numpy()
    if carriers:
        wanted = [fold(c) for c in carriers]
        keep &= np.array(
            [any(_lacks_carrier(c, w) for w in wanted) for c in frame["carriers"]], dtype=bool
        )
    if where.radio:
        keep &= np.array(
            [
                any(_has_radio(c, r, k) for r in where.radio for k in (carriers or (None,)))
                for c in frame["carriers"]
            ],
            dtype=bool,
        )
    if where.min_households is not None:
        without = pd.to_numeric(frame["households_without_signal"]).fillna(0).to_numpy()
        keep &= without >= where.min_households
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

    Without ``carrier`` or ``radio``: the zones where even the best carrier
    fails (``carrier="any"``). ``carrier`` gives those carriers' own zones
    (a village one carrier does not reach is in its zones even when another
    serves it); ``radio`` those of the radios, of the carriers named or of
    every carrier.

    Raises
    ------
    UnprocessableError
        For a verdict no zone has (``covered``, ``unknown``), or ``radio``
        with ``carrier=any``.
    """
    if where.verdict and not set(where.verdict) <= _ZONE_VERDICTS:
        raise UnprocessableError("dead zones are 'no_signal' or 'patchy' only")
    carriers = where.carrier or (ANY_CARRIER,)
    if where.radio and ANY_CARRIER in carriers and where.carrier:
        raise UnprocessableError(
            f"radio applies to a carrier's dead zones, not to carrier={ANY_CARRIER!r}"
        )
    zones = store.dead_zones(
        commune_id=where.commune_id,
        verdicts=[str(v) for v in where.verdict] if where.verdict else None,
        province=where.province or None,
        district=where.district or None,
        with_places=True,
        carrier=() if where.radio and not where.carrier else carriers,
        radio=where.radio,
        bbox=where.bbox,
    )
    keep = np.ones(len(zones), dtype=bool)
    if where.min_households is not None:
        keep &= pd.to_numeric(zones["households"]).fillna(0).to_numpy() >= where.min_households
    return zones.loc[keep]


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
    carriers = where.real_carriers()
    cells = store.cells(
        commune_ids=[where.commune_id] if where.commune_id else None,
        carrier=_single(carriers),
        radio=_single(where.radio),
        bbox=where.bbox,
        province=where.province or None,
        district=where.district or None,
    )
    if carriers and len(carriers) > 1:
        wanted = {fold(c) for c in carriers}
        cells = cells.loc[[fold(str(c)) in wanted for c in cells["carrier"]]]
    if where.radio and len(where.radio) > 1:
        cells = cells.loc[cells["radio"].astype(str).str.lower().isin(where.radio)]
    if where.verdict:
        classes = [c for v in where.verdict for c in _CLASSES_OF_VERDICT[v]]
        cells = cells.loc[cells["cell_class"].isin(classes)]
    if where.min_households is not None:
        raise UnprocessableError("min_households does not apply to cells")
    return cells


def page(frame: pd.DataFrame, *, limit: int | None, offset: int) -> pd.DataFrame:
    """Rows ``offset`` to ``offset + limit`` (all from ``offset`` when ``limit`` is None)."""
    end = None if limit is None else offset + limit
    return frame.iloc[offset:end]
