"""Map pages for people: index, province, commune and village, cached with ETags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import PageCacheDep, SettingsDep, StoreDep
from app.api.responses import IMMUTABLE, cached_response
from app.core.errors import NotFoundError
from app.services import pages
from geodata.constants import Lang
from geodata.maps.hillshade import read_cached_png
from geodata.maps.templating import stable_element_ids

router = APIRouter(prefix="/maps", tags=["maps"])

_HTML = "text/html; charset=utf-8"


async def _page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    lang: Lang | None,
    render: Callable[[pages.PageSettings], str],
) -> Response:
    opts = pages.PageSettings(
        lang=lang or settings.lang_default,
        cache_dir=settings.data_dir / "cache",
        online_tiles=settings.online_tiles,
        rasters=settings.rasters,
    )
    key = (request.url.path, opts.lang, opts.online_tiles, store.results_version())
    # A cached page is answered on the event loop; a render goes to the thread pool
    # (one per key, the others wait for it). Folium's ids are random: numbered, the
    # same data renders to the same bytes and ETag.
    page = cache.get(key)
    if page is None:
        page = await run_in_threadpool(
            cache.get_or_render, key, lambda: stable_element_ids(render(opts))
        )
    return cached_response(request, page, media_type=_HTML)


@router.get("", response_class=HTMLResponse)
async def index(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    lang: Lang | None = None,
) -> Response:
    """Provinces → districts → communes, and a village search that ignores diacritics."""
    return await _page(request, store, settings, cache, lang, lambda o: pages.index_page(store, o))


@router.get("/provinces/{province_id}", response_class=HTMLResponse)
async def province_map(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    province_id: str,
    lang: Lang | None = None,
) -> Response:
    """Return a province overview (``tuyen-quang``); 404 for an unknown province."""
    return await _page(
        request,
        store,
        settings,
        cache,
        lang,
        lambda o: pages.province_page(store, province_id, o),
    )


@router.get("/communes/{commune_id}", response_class=HTMLResponse)
async def commune_map(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    commune_id: str,
    lang: Lang | None = None,
) -> Response:
    """Return the commune's map page (Vietnamese by default); 404 for an unknown commune."""
    return await _page(
        request,
        store,
        settings,
        cache,
        lang,
        lambda o: pages.commune_page(store, commune_id, o),
    )


@router.get("/villages/{village_id}", response_class=HTMLResponse)
async def village_map(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    village_id: str,
    lang: Lang | None = None,
) -> Response:
    """One village's map page; 404 for an unknown village."""
    return await _page(
        request,
        store,
        settings,
        cache,
        lang,
        lambda o: pages.village_page(store, village_id, o),
    )


@router.get("/hillshade/{key}.{suffix}", response_class=Response)
def hillshade(settings: SettingsDep, key: str, suffix: Literal["webp", "png"]) -> Response:
    """Return a cached hillshade image, WebP (what pages load) or PNG.

    Its key hashes the DEM and the commune's bounds: one image per commune,
    shared by its village pages, and never changed (``immutable``).
    """
    image = read_cached_png(settings.data_dir / "cache", key, suffix=suffix)
    if image is None:
        raise NotFoundError(f"hillshade {key!r} not found")
    return Response(
        image,
        media_type=f"image/{suffix}",
        headers={"Cache-Control": IMMUTABLE},
    )
