"""Challenges to a village's verdict: a planner key disputes it, anyone reads the disputes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Security
from starlette.concurrency import run_in_threadpool

from app.api.deps import _KEY_HEADER, GateDep, StoreDep
from app.api.models import Challenge, ChallengeBody, ChallengeList
from app.core.security import Role
from app.services import survey
from app.services.keys import Caller

router = APIRouter(prefix="/api/v1/villages", tags=["challenges"])


def require_challenger(gate: GateDep, key: str | None = Security(_KEY_HEADER)) -> Caller:
    """Return a caller that may dispute a verdict (a planner key: a commune chairman gets one)."""
    return gate.identify(key, Role.PLANNER, action="challenge a verdict")


ChallengerDep = Annotated[Caller, Depends(require_challenger)]


@router.post("/{village_id}/challenges", status_code=201)
async def challenge_verdict(
    store: StoreDep, caller: ChallengerDep, village_id: str, body: ChallengeBody
) -> Challenge:
    """Dispute the village's verdict (planner keys); 404 for an unknown village.

    Stored with the key's id (never shown), when, and the verdict disputed;
    the village goes to the top of ``/api/v1/survey-plan`` until readings in
    it taken after the challenge settle it. ``lon``/``lat`` (together) must
    lie in the village's commune.
    """
    stored = await run_in_threadpool(
        survey.add_challenge,
        store,
        village_id,
        text=body.text,
        author=body.author,
        lon=body.lon,
        lat=body.lat,
        key_id=caller.key.id if caller.key is not None else None,
    )
    return Challenge.model_validate(stored)


@router.get("/{village_id}/challenges")
def list_challenges(store: StoreDep, village_id: str) -> ChallengeList:
    """List the village's challenges, oldest first: text, author, dates, status (never the key)."""
    found = survey.village_challenges(store, village_id)
    return ChallengeList(
        village_id=village_id, challenges=[Challenge.model_validate(c) for c in found]
    )
