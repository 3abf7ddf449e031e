"""``lomsong serve --workers 2`` on PostgreSQL: a real uvicorn, real HTTP, two processes.

Concurrent uploads with and without ``Idempotency-Key`` (each keyed request
sent twice at once, so its copies meet in both workers), then: every
acknowledged reading is stored exactly once, and every copy of a keyed
request got the first answer. Then the rate limit holds across the workers:
a burst past a key's allowance is held to it, whichever worker answers.
Which worker answered each request is read from the access log, which
names the worker's pid (``[pid 1234]``); each request carries a ``?trace=``
to be found there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from app.services.keys import create_key
from app.store import Store
from geodata.readings import validate_readings
from tests import postgres
from tests.conftest import _free_port, start_server

pytestmark = pytest.mark.slow

SALT = "workers-salt"
BATCH = 25
THREADS, REQUESTS = 8, 20
#: The rate limit of the run: each upload thread's key spends at most 30 (20 + 10 copies).
PER_MINUTE = 60
_LOG_LINE = re.compile(
    r"\[pid (\d+)\] [\d.:]+ - \"\w+ [^ ]*[?&]trace=([\w-]+)[^ ]* HTTP/[\d.]+\" (\d+)"
)


@dataclass
class Workers:
    base: str
    log: Path
    url: str

    def errors(self) -> str:
        """The server log's exceptions (each once), to say why a request failed."""
        found = re.findall(r"^(?:\w+\.)*\w*(?:Error|Exception)\b.*$", self.log.read_text(), re.M)
        return "\n".join(dict.fromkeys(found))

    def served(self) -> dict[str, list[tuple[int, int]]]:
        """For each trace, the (pid, status) of every request that carried it."""
        found: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for pid, trace, status in _LOG_LINE.findall(self.log.read_text()):
            found[trace].append((int(pid), int(status)))
        return found


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Two workers on a fresh database, for this module's tests (each with keys of its own)."""
    try:
        postgres_url = postgres.fresh_database()
    except RuntimeError as error:
        if os.environ.get("LOMSONG_REQUIRE_POSTGRES") == "1":
            pytest.fail(str(error))
        pytest.skip(str(error))
    tmp_path = tmp_path_factory.mktemp("workers")
    env = {
        **os.environ,
        "LOMSONG_DATA_DIR": str(tmp_path / "var"),
        "LOMSONG_DATABASE_URL": postgres_url,
        "LOMSONG_DEVICE_SALT": SALT,
        "LOMSONG_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
    }
    port = _free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(port)]
    log = tmp_path / "server.log"
    process, base = start_server(command, env=env, log_path=log, timeout_s=120)
    running = Workers(base, log, postgres_url)
    try:
        # Both workers up: fresh connections until two pids have answered.
        deadline = time.monotonic() + 60
        number = 0
        while len({pid for pid, _ in _all(running.served(), "up-")}) < 2:
            assert time.monotonic() < deadline, f"one worker only:\n{log.read_text()[-3000:]}"
            number += 1
            httpx.get(f"{base}/healthz", params={"trace": f"up-{number}"}, timeout=10)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _all(served: dict[str, list[tuple[int, int]]], prefix: str) -> list[tuple[int, int]]:
    return [
        answer
        for trace, answers in served.items()
        if trace.startswith(prefix)
        for answer in answers
    ]


def batch(sender: int, number: int) -> list[dict[str, Any]]:
    """``BATCH`` distinct readings, unique to (sender, number)."""
    start = pd.Timestamp("2026-01-05T00:00:00Z") + pd.Timedelta(hours=sender)
    return [
        {
            "time": (start + pd.Timedelta(seconds=number * BATCH + i)).isoformat(),
            "lat": 22.56 + 0.0001 * i,
            "lon": 105.49 + 0.0001 * number,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -100 - (i % 10),
            "no_service": False,
            "device": f"phone-{sender}",
        }
        for i in range(BATCH)
    ]


def _keys(url: str, count: int) -> list[str]:
    store = Store(url, device_salt=SALT)
    try:
        return [create_key(store, "collector", name=f"team {n}")[1] for n in range(count)]
    finally:
        store.close()


