"""Liveness: is the service up, and what does it hold."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import RefresherDep, SettingsDep, StoreDep
from app.api.models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep, settings: SettingsDep, refresher: RefresherDep) -> Health:
    """Whether the service is up, whether it runs the demo, and its rows per table.

    ``refresh_pending`` counts uploads whose villages are still being re-judged.
    """
    return Health(
        status="ok", demo=settings.demo, counts=store.counts(), refresh_pending=refresher.pending
    )
