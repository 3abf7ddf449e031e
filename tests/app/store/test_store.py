"""The SQLite store: WAL, what is stored for readings, thread safety."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from app.services.queries import PlaceFilter, find_villages
from app.store import Store
from geodata.readings import validate_readings


def batch(n: int, *, device: str = "imei-123") -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "time": [f"2026-01-05T03:{i % 60:02d}:{i // 60:02d}Z" for i in range(n)],
            "lat": 22.565,
            "lon": 105.495,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -100.0,
            "no_service": False,
            "device": device,
        }
    )
    return validate_readings(frame, now=pd.Timestamp("2026-02-01", tz="UTC")).valid


def test_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3", device_salt="s")
    try:
        conn = store._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        store.close()


def test_devices_are_stored_only_as_salted_hashes(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3", device_salt="s")
    other = Store(tmp_path / "other.sqlite3", device_salt="t")
    try:
        store.add_readings(batch(2))
        other.add_readings(batch(2))
        stored = store.readings()["device"].unique().tolist()
        assert len(stored) == 1 and stored[0] != "imei-123" and len(stored[0]) == 16
        assert other.readings()["device"].iloc[0] != stored[0]
    finally:
        store.close()
        other.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3", device_salt="s")
    results: list[tuple[int, int]] = []

    def upload(device: str) -> None:
        results.append(store.add_readings(batch(200, device=device)))

    threads = [threading.Thread(target=upload, args=(f"d{i % 4}",)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(new for new, _ in results) == 4 * 200
        assert sum(dup for _, dup in results) == 4 * 200
        assert len(store.readings()) == 800
    finally:
        store.close()


def test_clearing_the_demo_keeps_uploads(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3", device_salt="s")
    try:
        assert store.add_readings(batch(5, device="demo-phone"), origin="demo") == (5, 0)
        assert store.add_readings(batch(3, device="field-phone")) == (3, 0)
        store.clear_readings(origin="demo")
        kept = store.readings()
        assert len(kept) == 3
        assert kept["device"].nunique() == 1
    finally:
        store.close()


def test_carrier_filter_that_keeps_nothing_keeps_the_columns(loaded_store: Store) -> None:
    """Found by schemathesis: an empty selection used to drop every column (and the CRS)."""
    frame = find_villages(loaded_store, PlaceFilter(q="no such village", carrier="Viettel"))

    assert frame.empty
    assert {"id", "province", "verdict"} <= set(frame.columns)
    assert frame.crs is not None


def test_a_database_from_before_confidence_gains_its_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # village_results as an earlier version made it
        conn.execute(
            "CREATE TABLE village_results (village_id TEXT PRIMARY KEY, verdict TEXT NOT NULL,"
            " households_without_signal INTEGER, best_carrier TEXT, carriers TEXT,"
            " readings_count INTEGER, last_reading TEXT)"
        )
        conn.execute("INSERT INTO village_results (village_id, verdict) VALUES ('v', 'covered')")
    Store(path, device_salt="test-salt")
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(village_results)")}
        kept = conn.execute("SELECT verdict, confidence, reasons FROM village_results").fetchall()
    assert {"confidence", "reasons", "reasons_vi"} <= columns
    assert kept == [("covered", None, None)]
