"""Map pages for people: a commune's villages, coloured by verdict."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.deps import SettingsDep, StoreDep
from geodata.maps import render_commune_map

router = APIRouter(prefix="/maps", tags=["maps"])


@router.get("/communes/{commune_id}", response_class=HTMLResponse)
def commune_map(
    store: StoreDep,
    settings: SettingsDep,
    commune_id: str,
    lang: Literal["vi", "en"] | None = None,
) -> HTMLResponse:
    """The commune's map page (Vietnamese by default); 404 for an unknown commune."""
    commune = store.commune(commune_id)
    page = render_commune_map(
        store.villages(commune_ids=[commune_id]),
        dead_zones=store.dead_zones(commune_id=commune_id),
        commune_name=str(commune["name"]),
        lang=lang or settings.lang_default,
        assets_url="/static/leaflet",
    )
    return HTMLResponse(page)
