"""The SQLite file: per-thread connections, the one writer, pragmas, close.

WAL mode lets readers proceed while one writer writes. Each thread gets its
own connection (uvicorn runs sync handlers in a thread pool); a process-wide
lock serialises writers so they never meet SQLite's ``database is locked``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

# Page cache of the writer connection, in KiB (SQLite's default is 2,000).
WRITER_CACHE_KIB = 64 * 1024


class Database:
    """Connections to one SQLite file, shared by the store's repositories.

    Parameters
    ----------
    path : pathlib.Path
        The database file; its directory is created when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # NORMAL: a commit is in the WAL file before it returns, so a killed
        # process loses nothing (tests/app/store/test_durability.py); only a power
        # cut may lose the last commits, never corrupt the database.
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def connection(self) -> sqlite3.Connection:
        """Return this thread's reading connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def snapshot(self) -> sqlite3.Connection:
        """Return a connection of its own, for a read that outlives one call (close it after)."""
        return sqlite3.connect(self.path, timeout=30, check_same_thread=False)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
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

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Return a ``SELECT`` on this thread's connection, as a frame."""
        return pd.read_sql_query(sql, self.connection(), params=list(params))

    def close(self) -> None:
        """Close every thread's connection."""
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        self._writer = None
