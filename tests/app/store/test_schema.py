"""The store's numbered migrations: a new database, one of each earlier version, a newer one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import shapely

from app.store import Store
from app.store.db import Database
from app.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version

# The tables of the last release before migrations were numbered (user_version 0),
# as it created them: no verdict reasons, no folded district/province columns.
_UNNUMBERED = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE communes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, name_folded TEXT NOT NULL,
    district TEXT, province TEXT, geometry BLOB);
CREATE TABLE villages (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, name_folded TEXT NOT NULL, commune_id TEXT,
    commune TEXT, district TEXT, province TEXT, households INTEGER, population INTEGER,
    poverty_rate REAL, centre_lon REAL, centre_lat REAL, geometry BLOB NOT NULL,
    min_lon REAL, min_lat REAL, max_lon REAL, max_lat REAL);
CREATE TABLE village_results (
    village_id TEXT PRIMARY KEY REFERENCES villages (id) ON DELETE CASCADE,
    verdict TEXT NOT NULL, households_without_signal INTEGER, best_carrier TEXT,
    carriers TEXT, readings_count INTEGER, last_reading TEXT);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, name TEXT,
    created TEXT NOT NULL, revoked TEXT);
"""


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(row[0]) for row in rows}


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return schema_version(conn)


def test_a_new_database_runs_every_migration_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "new.sqlite3")
    try:
        assert migrate(db, replay=True) == list(range(1, len(MIGRATIONS) + 1))
        assert migrate(db) == []  # nothing left to run on the next open
    finally:
        db.close()
    assert _version(tmp_path / "new.sqlite3") == SCHEMA_VERSION
    assert {
        "meta",
        "communes",
        "villages",
        "village_results",
        "dead_zones",
        "sites",
        "api_keys",
        "idempotency",
        "cells",
        "reading_batches",
        "reading_keys",
    } <= _tables(tmp_path / "new.sqlite3")


def test_an_unnumbered_database_upgrades_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    square = shapely.to_wkb(shapely.box(105.49, 22.56, 105.50, 22.57))
    with sqlite3.connect(path) as conn:
        conn.executescript(_UNNUMBERED)
        conn.execute(
            "INSERT INTO communes VALUES ('thuong-nong', 'Thượng Nông', 'thuong nong',"
            " 'Na Hang', 'Tuyên Quang', ?)",
            (square,),
        )
        conn.execute(
            "INSERT INTO villages VALUES ('ban-giong', 'Bản Giòng', 'ban giong', 'thuong-nong',"
            " 'Thượng Nông', 'Na Hang', 'Tuyên Quang', 98, NULL, 0.6, NULL, NULL, ?,"
            " 105.49, 22.56, 105.50, 22.57)",
            (square,),
        )
        conn.execute(
            "INSERT INTO village_results (village_id, verdict, households_without_signal)"
            " VALUES ('ban-giong', 'patchy', 40)"
        )
        conn.execute(
            "INSERT INTO api_keys VALUES ('k1', 'hash', 'admin', 'team', '2026-01-01', NULL)"
        )
    assert _version(path) == 0

    store = Store(path, device_salt="s")
    try:
        assert _version(path) == SCHEMA_VERSION
        village = store.villages(province="tuyen quang", district="NA HANG")
        assert village["id"].tolist() == ["ban-giong"]
        assert village["verdict"].tolist() == ["patchy"]
        assert village["households_without_signal"].tolist() == [40]
        assert village["confidence"].isna().all()  # NULL until the next analysis
        assert [k.id for k in store.api_keys()] == ["k1"]
        assert store.communes()["name"].tolist() == ["Thượng Nông"]
    finally:
        store.close()


def test_a_database_from_a_newer_lomsong_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Store(path, device_salt="s")