def post(base: str, key: str, rows: list[dict[str, Any]], trace: str, **headers: str) -> Any:
    """One upload on a connection of its own (so the two workers share the requests)."""
    return httpx.post(
        f"{base}/api/v1/readings",
        params={"trace": trace},
        json=rows,
        headers={"X-API-Key": key, **headers},
        timeout=60,
    )


def test_concurrent_uploads_on_two_workers_store_each_reading_once(workers: Workers) -> None:
    keys = _keys(workers.url, THREADS)
    acked: list[list[dict[str, Any]]] = []
    replays: dict[str, list[dict[str, Any]]] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def send(sender: int) -> None:
        with ThreadPoolExecutor(2) as copies:
            for number in range(REQUESTS):
                rows = batch(sender, number)
                trace = f"s{sender}-n{number}"
                if number % 2:  # no key: a plain upload
                    answers = [post(workers.base, keys[sender], rows, trace)]
                else:  # the same key and body twice at once
                    header = {"Idempotency-Key": f"batch-{sender}-{number}"}
                    twice = [
                        copies.submit(post, workers.base, keys[sender], rows, trace, **header)
                        for _ in range(2)
                    ]
                    answers = [copy.result() for copy in twice]
                with lock:
                    bad = [f"{trace}: {a.status_code} {a.text}" for a in answers if a.is_error]
                    failures.extend(bad)
                    if not bad:
                        acked.append(rows)
                        if len(answers) == 2:
                            replays[trace] = [a.json() for a in answers]

    threads = [threading.Thread(target=send, args=(s,)) for s in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert failures == [], workers.errors()
    assert len(acked) == THREADS * REQUESTS
    # Both copies of a keyed request got the first answer: it stored the batch, once.
    first = {"accepted": BATCH, "duplicates": 0}
    for trace, (one, other) in replays.items():
        assert one == other, trace
        assert {k: one[k] for k in first} == first, trace
    store = Store(workers.url, device_salt=SALT)
    try:
        stored = store.readings()
    finally:
        store.close()
    # This test's readings: its senders' days (the rate limit's test sends later ones).
    stored = stored[stored["time"] < pd.Timestamp("2026-01-06", tz="UTC")]
    expected = validate_readings(pd.DataFrame([row for rows in acked for row in rows]))
    assert not expected.rejected
    assert len(stored) == len(expected.valid) == THREADS * REQUESTS * BATCH
    assert stored["content_key"].is_unique
    assert set(stored["content_key"]) == set(expected.valid["content_key"])
    # The requests really met in two processes, keyed copies included.
    served = workers.served()
    assert len({pid for pid, _ in _all(served, "s")}) == 2
    split = [t for t in replays if len({pid for pid, _ in served[t]}) == 2]
    assert split, "no keyed request had its two copies answered by both workers"


def test_the_rate_limit_holds_across_two_workers(workers: Workers) -> None:
    (key,) = _keys(workers.url, 1)
    burst = 2 * PER_MINUTE

    def one(number: int) -> int:
        status: int = post(workers.base, key, batch(99, number)[:1], f"rl-{number}").status_code
        return status

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(pool.map(one, range(burst)))
    elapsed = time.monotonic() - started

    # A full bucket of PER_MINUTE, plus one token a second (60 a minute) while the
    # burst lasted: every worker spends from the one bucket in the database.
    refilled = int(elapsed * PER_MINUTE / 60) + 1
    assert set(statuses) == {200, 429}
    assert PER_MINUTE <= statuses[200] <= PER_MINUTE + refilled, (statuses, elapsed)
    assert statuses[200] + statuses[429] == burst
    granted = {pid for pid, status in _all(workers.served(), "rl-") if status == 200}
    refused = {pid for pid, status in _all(workers.served(), "rl-") if status == 429}
    assert len(granted) == 2 and len(refused) == 2, "the burst did not reach both workers"


def test_more_workers_are_refused_on_sqlite(tmp_path: Path) -> None:
    env = {**os.environ, "LOMSONG_DATA_DIR": str(tmp_path / "var"), "LOMSONG_DEVICE_SALT": SALT}
    env.pop("LOMSONG_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "--workers 2 needs PostgreSQL: set LOMSONG_DATABASE_URL=postgresql://..."
        f" (the SQLite store, {tmp_path / 'var' / 'lomsong.sqlite3'}, serves one worker process)"
    )
