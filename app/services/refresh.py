"""Re-judging the villages new readings touch, in one background thread.

Uploads hand the positions of the readings they stored to :meth:`submit` and
answer at once. The worker waits a moment for more, takes everything queued,
and re-analyses the touched communes once: a burst of uploads from one field
team costs one analysis, not one per batch.

The queue lives in memory, so what a killed server had queued would be lost.
The store's refresh mark (:meth:`app.store.meta.Meta.refresh_mark`) names the newest readings batch
whose villages are surely judged: a full analysis, a clean stop, and a
completed recovery move it. Admin changes to sites and villages have no
batch to mark, so :meth:`RefreshWorker.submit_communes` writes the communes
they leave to re-judge (:meth:`app.store.meta.Meta.stale_communes`) first, and a refresh
crosses them off. On start, :meth:`RefreshWorker.recover` queues every batch
stored after the mark and every commune still on the list.

On PostgreSQL, with several worker processes, :class:`SharedRefreshWorker`
keeps no queue in memory at all: the queue *is* the database (batches
after the mark, communes on the stale list). Every process may add to it;
one, elected by an advisory lock, re-judges, woken by ``NOTIFY`` (or by a
poll each :data:`POLL_S`). A runner that dies releases its lock with its
connection and another process takes over what it had not crossed off.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from app.services.analysis import refresh_for_readings
from app.store import Store
from app.store.locks import REFRESH_LOCK, AdvisoryLocks, listen, notify, try_lock, wait_notified
from coverage.points import villages_touched

logger = logging.getLogger(__name__)

# Long enough to gather the batches a client sends back to back, short enough
# that a refreshed verdict shows within a couple of seconds of an upload.
DEFAULT_COALESCE_S = 0.3

_STOP = object()

#: How often a process that is not the runner tries to become it, and how
#: often the runner looks at the queue when no ``NOTIFY`` came.
POLL_S = 1.0
#: Longest wait before the runner retries a refresh that failed.
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class _Stale:
    """Communes to re-judge after an admin change (listed as stale in the store)."""

    communes: tuple[str, ...]


@dataclass(frozen=True)
class _Recovery:
    """Positions of readings stored after the mark, and the batch they reach."""

    positions: pd.DataFrame
    through_batch: int


class RefreshWorker:
    """One daemon thread that refreshes verdicts for queued reading positions.

    Parameters
    ----------
    store : Store
    refresh : callable, optional
        ``refresh(store, readings)``; :func:`app.services.analysis.refresh_for_readings`
        by default.
    coalesce_s : float
        How long to wait for more uploads before refreshing.
    """

    def __init__(
        self,
        store: Store,
        *,
        refresh: Callable[[Store, pd.DataFrame], object] = refresh_for_readings,
        coalesce_s: float = DEFAULT_COALESCE_S,
    ) -> None:
        self._store = store
        self._refresh = refresh
        self._coalesce_s = coalesce_s
        self._queue: queue.Queue[object] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._failed = False
        self._thread: threading.Thread | None = None
        self._stale_lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Batches submitted and not yet refreshed (queued or being analysed)."""
        with self._idle:
            return self._pending

    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lomsong-refresh", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop the thread.

        When everything queued was refreshed without a failure, the mark
        moves to the newest batch: the next start has nothing to recover.
        """
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            finished = not self._thread.is_alive()
            self._thread = None
            if finished and not self._failed and self.pending == 0:
                self._store.mark_refreshed(self._store.last_batch_id())

    def recover(self) -> int:
        """Queue the readings stored after the refresh mark; returns how many.

        Call it once the store is loaded: a server killed with refreshes
        still queued re-judges those villages on its next start.
        """
        with self._stale_lock:
            stale = sorted(self._stale())
            # One queued refresh covers each of them now.
            self._store.set_stale_communes(dict.fromkeys(stale, 1))
        if stale:
            self._enqueue(_Stale(tuple(stale)))
        through = self._store.last_batch_id()
        mark = self._store.refresh_mark()
        if through <= mark:
            return 0
        positions = self._store.reading_positions(after_batch=mark)
        self._enqueue(_Recovery(positions.drop_duplicates(), through))
        return len(positions)

    def submit_communes(self, commune_ids: list[str] | None) -> None:
        """Queue the communes an admin change affects (``None``: every commune).

        They are listed in the store before they are queued, so a server
        killed first still re-judges them on its next start.
        """
        if commune_ids is None:
            commune_ids = [str(c) for c in self._store.communes()["id"]]
        communes = tuple(sorted(set(commune_ids)))
        if not communes:
            return
        self._count_stale(communes, +1)
        self._enqueue(_Stale(communes))

    def _stale(self) -> dict[str, int]:
        return self._store.stale_communes()

    def _count_stale(self, communes: tuple[str, ...], step: int) -> None:
        """Add ``step`` to each commune's count of refreshes queued for it."""
        with self._stale_lock:
            stale = self._stale()
            for commune in communes:
                stale[commune] = stale.get(commune, 0) + step
            left = {c: n for c, n in stale.items() if n > 0}
            self._store.set_stale_communes(left)

    def _enqueue(self, item: object) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(item)

    def submit(self, readings: pd.DataFrame) -> None:
        """Queue the positions (``lat``, ``lon``) of newly stored readings."""
        if readings.empty:
            return
        self._enqueue(readings[["lat", "lon"]].drop_duplicates())

    def submit_removed(self, readings: pd.DataFrame) -> None:
        """Queue the positions of readings just deleted (an upload removed)."""
        self.submit(readings)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending; ``False`` if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batches = [first]
            # Let the rest of a burst arrive, then take it all.
            stopping = self._gather(batches)
            recoveries = [b for b in batches if isinstance(b, _Recovery)]
            stale = [b for b in batches if isinstance(b, _Stale)]
            frames = [b for b in batches if isinstance(b, pd.DataFrame)]
            frames += [r.positions for r in recoveries]
            try:
                frames += [self._store.village_points(s.communes) for s in stale]
                self._refresh(self._store, pd.concat(frames, ignore_index=True).drop_duplicates())
                for recovery in recoveries:
                    self._store.mark_refreshed(recovery.through_batch)
                for item in stale:
                    self._count_stale(item.communes, -1)
            except Exception:  # the worker must outlive one failed analysis
                self._failed = True
                logger.exception("refresh after upload failed")
            finally:
                with self._idle:
                    self._pending -= len(batches)
                    self._idle.notify_all()

    def _gather(self, batches: list[object]) -> bool:
        """Collect what arrives within the coalescing window; ``True`` on stop."""
        try:
            item = self._queue.get(timeout=self._coalesce_s)
            while True:
                if item is _STOP:
                    return True
                batches.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            return False


