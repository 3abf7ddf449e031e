"""Dependencies handlers declare, as short ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery

from app.api.ratelimit import RateLimit
from app.api.responses import PageCache
from app.core.config import Settings
from app.core.errors import AuthenticationError
from app.core.security import Role
from app.services.idempotency import Idempotency
from app.services.keys import Caller, authenticate, authorize
from app.services.refresh import Refresher
from app.store import Store


def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was built with (``create_app(settings)``)."""
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    """Return the store opened by the app's lifespan."""
    store: Store = request.app.state.store
    return store


def get_page_cache(request: Request) -> PageCache:
    """Return the app's cache of rendered pages."""
    cache: PageCache = request.app.state.page_cache
    return cache


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
PageCacheDep = Annotated[PageCache, Depends(get_page_cache)]


# --- who is calling: API keys, roles and rate limits ---------------------
_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (`lomsong keys create`)."
)
_KEY_QUERY = APIKeyQuery(
    name="key", auto_error=False, description="The API key, as geosubmit clients send it."
)


def get_rate_limiter(request: Request) -> RateLimit:
    """Return the app's per-caller rate limiter."""
    limiter: RateLimit = request.app.state.rate_limiter
    return limiter


RateLimitDep = Annotated[RateLimit, Depends(get_rate_limiter)]


def get_refresher(request: Request) -> Refresher:
    """Return the background worker that refreshes verdicts after uploads."""
    refresher: Refresher = request.app.state.refresher
    return refresher


def get_idempotency(request: Request) -> Idempotency:
    """Return the ``Idempotency-Key`` bookkeeping of the app's store."""
    idempotency: Idempotency = request.app.state.idempotency
    return idempotency


def client_address(request: Request) -> str:
    """Return the identity of a caller without a valid key: its address."""
    return f"client:{request.client.host if request.client else 'unknown'}"


@dataclass(frozen=True)
class Gate:
    """Who may pass: the app's store, settings and rate limiter, and the client's address."""

    address: str
    store: Store
    settings: Settings
    limiter: RateLimit

    def identify(
        self, key: str | None, role: Role, *, action: str, anonymous: bool = False
    ) -> Caller:
        """Authenticate, authorise and rate-limit one request.

        Parameters
        ----------
        key : str or None
            The API key the client sent.
        role : Role
            The role the request needs.
        action : str, keyword-only
            What the request does, for the 403 detail ("this key may not <action>").
        anonymous : bool, keyword-only
            Whether a request without a key passes when
            ``settings.allow_anonymous_upload`` is on (uploads only).

        Raises
        ------
        AuthenticationError, PermissionDeniedError, RateLimitedError
        """
        if not key and anonymous and self.settings.allow_anonymous_upload:
            self.limiter.take(self.address)
            return Caller(key=None, identity=self.address)
        try:
            stored = authenticate(self.store, key)
        except AuthenticationError:
            self.limiter.take(self.address)  # guessing keys costs tokens too
            raise
        caller = Caller(key=stored, identity=f"key:{stored.id}")
        self.limiter.take(caller.identity)
        authorize(stored, role, action=action)
        return caller


def get_gate(
    address: Annotated[str, Depends(client_address)],
    store: StoreDep,
    settings: SettingsDep,
    limiter: RateLimitDep,
) -> Gate:
    """Return this request's :class:`Gate`."""
    return Gate(address, store, settings, limiter)


GateDep = Annotated[Gate, Depends(get_gate)]


def require_upload(gate: GateDep, key: str | None = Security(_KEY_HEADER)) -> Caller:
    """Return a caller that may upload readings (a collector key, or anonymous when allowed)."""
    return gate.identify(key, Role.COLLECTOR, action="upload readings", anonymous=True)


def require_geosubmit_upload(
    gate: GateDep,
    header_key: str | None = Security(_KEY_HEADER),
    query_key: str | None = Security(_KEY_QUERY),
) -> Caller:
    """As :func:`require_upload`, with the key also taken from ``?key=``."""
    key = header_key or query_key
    return gate.identify(key, Role.COLLECTOR, action="upload readings", anonymous=True)


def require_planner(gate: GateDep, key: str | None = Security(_KEY_HEADER)) -> Caller:
    """Return a caller that may read raw readings (planner or admin)."""
    return gate.identify(key, Role.PLANNER, action="read raw readings")


def require_site_reader(gate: GateDep, key: str | None = Security(_KEY_HEADER)) -> Caller:
    """Return a caller that may read the carriers' sites and cells (planner or admin)."""
    return gate.identify(key, Role.PLANNER, action="read sites")


def require_admin(gate: GateDep, key: str | None = Security(_KEY_HEADER)) -> Caller:
    """Return a caller that may manage keys, sites and villages (admin)."""
    return gate.identify(key, Role.ADMIN, action="manage keys, sites or villages")


RefresherDep = Annotated[Refresher, Depends(get_refresher)]
IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
UploaderDep = Annotated[Caller, Depends(require_upload)]
GeosubmitUploaderDep = Annotated[Caller, Depends(require_geosubmit_upload)]
PlannerDep = Annotated[Caller, Depends(require_planner)]
SiteReaderDep = Annotated[Caller, Depends(require_site_reader)]
AdminDep = Annotated[Caller, Depends(require_admin)]
