"""The numbered migrations that upgrade the store's databases, and their version.

The tables themselves are defined once, for both backends, in
:mod:`app.store.tables`: a new database is created whole from there. A
database records the last migration it ran (SQLite: ``PRAGMA user_version``;
PostgreSQL: the ``lomsong_schema`` table). On open, :func:`migrate` runs the
ones after it, in order, each in one write transaction together with its
version bump: a database made by any earlier version (0: before migrations
were numbered) upgrades and keeps its rows. Add a change to
:mod:`app.store.tables` *and* as a new function at the end of
:data:`MIGRATIONS` (for both backends); never edit one that has shipped.
``lomsong db upgrade`` runs them without starting the service.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pandas as pd

from app.store.db import AnyDatabase, Connection
from app.store.readings import STORED_COLUMNS, canonical, insert_batch
from geodata.text import fold

#: ``unit_type`` and ``aliases`` (a JSON list of former names) since migration 6.
COMMUNE_COLUMNS = ("id", "name", "district", "province", "unit_type", "aliases")
VILLAGE_COLUMNS = (
    "id",
    "name",
    "commune_id",
    "commune",
    "district",
    "province",
    "households",
    "population",
    "poverty_rate",
    "centre_lon",
    "centre_lat",
    "boundary",  # since migration 6: "polygon" (drawn) or "voronoi" (around a point)
)
RESULT_COLUMNS = (
    "verdict",
    "households_without_signal",
    "best_carrier",
    "carriers",
    "readings_count",
    "last_reading",
    "confidence",
    "reasons",
    "reasons_vi",
)
DEAD_ZONE_COLUMNS = (
    "id",
    "commune_id",
    "verdict",
    "area_km2",
    "households",
    "village_ids",
    "carriers_absent",
    "nearest_site_m",
    # Since migration 7: the layer ("any" or a carrier; a radio or NULL) and the one village.
    "carrier",
    "radio",
    "village_id",
)
JSON_COLUMNS = frozenset(
    {"carriers", "village_ids", "carriers_absent", "reasons", "reasons_vi", "aliases"}
)


#: Tables in the order they were first released (version 1 creates them all).
TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS communes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, name_folded TEXT NOT NULL,
    district TEXT, province TEXT, geometry BLOB)""",
    """CREATE TABLE IF NOT EXISTS villages (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, name_folded TEXT NOT NULL, commune_id TEXT,
    commune TEXT, district TEXT, province TEXT, households INTEGER, population INTEGER,
    poverty_rate REAL, centre_lon REAL, centre_lat REAL, geometry BLOB NOT NULL,
    min_lon REAL, min_lat REAL, max_lon REAL, max_lat REAL)""",
    """CREATE INDEX IF NOT EXISTS villages_commune ON villages (commune_id)""",
    """CREATE TABLE IF NOT EXISTS village_results (
    village_id TEXT PRIMARY KEY REFERENCES villages (id) ON DELETE CASCADE,
    verdict TEXT NOT NULL, households_without_signal INTEGER, best_carrier TEXT,
    carriers TEXT, readings_count INTEGER, last_reading TEXT)""",
    """CREATE TABLE IF NOT EXISTS dead_zones (
    id TEXT PRIMARY KEY, commune_id TEXT, verdict TEXT NOT NULL, area_km2 REAL,
    households INTEGER, village_ids TEXT, carriers_absent TEXT, nearest_site_m REAL,
    geometry BLOB NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS dead_zones_commune ON dead_zones (commune_id)""",
    """CREATE TABLE IF NOT EXISTS sites (
    rowid INTEGER PRIMARY KEY, site_id TEXT, name TEXT, carrier TEXT, mcc INTEGER,
    mnc INTEGER, radio TEXT, cell_id INTEGER, area_code INTEGER, lon REAL, lat REAL,
    height_m REAL, azimuth_deg REAL, beamwidth_deg REAL, eirp_dbm REAL, freq_mhz REAL,
    range_m REAL, created TEXT)""",
    # API keys: only the SHA-256 of a key is stored, beside a short public id.
    """CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, name TEXT,
    created TEXT NOT NULL, revoked TEXT)""",
    # The first answer to each (caller, endpoint, Idempotency-Key), replayed on retries.
    """CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
    response TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (scope, key))""",
    # Hex cells the maps and exports show, per carrier.
    """CREATE TABLE IF NOT EXISTS cells (
    h3 TEXT NOT NULL, carrier TEXT NOT NULL, radio TEXT, p_usable REAL, dbm REAL,
    cell_class TEXT, evidence TEXT, count INTEGER, commune_id TEXT, lat REAL, lon REAL,
    PRIMARY KEY (h3, carrier))""",
    """CREATE INDEX IF NOT EXISTS cells_commune ON cells (commune_id)""",
    # One row per stored chunk of readings: its new readings as Parquet (canonical
    # columns plus content_key, devices already hashed), and their bounding box.
    # 'demo' origin for the bundled campaign, 'upload' for everything users send:
    # reloading the demo replaces only its own readings. ``request`` names the
    # idempotent request (scope and key) that stored the batch.
    """CREATE TABLE IF NOT EXISTS reading_batches (
    id INTEGER PRIMARY KEY, origin TEXT NOT NULL, stored TEXT NOT NULL, request TEXT,
    count INTEGER NOT NULL, min_lon REAL, min_lat REAL, max_lon REAL, max_lat REAL,
    data BLOB NOT NULL)""",
    # Every stored reading's content key, and the batch that holds it.
    """CREATE TABLE IF NOT EXISTS reading_keys (
    content_key INTEGER PRIMARY KEY, batch_id INTEGER NOT NULL)""",
)


