"""What-if scenarios (planners): hypothetical sites judged without touching the real data.

``/api/v1/scenarios`` runs, lists, shows, compares and deletes them;
``/maps/scenarios/{id}`` is a scenario's map. That map needs no key: its
random id is the capability, a link a planner shares (with a commune
chairman, say) and that no one can guess.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import PageCacheDep, PlannerDep, SettingsDep, StoreDep
from app.api.models import Scenario, ScenarioComparison, ScenarioList, ScenarioRequest
from app.api.params import OffsetParam
from app.api.responses import cached_response
from app.services import scenarios as service
from geodata.constants import Lang
from geodata.maps.templating import stable_element_ids

router = APIRouter(tags=["scenarios"])

ScenarioId = Annotated[str, Path(max_length=64, description="The scenario's id.")]
_HTML = "text/html; charset=utf-8"


def map_url(scenario_id: str) -> str:
    """Return the path of the scenario's map page."""
    return f"/maps/scenarios/{scenario_id}"


def _answer(scenario: dict[str, Any]) -> Scenario:
    fields = {k: v for k, v in scenario.items() if k != "footprint"}
    return Scenario.model_validate(
        {
            **fields,
            "footprint_cells": len(scenario.get("footprint", [])),
            "map_url": map_url(scenario["id"]),
        }
    )


@router.post("/api/v1/scenarios", status_code=201)
async def create_scenario(
    body: ScenarioRequest,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    caller: PlannerDep,
) -> Scenario:
    """Judge the villages with hypothetical sites added, and save the scenario (planners).

    Every village of the communes the sites reach (a village within 15 km
    of one, or ``commune_ids``) is analysed twice from the same data, with
    and without the sites (dated now): verdicts, households without signal
    (per carrier too) and confidence, before and after. The stored verdicts,
    sites and readings do not change. A bad site is a 422 naming each item
    (``index`` from 1), field, value and reason. ``Location`` and ``map_url``
    lead to the scenario and its map.
    """
    try:
        scenario = await run_in_threadpool(
            service.run_scenario,
            store,
            body.sites,
            owner=caller.identity,
            name=body.name,
            commune_ids=body.commune_ids,
            rasters=settings.rasters,
        )
    except service.InvalidSitesError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ["body", "sites", max(p["index"] - 1, 0), p["field"]],
                    "msg": f"site {p['index']}: {p['field']}: {p['reason']}",
                    "input": p["value"],
                    **p,
                }
                for p in exc.problems
            ]
        ) from exc
    response.headers["Location"] = f"/api/v1/scenarios/{scenario['id']}"
    return _answer(scenario)


@router.get("/api/v1/scenarios")
def list_scenarios(
    store: StoreDep,
    caller: PlannerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetParam = 0,
) -> ScenarioList:
    """List saved scenarios, newest first, every planner's (planners)."""
    page, total = store.scenarios(limit=limit, offset=offset)
    return ScenarioList.model_validate(
        {"scenarios": page, "total": total, "limit": limit, "offset": offset}
    )


@router.get("/api/v1/scenarios/{scenario_id}")
def get_scenario(scenario_id: ScenarioId, store: StoreDep, caller: PlannerDep) -> Scenario:
    """Return one scenario: its sites, and its villages before and after (planners); 404."""
    return _answer(service.scenario_of(store, scenario_id))


@router.get("/api/v1/scenarios/{scenario_id}/compare")
def compare_scenarios(
    scenario_id: ScenarioId,
    store: StoreDep,
    caller: PlannerDep,
    other: Annotated[str, Query(alias="with", max_length=64, description="The other scenario")],
) -> ScenarioComparison:
    """Per village: households without signal in this scenario and in ``with``, and the difference.

    ``difference`` is the other's minus this one's; 404 names the missing scenario.
    """
    return ScenarioComparison.model_validate(service.compare_scenarios(store, scenario_id, other))


@router.delete("/api/v1/scenarios/{scenario_id}", status_code=204)
def delete_scenario(scenario_id: ScenarioId, store: StoreDep, caller: PlannerDep) -> Response:
    """Delete a scenario (the planner who made it, or an admin); 404 when there is none."""
    service.delete_scenario(store, caller, scenario_id)
    return Response(status_code=204)


@router.get("/maps/scenarios/{scenario_id}", response_class=HTMLResponse, tags=["maps"])
async def scenario_map(
    request: Request,
    scenario_id: ScenarioId,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    lang: Lang | None = None,
) -> Response:
    """Return a scenario's map: its villages before and after, its sites and their footprint.

    No key: the scenario's random id is the capability (share the link).
    A scenario never changes, so the page is cached (with an ``ETag``) until
    the results (and with them the outlines) do; a deleted one is a 404.
    """
    service.scenario_of(store, scenario_id)  # 404 before any cached page
    chosen = lang or settings.lang_default
    key = (request.url.path, chosen, settings.online_tiles, store.results_version())

    def render() -> str:
        return stable_element_ids(
            service.scenario_page(
                store,
                scenario_id,
                lang=chosen,
                cache_dir=settings.data_dir / "cache",
                rasters=settings.rasters,
                online_tiles=settings.online_tiles,
            )
        )

    page = cache.get(key)
    if page is None:
        page = await run_in_threadpool(cache.get_or_render, key, render)
    return cached_response(request, page, media_type=_HTML)
