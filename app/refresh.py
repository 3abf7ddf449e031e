"""Re-judging the villages new readings touch, in one background thread.

Uploads hand the positions of the readings they stored to :meth:`submit` and
answer at once. The worker waits a moment for more, takes everything queued,
and re-analyses the touched communes once: a burst of uploads from one field
team costs one analysis, not one per batch.

The queue lives in memory, so what a killed server had queued would be lost.
The store's meta key :data:`app.analysis.REFRESH_MARK` names the newest readings batch
whose villages are surely judged: a full analysis, a clean stop, and a
completed recovery move it. On start, :meth:`RefreshWorker.recover` queues
every batch stored after it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from app.analysis import mark_refreshed, refresh_for_readings, refreshed_through
from app.store import Store

logger = logging.getLogger(__name__)

# Long enough to gather the batches a client sends back to back, short enough
# that a refreshed verdict shows within a couple of seconds of an upload.
DEFAULT_COALESCE_S = 0.3

_STOP = object()


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
        ``refresh(store, readings)``; :func:`app.analysis.refresh_for_readings`
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
                mark_refreshed(self._store, self._store.last_batch_id())

    def recover(self) -> int:
        """Queue the readings stored after :data:`app.analysis.REFRESH_MARK`; returns how many.

        Call it once the store is loaded: a server killed with refreshes
        still queued re-judges those villages on its next start.
        """
        through = self._store.last_batch_id()
        mark = refreshed_through(self._store)
        if through <= mark:
            return 0
        positions = self._store.reading_positions(after_batch=mark)
        with self._idle:
            self._pending += 1
        self._queue.put(_Recovery(positions.drop_duplicates(), through))
        return len(positions)

    def submit(self, readings: pd.DataFrame) -> None:
        """Queue the positions (``lat``, ``lon``) of newly stored readings."""
        if readings.empty:
            return
        points = readings[["lat", "lon"]].drop_duplicates()
        with self._idle:
            self._pending += 1
        self._queue.put(points)

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
            frames = [b for b in batches if isinstance(b, pd.DataFrame)]
            frames += [r.positions for r in recoveries]
            try:
                self._refresh(self._store, pd.concat(frames, ignore_index=True).drop_duplicates())
                for recovery in recoveries:
                    mark_refreshed(self._store, recovery.through_batch)
            except Exception:  # the worker must outlive one failed analysis
                self._failed = True
                logger.exception("refresh after upload failed")
            finally:
                with self._idle:
                    self._pending -= len(frames)
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
