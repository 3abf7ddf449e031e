"""Per-caller rate limits behind a small protocol: in memory, or shared in PostgreSQL.

The service needs one method, :meth:`RateLimit.take`. The in-memory
:class:`RateLimiter` is right for SQLite's one process; on PostgreSQL,
where ``uvicorn --workers N`` runs several, :class:`SharedRateLimiter`
keeps the same token buckets in the database, so the limit holds across
every worker. :func:`rate_limiter` picks one from where the store lives.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import RateLimitedError
from app.store.db import AnyDatabase, PostgresDatabase
from app.store.ratelimits import RateLimits


class RateLimit(Protocol):
    """What the API asks of a rate limiter."""

    def take(self, identity: str) -> None:
        """Spend one request of ``identity``; raise :class:`RateLimitedError` when none is left."""


class RateLimiter:
    """A token bucket per caller, in memory: ``per_minute`` requests, refilled evenly.

    A caller may burst up to a minute's allowance, then is held to the rate.

    Examples
    --------
    >>> limiter = RateLimiter(2, clock=lambda: 0.0)
    >>> limiter.take("a"); limiter.take("a")
    >>> limiter.take("a")
    Traceback (most recent call last):
    ...
    app.core.errors.RateLimitedError: too many requests: at most 2 a minute; retry in 30 s
    """

    # Forget callers whose buckets are full once this many are tracked.
    _MAX_TRACKED = 10_000

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate_per_s = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, identity: str) -> None:
        """Spend one token of ``identity``'s bucket.

        Raises
        ------
        RateLimitedError
            When the bucket is empty; ``Retry-After`` says when a token is back.
        """
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(identity, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate_per_s)
            if tokens < 1.0:
                self._buckets[identity] = (tokens, now)
                raise _limited(self.capacity, tokens, self.rate_per_s)
            self._buckets[identity] = (tokens - 1.0, now)
            if len(self._buckets) > self._MAX_TRACKED:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        for identity, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate_per_s >= self.capacity:
                del self._buckets[identity]


def _limited(capacity: float, tokens: float, rate_per_s: float) -> RateLimitedError:
    wait = max(1, math.ceil((1.0 - tokens) / rate_per_s))
    return RateLimitedError(
        f"too many requests: at most {capacity:g} a minute; retry in {wait} s",
        retry_after_s=wait,
    )


class SharedRateLimiter:
    """:class:`RateLimiter`'s token buckets, kept in PostgreSQL for every worker process.

    Each :meth:`take` is one statement (:class:`app.store.ratelimits.RateLimits`);
    buckets untouched for a minute (full again) are pruned once a minute.

    Parameters
    ----------
    db : PostgresDatabase
        The store's database (its ``rate_limits`` table, on each thread's
        reading connection).
    per_minute : int
    name : str
        Which limit this is: each name has buckets of its own.
    clock : callable
        Seconds, the same epoch in every process (wall-clock time).
    """

    PRUNE_EVERY_S = 60.0

    def __init__(
        self,
        db: PostgresDatabase,
        per_minute: int,
        *,
        name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate_per_s = per_minute / 60.0
        self.name = name
        self._buckets = RateLimits(db)
        self._clock = clock
        self._pruned = clock()

    def take(self, identity: str) -> None:
        """Spend one token of ``identity``'s bucket.

        Raises
        ------
        RateLimitedError
            When the bucket is empty; ``Retry-After`` says when a token is back.
        """
        now = self._clock()
        granted, tokens = self._buckets.take(
            f"{self.name} {identity}", capacity=self.capacity, rate_per_s=self.rate_per_s, now=now
        )
        if now - self._pruned > self.PRUNE_EVERY_S:
            self._pruned = now
            # A bucket refills completely in a minute: an older row is a full one.
            self._buckets.prune(before=now - 60.0)
        if not granted:
            raise _limited(self.capacity, tokens, self.rate_per_s)


def rate_limiter(db: AnyDatabase, per_minute: int, *, name: str) -> RateLimit:
    """Return the limiter for the store's ``db``: shared on PostgreSQL, else in memory."""
    if isinstance(db, PostgresDatabase):
        return SharedRateLimiter(db, per_minute, name=name)
    return RateLimiter(per_minute)


class PublicRateLimit:
    """ASGI middleware: an anonymous request under ``prefixes`` spends a token of its address.

    The public pages and queries need no key, so a client without one is
    counted by its address (behind a proxy, run uvicorn with
    ``--proxy-headers`` so the address is the client's). Past the limit it
    gets ``429`` with ``Retry-After``; requests with a key are counted by
    their key where the route authenticates it.
    """

    def __init__(
        self, app: ASGIApp, *, limiter: RateLimit | None = None, prefixes: tuple[str, ...]
    ) -> None:
        self.app = app
        #: ``None``: the app's ``state.public_rate_limiter`` (made with the store, at start-up).
        self.limiter = limiter
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer ``429`` when its address has no token left."""
        if scope["type"] == "http" and str(scope["path"]).startswith(self.prefixes):
            headers = Headers(scope=scope)
            if "x-api-key" not in headers:
                client = scope.get("client")
                limiter = self.limiter or scope["app"].state.public_rate_limiter
                try:
                    limiter.take(f"client:{client[0] if client else 'unknown'}")
                except RateLimitedError as exc:
                    detail = {"detail": str(exc)}
                    await JSONResponse(detail, status_code=429, headers=exc.headers)(
                        scope, receive, send
                    )
                    return
        await self.app(scope, receive, send)
