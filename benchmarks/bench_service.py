"""The service under load: 50 readers, with and without a writer (printed, never asserted).

A real ``lomsong serve --demo`` runs in a subprocess (uvicorn, a free port, a
temporary ``LOMSONG_DATA_DIR``); this process is the client (plain HTTP/1.1 on
asyncio). After one warming request per route, ``--readers`` concurrent
readers cycle through

- ``GET /api/v1/villages?q=ban`` (search),
- ``GET /api/v1/villages/{id}`` (one village, ids from the search),
- ``GET /maps/communes/thuong-nong`` (the commune map),
- ``GET /api/v1/exports/villages.csv`` (an export),

for ``--seconds``; then again while a writer posts 1,000-reading batches
(a collector key from ``lomsong keys create``) back to back, each upload
re-judging the villages it touches. For each phase and route it prints the
requests, errors (any status but 200, or a transport error), p50/p95/p99,
for the map the distinct ETags seen, and the CPU seconds the server and this
client used (both share the machine's cores: with 50 readers on 2 cores the
client's own CPU is a large part of what the latencies measure).

``--baseline PATH`` runs the same against another checkout first (``/work/main``
for "today"), one server at a time, and prints both. The servers get a rate
limit high enough that 50 readers from one address are never refused.

Targets on a 2-core machine: 0 errors; JSON routes p99 ≤ 100 ms, the map
p99 ≤ 500 ms warm; with the writer no worse than 2× those.

Run: ``.venv/bin/python benchmarks/bench_service.py --baseline /work/main``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 600.0
BATCH_READINGS = 1000
#: High enough that the readers (one address) and the writer are never limited.
UNLIMITED = str(10**9)


@dataclass
class Samples:
    """Latencies (s) and outcomes of one route in one phase."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    etags: set[str] = field(default_factory=set)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(repo: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(repo),
        "LOMSONG_DATA_DIR": str(data_dir),
        "LOMSONG_RATE_LIMIT_PER_MINUTE": UNLIMITED,
        "LOMSONG_PUBLIC_RATE_LIMIT_PER_MINUTE": UNLIMITED,
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--demo", "--port", str(port)]
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115  # kept open for the process
    process = subprocess.Popen(command, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{(data_dir / 'server.log').read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base, env
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("server not healthy in time")
        time.sleep(0.5)


def collector_key(repo: Path, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--role", "collector"],
        cwd=repo,
        env={**env, "LOMSONG_DEMO": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def batch(centres: list[tuple[float, float]], rng: np.random.Generator, n: int) -> list[dict]:  # type: ignore[type-arg]
    """``n`` readings scattered around the villages' centres, each one new."""
    picks = rng.integers(0, len(centres), n)
    start = 1_760_000_000 + int(rng.integers(0, 10**8))
    rows = []
    for i, pick in enumerate(picks):
        lat, lon = centres[pick]
        none = bool(rng.random() < 0.3)
        rows.append(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i)),
                "lat": round(lat + float(rng.normal(0, 0.004)), 6),
                "lon": round(lon + float(rng.normal(0, 0.004)), 6),
                "accuracy_m": 10,
                "mcc": 452,
                "mnc": int(rng.choice([1, 2, 4])),
                "radio": "lte",
                "signal_dbm": None if none else int(rng.integers(-125, -80)),
                "no_service": none,
            }
        )
    return rows


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, url: str
) -> tuple[int, dict[str, str]]:
    """One ``GET`` on a kept-alive connection; returns the status and headers (body read).

    A few lines of HTTP/1.1 instead of httpx: httpx costs the client about
    as much CPU as the server spends answering, and both share the cores.
    """
    writer.write(f"GET {url} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
    if headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


async def reader(
    base: str,
    routes: list[tuple[str, str]],
    until: float,
    samples: dict[str, Samples],
    offset: int,
) -> None:
    host = base.removeprefix("http://")
    name_, port = host.split(":")
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    i = offset
    while time.monotonic() < until:
        name, url = routes[i % len(routes)]
        i += 1
        began = time.perf_counter()
        try:
            if connection is None:
                connection = await asyncio.open_connection(name_, int(port))
            status, headers = await asyncio.wait_for(get(*connection, host, url), 60)
            elapsed = time.perf_counter() - began
            if status != 200:
                samples[name].errors[str(status)] += 1
            else:
                samples[name].latencies.append(elapsed)
                if "etag" in headers:
                    samples[name].etags.add(headers["etag"])
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            samples[name].errors[type(exc).__name__] += 1
            if connection is not None:
                connection[1].close()
            connection = None
    if connection is not None:
        connection[1].close()


async def writer(
    client: httpx.AsyncClient,
    key: str,
    centres: list[tuple[float, float]],
    until: float,
    samples: dict[str, Samples],
) -> None:
    rng = np.random.default_rng(11)
    while time.monotonic() < until:
        body = batch(centres, rng, BATCH_READINGS)
        began = time.perf_counter()
        try:
            response = await client.post(
                "/api/v1/readings", json=body, headers={"X-API-Key": key}, timeout=120
            )
            if response.status_code != 200:
                samples["POST readings (1,000)"].errors[str(response.status_code)] += 1
            else:
                samples["POST readings (1,000)"].latencies.append(time.perf_counter() - began)
        except httpx.HTTPError as exc:
            samples["POST readings (1,000)"].errors[type(exc).__name__] += 1
        await asyncio.sleep(0.5)


async def phase(
    base: str,
    routes: list[tuple[str, str]],
    *,
    readers: int,
    seconds: float,
    key: str | None,
    centres: list[tuple[float, float]],
) -> dict[str, Samples]:
    samples: dict[str, Samples] = defaultdict(Samples)
    limits = httpx.Limits(max_connections=readers + 2, max_keepalive_connections=readers + 2)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        until = time.monotonic() + seconds
        tasks = [reader(base, routes, until, samples, i) for i in range(readers)]
        if key is not None:
            tasks.append(writer(client, key, centres, until, samples))
        await asyncio.gather(*tasks)
    return samples


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    process: subprocess.Popen[bytes], title: str, run_phase: Callable[[], dict[str, Samples]]
) -> None:
    """Run one phase and print its table with the CPU the server and this client used."""
    server, client = cpu_s(process.pid), time.process_time()
    samples = run_phase()
    server, client = cpu_s(process.pid) - server, time.process_time() - client
    table(f"{title} (CPU: server {server:.1f} s, client {client:.1f} s)", samples)