def _columns(conn: Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _add_columns(conn: Connection, table: str, columns: dict[str, str]) -> None:
    present = _columns(conn, table)
    for column, kind in columns.items():
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def create_tables(conn: Connection) -> None:
    """1: every table of the first release (those an unnumbered database has stay)."""
    for statement in TABLES:
        conn.execute(statement)


def add_verdict_reasons(conn: Connection) -> None:
    """2: verdicts gain ``confidence`` and their reasons (NULL until the next analysis)."""
    _add_columns(
        conn, "village_results", {"confidence": "REAL", "reasons": "TEXT", "reasons_vi": "TEXT"}
    )


def move_reading_rows(conn: Connection) -> None:
    """3: readings of the one-row-per-reading table of earlier versions move into batches.

    Keys, origins and hashed devices are kept as they were; the old table is dropped.
    """
    legacy = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'readings'"
    ).fetchone()
    if legacy is None:
        return
    chunks = pd.read_sql_query(
        f"SELECT {', '.join(STORED_COLUMNS)}, origin FROM readings ORDER BY rowid",
        conn,
        chunksize=100_000,
    )
    for rows in chunks:
        rows["time"] = pd.to_datetime(rows["time"], utc=True, format="ISO8601")
        rows["no_service"] = rows["no_service"].astype(bool)
        rows = canonical(rows)
        for origin, group in rows.groupby("origin", sort=False):
            insert_batch(conn, group, origin=str(origin), request=None)
    conn.execute("DROP TABLE readings")


def fold_place_names(conn: Connection) -> None:
    """4: folded district and province names, so filters ignoring diacritics run in SQL."""
    folded = {"district_folded": "TEXT", "province_folded": "TEXT"}
    for table in ("communes", "villages"):
        _add_columns(conn, table, folded)
        rows = conn.execute(f"SELECT rowid, district, province FROM {table}").fetchall()
        conn.executemany(
            f"UPDATE {table} SET district_folded = ?, province_folded = ? WHERE rowid = ?",
            [(fold_or_none(d), fold_or_none(p), rowid) for rowid, d, p in rows],
        )
    conn.execute(
        "CREATE INDEX IF NOT EXISTS villages_province"
        " ON villages (province_folded, district_folded)"
    )


def fold_or_none(value: object) -> str | None:
    """:func:`geodata.text.fold` of a text value; ``None`` (and NaN) stay ``None``.

    >>> fold_or_none("Chiêm Hóa"), fold_or_none(None)
    ('chiem hoa', None)
    """
    return None if value is None or value != value else fold(str(value))


