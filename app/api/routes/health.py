"""Liveness: is the service up, and what does it hold."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import RefresherDep, SettingsDep, StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep, settings: SettingsDep, refresher: RefresherDep) -> dict[str, Any]:
    """``{"status": "ok", "demo": bool, "counts": {table: rows}, "refresh_pending": int}``.

    ``refresh_pending`` counts uploads whose villages are still being re-judged.
    """
    return {
        "status": "ok",
        "demo": settings.demo,
        "counts": store.counts(),
        "refresh_pending": refresher.pending,
    }
