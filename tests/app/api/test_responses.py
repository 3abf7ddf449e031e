"""The page cache: LRU by key, one render per cold page, ETags and 304s."""

from __future__ import annotations

import threading
import time

import pytest

from app.api.responses import PageCache


def test_two_requests_for_a_cold_page_share_one_render() -> None:
    cache = PageCache()
    renders: list[int] = []
    started = threading.Event()

    def slow_render() -> str:
        renders.append(1)
        started.set()
        time.sleep(0.2)
        return "<p>tỉnh</p>"

    pages = []
    first = threading.Thread(target=lambda: pages.append(cache.get_or_render("p", slow_render)))
    first.start()
    assert started.wait(5)
    second = cache.get_or_render("p", slow_render)  # arrives while the first renders
    first.join()

    assert len(renders) == 1
    assert pages == [second]
    assert second.body == "<p>tỉnh</p>".encode()


def test_a_failed_render_is_not_cached_and_the_next_request_renders_again() -> None:
    cache = PageCache()

    def broken() -> str:
        raise RuntimeError("no DEM")

    with pytest.raises(RuntimeError, match="no DEM"):
        cache.get_or_render("p", broken)

    assert len(cache) == 0
    assert cache.get_or_render("p", lambda: "ok").body == b"ok"


def test_the_least_recently_used_page_goes_first() -> None:
    cache = PageCache(max_entries=2)
    cache.get_or_render("a", lambda: "a")
    cache.get_or_render("b", lambda: "b")
    cache.get_or_render("a", lambda: "a again")  # touched: now the newest
    cache.get_or_render("c", lambda: "c")

    assert cache.get_or_render("a", lambda: "rendered").body == b"a"
    assert cache.get_or_render("b", lambda: "rendered").body == b"rendered"


def test_a_byte_budget_drops_the_least_recently_used_pages() -> None:
    cache = PageCache(max_entries=10, max_bytes=2500)
    cache.get_or_render("a", lambda: "a" * 1000)  # ~1,000 bytes + a few dozen gzipped
    cache.get_or_render("b", lambda: "b" * 1000)
    cache.get_or_render("c", lambda: "c" * 1000)  # past 2,500: "a" goes

    assert len(cache) == 2
    assert cache.get("a") is None
    assert cache.get("c") is not None and cache.get("c").body == b"c" * 1000  # type: ignore[union-attr]


class _Results:
    """What ResultsCache reads of the store: the results version."""

    def __init__(self) -> None:
        self.version = 1

    def results_version(self) -> int:
        return self.version


def test_results_cache_computes_one_answer_for_concurrent_readers_of_a_version() -> None:
    import asyncio

    import httpx
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from app.api.responses import ResultsCache

    computed: list[int] = []

    async def villages(request: object) -> JSONResponse:
        computed.append(results.version)
        await asyncio.sleep(0.05)  # an answer that takes a while, as an export does
        return JSONResponse({"version": results.version})

    results = _Results()
    app = Starlette(
        routes=[Route("/api/v1/villages", villages)],
        middleware=[Middleware(ResultsCache, prefixes=("/api/v1/villages",))],
    )
    app.state.store = results

    async def readers() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = await asyncio.gather(*(client.get("/api/v1/villages") for _ in range(10)))
            results.version = 2  # results changed: one new computation
            second = await asyncio.gather(*(client.get("/api/v1/villages") for _ in range(10)))
            return [*first, *second]

    answers = asyncio.run(readers())

    assert computed == [1, 2]
    assert [a.status_code for a in answers] == [200] * 20
    assert [a.json()["version"] for a in answers] == [1] * 10 + [2] * 10
    assert len({a.headers["etag"] for a in answers[:10]}) == 1
