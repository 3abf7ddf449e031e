"""The one home of the SQL that differs between SQLite and PostgreSQL/PostGIS.

The repositories write their SQL once, in the dialect both backends accept
(``?`` placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING``, ``COALESCE``);
what they cannot say in it comes from here, by dialect (``db.dialect``, or
:func:`dialect_of` a connection):

- geometries: WKB in a ``BLOB`` on SQLite; a PostGIS column on PostgreSQL,
  written with ``ST_GeomFromWKB(?, 4326)`` and read back as WKB with
  ``ST_AsBinary`` (so :func:`app.store.rows.to_geoframe` reads either);
- bounding-box filters: the stored min/max columns on SQLite, the GiST-indexed
  ``geometry && ST_MakeEnvelope(...)`` on PostgreSQL;
- substring search (``instr`` / ``strpos``) over the folded name columns.

Other modules may add a helper at the end of this file; none writes its own.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from typing import Any, Final

import pandas as pd

from app.store.db import Connection

SQLITE: Final = "sqlite"
POSTGRESQL: Final = "postgresql"
#: SRID of every stored geometry (WGS84 longitude/latitude).
SRID: Final = 4326

Bbox = tuple[float, float, float, float]


def dialect_of(conn: Connection) -> str:
    """Return the dialect of a connection, ``"sqlite"`` or ``"postgresql"``."""
    return SQLITE if isinstance(conn, sqlite3.Connection) else POSTGRESQL


def geometry_value(dialect: str) -> str:
    """Return the value placeholder of a WKB geometry in an ``INSERT`` or ``UPDATE``.

    >>> geometry_value("sqlite"), geometry_value("postgresql")
    ('?', 'ST_GeomFromWKB(?, 4326)')
    """
    return "?" if dialect == SQLITE else f"ST_GeomFromWKB(?, {SRID})"


def geometry_column(dialect: str, column: str = "geometry") -> str:
    """Return a geometry column for a ``SELECT`` list, as WKB bytes named ``geometry``.

    >>> geometry_column("sqlite", "v.geometry"), geometry_column("postgresql", "v.geometry")
    ('v.geometry', 'ST_AsBinary(v.geometry) AS geometry')
    """
    return column if dialect == SQLITE else f"ST_AsBinary({column}) AS geometry"


def contains(dialect: str, column: str) -> str:
    """``column`` contains the text bound to one ``?`` (exact; fold both sides first).

    >>> contains("sqlite", "name_folded"), contains("postgresql", "name_folded")
    ('instr(name_folded, ?) > 0', 'strpos(name_folded, ?) > 0')
    """
    function = "instr" if dialect == SQLITE else "strpos"
    return f"{function}({column}, ?) > 0"


def in_list(column: str, count: int) -> str:
    """``column IN (?, ...)`` with ``count`` placeholders; ``FALSE`` when there are none.

    >>> in_list("v.id", 2), in_list("v.id", 0)
    ('v.id IN (?, ?)', 'FALSE')
    """
    return f"{column} IN ({', '.join('?' * count)})" if count else "FALSE"


def bbox_clause(
    dialect: str,
    bbox: Bbox,
    *,
    geometry: str = "geometry",
    bounds: Sequence[str] | None = None,
) -> tuple[str | None, list[Any]]:
    """Rows whose bounding box meets ``(west, south, east, north)``, edges included.

    On PostgreSQL the GiST-indexed ``geometry && ST_MakeEnvelope(...)``; on
    SQLite the stored ``bounds`` columns (``min_lon, min_lat, max_lon,
    max_lat``), or ``None`` (no filter in SQL) for a table without them.
    Callers keep the exact test (:func:`shapely.intersects`) on what comes back.

    >>> bbox_clause("postgresql", (1.0, 2.0, 3.0, 4.0), geometry="v.geometry")
    ('v.geometry && ST_MakeEnvelope(?, ?, ?, ?, 4326)', [1.0, 2.0, 3.0, 4.0])
    >>> bbox_clause("sqlite", (1.0, 2.0, 3.0, 4.0), bounds=("a", "b", "c", "d"))[0]
    'c >= ? AND a <= ? AND d >= ? AND b <= ?'
    """
    west, south, east, north = (float(v) for v in bbox)
    if dialect != SQLITE:
        return f"{geometry} && ST_MakeEnvelope(?, ?, ?, ?, {SRID})", [west, south, east, north]
    if bounds is None:
        return None, []
    min_lon, min_lat, max_lon, max_lat = bounds
    clause = f"{max_lon} >= ? AND {min_lon} <= ? AND {max_lat} >= ? AND {min_lat} <= ?"
    return clause, [west, east, south, north]


def point_bbox_clause(dialect: str, bbox: Bbox) -> tuple[str, list[float]]:
    """Points inside ``(west, south, east, north)``, edges included, and the parameters.

    PostgreSQL tests the GiST-indexed PostGIS point ``geometry``; SQLite the
    ``lon``/``lat`` columns. Both keep exactly the same rows.

    >>> point_bbox_clause("sqlite", (0, 1, 2, 3))
    ('lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?', [0.0, 2.0, 1.0, 3.0])
    """
    west, south, east, north = (float(v) for v in bbox)
    if dialect != SQLITE:
        return f"geometry && ST_MakeEnvelope(?, ?, ?, ?, {SRID})", [west, south, east, north]
    return "lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?", [west, east, south, north]


def upsert(
    table: str, columns: Sequence[str], key: Sequence[str], *, values: str = "", select: str = ""
) -> str:
    """``INSERT`` that replaces the other columns of a row whose ``key`` is already stored.

    Both backends take it (SQLite's ``INSERT OR REPLACE`` is SQLite's only).
    ``values`` is the ``VALUES`` list, one ``?`` per column by default;
    ``select`` (PostgreSQL only) a ``SELECT`` to insert instead.

    >>> upsert("meta", ["key", "value"], ["key"]).split(" ON ")[1]
    'CONFLICT (key) DO UPDATE SET value = excluded.value'
    """
    source = select or f"VALUES ({values or ', '.join('?' * len(columns))})"
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {source}"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


def insert_ignore(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """``INSERT`` that keeps the stored row when ``key`` is already there (both backends).

    >>> insert_ignore("t", ["a", "b"], ["a"])
    'INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING'
    """
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
    )


def sync_site_points(conn: Connection) -> None:
    """PostgreSQL: set each site's PostGIS point from its ``lon``/``lat`` (SQLite has none).

    Run at the end of every write that inserts or changes sites, inside its
    transaction, so ``sites.geometry`` is always in step with the columns.
    """
    if dialect_of(conn) == SQLITE:
        return
    point = f"ST_SetSRID(ST_MakePoint(lon, lat), {SRID})"
    conn.execute(
        f"UPDATE sites SET geometry = {point}"
        " WHERE ST_X(geometry) IS DISTINCT FROM lon OR ST_Y(geometry) IS DISTINCT FROM lat"
    )


def insertion_order(dialect: str, table_key: str = "id") -> str:
    """Return the column that orders rows as inserted, for a tie-break.

    SQLite's ``rowid``; PostgreSQL keeps no such order, so the table's key
    (``table_key``) breaks the tie there.
    """
    return "rowid" if dialect == SQLITE else table_key


def upsert_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: Sequence[str],
) -> None:
    """Insert ``rows`` of ``columns`` into ``table``, replacing stored rows with their ``key``.

    A ``geometry`` column holds WKB bytes. Of two rows with one key the
    later wins, as row-by-row upserts do. SQLite runs the upsert once per
    row; PostgreSQL copies the rows (CSV written by pyarrow) into a
    temporary table and upserts them all in one statement.
    """
    if isinstance(conn, sqlite3.Connection):
        values = ", ".join("?" * len(columns))
        conn.executemany(upsert(table, columns, key, values=values), rows)
        return
    if not rows:
        return
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    frame = pd.DataFrame.from_records(list(rows), columns=list(columns))
    # One statement may not change a row twice: keep each key's last row.
    frame = frame.drop_duplicates(subset=list(key), keep="last")
    if "geometry" in frame:  # COPY's CSV takes bytea as hex after \x
        frame["geometry"] = ["\\x" + bytes(g).hex() for g in frame["geometry"]]
    buffer = io.BytesIO()
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    load = f"_load_{table}"
    like = ["NULL::bytea AS geometry" if c == "geometry" else c for c in columns]
    conn.execute(f"DROP TABLE IF EXISTS pg_temp.{load}")
    conn.execute(
        f"CREATE TEMP TABLE {load} ON COMMIT DROP AS"
        f" SELECT {', '.join(like)} FROM {table} WITH NO DATA"
    )
    copy_sql = f"COPY {load} ({', '.join(columns)}) FROM STDIN (FORMAT csv, HEADER true)"
    with conn.raw.cursor().copy(copy_sql) as copy:
        copy.write(buffer.getvalue())
    selected = [f"ST_GeomFromWKB(geometry, {SRID})" if c == "geometry" else c for c in columns]
    latest = f"SELECT {', '.join(selected)} FROM {load}"
    conn.execute(upsert(table, columns, key, select=latest))
