"""What several worker processes share on PostgreSQL: rate limits, advisory locks, the runner.

Each "process" here is a database object of its own (its own connections),
as each uvicorn worker has; ``tests/app/test_workers_postgres.py`` runs real
worker processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.api.ratelimit import RateLimiter, SharedRateLimiter, rate_limiter
from app.core.config import Settings
from app.core.errors import RateLimitedError
from app.main import create_app
from app.services.refresh import SharedRefreshWorker
from app.store import Store
from app.store.db import Database, PostgresDatabase
from app.store.locks import REFRESH_LOCK, AdvisoryLocks, Presence, try_lock
from app.store.schema import migrate


@pytest.fixture
def pg(postgres_url: str) -> Iterator[PostgresDatabase]:
    db = PostgresDatabase(postgres_url)
    migrate(db)
    yield db
    db.close()


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_is_shared_by_two_processes(pg: PostgresDatabase) -> None:
    clock = Clock()
    other = PostgresDatabase(pg.url)
    first = SharedRateLimiter(pg, 3, name="key", clock=clock)
    second = SharedRateLimiter(other, 3, name="key", clock=clock)
    first.take("key:a")
    second.take("key:a")
    first.take("key:a")
    with pytest.raises(RateLimitedError) as refused:
        second.take("key:a")
    assert str(refused.value) == "too many requests: at most 3 a minute; retry in 20 s"
    assert refused.value.headers == {"Retry-After": "20"}
    second.take("key:b")  # another caller has a bucket of its own
    # Another limit's buckets are its own too.
    SharedRateLimiter(pg, 3, name="public", clock=clock).take("key:a")
    clock.now += 20.0  # one token back (3 a minute)
    second.take("key:a")
    with pytest.raises(RateLimitedError):
        first.take("key:a")
    other.close()


def test_rate_limiter_spends_each_token_once_under_concurrency(pg: PostgresDatabase) -> None:
    clock = Clock()  # frozen: no refill, exactly the capacity passes
    databases = [PostgresDatabase(pg.url) for _ in range(2)]
    limiters = [SharedRateLimiter(db, 50, name="key", clock=clock) for db in databases]
    granted = [0] * 8

    def hammer(thread: int) -> None:
        for _ in range(20):
            try:
                limiters[thread % 2].take("client:10.0.0.1")
                granted[thread] += 1
            except RateLimitedError:
                pass

    threads = [threading.Thread(target=hammer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 50
    row = pg.connection().execute("SELECT tokens, granted FROM rate_limits").fetchall()
    assert [(round(tokens, 9), granted) for tokens, granted in row] == [(0.0, False)]
    for db in databases:
        db.close()


def test_rate_limiter_prunes_full_buckets(pg: PostgresDatabase) -> None:
    clock = Clock()
    limiter = SharedRateLimiter(pg, 10, name="key", clock=clock)
    limiter.take("key:old")
    clock.now += 61.0
    limiter.take("key:new")  # the first take past a minute prunes
    rows = pg.connection().execute("SELECT bucket FROM rate_limits ORDER BY bucket").fetchall()
    assert rows == [("key key:new",)]


def test_rate_limiter_follows_the_store(pg: PostgresDatabase, tmp_path: Path) -> None:
    assert isinstance(rate_limiter(pg, 5, name="key"), SharedRateLimiter)
    assert isinstance(rate_limiter(Database(tmp_path / "s.sqlite3"), 5, name="key"), RateLimiter)


def test_advisory_lock_holds_across_processes(pg: PostgresDatabase) -> None:
    other_db = PostgresDatabase(pg.url)
    first, second = AdvisoryLocks(pg), AdvisoryLocks(other_db)
    order: list[str] = []
    held = threading.Event()

    def other() -> None:
        held.wait(5)
        with second.hold("idempotency", "scope", "key"):
            order.append("second")

    thread = threading.Thread(target=other)
    thread.start()
    with first.hold("idempotency", "scope", "key"):
        held.set()
        time.sleep(0.3)  # the other process waits on the server meanwhile
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
    # Another key is free while one is held.
    with first.hold("idempotency", "scope", "key"), second.hold("idempotency", "scope", "k2"):
        pass
    other_db.close()


def test_a_killed_session_releases_its_lock(pg: PostgresDatabase) -> None:
    locks = AdvisoryLocks(pg)
    runner, rival = locks.session(), locks.session()
    assert try_lock(runner, REFRESH_LOCK)
    assert not try_lock(rival, REFRESH_LOCK)
    # A SIGKILLed worker's connection ends: the server frees its locks.
    pid = runner.info.backend_pid
    rival.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 5
    while not try_lock(rival, REFRESH_LOCK):
        assert time.monotonic() < deadline, "the killed session's lock stayed held"
        time.sleep(0.05)
    third = locks.session()
    assert not try_lock(third, REFRESH_LOCK)  # the rival holds it now
    locks.close()


def test_presence_tells_the_first_up_and_the_last_down(pg: PostgresDatabase) -> None:
    other_db = PostgresDatabase(pg.url)
    locks = [AdvisoryLocks(pg), AdvisoryLocks(other_db)]
    a, b = Presence(locks[0]), Presence(locks[1])
    assert a.arrive() is True
    assert b.arrive() is False
    assert a.leave() is False  # b is still alive
    assert b.leave() is True
    for lock in locks:
        lock.close()
    other_db.close()


class SharedQueue:
    """What a store lists for re-judging (batches after the mark, stale communes), in memory.

    Both fake processes read one instance, as both workers read one database;
    the locks and ``NOTIFY`` are PostgreSQL's own.
    """

    def __init__(self) -> None:
        self.last_batch = 0
        self.mark = 0
        self.stale: dict[str, int] = {}


class FakeStore:
    def __init__(self, db: PostgresDatabase, queue: SharedQueue) -> None:
        self.db, self.q, self.meta = db, queue, self
        self.dialect = "postgresql"

    def last_batch_id(self) -> int:
        return self.q.last_batch

    def refresh_mark(self) -> int:
        return self.q.mark

    def mark_refreshed(self, batch: int) -> None:
        self.q.mark = max(self.q.mark, batch)

    def stale_communes(self) -> dict[str, int]:
        return dict(self.q.stale)

    def add_stale_communes(self, steps: dict[str, int]) -> dict[str, int]:
        for commune, step in steps.items():
            self.q.stale[commune] = self.q.stale.get(commune, 0) + step
        self.q.stale = {c: n for c, n in self.q.stale.items() if n > 0}
        return self.q.stale

    def reading_positions(self, *, after_batch: int) -> pd.DataFrame:
        count = self.q.last_batch - after_batch
        return pd.DataFrame({"lat": [22.5 + 0.001 * i for i in range(count)], "lon": 105.5})

    def village_points(self, communes: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"lat": [0.0] * len(communes), "lon": [1.0] * len(communes)})


class Recorder:
    """A refresh that records who ran it, and fails when two run at once."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.busy = threading.Lock()

    def __call__(self, name: str) -> Callable[[object, pd.DataFrame], None]:
        def refresh(store: object, positions: pd.DataFrame) -> None:
            assert self.busy.acquire(blocking=False), "two processes re-judged at once"
            try:
                time.sleep(0.05)
                self.calls.append((name, len(positions)))
            finally:
                self.busy.release()

        return refresh


