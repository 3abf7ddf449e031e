"""GET /maps/communes/{id}: the commune's page, offline, Vietnamese by default."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from app.store import Store


def js(text: str) -> str:
    return json.dumps(text)[1:-1]


FORBIDDEN = ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "fonts.googleapis")


def test_commune_map_in_vietnamese(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/maps/communes/thuong-nong")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "Trắng sóng (không có sóng)" in page
    assert "Lõm sóng (sóng chập chờn)" in page
    # Folium embeds the GeoJSON with \u escapes.
    assert js("Bản Giòng") in page and js("Nà Tà") in page
    assert js("Đống Đa 1") not in page  # another commune's village
    assert page.count('"type": "Polygon"') == 2 + 1  # two villages, one dead zone


def test_commune_map_in_english(client: TestClient, loaded_store: Store) -> None:
    page = client.get("/maps/communes/thuong-nong?lang=en").text

    assert "Patchy signal" in page
    assert "Trắng sóng" not in page


def test_commune_map_loads_assets_from_the_service_only(
    client: TestClient, loaded_store: Store
) -> None:
    page = client.get("/maps/communes/thuong-nong").text

    urls = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page)
    assert urls == ["/static/leaflet/leaflet.js", "/static/leaflet/leaflet.css"]
    assert not re.search(r"https?://", page)
    assert not any(host in page for host in FORBIDDEN)
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200
        assert len(asset.content) > 10_000


def test_unknown_commune_is_404(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/maps/communes/nowhere")

    assert response.status_code == 404
    assert response.json() == {"detail": "commune 'nowhere' not found"}


def test_unknown_language_is_422(client: TestClient, loaded_store: Store) -> None:
    assert client.get("/maps/communes/thuong-nong?lang=fr").status_code == 422