def add_uploads(conn: Connection) -> None:
    """5: every upload is a batch with an id, its counts, and (as a job) its status.

    ``reading_batches.upload_id`` ties stored chunks to their upload, so
    deleting an upload deletes its readings and frees their content keys.
    Batches stored before (and the demo's) have none.
    """
    conn.execute(
        """CREATE TABLE IF NOT EXISTS uploads (
        id INTEGER PRIMARY KEY, owner TEXT NOT NULL, created TEXT NOT NULL,
        origin TEXT NOT NULL, format TEXT, status TEXT NOT NULL,
        rows_read INTEGER NOT NULL DEFAULT 0, bytes_total INTEGER,
        accepted INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,
        rejected_total INTEGER NOT NULL DEFAULT 0,
        rejected_by_reason TEXT NOT NULL DEFAULT '{}',
        outside_region INTEGER NOT NULL DEFAULT 0, report TEXT, error TEXT, finished TEXT)"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS uploads_owner ON uploads (owner, id)")
    _add_columns(conn, "reading_batches", {"upload_id": "INTEGER"})
    conn.execute("CREATE INDEX IF NOT EXISTS reading_batches_upload ON reading_batches (upload_id)")


def add_commune_names(conn: Connection) -> None:
    """6: communes gain their unit type and former names; villages how their outline was made.

    ``unit_type`` is the data's own (xã, phường, thị trấn), NULL when it gave
    none; ``aliases`` a JSON list of former names (merged communes since the
    2025 reform), and ``aliases_folded`` those names folded and joined by
    ``|`` so a search ignoring diacritics runs in SQL. A village's
    ``boundary`` is ``polygon`` (drawn) or ``voronoi`` (a cell around its
    point, approximate); villages stored before are drawn polygons.
    """
    _add_columns(
        conn, "communes", {"unit_type": "TEXT", "aliases": "TEXT", "aliases_folded": "TEXT"}
    )
    _add_columns(conn, "villages", {"boundary": "TEXT"})
    conn.execute("UPDATE villages SET boundary = 'polygon' WHERE boundary IS NULL")


def folded_aliases(names: object) -> str | None:
    """Former names folded and joined by ``|`` (``|`` around each), for ``instr`` searches.

    >>> folded_aliases(["Thượng Giáp", "Xuân Tân"]), folded_aliases(None)
    ('|thuong giap|xuan tan|', None)
    """
    if not isinstance(names, list | tuple) or not names:
        return None
    return "|" + "|".join(fold(str(n)) for n in names) + "|"


def add_dead_zone_layers(conn: Connection) -> None:
    """7: dead zones per carrier (and radio) and per village.

    A zone's ``carrier`` is ``any`` (even the best carrier fails there) or
    the carrier it is a zone of, ``radio`` the radio or NULL (every radio of
    the carrier), ``village_id`` the one village it lies in. Zones stored
    before were best-carrier zones: they become ``any``, and keep their
    village when they touched only one.
    """
    _add_columns(conn, "dead_zones", {"carrier": "TEXT", "radio": "TEXT", "village_id": "TEXT"})
    conn.execute("UPDATE dead_zones SET carrier = 'any' WHERE carrier IS NULL")
    conn.execute(
        "UPDATE dead_zones SET village_id = json_extract(village_ids, '$[0]')"
        " WHERE village_id IS NULL AND json_valid(village_ids)"
        " AND json_array_length(village_ids) = 1"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS dead_zones_layer ON dead_zones (carrier, radio)")


def add_scenarios(conn: Connection) -> None:
    """8: what-if scenarios (:mod:`app.store.scenarios`), with who made them and when.

    ``owner`` is the key (``key:<id>``); ``commune_ids`` and ``totals`` are
    JSON, ``document`` the whole scenario (sites, villages before and after,
    footprint) as JSON. The id is random: it is the link a planner shares.
    """
    conn.execute(
        """CREATE TABLE IF NOT EXISTS scenarios (
        id TEXT PRIMARY KEY, name TEXT, created TEXT NOT NULL, owner TEXT NOT NULL,
        commune_ids TEXT NOT NULL, sites_count INTEGER NOT NULL, totals TEXT NOT NULL,
        document TEXT NOT NULL)"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS scenarios_created ON scenarios (created)")


