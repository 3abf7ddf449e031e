"""Plans for a commune from what the store holds: analyse, weigh candidates, pick; kept in memory.

:func:`plan_commune` runs :func:`app.services.analysis.analyse` (nothing is
published), generates the candidates around the commune
(:func:`coverage.candidates.all_candidates`), weighs them
(:func:`coverage.planning.evaluate_candidates`) and picks the plan
(:func:`coverage.planning.plan`). A plan takes seconds, and depends only on
the query and the store's results: :class:`PlanCache` keeps the latest
ones per (query, results version), computing each once. The API's answer
(:func:`plan_answer`) and the plan page (:func:`plan_page`) come from the
same cached plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import geopandas as gpd

from app.core.config import Rasters
from app.core.errors import NotFoundError, UnprocessableError
from app.services.analysis import analyse
from app.services.memo import Memo
from app.services.pages import PageSettings
from app.store import Store
from coverage.candidates import all_candidates
from coverage.pipeline import DEM_MARGIN_M
from coverage.planning import Evaluation, Plan, evaluate_candidates, plan
from geodata import constants as C
from geodata.exports import feature_collection, json_safe
from geodata.plans import plan_frame, villages_lifted
from geodata.raster import Raster, read_raster

#: Sites a plan picks when neither ``k`` nor ``budget`` is asked for.
DEFAULT_K: Final = 5
#: Most sites one plan picks (each is a mast to build: a plan, not a network).
MAX_K: Final = 50
#: Communes' weighed candidates kept in memory (a few MB each).
MAX_EVALUATIONS: Final = 8
#: Plans kept in memory (the chosen and their footprints: small).
MAX_PLANS: Final = 64
# Masts this far outside a commune's villages can still serve them (a cell's reach).
_SITES_MARGIN_DEG: Final = C.MAX_CELL_RANGE_M / 111_320.0


@dataclass(frozen=True)
class PlanQuery:
    """What a plan is asked for: the commune, ``k`` or ``budget`` (VND), and a carrier."""

    commune_id: str
    k: int | None = None
    budget: float | None = None
    carrier: str | None = None

    def checked(self) -> PlanQuery:
        """Return the query with its defaults, or raise when it cannot be planned.

        Raises
        ------
        UnprocessableError
            ``k`` and ``budget`` together, ``k`` outside 1..:data:`MAX_K`,
            a budget that is not above 0.
        """
        if self.k is not None and self.budget is not None:
            raise UnprocessableError(
                f"k and budget are exclusive: give one (k={self.k}, budget={self.budget:g})"
            )
        if self.k is not None and not 1 <= self.k <= MAX_K:
            raise UnprocessableError(f"k must be 1..{MAX_K}, not {self.k}")
        if self.budget is not None and not 0 < self.budget < float("inf"):
            raise UnprocessableError(f"budget must be above 0 VND, not {self.budget:g}")
        if self.k is None and self.budget is None:
            return PlanQuery(self.commune_id, DEFAULT_K, None, self.carrier)
        return self


@dataclass(frozen=True)
class CommunePlan:
    """A commune's plan and what it was made from."""

    query: PlanQuery
    results_version: int
    commune: dict[str, Any]
    villages: gpd.GeoDataFrame
    evaluation: Evaluation
    plan: Plan
    chosen: gpd.GeoDataFrame  # geodata.plans.plan_frame: the chosen, each as its footprint


class PlanCache:
    """The service's plans in memory: candidates weighed, and plans picked from them.

    Weighing a commune's candidates takes seconds; picking a plan from them
    takes milliseconds. So the weighed candidates are kept per (commune,
    carrier, results version) and each plan per (query, results version):
    asking for another ``k`` or budget does not weigh again, and a change of
    results (a new version) starts afresh.
    """

    def __init__(self, *, evaluations: int = MAX_EVALUATIONS, plans: int = MAX_PLANS) -> None:
        self.evaluations = Memo(evaluations)
        self.plans = Memo(plans)


@dataclass(frozen=True)
class _Weighed:
    """A commune's candidates, weighed on one version of the results."""

    commune: dict[str, Any]
    villages: gpd.GeoDataFrame
    evaluation: Evaluation


def _terrain(store: Store, rasters: Rasters | None, bounds: tuple[float, ...]) -> Raster | None:
    dem = (rasters or Rasters()).over(store.rasters()).dem
    if dem is None or not dem.is_file():
        return None
    west, south, east, north = bounds
    return read_raster(dem, bounds_wgs84=(west, south, east, north), margin_m=DEM_MARGIN_M)


