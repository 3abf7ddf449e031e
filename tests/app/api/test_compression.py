"""Light pages: gzip on every text response (negotiated), none on binaries; Cache-Control."""

from __future__ import annotations

import asyncio
import gzip
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.store import Store
from geodata.maps.layers import STATIC_DIR

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


def raw_get(client: TestClient, url: str, headers: dict[str, str]) -> tuple[Any, bytes]:
    """The response and its body as sent on the wire (httpx would decode gzip)."""
    with client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize(
    ("url", "media_type"),
    [
        ("/maps/communes/thuong-nong", "text/html; charset=utf-8"),
        ("/maps", "text/html; charset=utf-8"),
        ("/api/v1/villages", "application/geo+json"),
        ("/api/v1/exports/villages.csv", "text/csv; charset=utf-8"),
        ("/openapi.json", "application/json"),
        ("/static/leaflet/leaflet.js", "text/javascript; charset=utf-8"),
        ("/static/leaflet/leaflet.css", "text/css; charset=utf-8"),
    ],
)
def test_text_is_gzipped_when_the_client_accepts_it(
    client: TestClient, loaded_store: Store, url: str, media_type: str
) -> None:
    zipped, wire = raw_get(client, url, GZIP)
    plain, plain_wire = raw_get(client, url, IDENTITY)

    assert zipped.status_code == plain.status_code == 200
    assert zipped.headers["content-type"] == plain.headers["content-type"] == media_type
    assert zipped.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert len(wire) < len(plain_wire)
    # A file is sent in chunks (no length, chunked); a whole body says its length.
    assert int(zipped.headers.get("content-length", len(wire))) == len(wire)
    assert gzip.decompress(wire) == plain_wire
    assert "content-encoding" not in plain.headers


def test_a_cached_page_is_compressed_once_and_its_etag_holds_for_both_encodings(
    client: TestClient, loaded_store: Store
) -> None:
    url = "/maps/communes/thuong-nong"
    first, first_wire = raw_get(client, url, GZIP)
    second, second_wire = raw_get(client, url, GZIP)
    plain, _ = raw_get(client, url, IDENTITY)

    assert first_wire == second_wire  # the stored gzip, byte for byte
    assert first.headers["etag"] == second.headers["etag"] == plain.headers["etag"]
    revalidated = client.get(url, headers={**GZIP, "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.content == b""


def test_gzip_refused_with_q_zero_sends_plain(client: TestClient, loaded_store: Store) -> None:
    response, wire = raw_get(client, "/maps/communes/thuong-nong", {"Accept-Encoding": "gzip;q=0"})

    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert wire.startswith(b"<!DOCTYPE html>")


def test_a_geopackage_is_sent_as_it_is(client: TestClient, loaded_store: Store) -> None:
    response, wire = raw_get(client, "/api/v1/exports/villages.gpkg", GZIP)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    assert "content-encoding" not in response.headers
    assert wire.startswith(b"SQLite format 3\x00")


def test_a_streaming_response_still_streams_gzipped(settings: Settings) -> None:
    app = create_app(settings)
    chunks = [f"row {i}," * 200 + "\n" for i in range(3)]

    async def rows() -> AsyncIterator[str]:
        for chunk in chunks:
            yield chunk

    app.add_api_route("/stream", lambda: StreamingResponse(rows(), media_type="text/csv"))
    messages: list[dict[str, Any]] = []

    async def call() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/stream",
            "raw_path": b"/stream",
            "query_string": b"",
            "headers": [(b"accept-encoding", b"gzip"), (b"host", b"test")],
            "scheme": "http",
            "server": ("test", 80),
            "client": ("127.0.0.1", 1234),
            "root_path": "",
            "http_version": "1.1",
        }

        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await app(scope, receive, send)

    asyncio.run(call())
    start, *bodies = messages
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 200
    assert headers["content-encoding"] == "gzip"
    assert "content-length" not in headers
    # One message per chunk, each decodable as it arrives (a sync flush), not one at the end.
    assert len([b for b in bodies if b["body"]]) >= len(chunks)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert inflater.decompress(bodies[0]["body"]) == chunks[0].encode()
    assert gzip.decompress(b"".join(b["body"] for b in bodies)) == "".join(chunks).encode()


@pytest.mark.parametrize(
    "url",
    [
        "/static/leaflet/leaflet.js",
        "/static/lomsong/lomsong-map.js",
        "/static/lomsong/lomsong-map.css",
    ],
)
def test_static_assets_revalidate_by_etag(client: TestClient, url: str) -> None:
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})

    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"


def test_a_versioned_static_url_is_immutable(client: TestClient) -> None:
    response = client.get("/static/leaflet/leaflet.js?v=1.9.4")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_pages_name_lomsongs_own_files_by_version_and_they_are_immutable(
    client: TestClient,
) -> None:
    page = client.get("/maps").text
    urls = re.findall(r'(/static/lomsong/lomsong-map\.(?:js|css)\?v=[0-9a-f]{12})"', page)

    assert sorted(u.split("?")[0] for u in urls) == [
        "/static/lomsong/lomsong-map.css",
        "/static/lomsong/lomsong-map.js",
    ]
    for url in urls:
        response = client.get(url)
        name = url.split("/")[-1].split("?")[0]
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.content == (STATIC_DIR / name).read_bytes()
