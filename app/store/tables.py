"""Every table of the store, defined once for both backends (SQLAlchemy Core).

This module is the one schema definition: :func:`create_all` builds a new
database from it, SQLite or PostgreSQL, at :data:`app.store.schema.SCHEMA_VERSION`.
The numbered migrations in :mod:`app.store.schema` upgrade databases made by
earlier versions; ``tests/app/store/test_schema.py`` checks that a SQLite
database upgraded from the first release has exactly these tables, columns
and indexes.

SQLAlchemy is used only to *render* this definition as each dialect's DDL
(``CreateTable(...).compile(dialect=...)``): the repositories keep their own
SQL. What differs between the backends is said here, column by column:

- :class:`Geometry` is WKB in a ``BLOB`` on SQLite and a PostGIS
  ``geometry(<kind>, 4326)`` on PostgreSQL, with a GiST index (``gist=True``
  in an index's ``info``; SQLite skips those indexes);
- 64-bit keys are ``BIGINT`` on PostgreSQL and ``INTEGER`` on SQLite, where
  ``INTEGER PRIMARY KEY`` is the table's rowid (the fast b-tree);
- tables with ``info={"dialects": (...)}`` exist only in those backends: the
  readings themselves, partitioned by month, on PostgreSQL
  (:mod:`app.store.readings`), where SQLite keeps them as Parquet batches.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import UserDefinedType

from app.store.db import Connection

#: The dialects SQLAlchemy renders DDL for, by :attr:`app.store.db.Database.dialect`.
DIALECTS: dict[str, sa.engine.Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),
}


class Geometry(UserDefinedType[Any]):
    """A geometry column: WKB ``BLOB`` on SQLite, PostGIS ``geometry(kind, 4326)``.

    Parameters
    ----------
    kind : str
        PostGIS geometry type: ``Geometry`` (any), ``Point``, ``MultiPolygon``...
    """

    cache_ok = True

    def __init__(self, kind: str = "Geometry") -> None:
        self.kind = kind

    def get_col_spec(self, **kw: Any) -> str:
        """PostGIS's type (SQLite's is compiled below)."""
        return f"geometry({self.kind}, 4326)"


@compiles(Geometry, "sqlite")
def _geometry_sqlite(element: Geometry, compiler: Any, **kw: Any) -> str:
    return "BLOB"


#: 64-bit integers: ``BIGINT`` on PostgreSQL, SQLite's ``INTEGER`` (64-bit too).
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: ``REAL`` on SQLite, ``DOUBLE PRECISION`` on PostgreSQL (never 32-bit ``REAL``).
Real = sa.Float(precision=53).with_variant(sa.REAL(), "sqlite")

metadata = sa.MetaData()


def _gist(name: str, table: str, column: str = "geometry") -> sa.Index:
    return sa.Index(name, column, postgresql_using="gist", info={"dialects": ("postgresql",)})


def _text(name: str, *args: Any, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.Text(), *args, **kw)


def _real(name: str, *args: Any, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, Real, *args, **kw)


def _int(name: str, *args: Any, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, BigInt, *args, **kw)


def _serial(name: str = "id") -> sa.Column[Any]:
    # SQLite: INTEGER PRIMARY KEY (the rowid); PostgreSQL: an identity column.
    return sa.Column(name, BigInt, sa.Identity(), primary_key=True)


sa.Table("meta", metadata, _text("key", primary_key=True), _text("value", nullable=False))

sa.Table(
    "communes",
    metadata,
    _text("id", primary_key=True),
    _text("name", nullable=False),
    _text("name_folded", nullable=False),
    _text("district"),
    _text("province"),
    sa.Column("geometry", Geometry()),
    _text("district_folded"),
    _text("province_folded"),
    _text("unit_type"),
    _text("aliases"),  # JSON list of former names
    _text("aliases_folded"),  # |folded|names| for a search ignoring diacritics
    _gist("communes_geometry", "communes"),
)

sa.Table(
    "villages",
    metadata,
    _text("id", primary_key=True),
    _text("name", nullable=False),
    _text("name_folded", nullable=False),
    _text("commune_id"),
    _text("commune"),
    _text("district"),
    _text("province"),
    _int("households"),
    _int("population"),
    _real("poverty_rate"),
    _real("centre_lon"),
    _real("centre_lat"),
    sa.Column("geometry", Geometry(), nullable=False),
    _real("min_lon"),
    _real("min_lat"),
    _real("max_lon"),
    _real("max_lat"),
    _text("district_folded"),
    _text("province_folded"),
    _text("boundary"),  # "polygon" (drawn) or "voronoi" (a cell around a point)
    sa.Index("villages_commune", "commune_id"),
    sa.Index("villages_province", "province_folded", "district_folded"),
    _gist("villages_geometry", "villages"),
)

sa.Table(
    "village_results",
    metadata,
    _text("village_id", sa.ForeignKey("villages.id", ondelete="CASCADE"), primary_key=True),
    _text("verdict", nullable=False),
    _int("households_without_signal"),
    _text("best_carrier"),
    _text("carriers"),
    _int("readings_count"),
    _text("last_reading"),
    _real("confidence"),
    _text("reasons"),
    _text("reasons_vi"),
)

sa.Table(
    "dead_zones",
    metadata,
    _text("id", primary_key=True),
    _text("commune_id"),
    _text("verdict", nullable=False),
    _real("area_km2"),
    _int("households"),
    _text("village_ids"),
    _text("carriers_absent"),
    _real("nearest_site_m"),
    sa.Column("geometry", Geometry(), nullable=False),
    _text("carrier"),
    _text("radio"),
    _text("village_id"),
    sa.Index("dead_zones_commune", "commune_id"),
    sa.Index("dead_zones_layer", "carrier", "radio"),
    _gist("dead_zones_geometry", "dead_zones"),
)

sa.Table(
    "sites",
    metadata,
    _serial("rowid"),
    _text("site_id"),
    _text("name"),
    _text("carrier"),
    _int("mcc"),
    _int("mnc"),
    _text("radio"),
    _int("cell_id"),
    _int("area_code"),
    _real("lon"),
    _real("lat"),
    _real("height_m"),
    _real("azimuth_deg"),
    _real("beamwidth_deg"),
    _real("eirp_dbm"),
    _real("freq_mhz"),
    _real("range_m"),
    _text("created"),
    # PostgreSQL only: the site's point, for bbox queries in the database.
    sa.Column("geometry", Geometry("Point"), info={"dialects": ("postgresql",)}),
    _gist("sites_geometry", "sites"),
)

# API keys: only the SHA-256 of a key is stored, beside a short public id.
sa.Table(
    "api_keys",
    metadata,
    _text("id", primary_key=True),
    _text("key_hash", nullable=False, unique=True),
    _text("role", nullable=False),
    _text("name"),
    _text("created", nullable=False),
    _text("revoked"),
)

# The first answer to each (caller, endpoint, Idempotency-Key), replayed on retries.
sa.Table(
    "idempotency",
    metadata,
    _text("scope", primary_key=True),
    _text("key", primary_key=True),
    _text("request_hash", nullable=False),
    _text("response", nullable=False),
    _text("created", nullable=False),
)

# PostgreSQL only: the API's rate limits, one token bucket per caller shared by every
# worker process (app.store.ratelimits); SQLite's one process keeps them in memory.
# UNLOGGED: no WAL for counters a crash may forget (buckets refill within a minute).
sa.Table(
    "rate_limits",
    metadata,
    _text("bucket", primary_key=True),
    _real("tokens", nullable=False),
    _real("updated", nullable=False),
    sa.Column("granted", sa.Boolean(), nullable=False),
    sa.Index("rate_limits_updated", "updated"),
    info={"dialects": ("postgresql",)},
    prefixes=["UNLOGGED"],
)

# Hex cells the maps and exports show, per carrier.
sa.Table(
    "cells",
    metadata,
    _text("h3", primary_key=True),
    _text("carrier", primary_key=True),
    _text("radio"),
    _real("p_usable"),
    _real("dbm"),
    _text("cell_class"),
    _text("evidence"),
    _int("count"),
    _text("commune_id"),
    _real("lat"),
    _real("lon"),
    sa.Index("cells_commune", "commune_id"),
)

# One row per stored chunk of readings (see app.store.readings). SQLite keeps
# the chunk's readings in ``data`` (Parquet); PostgreSQL in ``readings``.
sa.Table(
    "reading_batches",
    metadata,
    _serial("id"),
    _text("origin", nullable=False),
    _text("stored", nullable=False),
    _text("request"),
    _int("count", nullable=False),
    _real("min_lon"),
    _real("min_lat"),
    _real("max_lon"),
    _real("max_lat"),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    _int("upload_id"),
    sa.Index("reading_batches_upload", "upload_id"),
)

# Every stored reading's content key, and the batch that holds it.
sa.Table(
    "reading_keys",
    metadata,
    sa.Column("content_key", BigInt, primary_key=True, autoincrement=False),
    _int("batch_id", nullable=False),
)

# PostgreSQL only: one row per reading, partitioned by month of ``time``
# (``readings_YYYY_MM``, created on demand by app.store.readings, and a DEFAULT
# partition). ``reading_keys`` keeps content keys unique across partitions.
# ``batch_id, ordinal`` is upload order (a b-tree fed at its right edge); the
# BRIN index on ``lon, lat`` prunes block ranges for a bbox at almost no cost
# per insert, since a chunk of an upload comes from one area (a GiST on a point
# column made inserting 500,000 readings 1.8x slower when measured for issue 15).
sa.Table(
    "readings",
    metadata,
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    _real("lat", nullable=False),
    _real("lon", nullable=False),
    _real("accuracy_m"),
    _int("mcc", nullable=False),
    _int("mnc", nullable=False),
    _text("radio", nullable=False),
    _real("signal_dbm"),
    sa.Column("no_service", sa.Boolean(), nullable=False),
    _int("cell_id"),
    _int("area_code"),
    _int("pci"),
    _real("rsrq_db"),
    _real("sinr_db"),
    _text("device"),
    _text("source"),
    sa.Column("content_key", BigInt, nullable=False),
    _int("batch_id", nullable=False),
    sa.Column("ordinal", sa.Integer(), nullable=False),
    sa.Index("readings_batch", "batch_id", "ordinal"),
    sa.Index(
        "readings_position",
        "lon",
        "lat",
        postgresql_using="brin",
        postgresql_with={"pages_per_range": 16},
        info={"dialects": ("postgresql",)},
    ),
    postgresql_partition_by="RANGE (time)",
    info={
        "dialects": ("postgresql",),
        "after": ("CREATE TABLE readings_default PARTITION OF readings DEFAULT",),
    },
)

sa.Table(
    "uploads",
    metadata,
    _serial("id"),
    _text("owner", nullable=False),
    _text("created", nullable=False),
    _text("origin", nullable=False),
    _text("format"),
    _text("status", nullable=False),
    _int("rows_read", nullable=False, server_default="0"),
    _int("bytes_total"),
    _int("accepted", nullable=False, server_default="0"),
    _int("duplicates", nullable=False, server_default="0"),
    _int("rejected_total", nullable=False, server_default="0"),
    _text("rejected_by_reason", nullable=False, server_default="{}"),
    _int("outside_region", nullable=False, server_default="0"),
    _text("report"),
    _text("error"),
    _text("finished"),
    sa.Index("uploads_owner", "owner", "id"),
)

sa.Table(
    "scenarios",
    metadata,
    _text("id", primary_key=True),
    _text("name"),
    _text("created", nullable=False),
    _text("owner", nullable=False),
    _text("commune_ids", nullable=False),
    _int("sites_count", nullable=False),
    _text("totals", nullable=False),
    _text("document", nullable=False),
    sa.Index("scenarios_created", "created"),
)

sa.Table(
    "challenges",
    metadata,
    _serial("id"),
    _text("village_id", nullable=False),
    _text("text", nullable=False),
    _text("author", nullable=False),
    _real("lon"),
    _real("lat"),
    _text("key_id"),
    _text("created", nullable=False),
    _text("verdict"),
    _text("status", nullable=False, server_default="open"),
    _text("settled"),
    _text("verdict_settled"),
    sa.Index("challenges_village", "village_id", "id"),
)


def _in(item: sa.Table | sa.Index | sa.Column[Any], dialect: str) -> bool:
    return dialect in item.info.get("dialects", (dialect,))


def ddl(dialect: str) -> list[str]:
    """Return the statements that create every table and index, in ``dialect``'s SQL.

    >>> [s.split("(")[0].strip() for s in ddl("sqlite")][:2]
    ['CREATE TABLE api_keys', 'CREATE TABLE cells']
    >>> any("USING gist" in s for s in ddl("postgresql")), any("gist" in s for s in ddl("sqlite"))
    (True, False)
    """
    compiled = DIALECTS[dialect]
    statements: list[str] = []
    for table in metadata.sorted_tables:
        if not _in(table, dialect):
            continue
        skip = [c for c in table.columns if not _in(c, dialect)]
        statement = CreateTable(table, include_foreign_key_constraints=None)
        text = str(statement.compile(dialect=compiled))
        for column in skip:
            # A column of the other backend only (sites.geometry): drop its line.
            lines = [line for line in text.splitlines() if not line.strip().startswith(column.name)]
            text = "\n".join(lines).replace(",\n)", "\n)")
        statements.append(text.strip())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if _in(index, dialect):
                statements.append(str(CreateIndex(index).compile(dialect=compiled)).strip())
        # Statements SQLAlchemy does not render (a DEFAULT partition).
        statements.extend(table.info.get("after", ()))
    return statements


def create_all(conn: Connection, dialect: str) -> None:
    """Create every table and index of this definition on ``conn`` (a new database)."""
    for statement in ddl(dialect):
        conn.execute(statement)
