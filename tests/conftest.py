"""Fixtures shared across the suite: the real service, started once per session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import postgres

REPO = Path(__file__).resolve().parent.parent
# First start writes the demo region and analyses it (~15 s on a laptop).
SERVER_START_TIMEOUT_S = 240.0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the throwaway PostgreSQL cluster, when a test started one."""
    postgres.stop()


@pytest.fixture
def postgres_url() -> str:
    """A fresh PostgreSQL database with PostGIS, on the session's throwaway cluster.

    Skips when PostgreSQL is unavailable, unless ``LOMSONG_REQUIRE_POSTGRES=1``
    (``make test`` sets it): then a missing server fails the test.
    """
    try:
        return postgres.fresh_database()
    except RuntimeError as error:
        if os.environ.get("LOMSONG_REQUIRE_POSTGRES") == "1":
            pytest.fail(str(error))
        pytest.skip(str(error))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's store lives: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "lomsong.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    command: list[str], *, env: dict[str, str], log_path: Path, timeout_s: float
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``command`` (a ``lomsong serve --port P``) and wait until ``/healthz`` answers.

    Returns the process and its base URL; fails the test, with the server's
    log, when it exits or stays unhealthy past ``timeout_s``.
    """
    port = command[command.index("--port") + 1]
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server not healthy in {timeout_s:.0f} s:\n{log_path.read_text()}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``lomsong serve --demo`` in a subprocess on a free port; yields its base URL."""
    data_dir = tmp_path_factory.mktemp("server-var")
    log_path = data_dir / "server.log"
    port = _free_port()
    env = {**os.environ, "LOMSONG_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "app.cli", "serve", "--demo", "--port", str(port)]
    process, base = start_server(
        command, env=env, log_path=log_path, timeout_s=SERVER_START_TIMEOUT_S
    )
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
