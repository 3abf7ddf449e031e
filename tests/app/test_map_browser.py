"""The Thượng Nông map in headless Chromium: polygons drawn, legend shown, no outside request."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_thuong_nong_map_in_chromium(demo_server: str) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` "
            f"(`make chromium` does); found on PATH: {shutil.which('chromium')}"
        )
    from playwright.sync_api import expect, sync_playwright

    expected = httpx.get(
        f"{demo_server}/api/v1/villages", params={"commune_id": "thuong-nong"}
    ).json()
    assert len(expected["features"]) == 12
    requests: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            response = page.goto(f"{demo_server}/maps/communes/thuong-nong")
            assert response is not None and response.status == 200
            villages = page.locator("path.lomsong-village")
            expect(villages).to_have_count(12)
            legend = page.locator(".lomsong-legend")
            expect(legend).to_be_visible()
            expect(legend).to_contain_text("Trắng sóng (không có sóng)")
            expect(legend).to_contain_text("Lõm sóng (sóng chập chờn)")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "thuong-nong.png"))
        finally:
            browser.close()

    assert requests, "the page made no requests at all"
    outside = [url for url in requests if urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []
    assert f"{demo_server}/static/leaflet/leaflet.js" in requests
