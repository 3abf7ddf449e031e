"""Answers the API sends beyond plain JSON: GeoJSON (paged or not) and cached pages.

- :class:`GeoJSONResponse` and :func:`paged_collection`: RFC 7946 collections
  with ``numberMatched``/``numberReturned`` and a ``next`` link.
- :class:`PageCache` and :func:`cached_response`: rendered pages kept in memory,
  keyed by page, language and results version, with ETags. A key carries the
  store's ``results_version``: when results change, the version moves, old
  entries stop matching and age out of the LRU. Each page is gzipped once,
  when rendered, and sent so to clients that accept gzip.
- :data:`UNCOMPRESSED_TYPES`: what :class:`~starlette.middleware.gzip.GZipMiddleware`
  leaves alone (images, spreadsheets, GeoPackages: already compressed or binary);
  every text response (HTML, JSON, GeoJSON, CSV, JS, CSS) is gzipped.
- :class:`CachedStaticFiles`: static assets with ``Cache-Control``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import geopandas as gpd
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import (
    DEFAULT_EXCLUDED_CONTENT_TYPES,
    GZipMiddleware,
    IdentityResponder,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geodata.exports import GEOJSON_MEDIA_TYPE, encode_geojson, feature, to_geojson

__all__ = [
    "GEOJSON_MEDIA_TYPE",
    "IMMUTABLE",
    "UNCOMPRESSED_TYPES",
    "CachedPage",
    "CachedStaticFiles",
    "GeoJSONResponse",
    "NegotiatedGZip",
    "PageCache",
    "ResultsCache",
    "cached_response",
    "feature",
    "paged_collection",
]


class GeoJSONResponse(JSONResponse):
    """A response sent as ``application/geo+json`` (RFC 7946).

    ``content`` is either the bytes :func:`geodata.exports.to_geojson` made
    (sent as they are) or a dict, encoded by :func:`geodata.exports.encode_geojson`.
    """

    media_type = GEOJSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        """Return the body: ``content`` itself when it is bytes, else encoded."""
        return content if isinstance(content, bytes) else encode_geojson(content)


def paged_collection(
    request: Request, frame: gpd.GeoDataFrame, *, total: int, limit: int | None, offset: int
) -> GeoJSONResponse:
    """Return a FeatureCollection with ``numberMatched``/``numberReturned`` and a ``next`` link.

    The ``next`` link (also sent as an HTTP ``Link`` header) is there only
    when more features follow.
    """
    members: dict[str, Any] = {"numberMatched": total, "numberReturned": len(frame)}
    headers = {}
    if limit is not None and offset + len(frame) < total:
        url = str(request.url.include_query_params(offset=offset + limit, limit=limit))
        members["links"] = [{"rel": "next", "href": url, "type": GEOJSON_MEDIA_TYPE}]
        headers["Link"] = f'<{url}>; rel="next"'
    return GeoJSONResponse(to_geojson(frame, **members), headers=headers)


#: Content types sent as they are, never gzipped: Starlette's list (images, archives,
#: fonts, media) and the binary downloads (xlsx, GeoPackage, PDF).
UNCOMPRESSED_TYPES = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/geopackage+sqlite3",
    "application/pdf",
    "application/octet-stream",
)
#: ``Cache-Control`` of a URL whose content never changes (it carries a hash or version).
IMMUTABLE = "public, max-age=31536000, immutable"

#: Pages kept (a province overview is a few MB; a commune page ~0.5 MB).
MAX_ENTRIES = 64


@dataclass(frozen=True)
class CachedPage:
    """A rendered page, its strong ETag (a digest of the body) and the body gzipped."""

    body: bytes
    etag: str
    gzipped: bytes | None
    #: Headers sent with the body (``content-type``, ``link``...), for :class:`ResultsCache`.
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def of(
        cls, body: bytes, *, compress: bool = True, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> CachedPage:
        """Digest and gzip ``body`` (``mtime=0``: the same body gives the same bytes).

        >>> page = CachedPage.of(b"<p>hi</p>" * 100)
        >>> page.etag, gzip.decompress(page.gzipped) == page.body
        ('"12fb224582e08eced1cf8b7dcd33fbff"', True)
        """
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        zipped = gzip.compress(body, compresslevel=9, mtime=0) if compress else None
        return cls(body, etag, zipped, headers)


class PageCache:
    """A thread-safe LRU of rendered pages, rendering each missing page once.

    Two requests for the same cold page (a province overview takes seconds)
    share one render: the second waits for the first's result.

    Examples
    --------
    >>> cache = PageCache()
    >>> first = cache.get_or_render(("x", 1), lambda: "<p>hi</p>")
    >>> cache.get_or_render(("x", 1), lambda: "other") is first
    True
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, *, max_bytes: int | None = None) -> None:
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._lock = threading.Lock()
        self._rendering: dict[Hashable, threading.Lock] = {}
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0

    def _cached(self, key: Hashable) -> CachedPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def get_or_render(self, key: Hashable, render: Callable[[], str | bytes]) -> CachedPage:
        """Return the cached page of ``key``, rendered (outside the cache's lock) when absent."""
        page = self._cached(key)
        if page is not None:
            return page
        with self._lock:
            rendering = self._rendering.setdefault(key, threading.Lock())
        with rendering:  # one render per key at a time; the others wait for it
            page = self._cached(key)
            if page is None:
                try:
                    body = render()
                    data = body.encode("utf-8") if isinstance(body, str) else body
                    page = CachedPage.of(data)
                    self.put(key, page)
                finally:
                    with self._lock:
                        self._rendering.pop(key, None)
        return page

    def get(self, key: Hashable) -> CachedPage | None:
        """Return the cached page of ``key``, or ``None``."""
        return self._cached(key)

    def put(self, key: Hashable, page: CachedPage) -> None:
        """Keep ``page`` under ``key`` (the least recently used pages go past the limits)."""
        with self._lock:
            old = self._pages.pop(key, None)
            self._bytes += _size(page) - (0 if old is None else _size(old))
            self._pages[key] = page
            while len(self._pages) > self._max or (
                self._max_bytes is not None and self._bytes > self._max_bytes and self._pages
            ):
                _, gone = self._pages.popitem(last=False)
                self._bytes -= _size(gone)

    def __len__(self) -> int:
        return len(self._pages)


