"""Dependencies handlers declare, as short ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.pagecache import PageCache
from app.store import Store


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (``create_app(settings)``)."""
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    """The store opened by the app's lifespan."""
    store: Store = request.app.state.store
    return store


def get_page_cache(request: Request) -> PageCache:
    """The app's cache of rendered pages."""
    cache: PageCache = request.app.state.page_cache
    return cache


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
PageCacheDep = Annotated[PageCache, Depends(get_page_cache)]
