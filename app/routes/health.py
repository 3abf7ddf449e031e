"""Liveness: is the service up, and what does it hold."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import SettingsDep, StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """``{"status": "ok", "demo": bool, "counts": {table: rows}}``."""
    return {"status": "ok", "demo": settings.demo, "counts": store.counts()}
