"""Answers the API sends beyond plain JSON: GeoJSON (paged or not) and cached pages.

- :class:`GeoJSONResponse` and :func:`paged_collection`: RFC 7946 collections
  with ``numberMatched``/``numberReturned`` and a ``next`` link.
- :class:`PageCache` and :func:`cached_response`: rendered pages kept in memory,
  keyed by page, language and results version, with ETags. A key carries the
  store's ``results_version``: when results change, the version moves, old
  entries stop matching and age out of the LRU.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
from fastapi import Request, Response
from fastapi.responses import JSONResponse

from geodata.exports import GEOJSON_MEDIA_TYPE, encode_geojson, feature, to_geojson

__all__ = [
    "GEOJSON_MEDIA_TYPE",
    "CachedPage",
    "GeoJSONResponse",
    "PageCache",
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


#: Pages kept (a province overview is a few MB; a commune page ~0.5 MB).
MAX_ENTRIES = 64


@dataclass(frozen=True)
class CachedPage:
    """A rendered page and its strong ETag (a digest of the body)."""

    body: bytes
    etag: str


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

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._lock = threading.Lock()
        self._rendering: dict[Hashable, threading.Lock] = {}
        self._max = max_entries

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
                    page = CachedPage(data, f'"{hashlib.sha256(data).hexdigest()[:32]}"')
                    with self._lock:
                        self._pages[key] = page
                        while len(self._pages) > self._max:
                            self._pages.popitem(last=False)
                finally:
                    with self._lock:
                        self._rendering.pop(key, None)
        return page

    def __len__(self) -> int:
        return len(self._pages)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def cached_response(request: Request, page: CachedPage, *, media_type: str) -> Response:
    """``page`` with its ETag, or ``304 Not Modified`` when the client holds it already."""
    headers = {"ETag": page.etag, "Cache-Control": "no-cache"}
    if _matches(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type=media_type, headers=headers)
