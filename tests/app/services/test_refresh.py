"""The background refresh: coalesced re-analysis, and recovery of what a killed server queued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from app.services.refresh import RefreshWorker
from app.store import Store
from app.store.meta import REFRESH_MARK
from geodata.readings import validate_readings

NOW = pd.Timestamp("2026-02-01", tz="UTC")


def readings(lats: list[float], *, minute: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "time": [f"2026-01-05T03:{minute:02d}:{i:02d}Z" for i in range(len(lats))],
            "lat": lats,
            "lon": 105.495,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -100.0,
            "no_service": False,
            "device": "phone",
        }
    )
    return validate_readings(frame, now=NOW).valid


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "db.sqlite3", device_salt="s")
    yield store
    store.close()


class Recorder:
    """A refresh function that records the positions it was asked to re-judge."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[list[float]] = []
        self.fail = fail

    def __call__(self, store: Store, positions: pd.DataFrame) -> None:
        self.calls.append(sorted(positions["lat"].tolist()))
        if self.fail:
            raise RuntimeError("analysis failed")


def test_submitted_batches_in_one_burst_cost_one_refresh(store: Store) -> None:
    recorder = Recorder()
    worker = RefreshWorker(store, refresh=recorder, coalesce_s=0.2)
    worker.start()
    try:
        worker.submit(readings([22.1]))
        worker.submit(readings([22.2], minute=1))
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    assert recorder.calls == [[22.1, 22.2]]


def test_recover_queues_batches_stored_after_the_mark(store: Store) -> None:
    store.add_readings(readings([22.1]))
    store.mark_refreshed(store.last_batch_id())
    store.add_readings(readings([22.3, 22.4], minute=1))  # stored, never refreshed: killed
    recorder = Recorder()
    worker = RefreshWorker(store, refresh=recorder, coalesce_s=0.01)
    worker.start()
    try:
        assert worker.recover() == 2
        assert worker.wait_idle(10)
        assert recorder.calls == [[22.3, 22.4]]
        assert store.refresh_mark() == store.last_batch_id()
        assert worker.recover() == 0  # nothing left to recover
    finally:
        worker.stop()
    assert recorder.calls == [[22.3, 22.4]]


def test_a_failed_recovery_keeps_the_mark(store: Store) -> None:
    store.add_readings(readings([22.3]))
    worker = RefreshWorker(store, refresh=Recorder(fail=True), coalesce_s=0.01)
    worker.start()
    try:
        assert worker.recover() == 1
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    assert store.get_meta(REFRESH_MARK) is None  # the next start tries again


def test_a_clean_stop_marks_everything_refreshed(store: Store) -> None:
    worker = RefreshWorker(store, refresh=Recorder(), coalesce_s=0.01)
    worker.start()
    store.add_readings(readings([22.5]))
    worker.submit(readings([22.5]))
    worker.stop()

    assert store.refresh_mark() == store.last_batch_id() == 1
