"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from app.api.models import ERROR_RESPONSES
from app.api.ratelimit import PublicRateLimit, rate_limiter
from app.api.responses import (
    UNCOMPRESSED_TYPES,
    CachedStaticFiles,
    NegotiatedGZip,
    PageCache,
    ResultsCache,
)
from app.api.routes import (
    challenges,
    dead_zones,
    docs,
    exports,
    geosubmit,
    health,
    keys,
    maps,
    plans,
    readings,
    region,
    reports,
    scenarios,
    sites,
    survey,
    uploads,
    village_admin,
    villages,
)
from app.core.config import Settings, get_settings
from app.core.errors import install_error_handlers
from app.core.logging import redact_access_log
from app.services.demo import load_demo
from app.services.idempotency import Idempotency
from app.services.ingest import ImportJobs
from app.services.planning import PlanCache
from app.services.refresh import make_refresher
from app.store import Store
from app.store.db import open_database
from app.store.locks import STARTUP_LOCK, AdvisoryLocks, Presence
from geodata.maps import STATIC_DIR as MAP_STATIC_DIR

logger = logging.getLogger(__name__)

#: Routes anyone may read without a key (rate-limited per client address).
PUBLIC_PREFIXES = (
    "/maps",
    "/reports",
    "/api/v1/villages",
    "/api/v1/dead-zones",
    "/api/v1/exports",
    "/api/v1/survey-plan",
)
#: Public answers that depend only on the URL and the results (kept per results version).
CACHED_PREFIXES = (
    "/api/v1/villages",
    "/api/v1/dead-zones",
    "/api/v1/exports",
    "/api/v1/survey-plan",
)


def create_app(settings: Settings) -> FastAPI:
    """Build the service around ``settings``.

    The lifespan opens the store and, with ``settings.demo``, loads and
    analyses the demo region (skipped when it is already current).

    Raises
    ------
    RuntimeError
        When Leaflet's files are missing (run ``make assets``).
    """
    redact_access_log()  # before uvicorn logs a request: ``?key=`` never reaches the log
    leaflet_dir = settings.leaflet_dir
    if not (leaflet_dir / "leaflet.js").is_file():
        raise RuntimeError(
            f"Leaflet not found at {leaflet_dir}; run `make assets` "
            "or set LOMSONG_ASSETS_DIR to a node_modules directory holding leaflet"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # On PostgreSQL N worker processes start at once: one at a time runs the
        # start-up (migrations, demo load and first analysis, recovery), under an
        # advisory lock; the first sees to the work an earlier run left undone.
        lock_db = open_database(settings.database)
        locks = AdvisoryLocks(lock_db)
        presence = Presence(locks)
        with locks.hold(STARTUP_LOCK):
            store = await run_in_threadpool(
                Store, settings.database, device_salt=settings.device_salt
            )
            first_up = await run_in_threadpool(presence.arrive)
            app.state.store = store
            # Shared by every worker process on PostgreSQL, in memory on SQLite.
            app.state.rate_limiter = rate_limiter(
                store.db, settings.rate_limit_per_minute, name="key"
            )
            app.state.public_rate_limiter = rate_limiter(
                store.db, settings.public_rate_limit_per_minute, name="public"
            )
            app.state.idempotency = Idempotency(store)
            from app.services.survey import refresh_and_settle

            # Uploads queue their readings' positions; one thread re-judges villages
            # (and settles the challenges the new readings answer); on PostgreSQL
            # one thread among all the processes (app.services.refresh).
            refresher = make_refresher(
                store, refresh=partial(refresh_and_settle, rasters=settings.rasters)
            )
            app.state.refresher = refresher
            app.state.jobs = jobs = ImportJobs(store)  # file imports run as jobs (?async=true)
            try:
                if first_up:
                    jobs.start()  # the imports a killed run left unfinished are failed
                if settings.demo:
                    await run_in_threadpool(
                        load_demo, store, data_dir=settings.data_dir, seed=settings.demo_seed
                    )
                # Readings a killed server stored but never refreshed.
                refresher.start()
                await run_in_threadpool(refresher.recover)
            except BaseException:
                await run_in_threadpool(_shut, app, locks, presence)
                raise
        lock_db.close()  # the start-up lock's connection (the lock was released above)
        try:
            yield
        finally:
            await run_in_threadpool(_shut, app, locks, presence)

    app = FastAPI(
        title="lomsong",
        summary="Villages with no mobile signal (trắng sóng) or patchy signal (lõm sóng).",
        lifespan=lifespan,
        docs_url=None,  # app.api.routes.docs serves /docs and /redoc offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.page_cache = PageCache()
    app.state.plan_cache = PlanCache()  # plans per query and results version
    install_error_handlers(app)
    for module in (
        health,
        readings,
        geosubmit,
        keys,
        sites,
        villages,
        village_admin,
        challenges,
        region,
        dead_zones,
        maps,
        survey,
        exports,
        reports,
        uploads,
        scenarios,
        plans,
    ):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(docs.docs_router(settings))
    # Middleware, innermost first: anonymous public GETs answered from memory per
    # results version; a rate limit per address on the public routes; gzip.
    app.add_middleware(ResultsCache, prefixes=CACHED_PREFIXES)
    app.add_middleware(
        PublicRateLimit,
        prefixes=PUBLIC_PREFIXES,
    )
    # Every text response gzipped for a client that accepts it (level 6: nearly 9's
    # size at a fraction of its time); cached pages come gzipped already.
    app.add_middleware(
        NegotiatedGZip, minimum_size=500, compresslevel=6, exclude_content_types=UNCOMPRESSED_TYPES
    )
    # The asset URLs carry no version: no-cache, revalidated by ETag (see CachedStaticFiles).
    app.mount("/static/leaflet", CachedStaticFiles(directory=leaflet_dir), name="leaflet")
    app.mount("/static/lomsong", CachedStaticFiles(directory=MAP_STATIC_DIR), name="lomsong")
    return app


def _shut(app: FastAPI, locks: AdvisoryLocks, presence: Presence) -> None:
    """Stop the lifespan's workers, close the store; the last process fails unfinished imports.

    Each step runs even when one before it failed (a lost database, say).
    """
    steps = (
        lambda: app.state.jobs.stop(fail_unfinished=presence.leave()),
        app.state.refresher.stop,
        app.state.idempotency.close,
        locks.close,
        app.state.store.close,
    )
    for step in steps:
        try:
            step()
        except Exception:
            logger.exception("while stopping the service")


def app_from_env() -> FastAPI:
    """``uvicorn --factory app.main:app_from_env``: settings from ``LOMSONG_*``."""
    return create_app(get_settings())