def test_a_failing_migration_leaves_its_version_and_tables_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("disk full")

    path = tmp_path / "broken.sqlite3"
    monkeypatch.setattr("app.store.schema.MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr("app.store.schema.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    db = Database(path)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            migrate(db, replay=True)
    finally:
        db.close()
    assert _version(path) == SCHEMA_VERSION
    assert "half_done" not in _tables(path)


def test_migration_7_makes_stored_zones_best_carrier_zones_of_their_village(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v6.sqlite3"
    monkeypatch.setattr("app.store.schema.MIGRATIONS", MIGRATIONS[:6])
    monkeypatch.setattr("app.store.schema.SCHEMA_VERSION", 6)
    db = Database(path)
    try:
        migrate(db, replay=True)
        with db.write() as conn:
            conn.executemany(
                "INSERT INTO dead_zones (id, commune_id, verdict, households, village_ids,"
                " geometry) VALUES (?, 'thuong-nong', 'patchy', 40, ?, ?)",
                [
                    (
                        "one",
                        '["ban-giong"]',
                        shapely.to_wkb(shapely.box(105.49, 22.56, 105.5, 22.57)),
                    ),
                    (
                        "two",
                        '["ban-giong","na-ta"]',
                        shapely.to_wkb(shapely.box(105.47, 22.56, 105.5, 22.57)),
                    ),
                ],
            )
    finally:
        db.close()
    assert _version(path) == 6
    monkeypatch.undo()

    store = Store(path, device_salt="s")
    try:
        assert _version(path) == SCHEMA_VERSION >= 7
        zones = store.dead_zones().set_index("id")
        assert zones["carrier"].tolist() == ["any", "any"]
        assert zones["radio"].isna().all()
        assert zones.loc["one", "village_id"] == "ban-giong"
        assert pd.isna(zones.loc["two", "village_id"])  # it touched two villages
        assert store.dead_zones(carrier="Viettel").empty
    finally:
        store.close()


def _shape(conn: sqlite3.Connection) -> dict[str, object]:
    """Every table's columns (name, declared type) and every index's name and columns."""
    shape: dict[str, object] = {}
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    for (table,) in tables.fetchall():
        columns = conn.execute(f"PRAGMA table_info({table})").fetchall()
        shape[table] = sorted((str(c[1]), str(c[2]).upper()) for c in columns)
    indexes = conn.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    )
    for name, table in indexes.fetchall():
        columns = conn.execute(f"PRAGMA index_info({name})").fetchall()
        shape[f"index {name}"] = (table, [str(c[2]) for c in columns])
    return shape


def test_the_upgrade_path_builds_exactly_the_one_schema_definition(tmp_path: Path) -> None:
    """Migrations 1..N from an empty file give the tables app.store.tables creates at once."""
    replayed, fresh = Database(tmp_path / "replayed.sqlite3"), Database(tmp_path / "fresh.sqlite3")
    try:
        migrate(replayed, replay=True)
        assert migrate(fresh) == list(range(1, SCHEMA_VERSION + 1))
        assert _shape(replayed.connection()) == _shape(fresh.connection())
        assert "reading_keys" in _shape(fresh.connection())
    finally:
        replayed.close()
        fresh.close()
    assert _version(tmp_path / "fresh.sqlite3") == SCHEMA_VERSION


def test_a_new_postgresql_database_gets_postgis_columns_and_indexes(postgres_url: str) -> None:
    from app.store.db import PostgresDatabase

    db = PostgresDatabase(postgres_url)
    try:
        assert migrate(db) == list(range(1, SCHEMA_VERSION + 1))
        assert migrate(db) == []
        kinds = db.query(
            "SELECT f_table_name AS t, type FROM geometry_columns WHERE f_geometry_column = ?"
            " ORDER BY f_table_name",
            ("geometry",),
        )
        assert dict(zip(kinds["t"], kinds["type"], strict=True)) == {
            "communes": "GEOMETRY",
            "dead_zones": "GEOMETRY",
            "sites": "POINT",
            "villages": "GEOMETRY",
        }
        gist = db.query("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")
        assert {
            "communes_geometry",
            "dead_zones_geometry",
            "sites_geometry",
            "villages_geometry",
        } <= set(gist["indexname"])
        with db.write() as conn:
            assert schema_version(conn) == SCHEMA_VERSION
    finally:
        db.close()