def table(title: str, samples: dict[str, Samples]) -> None:
    print(f"  {title}")
    for name, s in samples.items():
        errors = sum(s.errors.values())
        if s.latencies:
            p50, p95, p99 = (1000 * np.percentile(s.latencies, q) for q in (50, 95, 99))
            timing = f"p50 {p50:7.1f}  p95 {p95:7.1f}  p99 {p99:7.1f} ms"
        else:
            timing = "no successful request"
        detail = f" {dict(s.errors)}" if errors else ""
        etags = f"  {len(s.etags)} ETag(s)" if s.etags and name == "commune map" else ""
        count = len(s.latencies) + errors
        print(f"    {name:<24} n {count:5d}  errors {errors}{detail}  {timing}{etags}")


def run(repo: Path, label: str, *, readers: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="lomsong-bench-") as tmp:
        process, base, env = start(repo, Path(tmp))
        try:
            found = httpx.get(f"{base}/api/v1/villages", params={"q": "ban"}, timeout=60).json()
            features = found["features"]
            ids = [f["properties"]["id"] for f in features]
            centres = [
                (f["properties"]["centre_lat"], f["properties"]["centre_lon"])
                for f in httpx.get(f"{base}/api/v1/villages", timeout=60).json()["features"]
            ]
            routes = [
                ("GET villages?q=", "/api/v1/villages?q=ban"),
                ("GET villages/{id}", ""),
                ("commune map", "/maps/communes/thuong-nong"),
                ("export villages.csv", "/api/v1/exports/villages.csv"),
            ]
            # One route list per village id, so readers spread over the villages.
            expanded = []
            for village_id in random.Random(3).sample(ids, len(ids)):
                for name, url in routes:
                    expanded.append((name, url or f"/api/v1/villages/{village_id}"))
            for _, url in expanded[:4]:  # warm: the map is rendered once
                httpx.get(f"{base}{url}", timeout=300)
            key = collector_key(repo, env)
            print(f"{label} ({repo}, {readers} readers, {seconds:.0f} s per phase)")
            for title, writer_key in (
                ("readers only", None),
                ("readers + a writer posting 1,000-reading batches", key),
            ):
                measured(
                    process,
                    title,
                    lambda k=writer_key: asyncio.run(  # type: ignore[misc]
                        phase(
                            base, expanded, readers=readers, seconds=seconds, key=k, centres=centres
                        )
                    ),
                )
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline", type=Path, help="another checkout, run first as 'today'")
    args = parser.parse_args()
    if args.baseline is not None:
        run(args.baseline.resolve(), "today", readers=args.readers, seconds=args.seconds)
    run(REPO, "now", readers=args.readers, seconds=args.seconds)


if __name__ == "__main__":
    main()