class SharedRefreshWorker:
    """:class:`RefreshWorker` for several processes on PostgreSQL: the queue is the database.

    What is left to re-judge is what the store says: the readings batches
    after the refresh mark and the communes on the stale list. Submitting
    adds to that (a stored batch is there already; removed readings and
    admin changes list their communes) and sends ``NOTIFY``. In each
    process a thread tries for the runner's advisory lock; the one holding
    it waits for a notification, lets a burst gather for ``coalesce_s``,
    re-judges everything listed at once, then moves the mark and crosses
    the communes off, so at most one process re-judges at any time and
    nothing is lost when one dies mid-way (its lock goes with its
    connection; the next runner finds the same list).

    Parameters
    ----------
    store : Store
        A PostgreSQL store.
    refresh : callable, optional
        ``refresh(store, readings)``, as for :class:`RefreshWorker`.
    coalesce_s : float
    poll_s : float
        See :data:`POLL_S`.
    """

    def __init__(
        self,
        store: Store,
        *,
        refresh: Callable[[Store, pd.DataFrame], object] = refresh_for_readings,
        coalesce_s: float = DEFAULT_COALESCE_S,
        poll_s: float = POLL_S,
    ) -> None:
        self._store = store
        self._refresh = refresh
        self._coalesce_s = coalesce_s
        self._poll_s = poll_s
        self._locks = AdvisoryLocks(store.db)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Whether this process is the runner now (for the tests and the log).
        self.running = False

    @property
    def pending(self) -> int:
        """Batches after the mark plus communes listed stale: what is left to re-judge."""
        batches = max(0, self._store.last_batch_id() - self._store.refresh_mark())
        return batches + len(self._store.stale_communes())

    def start(self) -> None:
        """Start this process's thread: it becomes the runner when no other process is."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="lomsong-refresh", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread after the refresh it may be running (the rest stays listed)."""
        if self._thread is not None:
            self._stopping.set()
            notify(self._store.db)
            self._thread.join(timeout)
            self._thread = None
        self._locks.close()

    def recover(self) -> int:
        """Nothing to queue: the runner finds what a killed server left; returns how much."""
        pending = self.pending
        if pending:
            notify(self._store.db)
        return pending

    def submit(self, readings: pd.DataFrame) -> None:
        """Wake the runner: newly stored readings are in a batch after the mark already."""
        if not readings.empty:
            notify(self._store.db)

    def submit_removed(self, readings: pd.DataFrame) -> None:
        """List the communes deleted readings lay in as stale, then wake the runner."""
        if readings.empty:
            return
        villages = self._store.villages(with_results=False)
        if villages.empty:
            return
        touched = villages["id"].isin(villages_touched(villages, readings))
        communes = villages.loc[touched, "commune_id"].dropna().unique()
        self.submit_communes([str(c) for c in communes])

    def submit_communes(self, commune_ids: list[str] | None) -> None:
        """List the communes an admin change affects (``None``: every commune), and wake."""
        if commune_ids is None:
            commune_ids = [str(c) for c in self._store.communes()["id"]]
        if commune_ids:
            self._store.meta.add_stale_communes(dict.fromkeys(sorted(set(commune_ids)), 1))
            notify(self._store.db)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is left to re-judge (by any process); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._serve_as_runner()
            except Exception:  # the database went away: try again, the thread lives on
                logger.exception("re-judging runner lost its database connection")
            self.running = False
            self._stopping.wait(self._poll_s)

    def _serve_as_runner(self) -> None:
        """Wait to be elected; then re-judge on every wake until stopped."""
        session = self._locks.session()
        try:
            while not try_lock(session, REFRESH_LOCK):
                if self._stopping.wait(self._poll_s):
                    return
            self.running = True
            listen(session)
            backoff = self._poll_s
            while not self._stopping.is_set():
                if self._refresh_listed():
                    backoff = self._poll_s
                else:
                    backoff = min(MAX_BACKOFF_S, backoff * 2)
                    self._stopping.wait(backoff)
                wait_notified(session, self._poll_s)
        finally:
            session.close()  # the lock goes with the session

    def _refresh_listed(self) -> bool:
        """Re-judge what the store lists; ``False`` when the refresh failed."""
        store = self._store
        through, mark, stale = store.last_batch_id(), store.refresh_mark(), store.stale_communes()
        if through <= mark and not stale:
            return True
        self._stopping.wait(self._coalesce_s)  # let the rest of a burst arrive
        through, stale = store.last_batch_id(), store.stale_communes()
        frames = [store.reading_positions(after_batch=mark)] if through > mark else []
        try:
            if stale:
                frames.append(store.village_points(sorted(stale)))
            self._refresh(store, pd.concat(frames, ignore_index=True).drop_duplicates())
        except Exception:
            logger.exception("refresh after upload failed")
            return False
        store.mark_refreshed(through)
        if stale:
            store.meta.add_stale_communes({c: -n for c, n in stale.items()})
        return True


#: Either worker: what the routes submit to.
Refresher = RefreshWorker | SharedRefreshWorker


def make_refresher(
    store: Store, *, refresh: Callable[[Store, pd.DataFrame], object] = refresh_for_readings
) -> Refresher:
    """Return the store's refresher: shared across processes on PostgreSQL, else in memory."""
    if store.dialect == "postgresql":
        return SharedRefreshWorker(store, refresh=refresh)
    return RefreshWorker(store, refresh=refresh)
