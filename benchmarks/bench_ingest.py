"""Uploads, end to end: CSV import, the JSON API and geosubmit, each beside a baseline.

1. CSV import (``app.services.ingest.ingest_file``: parse + validate + store, in
   chunks) beside a bare ``sqlite3`` ``executemany`` of the same rows,
   already converted to tuples, into the same table.
2. ``POST /api/v1/readings`` through a real uvicorn server (``lomsong
   serve``), 1,000-reading batches, beside the same batches stored in-process
   through ``app.services.ingest.ingest_readings`` (the HTTP overhead is the ratio).
3. ``POST /v2/geosubmit`` through the same server, 100-item gzip posts,
   beside ``app.services.ingest.ingest_geosubmit`` in-process.

``--backend postgres`` (issue 15) runs the CSV import into PostgreSQL instead
(``COPY`` into monthly partitions, :mod:`app.store.readings`) beside a plain
``COPY`` of the same file, unvalidated, into a bare table of the same columns.
It starts a throwaway cluster (``tests/postgres.py``) unless ``--url`` names a
server whose user may ``CREATE DATABASE``.

Figures are printed, never asserted. Targets (issue 3): >= 200,000 readings/s
for the CSV import, >= 20,000 readings/s for the JSON API.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [N_CSV [csv|http]] [--backend postgres]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from app.core.config import Settings
from app.services.ingest import ingest_file, ingest_geosubmit, ingest_readings
from app.store import Store

REPO = Path(__file__).resolve().parent.parent
SALT = "bench-salt"
# Rows per chunk of the CSV import: the default of `lomsong ingest` and the service.
CHUNK_ROWS = Settings.model_fields["import_chunk_rows"].default


def synthetic_csv(path: Path, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` native readings (15% no service) written to ``path``; returns the frame."""
    rng = np.random.default_rng(seed)
    no_service = rng.random(n) < 0.15
    times = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 42 * 86400, n), unit="s"
    )
    frame = pd.DataFrame(
        {
            "time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lat": rng.uniform(21.9, 22.7, n).round(6),
            "lon": rng.uniform(105.0, 105.6, n).round(6),
            "accuracy_m": rng.integers(3, 60, n),
            "mcc": 452,
            "mnc": rng.choice([1, 2, 4], n),
            "radio": rng.choice(["lte", "umts", "nr"], n),
            "signal_dbm": np.where(no_service, np.nan, rng.integers(-115, -60, n)),
            "no_service": np.where(no_service, "true", "false"),
            "cell_id": rng.integers(1, 2**20, n),
            "device": rng.integers(0, 50, n).astype(str),
            "source": "bench",
        }
    )
    frame.to_csv(path, index=False)
    return frame


# The baseline's table: one row per reading, deduplicated by a unique content
# key (lomsong's own layout before readings became Parquet batches).
ROW_TABLE = """
CREATE TABLE readings (
    rowid INTEGER PRIMARY KEY, content_key INTEGER NOT NULL UNIQUE, time TEXT NOT NULL,
    lat REAL NOT NULL, lon REAL NOT NULL, accuracy_m REAL, mcc INTEGER NOT NULL,
    mnc INTEGER NOT NULL, radio TEXT NOT NULL, signal_dbm REAL, no_service INTEGER NOT NULL,
    cell_id INTEGER, area_code INTEGER, pci INTEGER, rsrq_db REAL, sinr_db REAL,
    device TEXT, source TEXT, origin TEXT NOT NULL DEFAULT 'upload');
"""


def bare_executemany(db: Path, frame: pd.DataFrame) -> float:
    """Seconds to insert ``frame``'s rows, pre-converted, with one ``executemany`` per 100k,
    into a one-row-per-reading table with a unique content key (no other index)."""
    columns = ["content_key", *frame.columns, "origin"]
    keys = np.random.default_rng(1).integers(-(2**62), 2**62, len(frame))
    rows = list(
        zip(
            keys.tolist(),
            *(frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame),
            ["upload"] * len(frame),
            strict=True,
        )
    )
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.executescript(ROW_TABLE)
    sql = f"INSERT OR IGNORE INTO readings ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: E501
    start = time.perf_counter()
    for i in range(0, len(rows), 100_000):
        with conn:
            conn.executemany(sql, rows[i : i + 100_000])
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def report(label: str, count: int, seconds: float, unit: str = "readings") -> float:
    rate = count / seconds
    print(f"  {label:<44} {seconds:7.2f} s  {rate:>11,.0f} {unit}/s")
    return rate


