"""Where to measure next, and challenges to verdicts: what the store holds, composed.

- :func:`survey_plan_for`: the commune's survey plan (:func:`coverage.survey.survey_plan`)
  from a fresh analysis of what the store holds, one computation per commune and
  results version (:class:`app.services.memo.Memo`);
- :func:`add_challenge`, :func:`public_challenges`: a planner key disputes a
  verdict; anyone reads the disputes (never the key);
- :func:`refresh_and_settle`: the refresh worker's job after uploads, which also
  settles the challenges the new readings answer (with the verdict just published).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import shapely

from app.core.config import Rasters
from app.core.errors import UnprocessableError
from app.services.analysis import analyse, refresh_for_readings
from app.services.memo import Memo
from app.store import Store
from app.store.challenges import OPEN, NewChallenge
from coverage.survey import SURVEY_COLUMNS, challenges_settled, survey_plan
from geodata.constants import Lang
from geodata.maps.index import lang_query, path_segment
from geodata.maps.survey import render_survey_page

#: Longest challenge text, in characters: a few sentences, not a document.
MAX_CHALLENGE_TEXT: Final = 1000
#: Longest author line ("Chủ tịch UBND xã Thượng Nông").
MAX_AUTHOR: Final = 200
#: Survey plans kept in memory (one per commune and results version).
PLAN_CACHE_ENTRIES: Final = 32
#: What the public sees of a challenge (never the key that sent it).
PUBLIC_CHALLENGE_FIELDS: Final = (
    "id",
    "village_id",
    "text",
    "author",
    "lon",
    "lat",
    "created",
    "verdict",
    "status",
    "settled",
    "verdict_settled",
)


_PLANS = Memo(PLAN_CACHE_ENTRIES)


def _commune_villages(store: Store, commune_id: str) -> gpd.GeoDataFrame:
    store.commune(commune_id)  # NotFoundError (404) for an unknown commune
    return store.villages(commune_ids=[commune_id])


def _settle(
    store: Store, villages: gpd.GeoDataFrame, verdicts: pd.Series, readings: pd.DataFrame | None
) -> int:
    """Settle the open challenges of ``villages`` that readings after them answer."""
    open_ = store.challenges(village_ids=villages["id"].astype(str).tolist(), status=OPEN)
    if open_.empty:
        return 0
    if readings is None:
        minx, miny, maxx, maxy = villages.total_bounds
        readings = store.readings(bounds=(minx, miny, maxx, maxy))
    done = challenges_settled(open_, villages, readings)
    if not done.any():
        return 0
    chosen = open_.loc[done]
    return store.settle_challenges(
        {
            int(row.id): (str(verdicts.get(row.village_id)) if row.village_id in verdicts else None)
            for row in chosen.itertuples()
        }
    )


def survey_plan_for(
    store: Store,
    commune_id: str,
    *,
    rasters: Rasters | None = None,
    cache: Memo = _PLANS,
) -> pd.DataFrame:
    """Rank where a visit would most firm up the commune's verdicts (404 for an unknown commune).

    The commune is analysed afresh from what the store holds (nothing is
    published); open challenges the readings already answer are settled
    first, with the analysis' verdict. One computation per commune and
    results version.

    Returns
    -------
    DataFrame
        :data:`coverage.survey.SURVEY_COLUMNS`.
    """
    villages = _commune_villages(store, commune_id)
    key = (str(Path(store.path).resolve()), commune_id, store.results_version())

    def compute() -> pd.DataFrame:
        result = analyse(store, [commune_id], rasters=rasters)
        if result is None:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in SURVEY_COLUMNS})
        verdicts = result.villages.set_index("id")["verdict"]
        _settle(store, villages, verdicts, None)
        challenges = store.challenges(commune_ids=[commune_id], status=OPEN)
        return survey_plan(result, challenges=challenges)

    plan: pd.DataFrame = cache.get_or_compute(key, compute)  # type: ignore[assignment]
    return plan


def refresh_and_settle(
    store: Store, readings: pd.DataFrame, *, rasters: Rasters | None = None
) -> list[str]:
    """Re-judge the villages ``readings`` touch, then settle the challenges they answer.

    :func:`app.services.analysis.refresh_for_readings`, then each touched
    village's open challenges are checked against the new readings
    (:func:`coverage.survey.challenges_settled`) and settled with the verdict
    just published.
    """
    touched = refresh_for_readings(store, readings, rasters=rasters)
    if not touched:
        return touched
    villages = store.villages(ids=touched)
    if not villages.empty:
        _settle(store, villages, villages.set_index("id")["verdict"], None)
    return touched


def _clean(value: str, *, field: str, limit: int) -> str:
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if not text:
        raise UnprocessableError(f"{field}: empty ({value!r})")
    if len(text) > limit:
        raise UnprocessableError(f"{field}: {len(text)} characters, at most {limit}")
    return text


def _inside_commune(store: Store, commune_id: str, lon: float, lat: float) -> bool:
    communes = store.communes()
    shape = communes.loc[communes["id"] == commune_id].geometry
    area = shape.iloc[0] if len(shape) and shape.iloc[0] is not None else None
    if area is None or area.is_empty:
        area = shapely.union_all(store.villages(commune_ids=[commune_id]).geometry.to_numpy())
    return bool(area.covers(shapely.Point(lon, lat)))


def add_challenge(
    store: Store,
    village_id: str,
    *,
    text: str,
    author: str,
    lon: float | None = None,
    lat: float | None = None,
    key_id: str | None,
) -> dict[str, Any]:
    """Store a challenge to a village's verdict; return it as the public sees it.

    Raises
    ------
    NotFoundError
        For an unknown village (404).
    UnprocessableError
        Empty or too long text or author; only one of lon/lat; a point outside
        the village's commune (422, naming the field and the value).
    """
    village = store.village(village_id).iloc[0]
    clean_text = _clean(text, field="text", limit=MAX_CHALLENGE_TEXT)
    clean_author = _clean(author, field="author", limit=MAX_AUTHOR)
    if (lon is None) != (lat is None):
        missing = "lat" if lat is None else "lon"
        raise UnprocessableError(f"{missing}: missing (lon and lat come together)")
    commune_id = str(village["commune_id"])
    if lon is not None and lat is not None and not _inside_commune(store, commune_id, lon, lat):
        raise UnprocessableError(f"lon, lat: ({lon}, {lat}) is outside the commune {commune_id!r}")
    verdict = village.get("verdict")
    stored = store.add_challenge(
        NewChallenge(
            village_id=village_id,
            text=clean_text,
            author=clean_author,
            key_id=key_id,
            verdict=str(verdict) if isinstance(verdict, str) else None,
            lon=lon,
            lat=lat,
        )
    )
    return _public(stored)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in PUBLIC_CHALLENGE_FIELDS}
    for axis in ("lon", "lat"):
        value = pd.to_numeric(out[axis], errors="coerce")
        out[axis] = None if value is None or pd.isna(value) else float(value)
    return out


def public_challenges(store: Store, village_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Return the challenges of villages as anyone may read them, oldest first (no key ids)."""
    frame = store.challenges(village_ids=list(village_ids))
    return [_public(row) for row in frame.to_dict("records")]


def village_challenges(store: Store, village_id: str) -> list[dict[str, Any]]:
    """Return one village's challenges (404 for an unknown village)."""
    store.village(village_id)
    return public_challenges(store, [village_id])


def survey_page(
    store: Store,
    commune_id: str,
    lang: Lang,
    *,
    rasters: Rasters | None = None,
    site_url: str = "",
    printed: dt.date | None = None,
) -> str:
    """Render the team's printable survey plan of a commune (404 for an unknown commune)."""
    commune = store.commune(commune_id)
    plan = survey_plan_for(store, commune_id, rasters=rasters)
    return render_survey_page(
        commune,
        store.villages(commune_ids=[commune_id]),
        plan,
        lang=lang,
        printed=printed,
        map_url=f"{site_url}/maps/communes/{path_segment(commune_id)}{lang_query(lang)}",
    )
