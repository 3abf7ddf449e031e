"""The map pages in headless Chromium: polygons, legend, layers, popups, no outside request."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from geodata.maps import VERDICT_LABELS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def open_page(browser: Any, url: str, requests: list[str]) -> tuple[Any, float]:
    """A page at ``url``; returns it and the seconds until its village polygons are drawn."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("request", lambda request: requests.append(request.url))
    start = time.perf_counter()
    response = page.goto(url)
    assert response is not None and response.status == 200
    page.wait_for_selector(".lomsong-village", state="attached")
    return page, time.perf_counter() - start


def test_thuong_nong_map_in_chromium(demo_server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    expected = httpx.get(
        f"{demo_server}/api/v1/villages", params={"commune_id": "thuong-nong"}
    ).json()
    assert len(expected["features"]) == 12
    giong = next(f for f in expected["features"] if f["properties"]["name"] == "Bản Giòng")
    requests: list[str] = []

    page, seconds = open_page(browser, f"{demo_server}/maps/communes/thuong-nong", requests)
    print(f"\ncommune page: first render in {seconds:.2f} s")
    expect(page.locator("path.lomsong-village")).to_have_count(12)
    legend = page.locator(".lomsong-legend")
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("Trắng sóng (không có sóng)")
    expect(legend).to_contain_text("Lõm sóng (sóng chập chờn)")
    expect(legend).to_contain_text("Sóng tốt (3–4 vạch)")
    expect(page.locator(".lomsong-toggles")).to_be_hidden()  # phones only
    # Village names on the map; a metric scale bar.
    expect(page.locator(".lomsong-label")).to_have_count(12)
    expect(page.locator(".lomsong-label", has_text="Bản Giòng")).to_have_count(1)
    scale = page.locator(".leaflet-control-scale").inner_text()
    assert scale.strip().endswith(("km", " m")) and "mi" not in scale and "ft" not in scale

    # Toggling a carrier's signal layer changes the hexagons drawn.
    hexes = page.locator("path.lomsong-hex")
    before = hexes.count()
    assert before > 0
    carrier_boxes = page.locator(".leaflet-control-layers-overlays label", has_text="Sóng:")
    assert carrier_boxes.count() >= 2
    carrier_boxes.nth(1).locator("input").check()
    after_adding = hexes.count()
    carrier_boxes.nth(0).locator("input").uncheck()
    after_swapping = hexes.count()
    assert after_adding > before
    assert after_swapping < after_adding

    # A click at Bản Giòng's centre opens the village's popup, though its centre
    # dot, a signal hexagon and a dead zone are all drawn over that point.
    assert page.locator("path.lomsong-dead-zone").count() > 0
    centre = giong["properties"]["centre_lat"], giong["properties"]["centre_lon"]
    point = page.evaluate(
        """([lat, lon]) => {
            const map = Object.values(window).find((v) => v instanceof L.Map);
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        list(centre),
    )
    page.mouse.click(*point)
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("Bản Giòng")
    expect(popup).to_contain_text("Tình trạng sóng")
    expect(popup).to_contain_text(VERDICT_LABELS["vi"][giong["properties"]["verdict"]])
    expect(popup).not_to_contain_text("Diện tích")  # the dead zone's popup
    expect(popup).to_contain_text("Số hộ")
    expect(popup).to_contain_text(str(giong["properties"]["households"]))
    expect(popup).to_contain_text("Sóng theo nhà mạng")
    # How sure, and why, in Vietnamese.
    expect(popup).to_contain_text("Độ tin cậy")
    expect(popup).to_contain_text("Vì sao")
    expect(popup).to_contain_text("Tại trung tâm thôn")
    # The popup pans the map; a screenshot taken mid-pan misses the SVG layers.
    page.wait_for_function(
        "() => { const m = Object.values(window).find((v) => v instanceof L.Map);"
        " return !(m._panAnim && m._panAnim._inProgress); }"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "thuong-nong.png"))
    carrier_boxes.nth(0).locator("input").check()
    page.screenshot(path=str(ARTIFACTS / "thuong-nong-signal.png"))
    page.close()

    assert requests, "the page made no requests at all"
    outside = [url for url in requests if urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []
    assert f"{demo_server}/static/leaflet/leaflet.js" in requests
    assert any("/maps/hillshade/" in url for url in requests)


def test_province_page_and_search_in_chromium(demo_server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    everything = httpx.get(f"{demo_server}/api/v1/villages").json()
    requests: list[str] = []
    page, seconds = open_page(browser, f"{demo_server}/maps/provinces/tuyen-quang", requests)
    print(f"\nprovince page: first render in {seconds:.2f} s")
    expect(page.locator("path.lomsong-village")).to_have_count(len(everything["features"]))
    page.screenshot(path=str(ARTIFACTS / "tuyen-quang.png"))
    page.close()

    index = browser.new_page()
    index.on("request", lambda request: requests.append(request.url))
    index.goto(f"{demo_server}/maps")
    index.fill("#lomsong-search", "ban giong")
    result = index.locator("#lomsong-results a")
    expect(result).to_have_count(1)
    expect(result).to_have_text("Bản Giòng")
    result.click()
    expect(index.locator("path.lomsong-village")).to_have_count(1)
    index.close()

    outside = [url for url in requests if urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []
