"""Readings in the store, on both backends: exact deduplication, dtypes, order, bounds.

SQLite keeps Parquet batches (and upgrades the legacy row table); PostgreSQL
one row per reading in monthly partitions, stored by COPY.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from app.store import Store
from app.store.readings import STORED_COLUMNS, STORED_DTYPES
from geodata.readings import content_keys, validate_readings

NOW = pd.Timestamp("2026-02-01", tz="UTC")


def readings(
    n: int, *, lat: float = 22.565, device: str = "imei-1", start: int = 0
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "time": [
                f"2026-01-05T03:{(start + i) % 60:02d}:{(start + i) // 60:02d}Z" for i in range(n)
            ],
            "lat": lat,
            "lon": 105.495,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -100.0,
            "no_service": False,
            "cell_id": 1234,
            "device": device,
        }
    )
    return validate_readings(frame, now=NOW).valid


@pytest.fixture
def store(database: Path | str) -> Iterator[Store]:
    store = Store(database, device_salt="s")
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "db.sqlite3", device_salt="s")
    yield store
    store.close()


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    store = Store(postgres_url, device_salt="s")
    yield store
    store.close()


def test_round_trip_keeps_values_and_dtypes(store: Store) -> None:
    batch = readings(5)
    assert store.add_readings(batch) == (5, 0)

    stored = store.readings()

    assert list(stored.columns) == list(STORED_COLUMNS)
    assert {c: str(t) for c, t in stored.dtypes.items()} == {
        c: str(pd.Series(dtype=t).dtype) for c, t in STORED_DTYPES.items()
    }
    assert stored["content_key"].tolist() == batch["content_key"].tolist()
    assert stored["time"].tolist() == batch["time"].tolist()
    assert stored["cell_id"].tolist() == [1234] * 5


def test_duplicates_within_and_across_batches_are_counted_not_stored(store: Store) -> None:
    batch = readings(4)
    doubled = pd.concat([batch, batch.iloc[:2]])

    assert store.add_readings(doubled) == (4, 2)
    assert store.add_readings(pd.concat([batch, readings(2, start=10)])) == (2, 4)
    assert store.readings_count() == 6
    assert store.readings()["content_key"].is_unique


def test_a_batch_of_only_duplicates_leaves_no_empty_batch(store: Store) -> None:
    store.add_readings(readings(3))
    store.add_readings(readings(3))

    batches = store._conn().execute("SELECT count(*), sum(count) FROM reading_batches").fetchone()
    assert batches == (1, 3)


def test_each_sqlite_batch_is_a_parquet_file_with_its_bounding_box(sqlite_store: Store) -> None:
    store = sqlite_store
    store.add_readings(pd.concat([readings(2, lat=22.1), readings(2, lat=22.3, start=5)]))

    row = (
        store._conn()
        .execute("SELECT count, min_lat, max_lat, min_lon, max_lon, data FROM reading_batches")
        .fetchone()
    )

    assert row[:5] == (4, 22.1, 22.3, 105.495, 105.495)
    table = pq.read_table(io.BytesIO(row[5]))
    assert table.num_rows == 4 and table.column_names == list(STORED_COLUMNS)


def test_bounds_select_batches_then_rows(store: Store) -> None:
    store.add_readings(readings(3, lat=22.1))
    store.add_readings(
        pd.concat([readings(2, lat=22.5, start=10), readings(2, lat=22.9, start=20)])
    )

    inside = store.readings(bounds=(105.0, 22.4, 106.0, 22.6))

    assert inside["lat"].tolist() == [22.5, 22.5]
    assert store.readings(bounds=(100.0, 10.0, 100.1, 10.1)).empty


def test_iter_readings_yields_bounded_frames_in_upload_order(store: Store) -> None:
    store.add_readings(readings(5))
    store.add_readings(readings(3, start=30))

    frames = list(store.iter_readings(["time", "lat"], batch_rows=2))

    # SQLite slices each Parquet batch; PostgreSQL's cursor runs across batches.
    sizes = [2, 2, 1, 2, 1] if store.dialect == "sqlite" else [2, 2, 2, 2]
    assert [len(f) for f in frames] == sizes
    assert str(frames[0]["time"].dtype) == "datetime64[us, UTC]"
    assert list(frames[0].columns) == ["time", "lat"]
    assert pd.concat(frames)["time"].tolist() == store.readings()["time"].tolist()


def test_stored_by_request_counts_only_that_requests_batches(store: Store) -> None:
    first, second = readings(3), readings(2, start=10)
    assert store.last_batch_id() == 0
    store.add_readings(first, request="caller:readings key-1")
    first_batch = store.last_batch_id()
    store.add_readings(second, request="caller:readings key-1")

    both = pd.concat([first, second])["content_key"]
    latest = store.last_batch_id()
    assert store.stored_by_request("caller:readings key-1", both, up_to_batch=latest) == 5
    assert store.stored_by_request("caller:readings key-1", both, up_to_batch=first_batch) == 3
    assert store.stored_by_request("caller:readings other", both, up_to_batch=latest) == 0


def test_clearing_one_origin_keeps_the_others_and_frees_its_keys(store: Store) -> None:
    demo, uploaded = readings(3), readings(2, start=10)
    store.add_readings(demo, origin="demo")
    store.add_readings(uploaded)

    store.clear_readings(origin="demo")

    assert store.readings_count() == 2
    assert store.readings()["content_key"].tolist() == uploaded["content_key"].tolist()
    assert store.add_readings(demo, origin="demo") == (3, 0)


def test_unfinished_uploads_fail_with_the_reason(store: Store) -> None:
    queued = store.create_upload(owner="key:a", origin="import", format="csv", status="queued")
    done = store.create_upload(owner="key:a", origin="import", format="csv", status="done")

    assert store.fail_unfinished_uploads("restarted") == 1

    assert (store.upload(queued) or {}).get("status") == "failed"
    assert (store.upload(queued) or {}).get("error") == "restarted"
    assert (store.upload(done) or {}).get("status") == "done"
    assert [u["id"] for u in store.uploads(owner="key:a")] == [done, queued]


def test_readings_of_the_legacy_row_table_are_moved_into_batches(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    batch = readings(3)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE readings (rowid INTEGER PRIMARY KEY, content_key INTEGER NOT NULL UNIQUE,"
        " time TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL, accuracy_m REAL,"
        " mcc INTEGER NOT NULL, mnc INTEGER NOT NULL, radio TEXT NOT NULL, signal_dbm REAL,"
        " no_service INTEGER NOT NULL, cell_id INTEGER, area_code INTEGER, pci INTEGER,"
        " rsrq_db REAL, sinr_db REAL, device TEXT, source TEXT,"
        " origin TEXT NOT NULL DEFAULT 'upload')"
    )
    rows = [
        (int(k), t.isoformat(), 22.565, 105.495, 452, 4, "lte", -100.0, 0, 1234, "hashed", o)
        for k, t, o in zip(
            batch["content_key"], batch["time"], ["demo", "upload", "upload"], strict=True
        )
    ]
    conn.executemany(
        "INSERT INTO readings (content_key, time, lat, lon, mcc, mnc, radio, signal_dbm,"
        " no_service, cell_id, device, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()

    store = Store(path, device_salt="s")
    try:
        assert store.readings_count() == 3
        moved = store.readings()
        assert sorted(moved["content_key"]) == sorted(batch["content_key"])
        assert set(moved["device"]) == {"hashed"}  # already hashed: not hashed again
        assert store.add_readings(batch) == (0, 3)
        store.clear_readings(origin="demo")
        assert store.readings_count() == 2
        legacy = (
            store._conn()
            .execute("SELECT count(*) FROM sqlite_master WHERE name = 'readings'")
            .fetchone()
        )
        assert legacy == (0,)
    finally:
        store.close()


def test_content_keys_of_stored_readings_are_the_validated_ones(store: Store) -> None:
    batch = readings(2)
    store.add_readings(batch)

    assert content_keys(batch).tolist() == store.readings()["content_key"].tolist()


# --- PostgreSQL: monthly partitions, COPY, all or nothing ---------------------


def _partition_rows(store: Store) -> dict[str, int]:
    """Readings per partition of ``readings`` (empty partitions included)."""
    frame = store.db.query(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'readings'::regclass"
    )
    return {
        name: int(store.db.query(f"SELECT count(*) AS n FROM {name}")["n"].iloc[0])
        for name in frame["name"]
    }


def test_readings_of_two_months_land_in_two_partitions(pg_store: Store) -> None:
    january = readings(3)
    december = readings(2, start=30).assign(
        time=pd.to_datetime(["2025-12-31T23:59:59.999999Z", "2025-12-01T00:00:00.000001Z"])
    )

    assert pg_store.add_readings(pd.concat([january, december])) == (5, 0)

    rows = _partition_rows(pg_store)
    assert rows["readings_2026_01"] == 3
    assert rows["readings_2025_12"] == 2
    assert rows["readings_default"] == 0
    stored = pg_store.readings()
    # Exact to the microsecond, in upload order.
    assert stored["time"].tolist()[3:] == december["time"].tolist()
    assert pg_store.add_readings(pd.concat([december, january])) == (0, 5)
    assert sum(_partition_rows(pg_store).values()) == 5


def test_a_bad_row_in_the_middle_leaves_nothing_stored(pg_store: Store) -> None:
    batch = readings(5)
    batch.loc[batch.index[2], "radio"] = None  # past validation: readings.radio is NOT NULL

    with pytest.raises(Exception, match="radio"):
        pg_store.add_readings(batch)

    counts = pg_store.db.query(
        "SELECT (SELECT count(*) FROM readings) AS readings,"
        " (SELECT count(*) FROM reading_keys) AS keys,"
        " (SELECT count(*) FROM reading_batches) AS batches"
    )
    assert counts.iloc[0].tolist() == [0, 0, 0]
    # The same rows, mended, are all new: no key was kept.
    assert pg_store.add_readings(readings(5)) == (5, 0)


def test_text_survives_copy_both_ways(pg_store: Store) -> None:
    batch = readings(4).assign(
        source=pd.array(['a,"b"\nc', "", None, "NA"], dtype="string"), accuracy_m=[1.5, None, 3, 4]
    )
    pg_store.add_readings(batch)

    stored = pg_store.readings()

    assert stored["source"].tolist()[:2] == ['a,"b"\nc', ""]
    assert stored["source"].isna().tolist() == [False, False, True, False]
    assert stored["source"].iloc[3] == "NA"
    assert stored["accuracy_m"].isna().tolist() == [False, True, False, False]
    assert stored["device"].nunique() == 1 and stored["device"].iloc[0] != "imei-1"  # hashed
