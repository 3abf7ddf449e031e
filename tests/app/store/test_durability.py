"""Kill the real server with SIGKILL mid-upload: every acknowledged reading survives, once.

SQLite in WAL mode commits by appending to the ``-wal`` file; a process kill
loses nothing the OS already has (``synchronous=NORMAL`` only risks the last
commits on a power cut). PostgreSQL commits in its own server process: a
killed client loses only its open transaction. This test holds the service
to that on both backends: a 2xx means stored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from app.store import Store
from geodata.readings import validate_readings
from tests.conftest import _free_port, start_server

pytestmark = pytest.mark.slow

BATCH = 25
SALT = "durability-salt"
START_TIMEOUT_S = 60.0


class Server:
    """``python -m app.cli serve`` on a data dir, with anonymous uploads and no demo."""

    def __init__(self, data_dir: Path, database: Path | str) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / f"server-{self.port}.log"
        env = {
            **os.environ,
            "LOMSONG_DATA_DIR": str(data_dir),
            "LOMSONG_DEVICE_SALT": SALT,
            "LOMSONG_ALLOW_ANONYMOUS_UPLOAD": "true",
            "LOMSONG_RATE_LIMIT_PER_MINUTE": "100000",
        }
        env.pop("LOMSONG_DATABASE_URL", None)
        if isinstance(database, str):
            env["LOMSONG_DATABASE_URL"] = database
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        self.process, _ = start_server(
            command, env=env, log_path=self.log, timeout_s=START_TIMEOUT_S
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def batch(sender: int, number: int) -> list[dict[str, Any]]:
    """``BATCH`` distinct readings, unique to (sender, number)."""
    start = pd.Timestamp("2026-01-05T00:00:00Z") + pd.Timedelta(hours=sender)
    return [
        {
            "time": (start + pd.Timedelta(seconds=number * BATCH + i)).isoformat(),
            "lat": 22.56 + 0.0001 * i,
            "lon": 105.49 + 0.0001 * (number % 100),
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -100 - (i % 10),
            "no_service": False,
            "device": f"phone-{sender}",
        }
        for i in range(BATCH)
    ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "var"


def test_acknowledged_readings_survive_sigkill_exactly_once(
    data_dir: Path, database: Path | str
) -> None:
    data_dir.mkdir()
    if not isinstance(database, str):
        database = data_dir / "lomsong.sqlite3"  # where the service keeps it
    server = Server(data_dir, database)
    acked: list[list[dict[str, Any]]] = []
    acked_lock = threading.Lock()
    stop = threading.Event()

    def send(sender: int) -> None:
        with httpx.Client(base_url=server.base, timeout=5) as http:
            for number in range(100_000):
                if stop.is_set():
                    return
                rows = batch(sender, number)
                try:
                    response = http.post("/api/v1/readings", json=rows)
                except httpx.TransportError:
                    continue  # the server is gone: this batch was never acknowledged
                if response.is_success:
                    with acked_lock:
                        acked.append(rows)

    senders = [threading.Thread(target=send, args=(s,)) for s in range(2)]
    try:
        for thread in senders:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acked) < 40:  # kill only once uploads are well under way
            assert time.monotonic() < deadline, "uploads did not get going"
            time.sleep(0.01)
        server.kill()
        time.sleep(0.3)  # the senders hit a dead port for a moment
        stop.set()
        for thread in senders:
            thread.join(timeout=30)
        server = Server(data_dir, database)
        # A retried, acknowledged batch is a duplicate now, not a second copy.
        retry = httpx.post(f"{server.base}/api/v1/readings", json=acked[-1], timeout=10).json()
        assert (retry["accepted"], retry["duplicates"]) == (0, BATCH)
    finally:
        stop.set()
        server.stop()

    store = Store(database, device_salt=SALT)
    stored = store.readings()
    store.close()
    expected = validate_readings(pd.DataFrame([row for rows in acked for row in rows]))
    assert not expected.rejected
    assert stored["content_key"].is_unique
    missing = set(expected.valid["content_key"]) - set(stored["content_key"])
    assert not missing, f"{len(missing)} acknowledged readings lost"
    # Nothing beyond what was sent, at most one unacknowledged batch per sender.
    assert len(stored) - len(expected.valid) <= 2 * BATCH
