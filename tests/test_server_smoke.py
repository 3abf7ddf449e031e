"""The real service, started as a user would (`lomsong serve --demo`), answers."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def test_healthz(demo_server: str) -> None:
    response = httpx.get(f"{demo_server}/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["demo"] is True
    assert body["counts"]["villages"] > 0
    assert body["counts"]["village_results"] == body["counts"]["villages"]


def test_thuong_nong_map_page(demo_server: str) -> None:
    response = httpx.get(f"{demo_server}/maps/communes/thuong-nong")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!DOCTYPE html>")
    assert "Thượng Nông" in response.text
    assert "Trắng sóng (không có sóng)" in response.text


def test_demo_villages_api(demo_server: str) -> None:
    response = httpx.get(f"{demo_server}/api/v1/villages", params={"q": "ban giong"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    (village,) = response.json()["features"]
    assert village["properties"]["name"] == "Bản Giòng"
    assert village["properties"]["households"] == 98
    assert village["properties"]["verdict"] in {"no_signal", "patchy"}
    thuong_nong = httpx.get(
        f"{demo_server}/api/v1/villages", params={"commune_id": "thuong-nong"}
    ).json()
    assert len(thuong_nong["features"]) == 12