def _size(page: CachedPage) -> int:
    return len(page.body) + len(page.gzipped or b"")


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (``gzip;q=0`` refuses it).

    >>> accepts_gzip("gzip, deflate, br"), accepts_gzip("br;q=1, gzip;q=0"), accepts_gzip(None)
    (True, False, False)
    """
    for part in (header or "").lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in {"gzip", "*"}:
            q = params.strip().removeprefix("q=")
            try:
                return not params.strip() or float(q) > 0
            except ValueError:
                return True
    return False


def cached_response(request: Request, page: CachedPage, *, media_type: str) -> Response:
    """``page`` with its ETag, or ``304 Not Modified`` when the client holds it already.

    The body goes gzipped (compressed once, when rendered) to a client that
    accepts gzip; the middleware leaves a response with ``Content-Encoding`` alone.
    """
    headers = {"ETag": page.etag, "Cache-Control": "no-cache"}
    if _matches(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    if page.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding")):
        # (The middleware adds ``Vary`` to the plain body it passes.)
        headers |= {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return Response(page.gzipped, media_type=media_type, headers=headers)
    return Response(page.body, media_type=media_type, headers=headers)


class NegotiatedGZip(GZipMiddleware):
    """Starlette's :class:`GZipMiddleware`, refusing gzip to a client that says ``gzip;q=0``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Gzip the response when the request's ``Accept-Encoding`` accepts it."""
        refused = scope["type"] == "http" and not accepts_gzip(
            Headers(scope=scope).get("accept-encoding")
        )
        if refused:
            plain = IdentityResponder(
                self.app, self.minimum_size, exclude_content_types=self.exclude_content_types
            )
            await plain(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class CachedStaticFiles(StaticFiles):
    """:class:`StaticFiles` with ``Cache-Control``.

    A URL carrying a version (``?v=...``: the page names the file by its
    content) is :data:`IMMUTABLE`; any other is ``no-cache``: the browser
    keeps the file and revalidates it with the ``ETag`` (a ``304`` without a
    body while it is unchanged).
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        """Return the file's response, with ``Cache-Control``."""
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            versioned = "v" in parse_qs(scope.get("query_string", b"").decode("latin-1"))
            response.headers["Cache-Control"] = IMMUTABLE if versioned else "no-cache"
        return response