def bench_csv(n: int, work: Path) -> None:
    print(f"CSV import, {n:,} readings (parse + validate + store, chunks of {CHUNK_ROWS:,})")
    path = work / "readings.csv"
    frame = synthetic_csv(path, n)
    print(f"  file: {path.stat().st_size / 2**20:.1f} MiB")
    base = report(
        "baseline: bare sqlite3 executemany", n, bare_executemany(work / "bare.db", frame)
    )
    store = Store(work / "import.sqlite3", device_salt=SALT)
    start = time.perf_counter()
    result = ingest_file(store, path, format="csv", chunk_rows=CHUNK_ROWS)
    ours = report("lomsong ingest_file", result.accepted, time.perf_counter() - start)
    store.close()
    print(f"  ratio lomsong / bare executemany: {ours / base:.2f}  (target >= 200,000/s)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "LOMSONG_DATA_DIR": str(data_dir),
        "LOMSONG_DEVICE_SALT": SALT,
        "LOMSONG_ALLOW_ANONYMOUS_UPLOAD": "true",
        "LOMSONG_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


def json_batches(count: int, size: int) -> list[list[dict[str, Any]]]:
    start = pd.Timestamp("2026-01-05T00:00:00Z")
    return [
        [
            {
                "time": (start + pd.Timedelta(seconds=b * size + i)).isoformat(),
                "lat": 22.56 + 1e-5 * i,
                "lon": 105.49 + 1e-5 * b,
                "accuracy_m": 10,
                "mcc": 452,
                "mnc": 4,
                "radio": "lte",
                "signal_dbm": -100 - i % 15,
                "no_service": False,
                "device": "bench-phone",
            }
            for i in range(size)
        ]
        for b in range(count)
    ]


def geosubmit_bodies(count: int, size: int) -> list[dict[str, Any]]:
    t0 = 1767571200000
    return [
        {
            "items": [
                {
                    "timestamp": t0 + 1000 * (b * size + i),
                    "position": {
                        "latitude": 22.56 + 1e-5 * i,
                        "longitude": 105.49 + 1e-5 * b,
                        "accuracy": 10,
                    },
                    "cellTowers": [
                        {
                            "radioType": "lte",
                            "mobileCountryCode": 452,
                            "mobileNetworkCode": "04",
                            "cellId": 1000 + i,
                            "asu": 40,
                        }
                    ],
                }
                for i in range(size)
            ]
        }
        for b in range(count)
    ]


def _timed(func: Callable[[], Any]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def bench_http(work: Path) -> None:
    batches = json_batches(60, 1000)
    bodies = geosubmit_bodies(100, 100)
    store = Store(work / "inprocess.sqlite3", device_salt=SALT)
    print("JSON API, 60 batches of 1,000 readings")
    base = report(
        "baseline: ingest_readings in-process",
        60_000,
        _timed(lambda: [ingest_readings(store, b) for b in batches]),
    )
    process, url = _serve(work / "served")
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            http.post("/api/v1/readings", json=json_batches(1, 10)[0])  # warm up

            # Bodies encoded beforehand, as for geosubmit: the client's own JSON
            # encoding (~4 ms a batch) is the phone's work, not the service's.
            bodies_json = [json.dumps(b).encode() for b in batches]
            as_json = {"content-type": "application/json"}

            def post_all() -> None:
                for body, b in zip(bodies_json, batches, strict=True):
                    answer = http.post("/api/v1/readings", content=body, headers=as_json).json()
                    assert answer["accepted"] + answer["duplicates"] == len(b), answer

            ours = report("POST /api/v1/readings via uvicorn", 60_000, _timed(post_all))
            print(f"  ratio HTTP / in-process: {ours / base:.2f}  (target >= 20,000/s)")

            print("geosubmit, 100 gzip posts of 100 items")
            encoded = [gzip.compress(json.dumps(b).encode()) for b in bodies]
            base = report(
                "baseline: ingest_geosubmit in-process",
                10_000,
                _timed(lambda: [ingest_geosubmit(store, b) for b in bodies]),
                unit="items",
            )
            gz = {"content-encoding": "gzip", "content-type": "application/json"}

            def submit_all() -> None:
                for body in encoded:
                    assert http.post("/v2/geosubmit", content=body, headers=gz).status_code == 200

            ours = report("POST /v2/geosubmit via uvicorn", 10_000, _timed(submit_all), "items")
            print(f"  ratio HTTP / in-process: {ours / base:.2f}")
    finally:
        process.terminate()
        process.wait(timeout=15)
        store.close()


# The plain COPY's table: the CSV file's columns, typed as lomsong stores them.
BARE_TABLE = """
CREATE TABLE bare_readings (
    time timestamptz NOT NULL, lat double precision NOT NULL, lon double precision NOT NULL,
    accuracy_m double precision, mcc bigint NOT NULL, mnc bigint NOT NULL, radio text NOT NULL,
    signal_dbm double precision, no_service boolean NOT NULL, cell_id bigint, device text,
    source text)
"""


def bare_copy(url: str, path: Path) -> float:
    """Seconds to ``COPY`` the CSV file as it is, unvalidated, into a bare table."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(BARE_TABLE)
        conn.commit()
        start = time.perf_counter()
        sql = "COPY bare_readings FROM STDIN (FORMAT csv, HEADER)"
        with conn.cursor().copy(sql) as copy, path.open("rb") as handle:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - start


def bench_csv_postgres(n: int, work: Path, url: str | None) -> None:
    """The CSV import into PostgreSQL beside a plain COPY of the same file."""
    sys.path.insert(0, str(REPO))  # tests/postgres.py: the throwaway cluster
    from tests import postgres

    def database() -> str:
        if url is None:
            return postgres.fresh_database()
        import psycopg

        name = f"bench_{os.getpid()}_{time.monotonic_ns()}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        target = url.rsplit("/", 1)[0] + f"/{name}"
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return target

    print(f"CSV import into PostgreSQL, {n:,} readings (chunks of {CHUNK_ROWS:,})")
    path = work / "readings.csv"
    synthetic_csv(path, n)
    print(f"  file: {path.stat().st_size / 2**20:.1f} MiB")
    try:
        base = report("baseline: plain COPY, no validation", n, bare_copy(database(), path))
        store = Store(database(), device_salt=SALT)
        spent = [0.0]
        add = store.add_readings

        def timed_add(*args: Any, **kwargs: Any) -> tuple[int, int]:
            start = time.perf_counter()
            try:
                return add(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        store.add_readings = timed_add  # type: ignore[method-assign]
        start = time.perf_counter()
        result = ingest_file(store, path, format="csv", chunk_rows=CHUNK_ROWS)
        elapsed = time.perf_counter() - start
        ours = report("lomsong ingest_file (COPY, partitions)", result.accepted, elapsed)
        store.add_readings = add  # type: ignore[method-assign]
        again = _timed(lambda: ingest_file(store, path, format="csv", chunk_rows=CHUNK_ROWS))
        report("the same file again (all duplicates)", n, again)
        read = _timed(lambda: store.readings())
        report("read back: store.readings() (COPY TO)", result.accepted, read)
        streamed = _timed(lambda: sum(len(f) for f in store.iter_readings(["time", "lat", "lon"])))
        report("read back: iter_readings, 3 columns", result.accepted, streamed)
        store.close()
        print(
            f"  of which storing (hash devices, CSV, COPY, keys, insert): {spent[0]:.2f} s,"
            " overlapped with parsing and validating the next chunk"
        )
        print(f"  ratio lomsong / plain COPY: {ours / base:.2f}  (target >= 200,000/s)")
    finally:
        if url is None:
            postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=500_000, help="readings in the CSV")
    parser.add_argument("only", nargs="?", choices=("csv", "http"), help="one part only")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--url", help="an existing PostgreSQL server (postgresql://...)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lomsong-bench-") as tmp:
        if args.backend == "postgres":
            bench_csv_postgres(args.n, Path(tmp), args.url)
            return
        if args.only in (None, "csv"):
            bench_csv(args.n, Path(tmp))
        if args.only in (None, "http"):
            bench_http(Path(tmp))


if __name__ == "__main__":
    main()
