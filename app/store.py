"""SQLite storage: the one home of communes, villages, sites, readings and results.

WAL mode lets readers proceed while one writer writes. Each thread gets its
own connection (uvicorn runs sync handlers in a thread pool); a process-wide
lock serialises writers so they never meet SQLite's ``database is locked``.
Geometries are stored as WKB; device identifiers only as salted hashes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.errors import NotFoundError
from app.schema import (
    COMMUNE_COLUMNS,
    DEAD_ZONE_COLUMNS,
    RESULT_COLUMNS,
    SCHEMA,
    SITE_COLUMNS,
    VILLAGE_COLUMNS,
    add_missing_columns,
    iso_or_none,
    qualify,
    to_geoframe,
    to_rows,
    where_clause,
)
from app.store_admin import AdminMixin
from app.store_keys import KeysMixin
from app.store_readings import READINGS_SCHEMA, ReadingsMixin
from app.store_results import RESULTS_SCHEMA, ResultsMixin, bump_results_version
from geodata.constants import CRS_WGS84
from geodata.text import fold

# Page cache of the writer connection, in KiB (SQLite's default is 2,000).
WRITER_CACHE_KIB = 64 * 1024


class Store(ReadingsMixin, ResultsMixin, KeysMixin, AdminMixin):
    """All of lomsong's persistent state, in one SQLite file.

    Parameters
    ----------
    path : pathlib.Path
        The database file; its directory is created when missing.
    device_salt : str
        Salt for :func:`geodata.readings.hash_devices`; raw device ids never
        reach the database.
    """

    def __init__(self, path: Path, *, device_salt: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._salt = device_salt
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        with self._write() as conn:
            conn.executescript(SCHEMA)
            conn.executescript(RESULTS_SCHEMA)
            conn.executescript(READINGS_SCHEMA)
            add_missing_columns(conn)
        self.migrate_reading_rows()

    # --- connections ----------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # NORMAL: a commit is in the WAL file before it returns, so a killed
        # process loses nothing (tests/app/test_durability.py); only a power
        # cut may lose the last commits, never corrupt the database.
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised across threads, on the one writer connection."""
        with self._write_lock:
            conn = self._writer
            if conn is None:
                conn = self._connect()
                # Index pages of readings' content keys and places are touched at
                # random: a larger page cache for the writer roughly halves the
                # time of a 100,000-row insert (benchmarks/bench_ingest.py).
                conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
                self._writer = conn
            with conn:
                yield conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self._conn(), params=list(params))

    def close(self) -> None:
        """Close every thread's connection."""
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        self._writer = None

    # --- meta -----------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A stored metadata value, or ``None``."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, values: dict[str, str]) -> None:
        """Store metadata values (replacing earlier ones)."""
        with self._write() as conn:
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        tables = ("communes", "villages", "sites", "reading_keys", "village_results", "dead_zones")
        conn = self._conn()
        counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}
        counts["readings"] = counts.pop("reading_keys")
        return counts

    # --- region ---------------------------------------------------------
    def replace_region(
        self, communes: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, sites: pd.DataFrame
    ) -> None:
        """Replace communes, villages and sites (and drop results that depended on them)."""
        communes = communes.to_crs(CRS_WGS84)
        villages = villages.to_crs(CRS_WGS84)
        bounds = villages.geometry.bounds
        commune_rows = [
            (*row, fold(str(row[1])), wkb)
            for row, wkb in zip(
                to_rows(communes, COMMUNE_COLUMNS), shapely.to_wkb(communes.geometry), strict=True
            )
        ]
        village_rows = [
            (*row, fold(str(row[1])), wkb, *box)
            for row, wkb, box in zip(
                to_rows(villages, VILLAGE_COLUMNS),
                shapely.to_wkb(villages.geometry),
                bounds.itertuples(index=False, name=None),
                strict=True,
            )
        ]
        with self._write() as conn:
            for table in (
                "village_results",
                "dead_zones",
                "cells",
                "villages",
                "communes",
                "sites",
            ):
                conn.execute(f"DELETE FROM {table}")
            conn.executemany(
                "INSERT INTO communes (id, name, district, province, name_folded, geometry)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                commune_rows,
            )
            conn.executemany(
                f"INSERT INTO villages ({', '.join(VILLAGE_COLUMNS)}, name_folded, geometry,"
                " min_lon, min_lat, max_lon, max_lat)"
                f" VALUES ({', '.join('?' * (len(VILLAGE_COLUMNS) + 6))})",
                village_rows,
            )
            present = [c for c in SITE_COLUMNS if c in sites.columns]
            sites = sites.copy()
            if "created" in sites.columns:
                sites["created"] = sites["created"].map(iso_or_none)
            conn.executemany(
                f"INSERT INTO sites ({', '.join(present)})"
                f" VALUES ({', '.join('?' * len(present))})",
                to_rows(sites, present),
            )
            bump_results_version(conn)

    def communes(self) -> gpd.GeoDataFrame:
        """All communes (id, name, district, province, geometry)."""
        return to_geoframe(
            self._query(f"SELECT {', '.join(COMMUNE_COLUMNS)}, geometry FROM communes ORDER BY id")
        )

    def commune(self, commune_id: str) -> dict[str, Any]:
        """One commune's properties; raises :class:`NotFoundError` when unknown."""
        frame = self._query(
            f"SELECT {', '.join(COMMUNE_COLUMNS)} FROM communes WHERE id = ?", (commune_id,)
        )
        if frame.empty:
            raise NotFoundError(f"commune {commune_id!r} not found")
        return dict(frame.iloc[0])

    def sites(self) -> pd.DataFrame:
        """All sites, in ``read_sites`` columns."""
        frame = self._query(f"SELECT {', '.join(SITE_COLUMNS)} FROM sites ORDER BY rowid")
        frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
        for column in ("cell_id", "area_code"):
            frame[column] = frame[column].astype("Int64")
        for column in ("mcc", "mnc"):
            frame[column] = frame[column].astype("int64")
        for column in (
            "lon",
            "lat",
            "height_m",
            "azimuth_deg",
            "beamwidth_deg",
            "eirp_dbm",
            "freq_mhz",
            "range_m",
        ):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        for column in ("site_id", "name", "carrier", "radio"):
            frame[column] = frame[column].astype("string")
        return frame

    def villages(
        self,
        *,
        ids: Iterable[str] | None = None,
        commune_ids: Iterable[str] | None = None,
        with_results: bool = True,
        commune_id: str | None = None,
        verdict: str | None = None,
        province: str | None = None,
        district: str | None = None,
    ) -> gpd.GeoDataFrame:
        """Villages, optionally with their stored results, filtered by equality.

        Filters that are ``None`` are ignored. Villages without a stored
        result get verdict ``unknown``.
        """
        filters = {
            "commune_id": commune_id,
            "verdict": verdict,
            "province": province,
            "district": district,
        }
        columns = [f"v.{c}" for c in VILLAGE_COLUMNS]
        if with_results:
            columns += [f"r.{c}" for c in RESULT_COLUMNS]
        where, params = where_clause({qualify(k): v for k, v in filters.items()})
        for column, values in (("v.id", ids), ("v.commune_id", commune_ids)):
            if values is not None:
                listed = list(values)
                clause = f"{column} IN ({', '.join('?' * len(listed))})" if listed else "0"
                where = f"{where} AND {clause}" if where else f" WHERE {clause}"
                params += listed
        frame = self._query(
            f"SELECT {', '.join(columns)}, v.geometry FROM villages v"
            " LEFT JOIN village_results r ON r.village_id = v.id"
            f"{where} ORDER BY v.commune_id, v.name_folded, v.id",
            params,
        )
        for column in ("population", "poverty_rate", "centre_lon", "centre_lat"):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        frame["households"] = frame["households"].astype("int64")
        if with_results:
            frame["verdict"] = frame["verdict"].fillna("unknown")
            frame["households_without_signal"] = frame["households_without_signal"].astype("Int64")
            frame["readings_count"] = frame["readings_count"].fillna(0).astype("int64")
        return to_geoframe(frame)

    def search_village_ids(self, query: str) -> list[str]:
        """Ids of villages whose name contains ``query``, ignoring diacritics and case."""
        rows = self._conn().execute(
            "SELECT id FROM villages WHERE instr(name_folded, ?) > 0", (fold(query),)
        )
        return [str(row[0]) for row in rows]

    def find_villages(
        self,
        *,
        q: str | None = None,
        carrier: str | None = None,
        commune_id: str | None = None,
        verdict: str | None = None,
        province: str | None = None,
        district: str | None = None,
    ) -> gpd.GeoDataFrame:
        """Villages with results, by name search, carrier and equality filters.

        ``q`` matches names ignoring diacritics and case. ``carrier`` keeps the
        villages that carrier leaves households without usable signal in: its
        summary there counts some, or it has no summary there at all.
        """
        frame = self.villages(
            ids=self.search_village_ids(q) if q else None,
            commune_id=commune_id,
            verdict=verdict,
            province=province,
            district=district,
        )
        if carrier:
            wanted = fold(carrier)

            def lacks(carriers: dict[str, Any] | None) -> bool:
                summaries = {fold(name): s for name, s in (carriers or {}).items()}
                summary = summaries.get(wanted)
                return summary is None or int(summary.get("households_without_signal") or 0) > 0

            # A boolean array, not a list: an empty list would select no *columns*.
            frame = frame[np.array([lacks(c) for c in frame["carriers"]], dtype=bool)]
        return frame

    def village(self, village_id: str) -> gpd.GeoDataFrame:
        """One village with its result; raises :class:`NotFoundError` when unknown."""
        frame = self.villages(ids=[village_id])
        if frame.empty:
            raise NotFoundError(f"village {village_id!r} not found")
        return frame

    # --- results --------------------------------------------------------
    def save_results(self, villages: pd.DataFrame) -> None:
        """Insert or replace the verdicts of the given villages (``analyze`` output)."""
        frame = pd.DataFrame(villages.drop(columns="geometry", errors="ignore"))
        for column in RESULT_COLUMNS:
            if column not in frame.columns:
                frame[column] = None
        frame["last_reading"] = frame["last_reading"].map(iso_or_none)
        columns = ["id", *RESULT_COLUMNS]
        with self._write() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO village_results (village_id, {', '.join(RESULT_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(columns))})",
                to_rows(frame, columns),
            )
            bump_results_version(conn)

    def replace_dead_zones(
        self, dead_zones: gpd.GeoDataFrame, *, commune_ids: Iterable[str] | None = None
    ) -> None:
        """Replace the dead zones of ``commune_ids`` (all communes when ``None``)."""
        zones = dead_zones.to_crs(CRS_WGS84) if len(dead_zones) else dead_zones
        rows = [
            (*row, wkb)
            for row, wkb in zip(
                to_rows(zones, DEAD_ZONE_COLUMNS), shapely.to_wkb(zones.geometry), strict=True
            )
        ]
        with self._write() as conn:
            if commune_ids is None:
                conn.execute("DELETE FROM dead_zones")
            else:
                conn.executemany(
                    "DELETE FROM dead_zones WHERE commune_id = ?", [(c,) for c in commune_ids]
                )
            conn.executemany(
                f"INSERT OR REPLACE INTO dead_zones ({', '.join(DEAD_ZONE_COLUMNS)}, geometry)"
                f" VALUES ({', '.join('?' * (len(DEAD_ZONE_COLUMNS) + 1))})",
                rows,
            )
            bump_results_version(conn)

    def dead_zones(
        self, *, commune_id: str | None = None, verdict: str | None = None
    ) -> gpd.GeoDataFrame:
        """Stored dead zones, optionally of one commune and/or one verdict."""
        where, params = where_clause({"commune_id": commune_id, "verdict": verdict})
        return to_geoframe(
            self._query(
                f"SELECT {', '.join(DEAD_ZONE_COLUMNS)}, geometry FROM dead_zones{where}"
                " ORDER BY commune_id, id",
                params,
            )
        )
