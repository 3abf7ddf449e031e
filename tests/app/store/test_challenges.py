"""Challenges as stored, on both backends: who, when, the verdict disputed, and settling."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from app.store import Store
from app.store.challenges import CHALLENGE_COLUMNS, NewChallenge
from app.store.db import Database
from app.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate


@pytest.fixture
def region_store(
    backend_store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
) -> Store:
    backend_store.replace_region(communes, villages, sites)
    return backend_store


def _challenge(village_id: str = "ban-giong", **changes: object) -> NewChallenge:
    values: dict[str, object] = {
        "village_id": village_id,
        "text": "Nhà văn hóa không có sóng",
        "author": "Chủ tịch UBND xã Thượng Nông",
        "key_id": "k-planner",
        "verdict": "covered",
        "lon": 105.495,
        "lat": 22.565,
    }
    values.update(changes)
    return NewChallenge(**values)  # type: ignore[arg-type]


def test_a_challenge_is_stored_with_who_when_and_the_verdict(region_store: Store) -> None:
    version = region_store.results_version()
    stored = region_store.add_challenge(_challenge())
    assert set(stored) == set(CHALLENGE_COLUMNS)
    assert stored["id"] == 1
    assert (stored["village_id"], stored["text"], stored["author"]) == (
        "ban-giong",
        "Nhà văn hóa không có sóng",
        "Chủ tịch UBND xã Thượng Nông",
    )
    assert (stored["key_id"], stored["verdict"]) == ("k-planner", "covered")
    assert stored["status"] == "open"
    assert (stored["lon"], stored["lat"]) == (105.495, 22.565)
    assert pd.Timestamp(stored["created"]).tzinfo is not None
    assert stored["settled"] is None and stored["verdict_settled"] is None
    # What the maps and the survey plan show changed: their caches must see it.
    assert region_store.results_version() == version + 1


def test_challenges_are_listed_by_village_commune_and_status(region_store: Store) -> None:
    region_store.add_challenge(_challenge())
    region_store.add_challenge(_challenge("dong-da-1", lon=None, lat=None, text="Mất sóng"))
    region_store.add_challenge(_challenge("na-ta"))
    assert region_store.challenges()["id"].tolist() == [1, 2, 3]
    assert region_store.challenges(village_ids=["dong-da-1"])["text"].tolist() == ["Mất sóng"]
    assert region_store.challenges(commune_ids=["thuong-nong"])["village_id"].tolist() == [
        "ban-giong",
        "na-ta",
    ]
    assert region_store.challenges(village_ids=[]).empty
    one = region_store.challenges(village_ids=["dong-da-1"]).iloc[0]
    assert pd.isna(one["lon"]) and pd.isna(one["lat"])


def test_settling_keeps_the_verdict_then_and_happens_once(region_store: Store) -> None:
    region_store.add_challenge(_challenge())
    region_store.add_challenge(_challenge("na-ta"))
    version = region_store.results_version()
    assert region_store.settle_challenges({1: "patchy"}) == 1
    assert region_store.results_version() == version + 1
    settled = region_store.challenges(ids=[1]).iloc[0]
    assert (settled["status"], settled["verdict_settled"]) == ("settled", "patchy")
    assert pd.Timestamp(settled["settled"]) >= pd.Timestamp(settled["created"])
    assert region_store.challenges(status="open")["id"].tolist() == [2]
    # Settled once: a second settling changes nothing, not even the version.
    assert region_store.settle_challenges({1: "covered"}) == 0
    assert region_store.results_version() == version + 1
    assert region_store.challenges(ids=[1]).iloc[0]["verdict_settled"] == "patchy"


def test_challenges_outlive_a_region_reload(
    region_store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
) -> None:
    region_store.add_challenge(_challenge())
    region_store.replace_region(communes, villages, sites)
    assert region_store.challenges()["village_id"].tolist() == ["ban-giong"]


def test_the_migration_adds_the_table_to_an_older_database(tmp_path: Path) -> None:
    path = tmp_path / "older.sqlite3"
    db = Database(path)
    try:
        import app.store.schema as schema

        older = MIGRATIONS[:-1]
        original = schema.MIGRATIONS, schema.SCHEMA_VERSION
        schema.MIGRATIONS, schema.SCHEMA_VERSION = older, len(older)
        try:
            migrate(db)
        finally:
            schema.MIGRATIONS, schema.SCHEMA_VERSION = original
    finally:
        db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
    store = Store(path, device_salt="s")
    try:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.challenges().empty
    finally:
        store.close()
