"""``lomsong db copy``: move a SQLite deployment into an empty PostgreSQL database.

Every table of the one schema definition (:mod:`app.store.tables`) that both
backends have is copied row for row, ids included, in chunks of
:data:`CHUNK_ROWS` (bounded memory): communes, villages, sites, results, dead
zones, cells, API keys (their hashes), idempotency records, meta (the results
version, the rasters' and region's paths), uploads, scenarios, challenges.
Geometries go from SQLite's WKB into the PostGIS columns. Readings go batch by
batch (each SQLite Parquet batch decoded, then ``COPY``-ed, :func:`app.store.
readings.insert_rows`), keeping each batch's id, origin, request, upload and
time, and their content keys; devices stay the stored salted hashes, never
hashed again. Identity sequences then continue after the copied ids.

The copy is one transaction on the target: a failure leaves it empty, and a
target that already holds data is refused (:class:`TargetNotEmptyError`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd

from app.store.db import Database, PostgresConnection, PostgresDatabase
from app.store.readings import decode_batch, ensure_partitions, insert_rows, months_of
from app.store.sql import sync_site_points
from app.store.tables import metadata
from geodata.errors import InvalidInputError

if TYPE_CHECKING:
    from app.store import Store

#: Rows of a table read and written at once.
CHUNK_ROWS = 20_000
#: Tables copied with their readings, not row for row.
_READING_TABLES = frozenset({"reading_batches", "reading_keys"})
_BATCH_COLUMNS = ("id", "origin", "stored", "request", "count", "upload_id")


class TargetNotEmptyError(InvalidInputError):
    """The database to copy into already holds data."""


def copied_tables() -> list[str]:
    """Return the tables copied row for row, parents before children.

    >>> copied_tables()[:3], "reading_keys" in copied_tables()
    (['api_keys', 'cells', 'challenges'], False)
    """
    return [
        t.name
        for t in metadata.sorted_tables
        if set(t.info.get("dialects", ("sqlite", "postgresql"))) >= {"sqlite", "postgresql"}
        and t.name not in _READING_TABLES
    ]


def _target_columns(conn: PostgresConnection, table: str) -> dict[str, str]:
    """Return the target table's columns and their types (``format_type``), in order."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        (table,),
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def _source_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")]


def _array_type(kind: str) -> str:
    """Return the array type a column's values are sent in: WKB (``bytea``) for a geometry."""
    return "bytea" if kind.startswith("geometry") else kind


def _values(series: pd.Series, kind: str) -> list[Any]:
    """One column of a chunk as plain Python values (``None`` for NULL) for psycopg."""
    if kind in ("bigint", "integer", "smallint"):
        return series.astype("Int64").to_numpy(dtype=object, na_value=None).tolist()
    if kind in ("double precision", "real"):
        return series.astype("float64").to_numpy(dtype=object, na_value=None).tolist()
    return series.to_numpy(dtype=object, na_value=None).tolist()


def _insert_sql(table: str, columns: dict[str, str]) -> str:
    """``INSERT ... SELECT ... FROM unnest(arrays)``: a whole chunk in one statement."""
    names = list(columns)
    arrays = ", ".join(f"%s::{_array_type(kind)}[]" for kind in columns.values())
    select = ", ".join(
        f"ST_GeomFromWKB(u.{c}, 4326)" if columns[c].startswith("geometry") else f"u.{c}"
        for c in names
    )
    return (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {select}"
        f" FROM unnest({arrays}) AS u({', '.join(names)})"
    )


def _copy_table(source: sqlite3.Connection, target: PostgresConnection, table: str) -> int:
    kinds = _target_columns(target, table)
    columns = {c: kinds[c] for c in _source_columns(source, table) if c in kinds}
    sql = _insert_sql(table, columns)
    copied = 0
    chunks: Iterator[pd.DataFrame] = pd.read_sql_query(
        f"SELECT {', '.join(columns)} FROM {table}", source, chunksize=CHUNK_ROWS
    )
    for chunk in chunks:
        target.raw.execute(sql, [_values(chunk[c], kind) for c, kind in columns.items()])
        copied += len(chunk)
    return copied


def _batches(source: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    """Yield the source's reading batches, one at a time (their Parquet ``data`` last)."""
    yield from source.execute(
        f"SELECT {', '.join(_BATCH_COLUMNS)}, data FROM reading_batches ORDER BY id"
    )


def _make_partitions(db: PostgresDatabase, source: sqlite3.Connection) -> None:
    """Create the months' partitions every batch needs (only their times are read)."""
    months: set[pd.Timestamp] = set()
    for *_, blob in _batches(source):
        if blob:
            months.update(months_of(decode_batch(blob, ["time"])["time"]))
    if months:
        ensure_partitions(db, pd.Series(sorted(months)))


def _copy_readings(source: sqlite3.Connection, target: PostgresConnection) -> int:
    copied = 0
    for batch_id, origin, stored, request, count, upload, blob in _batches(source):
        frame = decode_batch(blob) if blob else pd.DataFrame()
        if frame.empty:
            continue
        added = insert_rows(
            target,
            frame,
            origin=origin,
            request=request,
            upload=upload,
            stored=stored,
            batch_id=int(batch_id),
        )
        if added != len(frame) or added != count:
            raise InvalidInputError(
                f"reading batch {batch_id}: {added} of its {len(frame)} readings copied"
                f" (it says {count}); its content keys are not unique in the source"
            )
        copied += added
    return copied


def _holding_data(conn: PostgresConnection, tables: list[str]) -> list[str]:
    return [t for t in tables if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]]


def _continue_identities(conn: PostgresConnection) -> None:
    """Make each identity column's next value follow the largest id copied."""
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in rows:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), max({column})) FROM {table}"
            f" HAVING max({column}) IS NOT NULL",
            (table, column),
        )


def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Copy every table of a SQLite ``source`` into an empty PostgreSQL ``target``.

    Returns the rows copied per table (``readings`` for the readings).

    Raises
    ------
    TargetNotEmptyError
        When any of the target's tables already holds a row.
    InvalidInputError
        When ``source`` is not SQLite or ``target`` not PostgreSQL.
    """
    if not isinstance(source.db, Database) or not isinstance(target.db, PostgresDatabase):
        raise InvalidInputError(
            f"copy goes from SQLite to PostgreSQL, not {source.dialect} to {target.dialect}"
        )
    tables = copied_tables()
    reader = source.db.snapshot()  # one consistent view of the source
    try:
        reader.execute("BEGIN")
        with target.db.write() as conn:
            full = _holding_data(conn, [*tables, *_READING_TABLES, "readings"])
        if full:
            raise TargetNotEmptyError(
                f"{target.path} already holds data (tables {', '.join(full)});"
                " lomsong db copy fills only an empty database"
            )
        _make_partitions(target.db, reader)
        with target.db.write() as conn:
            if full := _holding_data(conn, [*tables, *_READING_TABLES]):  # raced
                raise TargetNotEmptyError(f"{target.path} filled during the copy ({full})")
            counts = {table: _copy_table(reader, conn, table) for table in tables}
            sync_site_points(conn)
            counts["readings"] = _copy_readings(reader, conn)
            _continue_identities(conn)
    finally:
        reader.close()
    return counts