#: Largest answer :class:`ResultsCache` keeps (a province's cells export can be large).
MAX_CACHED_BYTES = 8 * 1024 * 1024
#: Memory :class:`ResultsCache` may hold, bodies and their gzip together.
MAX_CACHE_BYTES = 256 * 1024 * 1024


class ResultsCache:
    """ASGI middleware: anonymous ``GET`` answers under ``prefixes``, kept per results version.

    What these routes answer depends only on the URL and the store's results
    (every write that changes them bumps ``results_version``), so an answer
    is computed once per URL and version and then served from memory with
    its ETag (``304`` when the client holds it), gzipped once when a client
    accepts gzip. Requests with an API key, and answers other than ``200``
    or larger than :data:`MAX_CACHED_BYTES`, pass through untouched.

    Parameters
    ----------
    app : ASGI application
    prefixes : tuple of str
        Paths whose ``GET`` answers are cached.
    max_entries : int
        Answers kept (least recently used go first).
    """

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...], max_entries: int = 512) -> None:
        self.app = app
        self.prefixes = prefixes
        self.cache = PageCache(max_entries, max_bytes=MAX_CACHE_BYTES)
        # Answers being computed: when results change, the readers of one URL
        # wait for one computation instead of each doing it (single flight).
        self._computing: dict[Hashable, asyncio.Future[CachedPage | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the cache, or compute the answer and keep it."""
        if not (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and str(scope["path"]).startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if "x-api-key" in request.headers or "key" in request.query_params:
            await self.app(scope, receive, send)
            return
        store = scope["app"].state.store
        key = (
            scope["method"],
            request.headers.get("host"),
            scope["path"],
            scope["query_string"],
            store.results_version(),
        )
        page = self.cache.get(key)
        if page is None and key in self._computing:
            page = await asyncio.shield(self._computing[key])
            if page is None:  # the first answer was not kept: answer this one as it comes
                await self.app(scope, receive, send)
                return
        if page is None:
            computing = asyncio.get_running_loop().create_future()
            self._computing[key] = computing
            try:
                page = await self._compute(scope, receive, send)
                if page is not None:
                    self.cache.put(key, page)
            finally:
                del self._computing[key]
                computing.set_result(page)
            if page is None:
                return  # answered as it came (not cacheable)
        await self._send(request, page, scope, receive, send)

    async def _compute(self, scope: Scope, receive: Receive, send: Send) -> CachedPage | None:
        start: Message = {}
        chunks: list[bytes] = []
        passed = False

        async def capture(message: Message) -> None:
            nonlocal passed, start
            if passed:
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
                headers = Headers(raw=message.get("headers", []))
                if message["status"] != 200 or "content-encoding" in headers:
                    passed = True
                    await send(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                size = sum(map(len, chunks))
                if size > MAX_CACHED_BYTES:
                    passed = True
                    await send(start)
                    await send({**message, "body": b"".join(chunks)})

        await self.app(scope, receive, capture)
        if passed:
            return None
        raw = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        media_type = Headers(raw=raw).get("content-type", "").partition(";")[0].strip()
        compress = media_type not in UNCOMPRESSED_TYPES
        body = b"".join(chunks)
        return await run_in_threadpool(CachedPage.of, body, compress=compress, headers=tuple(raw))

    async def _send(
        self, request: Request, page: CachedPage, scope: Scope, receive: Receive, send: Send
    ) -> None:
        headers = MutableHeaders(raw=list(page.headers))
        headers["ETag"] = page.etag
        headers.setdefault("Cache-Control", "no-cache")
        if _matches(request.headers.get("if-none-match"), page.etag):
            await Response(status_code=304, headers={"ETag": page.etag})(scope, receive, send)
            return
        body = page.body
        if page.gzipped is not None:
            headers.add_vary_header("Accept-Encoding")
            if accepts_gzip(request.headers.get("accept-encoding")):
                headers["Content-Encoding"] = "gzip"
                body = page.gzipped
        headers["Content-Length"] = str(len(body))
        await send({"type": "http.response.start", "status": 200, "headers": headers.raw})
        head = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})
