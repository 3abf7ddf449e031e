"""API keys with roles, and per-caller rate limits.

A key is ``lsk_<id>_<secret>``: ``id`` is a short public name for the key
(listed, revoked by), ``secret`` 32 random bytes. Only the key's SHA-256 is
stored, so a copy of the database gives no one a working key. Roles:

``collector``
    uploads readings (JSON batches, files, geosubmit).
``planner``
    reads everything, raw-reading exports included.
``admin``
    manages keys, sites and villages, and may do everything the others may.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from app.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from app.store import Store
from app.store_keys import StoredKey

#: The one answer to a missing, unknown or revoked key: it never says which.
INVALID_KEY_DETAIL = "invalid or missing API key"
_KEY_PREFIX = "lsk"


class Role(StrEnum):
    """What a key may do (see the module docstring)."""

    COLLECTOR = "collector"
    PLANNER = "planner"
    ADMIN = "admin"


# The roles each role holds; admin implies the others.
_GRANTS: dict[Role, frozenset[Role]] = {
    Role.COLLECTOR: frozenset({Role.COLLECTOR}),
    Role.PLANNER: frozenset({Role.PLANNER}),
    Role.ADMIN: frozenset(Role),
}


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a stored key, or an anonymous client address."""

    key: StoredKey | None
    identity: str

    @property
    def scope(self) -> str:
        """A name for the caller's own records (idempotency keys are per caller)."""
        return self.identity


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which ``key`` is stored.

    >>> hash_key("lsk_x_y")[:12]
    '012889105419'
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(store: Store, role: Role | str, *, name: str | None = None) -> tuple[StoredKey, str]:
    """Make a new key, store its hash, and return it with the key itself.

    The key is shown once, here; it cannot be recovered from the store.

    Parameters
    ----------
    store : Store
    role : Role or str
        ``collector``, ``planner`` or ``admin``.
    name : str, optional
        Who holds the key (a team, a person), for ``lomsong keys list``.

    Returns
    -------
    (StoredKey, str)
        The stored description and the secret key.

    Raises
    ------
    ValueError
        For an unknown role.
    """
    role = Role(role)
    key_id = secrets.token_hex(4)
    key = f"{_KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    stored = store.add_api_key(key_id, hash_key(key), role=role.value, name=name)
    return stored, key


def authenticate(store: Store, key: str | None) -> StoredKey:
    """The live stored key for ``key``.

    Raises
    ------
    AuthenticationError
        When ``key`` is missing, unknown or revoked (one message for all three).
    """
    stored = store.api_key_by_hash(hash_key(key)) if key else None
    if stored is None or stored.revoked is not None:
        raise AuthenticationError(INVALID_KEY_DETAIL)
    return stored


def authorize(key: StoredKey, role: Role, *, action: str) -> None:
    """Refuse a key whose role does not grant ``role``.

    Raises
    ------
    PermissionDeniedError
        ``"this key may not <action>"``.
    """
    if role not in _GRANTS[Role(key.role)]:
        raise PermissionDeniedError(f"this key may not {action}")


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
    app.errors.RateLimitedError: too many requests: at most 2 a minute; retry in 30 s
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
                wait = max(1, math.ceil((1.0 - tokens) / self.rate_per_s))
                raise RateLimitedError(
                    f"too many requests: at most {self.capacity:g} a minute; retry in {wait} s",
                    retry_after_s=wait,
                )
            self._buckets[identity] = (tokens - 1.0, now)
            if len(self._buckets) > self._MAX_TRACKED:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        for identity, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate_per_s >= self.capacity:
                del self._buckets[identity]
