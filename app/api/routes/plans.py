"""Plans: the sites that would serve the most households, for planners and on a public page.

``GET /api/v1/plans`` (planner key) answers the plan as JSON;
``GET /maps/communes/{id}/plan`` draws it. Both come from one plan per
(query, results version), kept in memory (:class:`app.services.planning.PlanCache`).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import PageCacheDep, PlannerDep, SettingsDep, StoreDep
from app.api.models import PlanAnswer
from app.api.params import CARRIERS, parse_choices
from app.api.responses import cached_response
from app.core.errors import UnprocessableError
from app.services import pages, planning
from app.services.planning import MAX_K, PlanCache, PlanQuery
from app.services.queries import ANY_CARRIER
from geodata import constants as C
from geodata.constants import Lang
from geodata.maps.templating import stable_element_ids
from geodata.sites import carrier_codes, carrier_name

router = APIRouter(tags=["plans"])

#: Carriers a plan can be made for: every brand or MCC-MNC code, not "any".
PLAN_CARRIERS: Final = {key: name for key, name in CARRIERS.items() if name != ANY_CARRIER}

KParam = Annotated[
    int | None,
    Query(ge=1, le=MAX_K, description=f"How many sites, 1..{MAX_K} (default {planning.DEFAULT_K})"),
]
CarrierParam = Annotated[
    str | None,
    Query(description="Plan for one carrier (Viettel, VinaPhone, MobiFone... or MCC-MNC)"),
]


def get_plan_cache(request: Request) -> PlanCache:
    """Return the app's cache of plans."""
    cache: PlanCache = request.app.state.plan_cache
    return cache


def _carrier(value: str | None) -> str | None:
    """One carrier, spelled as the data spells it; a 422 naming an unknown or a second one."""
    chosen = parse_choices("carrier", None if value is None else [value], PLAN_CARRIERS)
    if chosen is None:
        return None
    if len(chosen) > 1:
        raise UnprocessableError(f"a plan is for one carrier, not {', '.join(chosen)}")
    return carrier_name(*carrier_codes(chosen[0]))  # 452-04 is Viettel


@router.get("/api/v1/plans", response_model=PlanAnswer)
def get_plan(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: PlannerDep,
    commune_id: str,
    k: KParam = None,
    budget: Annotated[
        float | None, Query(gt=0, allow_inf_nan=False, description="Most it may cost, VND")
    ] = None,
    carrier: CarrierParam = None,
) -> PlanAnswer:
    """Plan the sites that would newly serve the most households of a commune.

    Candidates are every carrier on every other carrier's mast near the
    commune and new masts on high ground that sees its settled valleys,
    each weighed with the calibrated model the verdicts use; the plan picks
    ``k`` of them (default 5, at most 50) or as many as ``budget`` (VND)
    allows, by lazy greedy maximum coverage (``summary.method`` says which,
    with its guarantee). ``k`` and ``budget`` are exclusive. With
    ``carrier``, only that carrier's candidates, counting the households
    without it. Nothing is stored; the plan is computed once per query and
    results version (``summary.results_version``). 404 for an unknown commune.
    """
    query = PlanQuery(commune_id, k=k, budget=budget, carrier=_carrier(carrier))
    found = planning.cached_plan(store, query, get_plan_cache(request), rasters=settings.rasters)
    return PlanAnswer.model_validate(planning.plan_answer(found))


@router.get("/maps/communes/{commune_id}/plan", response_class=HTMLResponse, tags=["maps"])
async def plan_map(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    commune_id: str,
    k: KParam = None,
    carrier: CarrierParam = None,
    lang: Lang | None = None,
) -> Response:
    """Draw the commune's plan on a map (Vietnamese by default): villages after and before it.

    The chosen sites are markers by kind (co-location, new mast, uploaded)
    with their predicted footprints as outlines, and a table. Public: it
    shows aggregates of public site data, never a reading. 404 for an
    unknown commune.
    """
    opts = pages.PageSettings(
        lang=lang or settings.lang_default,
        cache_dir=settings.data_dir / "cache",
        online_tiles=settings.online_tiles,
        rasters=settings.rasters,
    )
    picked = _carrier(carrier)
    if picked is not None and picked not in C.CARRIERS.values():
        # A public page weighs one commune per carrier asked for: brands only, not any code.
        brands = ", ".join(C.CARRIERS.values())
        raise UnprocessableError(
            f"the plan page takes a carrier's brand ({brands}), not {carrier!r}"
        )
    key = ("plan", request.url.path, opts.lang, k, picked, store.results_version())
    plans = get_plan_cache(request)

    def render() -> str:
        html = planning.plan_page(store, commune_id, opts, k=k, carrier=picked, cache=plans)
        return stable_element_ids(html)

    page = cache.get(key)
    if page is None:
        page = await run_in_threadpool(cache.get_or_render, key, render)
    return cached_response(request, page, media_type="text/html; charset=utf-8")
