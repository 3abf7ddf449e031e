"""Printable reports: a commune's page for the chairman's meeting."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import PageCacheDep, SettingsDep, StoreDep
from app.api.responses import cached_response
from app.services.pages import commune_report, print_date
from geodata.constants import Lang

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/communes/{commune_id}", response_class=HTMLResponse)
async def commune_report_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    commune_id: str,
    lang: Lang | None = None,
) -> Response:
    """One printable A4 page: summary, static map, criterion, villages, carriers, QR to the map."""
    chosen = lang or settings.lang_default
    site_url, printed = str(request.base_url).rstrip("/"), print_date()
    key = (request.url.path, chosen, store.results_version(), site_url, printed)
    page = await run_in_threadpool(
        cache.get_or_render,
        key,
        lambda: commune_report(store, commune_id, chosen, site_url=site_url, printed=printed),
    )
    return cached_response(request, page, media_type="text/html; charset=utf-8")
