"""A throwaway PostgreSQL/PostGIS cluster for the tests, and a fresh database per test.

``make test`` (and so ``.ci/run``) installs Debian's ``postgresql`` and
``postgis``. The first test that asks for PostgreSQL starts a cluster with
``initdb``/``pg_ctl`` in a temporary directory, as the ``postgres`` user when
the tests run as root (PostgreSQL refuses to run as root), listening only on
a Unix socket in that directory and on a free localhost port. A template
database has PostGIS, so each test's database is one ``CREATE DATABASE ...
TEMPLATE`` away. The cluster stops, and its directory goes, when the session
ends.

``LOMSONG_TEST_POSTGRES_URL=postgresql://...`` uses an existing server instead
(its user must be allowed ``CREATE DATABASE``). Without either, the tests that
need PostgreSQL skip, saying why.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

TEMPLATE = "lomsong_template"
_lock = threading.Lock()
_server: _Cluster | None = None
_unavailable: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _postgis_installed() -> bool:
    return bool(glob.glob("/usr/share/postgresql/*/extension/postgis.control"))


class _Cluster:
    """One server: an admin URL (database ``postgres``) and how to stop it."""

    def __init__(self, admin_url: str, stop: list[str] | None, directory: Path | None) -> None:
        self.admin_url = admin_url
        self._stop = stop
        self._directory = directory

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        base, _, query = self.admin_url.partition("?")
        head = base.rsplit("/", 1)[0]
        return f"{head}/{database}" + (f"?{query}" if query else "")

    def stop(self) -> None:
        if self._stop is not None:
            subprocess.run(self._stop, capture_output=True, check=False, timeout=60)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)


def _as_postgres(command: list[str]) -> list[str]:
    """Run ``command`` as ``postgres`` when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _start() -> _Cluster:
    bin_dir = _binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb; `make test` installs it)")
    if not _postgis_installed():
        raise RuntimeError("PostGIS is not installed (`make test` installs Debian's postgis)")
    directory = Path(tempfile.mkdtemp(prefix="lomsong-pg-"))
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    directory.chmod(0o700)
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
            ]
        ),
        capture_output=True,
        check=True,
        timeout=120,
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory}"
        " -c max_connections=200 -c shared_buffers=128MB -c log_min_messages=warning"
    )
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(directory / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        capture_output=True,
        check=True,
        timeout=90,
    )
    stop = _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    return _Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", stop, directory)


def _prepare_template(cluster: _Cluster) -> None:
    import psycopg

    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)
        ).fetchone()
        if exists is None:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
    with psycopg.connect(cluster.url(TEMPLATE), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def server() -> _Cluster:
    """The session's PostgreSQL server, started on first use.

    Raises
    ------
    RuntimeError
        When PostgreSQL or PostGIS is missing or the server would not start.
    """
    global _server, _unavailable
    with _lock:
        if _server is not None:
            return _server
        if _unavailable is not None:
            raise RuntimeError(_unavailable)
        try:
            if url := os.environ.get("LOMSONG_TEST_POSTGRES_URL"):
                cluster = _Cluster(url, None, None)
            else:
                cluster = _start()
                atexit.register(cluster.stop)
            _prepare_template(cluster)
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", None)
            _unavailable = f"PostgreSQL unavailable: {error}" + (
                f": {detail.decode(errors='replace')[-500:]}" if isinstance(detail, bytes) else ""
            )
            raise RuntimeError(_unavailable) from error
        _server = cluster
        return cluster


def fresh_database() -> str:
    """Create an empty database (PostGIS in it) and return its URL."""
    import psycopg

    cluster = server()
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return cluster.url(name)


def stop() -> None:
    """Stop the session's server (when we started it)."""
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None
