"""Storage of the hex cells the maps and exports show, and of the results version.

Mixed into :class:`app.store.Store` (like ``store_keys``): the methods use the
store's connections and its one writer lock. Every write that changes what a
map page shows bumps ``results_version`` in the meta table, which keys the
page cache and the ETags.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pandas as pd

from coverage.map_cells import CELL_COLUMNS

RESULTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    h3 TEXT NOT NULL, carrier TEXT NOT NULL, radio TEXT, p_usable REAL, dbm REAL,
    cell_class TEXT, evidence TEXT, count INTEGER, commune_id TEXT, lat REAL, lon REAL,
    PRIMARY KEY (h3, carrier));
CREATE INDEX IF NOT EXISTS cells_commune ON cells (commune_id);
"""

RESULTS_VERSION_KEY = "results_version"


def bump_results_version(conn: sqlite3.Connection) -> None:
    """Increment the results version inside the caller's write transaction."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE"
        " SET value = CAST(value AS INTEGER) + 1",
        (RESULTS_VERSION_KEY,),
    )


class ResultsMixin:
    """Hex cells and the results version (needs the store's ``_conn`` and ``_write``)."""

    if TYPE_CHECKING:  # provided by the Store these mixins are part of

        def _conn(self) -> sqlite3.Connection: ...

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    def results_version(self) -> int:
        """How many times results were written; 0 before the first."""
        row = (
            self._conn()
            .execute("SELECT value FROM meta WHERE key = ?", (RESULTS_VERSION_KEY,))
            .fetchone()
        )
        return 0 if row is None else int(row[0])

    def replace_cells(
        self, cells: pd.DataFrame, *, commune_ids: Iterable[str] | None = None
    ) -> None:
        """Replace the cells of ``commune_ids`` (all when ``None``) with ``cells``.

        ``cells`` has :data:`CELL_COLUMNS` (``h3`` as an H3 string).
        """
        frame = cells.reindex(columns=list(CELL_COLUMNS))
        frame = frame.astype(object).where(frame.notna(), None)
        rows = list(frame.itertuples(index=False, name=None))
        with self._write() as conn:
            if commune_ids is None:
                conn.execute("DELETE FROM cells")
            else:
                conn.executemany(
                    "DELETE FROM cells WHERE commune_id = ?", [(c,) for c in commune_ids]
                )
            conn.executemany(
                f"INSERT OR REPLACE INTO cells ({', '.join(CELL_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(CELL_COLUMNS))})",
                rows,
            )
            bump_results_version(conn)

    def cells(
        self,
        *,
        commune_ids: Iterable[str] | None = None,
        carrier: str | None = None,
        radio: str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> pd.DataFrame:
        """Stored cells, filtered by commune, carrier, radio and ``(west, south, east, north)``."""
        clauses: list[str] = []
        params: list[Any] = []
        if commune_ids is not None:
            listed = list(commune_ids)
            clauses.append(f"commune_id IN ({', '.join('?' * len(listed))})" if listed else "0")
            params += listed
        if carrier is not None:
            clauses.append("lower(carrier) = lower(?)")
            params.append(carrier)
        if radio is not None:
            clauses.append("lower(radio) = lower(?)")
            params.append(radio)
        if bbox is not None:
            west, south, east, north = bbox
            clauses.append("lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?")
            params += [west, east, south, north]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        frame = self._query(
            f"SELECT {', '.join(CELL_COLUMNS)} FROM cells{where} ORDER BY h3, carrier", params
        )
        for column in ("p_usable", "dbm", "lat", "lon"):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        frame["count"] = pd.to_numeric(frame["count"]).fillna(0).astype("int64")
        return frame
