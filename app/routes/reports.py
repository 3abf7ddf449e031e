"""Printable reports: a commune's page for the chairman's meeting."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.deps import PageCacheDep, SettingsDep, StoreDep
from app.pagecache import cached_response
from app.store import Store
from geodata.maps.index import lang_query
from geodata.report import render_commune_report

router = APIRouter(prefix="/reports", tags=["reports"])


def commune_report(store: Store, commune_id: str, lang: Literal["vi", "en"]) -> str:
    """The commune's report page (404 for an unknown commune): what the store holds."""
    return render_commune_report(
        store.commune(commune_id),
        store.villages(commune_ids=[commune_id]),
        store.dead_zones(commune_id=commune_id),
        lang=lang,
        map_url=f"/maps/communes/{commune_id}{lang_query(lang)}",
    )


@router.get("/communes/{commune_id}", response_class=HTMLResponse)
async def commune_report_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    commune_id: str,
    lang: Literal["vi", "en"] | None = None,
) -> Response:
    """One printable HTML page: static map, villages with verdicts and households."""
    chosen = lang or settings.lang_default
    key = (request.url.path, chosen, store.results_version())
    page = await run_in_threadpool(
        cache.get_or_render, key, lambda: commune_report(store, commune_id, chosen)
    )
    return cached_response(request, page, media_type="text/html; charset=utf-8")