def add_challenges(conn: Connection) -> None:
    """9: challenges to a village's verdict (:mod:`app.store.challenges`).

    Who (the key's public id), when, the verdict disputed, where (optional
    lon/lat), and once new readings settle it, when and the verdict then.
    No foreign key to ``villages``: reloading a region replaces its villages,
    and a dispute must outlive that.
    """
    conn.execute(
        """CREATE TABLE IF NOT EXISTS challenges (
        id INTEGER PRIMARY KEY, village_id TEXT NOT NULL, text TEXT NOT NULL,
        author TEXT NOT NULL, lon REAL, lat REAL, key_id TEXT, created TEXT NOT NULL,
        verdict TEXT, status TEXT NOT NULL DEFAULT 'open', settled TEXT, verdict_settled TEXT)"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS challenges_village ON challenges (village_id, id)")


def add_rate_limits(conn: Connection) -> None:
    """10: PostgreSQL's shared rate limits (:mod:`app.store.ratelimits`); nothing on SQLite."""
    if _is_sqlite(conn):
        return
    conn.execute(
        """CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits (
        bucket TEXT NOT NULL, tokens DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL, granted BOOLEAN NOT NULL, PRIMARY KEY (bucket))"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS rate_limits_updated ON rate_limits (updated)")


Migration = Callable[[Connection], None]

#: Migration ``n`` (1-based) brings a database from version ``n - 1`` to ``n``.
MIGRATIONS: tuple[Migration, ...] = (
    create_tables,
    add_verdict_reasons,
    move_reading_rows,
    fold_place_names,
    add_uploads,
    add_commune_names,
    add_dead_zone_layers,
    add_scenarios,
    add_challenges,
    add_rate_limits,
)
SCHEMA_VERSION = len(MIGRATIONS)


#: The one-row table where a PostgreSQL database records its version
#: (SQLite keeps it in ``PRAGMA user_version``).
VERSION_TABLE = "lomsong_schema"


def _is_sqlite(conn: Connection) -> bool:
    return isinstance(conn, sqlite3.Connection)


def schema_version(conn: Connection) -> int:
    """Return the last migration the database ran (0 for a new or unnumbered one)."""
    if _is_sqlite(conn):
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    found = conn.execute("SELECT to_regclass(?) IS NOT NULL", (VERSION_TABLE,)).fetchone()
    if not found[0]:
        return 0
    return int(conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()[0])


def _set_version(conn: Connection, number: int) -> None:
    if _is_sqlite(conn):
        conn.execute(f"PRAGMA user_version = {int(number)}")
        return
    conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
    conn.execute(f"DELETE FROM {VERSION_TABLE}")
    conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)", (int(number),))


def _is_new(conn: Connection) -> bool:
    """Whether the database has none of the store's tables (not even an unnumbered release's)."""
    if _is_sqlite(conn):
        # Any table at all (an unnumbered release's ``readings`` alone) is history to upgrade.
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone() is None
    return not conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]


def migrate(db: AnyDatabase, *, replay: bool = False) -> list[int]:
    """Bring ``db`` to :data:`SCHEMA_VERSION`; returns the versions it went through.

    A new database, SQLite or PostgreSQL, is created whole from the one schema
    definition (:func:`app.store.tables.create_all`) in one transaction. A
    SQLite database made by an earlier release runs the numbered migrations
    after its version, each in one transaction with its version bump. A
    PostgreSQL database has existed only since version 9 (the first with that
    backend), so its upgrades are the migrations after 9; each is written for
    both backends.

    Parameters
    ----------
    db : Database or PostgresDatabase
    replay : bool, keyword-only
        Build even a new SQLite database by running every numbered migration
        from the first (the upgrade path, for its tests).

    Raises
    ------
    RuntimeError
        When the database was made by a newer lomsong (its version is past ours).
    """
    from app.store.tables import create_all

    with db.write() as conn:
        current = schema_version(conn)
        if current == 0 and _is_new(conn) and not (replay and _is_sqlite(conn)):
            if _is_sqlite(conn):
                conn.execute("BEGIN IMMEDIATE")
            create_all(conn, db.dialect)
            _set_version(conn, SCHEMA_VERSION)
            return list(range(1, SCHEMA_VERSION + 1))
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"{db.path} is at schema version {current}; this lomsong knows {SCHEMA_VERSION}"
        )
    ran: list[int] = []
    for number, step in enumerate(MIGRATIONS[current:], start=current + 1):
        with db.write() as conn:
            if _is_sqlite(conn):
                # DDL does not open a transaction by itself in sqlite3: open it here,
                # so a migration and its version bump commit together or not at all.
                conn.execute("BEGIN IMMEDIATE")
            step(conn)
            _set_version(conn, number)
        ran.append(number)
    return ran
