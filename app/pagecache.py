"""Rendered pages kept in memory, keyed by page, language and results version, with ETags.

A key carries the store's ``results_version``: when results change, the
version moves, old entries stop matching and age out of the LRU.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from fastapi import Request, Response

#: Pages kept (a province overview is a few MB; a commune page ~0.5 MB).
MAX_ENTRIES = 64


@dataclass(frozen=True)
class CachedPage:
    """A rendered page and its strong ETag (a digest of the body)."""

    body: bytes
    etag: str


class PageCache:
    """A thread-safe LRU of rendered pages.

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
        self._max = max_entries

    def get_or_render(self, key: Hashable, render: Callable[[], str | bytes]) -> CachedPage:
        """The cached page of ``key``, rendering (outside the lock) when absent."""
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
                return page
        body = render()
        data = body.encode("utf-8") if isinstance(body, str) else body
        page = CachedPage(data, f'"{hashlib.sha256(data).hexdigest()[:32]}"')
        with self._lock:
            self._pages[key] = page
            while len(self._pages) > self._max:
                self._pages.popitem(last=False)
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
