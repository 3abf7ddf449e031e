"""The store's database: a SQLite file (the default) or PostgreSQL/PostGIS.

SQLite (:class:`Database`): WAL mode lets readers proceed while one writer
writes. Each thread gets its own connection (uvicorn runs sync handlers in a
thread pool); a process-wide lock serialises writers so they never meet
SQLite's ``database is locked``.

PostgreSQL (:class:`PostgresDatabase`, ``LOMSONG_DATABASE_URL``): the same
surface over psycopg, with writers serialised across processes by an
advisory lock. :func:`open_database` picks one from a path or a URL.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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

    dialect = "sqlite"

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


# --- PostgreSQL -------------------------------------------------------------


def _placeholders(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled).

    Quoted text and identifiers are left as they are, so ``'?'`` stays a
    question mark. The repositories write their SQL once, in SQLite's style.

    >>> _placeholders("SELECT * FROM t WHERE a = ? AND b LIKE '%?' AND c = ?")
    "SELECT * FROM t WHERE a = %s AND b LIKE '%%?' AND c = %s"
    """
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            out.append("%%" if char == "%" else char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


class PostgresConnection:
    """A psycopg connection that takes the repositories' SQLite-style SQL.

    ``execute``/``executemany`` translate ``?`` placeholders; :attr:`raw` is
    the psycopg connection itself, for ``COPY`` and PostgreSQL-only SQL.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement; returns psycopg's cursor (``fetchone``, ``rowcount``...)."""
        if params is None:
            return self.raw.execute(sql)
        return self.raw.execute(_placeholders(sql), list(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        """Run one statement per row of ``rows``."""
        cursor = self.raw.cursor()
        cursor.executemany(_placeholders(sql), [list(r) for r in rows])
        return cursor

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


def _frame(cursor: Any) -> pd.DataFrame:
    columns = [d.name for d in cursor.description or ()]
    return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)


class _ClosedWithThread:
    """A thread's connection, closed when its thread ends.

    Kept in the thread's ``threading.local``, which Python clears when the
    thread exits: uvicorn's handlers run in anyio's pool, which retires a
    thread idle for 10 s, and its connections must go with it, or a busy
    day leaks connections until the server refuses more (``too many clients``).
    """

    def __init__(self, conn: PostgresConnection) -> None:
        self.conn = conn

    def __del__(self) -> None:
        self.conn.raw.close()


#: ``pg_advisory_xact_lock`` key of the store's one writer (``'lomsong'`` in ASCII).
WRITER_LOCK_KEY = 0x6C6F6D736F6E67


class PostgresDatabase:
    """Connections to one PostgreSQL database, with the same surface as :class:`Database`.

    Each thread has a reading connection (autocommit: each statement sees the
    latest commits) and a writing one. :meth:`write` holds a transaction-level
    advisory lock, so writers are serialised across threads *and* processes
    (``uvicorn --workers N``) exactly as SQLite's one writer is: the
    repositories' read-then-write steps stay correct unchanged.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/database``.
    """

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        # Never a password in messages or cache keys.
        self.path = _without_password(url)
        self._local = threading.local()
        # The live threads' connections (a thread's go when it ends: _ClosedWithThread).
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._connections_lock = threading.Lock()

    def _connect(self, *, autocommit: bool) -> Any:
        import psycopg

        raw = psycopg.connect(self.url, autocommit=autocommit)
        with self._connections_lock:
            self._connections.add(raw)
        return raw

    def _thread_connection(self, name: str, *, autocommit: bool) -> PostgresConnection:
        held: _ClosedWithThread | None = getattr(self._local, name, None)
        if held is None or held.conn.raw.closed:
            held = _ClosedWithThread(PostgresConnection(self._connect(autocommit=autocommit)))
            setattr(self._local, name, held)
        return held.conn

    def connection(self) -> PostgresConnection:
        """Return this thread's reading connection."""
        return self._thread_connection("conn", autocommit=True)

    def snapshot(self) -> PostgresConnection:
        """Return a connection of its own, for a read that outlives one call (close it after).

        It reads in one ``REPEATABLE READ`` transaction: one consistent snapshot,
        as SQLite's WAL gives a reader that stays open.
        """
        import psycopg

        raw = psycopg.connect(self.url, autocommit=False)
        raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return PostgresConnection(raw)

    @contextmanager
    def write(self) -> Iterator[PostgresConnection]:
        """One write transaction, serialised across threads and processes."""
        conn = self._thread_connection("writer", autocommit=False)
        with conn.raw.transaction():
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))
            yield conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Return a ``SELECT`` on this thread's connection, as a frame."""
        return _frame(self.connection().execute(sql, params))

    def close(self) -> None:
        """Close every thread's connections."""
        with self._connections_lock:
            for raw in list(self._connections):
                raw.close()
            self._connections.clear()
        self._local = threading.local()


def _without_password(url: str) -> str:
    """``url`` with its password masked.

    >>> _without_password("postgresql://u:secret@db:5432/lomsong")
    'postgresql://u:***@db:5432/lomsong'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


#: Either backend: the repositories use only this common surface.
AnyDatabase = Database | PostgresDatabase


def is_database_url(location: object) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a SQLite file.

    >>> is_database_url("postgresql://db/lomsong"), is_database_url("var/lomsong.sqlite3")
    (True, False)
    """
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_database(location: Path | str) -> AnyDatabase:
    """Open the database at ``location``: a ``postgresql://`` URL, or a SQLite file's path."""
    if is_database_url(location):
        return PostgresDatabase(str(location))
    return Database(Path(location))


#: A connection of either backend, as the repositories' helpers take it.
Connection = sqlite3.Connection | PostgresConnection