def test_one_runner_re_judges_and_another_takes_over(pg: PostgresDatabase) -> None:
    queue, recorder = SharedQueue(), Recorder()
    workers = {
        name: SharedRefreshWorker(
            FakeStore(PostgresDatabase(pg.url), queue),  # type: ignore[arg-type]
            refresh=recorder(name),
            coalesce_s=0.01,
            poll_s=0.1,
        )
        for name in ("a", "b")
    }
    for worker in workers.values():
        worker.start()
    deadline = time.monotonic() + 5
    while sum(w.running for w in workers.values()) != 1:
        assert time.monotonic() < deadline, "no runner elected"
        time.sleep(0.02)
    runner = next(name for name, w in workers.items() if w.running)
    other = "b" if runner == "a" else "a"
    queue.last_batch = 3  # three batches stored, by either process
    workers[other].submit(pd.DataFrame({"lat": [1.0], "lon": [2.0]}))
    assert workers[other].wait_idle(5)
    assert recorder.calls == [(runner, 3)]
    assert workers[runner].running and not workers[other].running
    # The runner goes (a killed worker's lock goes with its connection): the other
    # takes over, and an admin change listed meanwhile is not lost.
    workers[runner].stop()
    workers[runner].submit_communes(["thuong-nong"])
    assert workers[other].wait_idle(5)
    assert recorder.calls[1:] == [(other, 1)]
    assert workers[other].running
    assert queue.stale == {} and queue.mark == 3
    workers[other].stop()
    for worker in workers.values():
        worker._store.db.close()


def test_a_finished_threads_connections_close(pg: PostgresDatabase) -> None:
    def backends() -> int:
        row = pg.connection().execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        )
        return int(row.fetchone()[0])

    before = backends()

    def work() -> None:
        pg.connection().execute("SELECT 1")
        with pg.write() as conn:
            conn.execute("SELECT 1")

    # anyio's pool retires idle threads: what they opened must not outlive them.
    for _ in range(5):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    deadline = time.monotonic() + 5
    while backends() > before:
        assert time.monotonic() < deadline, f"{backends() - before} connections left open"
        time.sleep(0.05)


def test_another_workers_publish_invalidates_the_caches(
    postgres_url: str,
    tmp_path: Path,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    results: pd.DataFrame,
) -> None:
    """Two apps on one database, as two workers: B's new results show in A's next answer."""
    settings = Settings(
        data_dir=tmp_path / "var",
        device_salt="test-salt",
        environment="local",
        database_url=postgres_url,
    )
    url = "/api/v1/villages/ban-giong"
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        store_b: Store = b.app.state.store  # type: ignore[attr-defined]
        store_b.replace_region(communes, villages, sites)
        store_b.save_results(results)
        first = a.get(url)
        again = a.get(url, headers={"If-None-Match": first.headers["etag"]})
        page = a.get("/maps/villages/ban-giong")
        changed = results.copy()
        changed["households_without_signal"] = 77
        store_b.save_results(changed)  # in the other worker
        after = a.get(url, headers={"If-None-Match": first.headers["etag"]})
        page_after = a.get("/maps/villages/ban-giong")

    assert first.status_code == 200
    assert first.json()["properties"]["households_without_signal"] == 40
    assert again.status_code == 304  # held in A's cache
    assert after.status_code == 200
    assert after.json()["properties"]["households_without_signal"] == 77
    assert after.headers["etag"] != first.headers["etag"]
    assert page.status_code == page_after.status_code == 200
    assert page.headers["etag"] != page_after.headers["etag"]  # the page cache too
