"""Locks every process of a deployment sees: PostgreSQL advisory locks (no-ops on SQLite).

With ``uvicorn --workers N`` on PostgreSQL, what must happen once (the
startup, one ``Idempotency-Key``, one re-judging runner) is guarded by an
advisory lock: a session-level lock on a connection of its own, released by
the server when that connection ends, so a killed worker never leaves a lock
behind. SQLite runs one process (``lomsong serve`` refuses more workers), so
there the process-local locks of the callers are enough and these are no-ops.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.store.db import AnyDatabase, PostgresDatabase

#: Advisory lock keys of the service's one-at-a-time steps (each a signed 64-bit integer).
STARTUP_LOCK = "startup"
REFRESH_LOCK = "refresh-runner"


def lock_key(*parts: str) -> int:
    """Return a signed 64-bit advisory lock key for ``parts`` (the same in every process).

    >>> lock_key("startup") == lock_key("startup"), lock_key("a", "b") == lock_key("ab")
    (True, False)
    >>> -(2**63) <= lock_key("idempotency", "k") < 2**63
    True
    """
    digest = hashlib.blake2b(digest_size=8, person=b"lomsong-lock")
    for part in parts:
        data = part.encode()
        digest.update(len(data).to_bytes(4, "big"))
        digest.update(data)
    return int.from_bytes(digest.digest(), "big", signed=True)


class AdvisoryLocks:
    """Blocking and trying advisory locks on ``db``: across processes on PostgreSQL.

    :meth:`hold` takes a session-level lock on the thread's reading
    connection (autocommit: a lock outlives any number of the store's
    transactions, which run on the writing connection), so a lock costs no
    connection of its own; :meth:`session` opens one for a lock held for a
    process's lifetime (the re-judging runner, the presence lock).

    Parameters
    ----------
    db : Database or PostgresDatabase
        On SQLite every lock is granted at once (one process).
    """

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db
        self._connections: list[Any] = []
        self._connections_lock = threading.Lock()

    @property
    def shared(self) -> bool:
        """Whether these locks hold across processes (PostgreSQL)."""
        return isinstance(self._db, PostgresDatabase)

    def session(self) -> Any:
        """Open a new autocommit psycopg connection (the caller closes it): a lock's lifetime."""
        import psycopg

        assert isinstance(self._db, PostgresDatabase)
        raw = psycopg.connect(self._db.url, autocommit=True)
        with self._connections_lock:
            self._connections.append(raw)
        return raw

    @contextmanager
    def hold(self, *parts: str) -> Iterator[None]:
        """Wait for the lock named by ``parts`` and hold it for the block."""
        if not self.shared:
            yield
            return
        assert isinstance(self._db, PostgresDatabase)
        key = lock_key(*parts)
        raw = self._db.connection().raw
        raw.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            if not raw.closed:
                raw.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        """Close every session this opened (their locks go with them)."""
        with self._connections_lock:
            for raw in self._connections:
                raw.close()
            self._connections.clear()


def try_lock(raw: Any, *parts: str) -> bool:
    """Take the session lock named by ``parts`` on ``raw`` if free; whether it was taken."""
    row = raw.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(*parts),)).fetchone()
    return bool(row[0])


#: The channel uploads and admin changes notify; the re-judging runner listens on it.
REFRESH_CHANNEL = "lomsong_refresh"


def notify(db: AnyDatabase, channel: str = REFRESH_CHANNEL) -> None:
    """Wake whoever listens on ``channel`` (PostgreSQL ``NOTIFY``; nothing on SQLite)."""
    if isinstance(db, PostgresDatabase):
        db.connection().raw.execute(f"NOTIFY {channel}")


def listen(raw: Any, channel: str = REFRESH_CHANNEL) -> None:
    """Listen on ``channel`` on the session ``raw`` (see :func:`wait_notified`)."""
    raw.execute(f"LISTEN {channel}")


def wait_notified(raw: Any, timeout: float) -> bool:
    """Wait up to ``timeout`` s for a notification on ``raw``'s channels; whether one came."""
    return any(True for _ in raw.notifies(timeout=timeout, stop_after=1))


PRESENCE_LOCK = "worker-presence"


class Presence:
    """Each live worker process holds a shared lock; the first up and the last down can tell.

    :meth:`arrive` (under :data:`STARTUP_LOCK`) says whether no other worker
    is alive, then joins the shared holders; :meth:`leave` says whether this
    was the last. On SQLite (one process) both are always ``True``.
    """

    def __init__(self, locks: AdvisoryLocks) -> None:
        self._locks = locks
        self._session: Any = None

    def arrive(self) -> bool:
        """Join the live workers; whether none was alive before."""
        if not self._locks.shared:
            return True
        self._session = session = self._locks.session()
        alone = try_lock(session, PRESENCE_LOCK)
        if alone:
            session.execute("SELECT pg_advisory_unlock(%s)", (lock_key(PRESENCE_LOCK),))
        session.execute("SELECT pg_advisory_lock_shared(%s)", (lock_key(PRESENCE_LOCK),))
        return alone

    def leave(self) -> bool:
        """Leave the live workers; whether none is left alive."""
        if self._session is None:
            return True
        self._session.close()
        self._session = None
        check = self._locks.session()
        try:
            return try_lock(check, PRESENCE_LOCK)
        finally:
            check.close()
