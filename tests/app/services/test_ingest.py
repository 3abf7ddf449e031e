"""Contract of app.services.ingest: read_ahead (order, errors in place, early stop)
and uploads as batches (recorded, stopped jobs, the loaded region, freed keys), on
both backends (SQLite, and PostgreSQL by COPY)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from app.services.ingest import JobStoppedError, ingest_file, read_ahead
from app.store import Store
from geodata.errors import InvalidInputError
from geodata.formats import ParsedChunk
from geodata.regions import LoadedRegion


def chunk(n: int) -> ParsedChunk:
    return ParsedChunk(readings=pd.DataFrame({"n": [n]}))


def test_chunks_arrive_in_order_and_parsing_runs_on_another_thread() -> None:
    threads: list[str] = []

    def parse() -> Iterator[ParsedChunk]:
        for n in range(5):
            threads.append(threading.current_thread().name)
            yield chunk(n)

    seen = [c.readings["n"].iloc[0] for c in read_ahead(parse())]

    assert seen == [0, 1, 2, 3, 4]
    assert set(threads) == {"lomsong-parse"}


def test_a_parser_error_comes_after_the_chunks_before_it() -> None:
    def parse() -> Iterator[ParsedChunk]:
        yield chunk(0)
        yield chunk(1)
        raise InvalidInputError("readings.csv: not a readable CSV")

    seen = []
    with pytest.raises(InvalidInputError, match="not a readable CSV"):
        for c in read_ahead(parse()):
            seen.append(c.readings["n"].iloc[0])
    assert seen == [0, 1]


def test_a_caller_that_stops_early_stops_and_closes_the_parser() -> None:
    closed = threading.Event()
    made = []

    def parse() -> Iterator[ParsedChunk]:
        try:
            for n in range(1000):
                made.append(n)
                yield chunk(n)
        finally:
            closed.set()

    chunks = read_ahead(parse())
    assert next(chunks).readings["n"].iloc[0] == 0
    chunks.close()  # what a failing ingest does when it leaves the loop

    assert closed.is_set()
    assert len(made) <= 3  # one handed over, one waiting, one being offered


# --- uploads: recorded, stopped, bounded by the loaded region ---------------------

CSV_HEADER = "time,lat,lon,mcc,mnc,radio,signal_dbm,no_service\n"


def csv_file(tmp_path: Path, rows: int, *, lon: float = 105.495) -> Path:
    path = tmp_path / "readings.csv"
    lines = [f"2026-01-05T03:{i:02d}:00Z,22.565,{lon},452,4,lte,-99,false\n" for i in range(rows)]
    path.write_text(CSV_HEADER + "".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def store(database: Path | str) -> Iterator[Store]:
    store = Store(database, device_salt="salt")
    yield store
    store.close()


def test_an_import_is_recorded_as_an_upload_with_its_counts(store: Store, tmp_path: Path) -> None:
    report = ingest_file(store, csv_file(tmp_path, 5), format="csv", chunk_rows=2, owner="key:a")

    record = store.upload(report.upload_id or 0)
    assert record is not None
    assert (record["owner"], record["origin"], record["format"], record["status"]) == (
        "key:a",
        "import",
        "csv",
        "done",
    )
    assert (record["rows_read"], record["accepted"], record["rejected_total"]) == (5, 5, 0)
    assert record["report"]["accepted"] == 5
    stored = store.readings()  # three chunks, in the file's order
    assert stored["time"].dt.strftime("%H:%M").tolist() == [f"03:0{i}" for i in range(5)]
    assert stored["signal_dbm"].tolist() == [-99.0] * 5


def test_a_stopped_job_keeps_the_chunks_it_stored_and_fails_with_the_reason(
    store: Store, tmp_path: Path
) -> None:
    stop = threading.Event()
    stop.set()  # the server is stopping: the job ends after its first chunk
    upload = store.create_upload(owner="key:a", origin="import", format="csv", status="queued")

    with pytest.raises(JobStoppedError):
        ingest_file(
            store, csv_file(tmp_path, 6), format="csv", chunk_rows=2, upload=upload, stop=stop
        )

    record = store.upload(upload)
    assert record is not None
    assert record["status"] == "failed"
    assert record["error"] == (
        "the server stopped after 2 rows; the readings stored by then stay stored (accepted)"
    )
    assert (record["rows_read"], record["accepted"]) == (2, 2)
    assert len(store.readings()) == 2


def test_readings_outside_the_region_are_counted_not_stored(store: Store, tmp_path: Path) -> None:
    region = LoadedRegion.from_boxes([(105.46, 22.55, 105.51, 22.58)])
    outside = ingest_file(
        store, csv_file(tmp_path, 50, lon=106.0), format="csv", chunk_rows=20, region=region
    )

    assert (outside.accepted, outside.outside_region, outside.rejected_total) == (0, 50, 0)
    assert store.readings().empty
    assert store.upload(outside.upload_id or 0)["outside_region"] == 50  # type: ignore[index]


def test_deleting_an_upload_frees_its_content_keys(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, 3)
    first = ingest_file(store, path, format="csv")
    again = ingest_file(store, path, format="csv")
    assert (again.accepted, again.duplicates) == (0, 3)

    removed = store.delete_upload(first.upload_id or 0)

    assert len(removed) == 3 and store.readings().empty
    third = ingest_file(store, path, format="csv")
    assert (third.accepted, third.duplicates) == (3, 0)