def weigh_commune(
    store: Store, commune_id: str, *, carrier: str | None = None, rasters: Rasters | None = None
) -> _Weighed:
    """Analyse a commune from what the store holds and weigh its candidates (nothing is stored).

    Raises
    ------
    NotFoundError
        An unknown commune, or one without villages.
    """
    commune = store.commune(commune_id)
    result = analyse(store, [commune_id], rasters=rasters)
    if result is None:
        raise NotFoundError(f"commune {commune_id!r} has no villages to plan for")
    bounds = tuple(result.villages.to_crs(C.CRS_WGS84).total_bounds)
    terrain = _terrain(store, rasters, bounds)
    sites = store.sites()
    west, south, east, north = bounds
    m = _SITES_MARGIN_DEG
    near = sites.loc[
        sites["lon"].between(west - m, east + m) & sites["lat"].between(south - m, north + m)
    ].reset_index(drop=True)
    candidates = all_candidates(
        result.villages,
        near,
        terrain,
        metric_crs=result.metric_crs,
        carriers=None if carrier is None else [carrier],
        households=result.households,
    )
    evaluation = evaluate_candidates(result, sites, candidates, terrain=terrain, carrier=carrier)
    return _Weighed(commune, result.villages, evaluation)


def cached_plan(
    store: Store, query: PlanQuery, cache: PlanCache, *, rasters: Rasters | None = None
) -> CommunePlan:
    """Plan for one commune on the store's current results, from ``cache`` when there.

    Parameters
    ----------
    store : Store
    query : PlanQuery
        Checked first (:meth:`PlanQuery.checked`).
    cache : PlanCache
    rasters : Rasters, optional, keyword-only
        Rasters that override the region's (``LOMSONG_DEM_PATH``...).

    Raises
    ------
    NotFoundError
        An unknown commune (before anything is computed), or one without villages.
    UnprocessableError
        A query that cannot be planned.
    """
    query = query.checked()
    store.commune(query.commune_id)
    version = store.results_version()

    def weigh() -> _Weighed:
        return weigh_commune(store, query.commune_id, carrier=query.carrier, rasters=rasters)

    def pick() -> CommunePlan:
        weighed: _Weighed = cache.evaluations.get_or_compute(
            (query.commune_id, query.carrier, version), weigh
        )
        chosen = plan(weighed.evaluation, k=query.k, budget=query.budget)
        return CommunePlan(
            query=query,
            results_version=version,
            commune=weighed.commune,
            villages=weighed.villages,
            evaluation=weighed.evaluation,
            plan=chosen,
            chosen=plan_frame(chosen.chosen, weighed.evaluation.footprints),
        )

    found: CommunePlan = cache.plans.get_or_compute((query, version), pick)
    return found


def plan_answer(found: CommunePlan) -> dict[str, Any]:
    """Return the API's answer: the summary, the chosen as GeoJSON features, the villages."""
    chosen = found.plan
    out_of_no_signal, out_of_patchy = villages_lifted(chosen.villages)
    villages = chosen.villages.copy()
    for column in ("households_without_signal_before", "households_without_signal_after"):
        villages[column] = villages[column].round(1)
    villages["newly_served_share"] = villages["newly_served_share"].round(3)
    return {
        "summary": {
            "commune_id": found.query.commune_id,
            "households_served": round(float(chosen.households_served), 1),
            "cost": float(chosen.cost),
            "method": chosen.method,
            "k": found.query.k,
            "budget": found.query.budget,
            "carrier": found.query.carrier,
            "candidates_evaluated": len(found.evaluation.candidates),
            "villages_out_of_no_signal": out_of_no_signal,
            "villages_out_of_patchy": out_of_patchy,
            "results_version": found.results_version,
        },
        "chosen": feature_collection(found.chosen),
        "villages": json_safe(villages.to_dict("records")),
    }


def plan_page(
    store: Store,
    commune_id: str,
    opts: PageSettings,
    *,
    k: int | None,
    carrier: str | None,
    cache: PlanCache,
) -> str:
    """Render the commune's plan page (:func:`geodata.maps.plan.plan_page`) from the cached plan.

    Public: it shows what a plan would build and the households it would
    serve (aggregates of public site data and verdicts), never a reading.
    """
    from app.services.pages import _hillshade  # the commune pages' hillshade, one home
    from geodata.maps.plan import PlanSummary, PlanUrls
    from geodata.maps.plan import plan_page as render_plan_page

    found = cached_plan(
        store, PlanQuery(commune_id, k=k, carrier=carrier), cache, rasters=opts.rasters
    )
    chosen = found.plan
    villages = found.villages
    shade = _hillshade(store, tuple(villages.to_crs(C.CRS_WGS84).total_bounds), opts)
    return render_plan_page(
        villages,
        chosen.villages,
        found.chosen,
        PlanSummary(chosen.households_served, chosen.cost, chosen.method),
        commune=str(found.commune["name"]),
        lang=opts.lang,
        urls=PlanUrls(commune_id, base=opts.base_url),
        **shade,  # type: ignore[arg-type]  # hillshade (a URL) and hillshade_bounds
    )
