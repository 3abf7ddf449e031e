"""Where to measure next: the survey plan of a commune, as JSON and as a printable page."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.api.deps import SettingsDep, StoreDep
from app.api.models import SurveyPlace, SurveyPlan
from app.services import survey

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
