"""Saved what-if scenarios: stored whole, listed newest first in pages, deleted, kept on reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.store import Store
from app.store.db import Database
from app.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version


def _scenario(number: int, *, created: str) -> dict[str, Any]:
    return {
        "id": f"s{number}",
        "name": f"Viettel ở Bản Giòng {number}" if number % 2 else None,
        "created": created,
        "owner": "key:ab12",
        "commune_ids": ["thuong-nong"],
        "sites": [{"candidate_id": "a", "lon": 105.5, "lat": 22.59, "carrier": "Viettel"}] * number,
        "villages": [{"village_id": "ban-giong", "households_without_signal_after": 3}],
        "totals": {"households_newly_served": 92 + number},
        "footprint": ["8a4159a9a6dffff"],
    }


@pytest.fixture
def store(backend_store: Store) -> Store:
    return backend_store


def test_a_scenario_comes_back_as_stored_and_survives_a_reopen(
    store: Store, database: Path | str
) -> None:
    scenario = _scenario(1, created="2026-12-01T10:00:00+00:00")
    store.add_scenario(scenario)
    store.close()

    reopened = Store(database, device_salt="s")
    try:
        assert reopened.scenario("s1") == scenario
        assert reopened.scenario("nope") is None
    finally:
        reopened.close()


def test_scenarios_are_listed_newest_first_in_pages(store: Store) -> None:
    for number, hour in ((1, 10), (2, 12), (3, 11)):
        store.add_scenario(_scenario(number, created=f"2026-12-01T{hour}:00:00+00:00"))

    page, total = store.scenarios(limit=2, offset=0)
    rest, _ = store.scenarios(limit=2, offset=2)

    assert total == 3
    assert [s["id"] for s in page] == ["s2", "s3"]
    assert [s["id"] for s in rest] == ["s1"]
    assert page[0] == {
        "id": "s2",
        "name": None,
        "created": "2026-12-01T12:00:00+00:00",
        "owner": "key:ab12",
        "commune_ids": ["thuong-nong"],
        "sites_count": 2,
        "totals": {"households_newly_served": 94},
    }


def test_delete_removes_one_scenario_once(store: Store) -> None:
    store.add_scenario(_scenario(1, created="2026-12-01T10:00:00+00:00"))
    store.add_scenario(_scenario(2, created="2026-12-01T11:00:00+00:00"))

    assert store.delete_scenario("s1") is True
    assert store.delete_scenario("s1") is False
    assert store.scenario("s1") is None
    assert [s["id"] for s in store.scenarios()[0]] == ["s2"]


def test_migration_8_adds_the_table_to_a_version_7_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v7.sqlite3"
    monkeypatch.setattr("app.store.schema.MIGRATIONS", MIGRATIONS[:7])
    monkeypatch.setattr("app.store.schema.SCHEMA_VERSION", 7)
    db = Database(path)
    try:
        migrate(db)
        with db.write() as conn:
            conn.execute("INSERT INTO meta VALUES ('results_version', '4')")
    finally:
        db.close()
    monkeypatch.undo()

    store = Store(path, device_salt="s")
    try:
        store.add_scenario(_scenario(1, created="2026-12-01T10:00:00+00:00"))
        assert store.results_version() == 4
        assert store.scenarios()[1] == 1
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == SCHEMA_VERSION >= 8
