"""Refreshes queued by admin changes: listed in the store first, so a killed server redoes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from app.services.refresh import RefreshWorker
from app.store import Store
from app.store.meta import STALE_COMMUNES


@pytest.fixture
def region_store(
    database: Path | str,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
) -> Iterator[Store]:
    store = Store(database, device_salt="s")
    store.replace_region(communes, villages, sites)
    yield store
    store.close()


class Recorder:
    """A refresh that records the positions it re-judges, and may fail."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[pd.DataFrame] = []
        self.fail = fail

    def __call__(self, store: Store, positions: pd.DataFrame) -> None:
        self.calls.append(positions)
        if self.fail:
            raise RuntimeError("analysis failed")


def stale(store: Store) -> dict[str, int]:
    return dict(json.loads(store.get_meta(STALE_COMMUNES) or "{}"))


def test_an_admin_change_is_listed_until_its_refresh_is_done(region_store: Store) -> None:
    recorder = Recorder()
    worker = RefreshWorker(region_store, refresh=recorder, coalesce_s=0.05)

    worker.submit_communes(["thuong-nong", "thuong-nong"])  # not started: still queued
    assert stale(region_store) == {"thuong-nong": 1}

    worker.start()
    try:
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    # One point inside each of Thượng Nông's two villages, none of Linh Phú's.
    assert len(recorder.calls) == 1
    points = recorder.calls[0]
    assert len(points) == 2
    assert points["lat"].between(22.56, 22.57).all()
    assert stale(region_store) == {}


def test_a_server_killed_before_the_refresh_redoes_it_on_start(region_store: Store) -> None:
    killed = RefreshWorker(region_store, refresh=Recorder())
    killed.submit_communes(None)  # every commune; the worker never ran
    killed.submit_communes(["linh-phu"])
    assert stale(region_store) == {"linh-phu": 2, "thuong-nong": 1}

    recorder = Recorder()
    restarted = RefreshWorker(region_store, refresh=recorder, coalesce_s=0.05)
    restarted.recover()
    restarted.start()
    try:
        assert restarted.wait_idle(10)
    finally:
        restarted.stop()
    assert sum(len(call) for call in recorder.calls) == 3  # every village once
    assert stale(region_store) == {}


def test_a_failed_refresh_stays_listed(region_store: Store) -> None:
    worker = RefreshWorker(region_store, refresh=Recorder(fail=True), coalesce_s=0.05)
    worker.start()
    try:
        worker.submit_communes(["linh-phu"])
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    assert stale(region_store) == {"linh-phu": 1}


def test_a_change_to_no_commune_queues_nothing(region_store: Store) -> None:
    worker = RefreshWorker(region_store, refresh=Recorder())
    worker.submit_communes([])
    assert worker.pending == 0
    assert region_store.get_meta(STALE_COMMUNES) is None
