"""Where to measure next: the survey plan of a commune, as JSON and as a printable page."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import PageCacheDep, SettingsDep, StoreDep
from app.api.models import SurveyPlace, SurveyPlan
from app.api.responses import cached_response
from app.services import survey
from app.services.pages import print_date
from geodata.constants import Lang

router = APIRouter(tags=["survey"])


@router.get("/api/v1/survey-plan")
async def survey_plan(store: StoreDep, settings: SettingsDep, commune_id: str) -> SurveyPlan:
    """Rank the places where one visit would most firm up the commune's verdicts.

    For the community digital technology team (*Tổ công nghệ số cộng đồng*):
    challenged villages first, then villages whose verdict is not firm,
    household clusters only a prediction speaks for, and old evidence near a
    newer site; each with coordinates (decimal degrees), households, a score
    (households × doubt) and a reason in English and Vietnamese. Aggregates
    only. 404 for an unknown commune.
    """
    plan = await run_in_threadpool(
        survey.survey_plan_for, store, commune_id, rasters=settings.rasters
    )
    return SurveyPlan(
        commune_id=commune_id,
        places=[SurveyPlace.model_validate(row) for row in plan.to_dict("records")],
    )


@router.get("/maps/communes/{commune_id}/survey", response_class=HTMLResponse, tags=["maps"])
async def survey_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    commune_id: str,
    lang: Lang | None = None,
) -> Response:
    """Return the team's printable page (A4, phone-readable): places in order, coordinates, map.

    Vietnamese by default; 404 for an unknown commune.
    """
    chosen = lang or settings.lang_default
    site_url, printed = str(request.base_url).rstrip("/"), print_date()
    key = (request.url.path, chosen, store.results_version(), site_url, printed)
    page = await run_in_threadpool(
        cache.get_or_render,
        key,
        lambda: survey.survey_page(
            store,
            commune_id,
            chosen,
            rasters=settings.rasters,
            site_url=site_url,
            printed=printed,
        ),
    )
    return cached_response(request, page, media_type="text/html; charset=utf-8")
