"""The map pages in headless Chromium: polygons, legend, layers, popups, no outside request."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import httpx
import pandas as pd
import pytest
import shapely

from geodata.maps import VERDICT_LABELS, CommuneUrls, commune_page, render_index_page

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
    expect(page.locator(".leaflet-popup")).to_have_css("opacity", "1")  # drawn, not faded out
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
    # The demo's province has few enough villages to name them all (at the outlines' middle).
    assert len(everything["features"]) <= 40
    expect(page.locator(".lomsong-label")).to_have_count(len(everything["features"]))
    expect(page.locator(".lomsong-label", has_text="Bản Giòng")).to_have_count(1)
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


def pdf_tool(name: str, *args: str) -> str:
    if shutil.which(name) is None:
        pytest.fail(f"{name} is missing: install it with `apt-get install -y poppler-utils`")
    return subprocess.run([name, *args], capture_output=True, text=True, check=True).stdout


# In print media: the map's box and the union of the village outlines, in CSS pixels.
PRINT_BOXES_JS = """() => {
  const box = (r) => [r.left, r.top, r.right, r.bottom];
  const map = document.querySelector('.folium-map').getBoundingClientRect();
  const paths = [...document.querySelectorAll('path.lomsong-village')]
    .map((p) => p.getBoundingClientRect());
  const union = [Math.min(...paths.map((r) => r.left)), Math.min(...paths.map((r) => r.top)),
                 Math.max(...paths.map((r) => r.right)), Math.max(...paths.map((r) => r.bottom))];
  return {map: box(map), villages: union};
}"""


def test_the_commune_map_prints_on_one_a4_page(
    demo_server: str, browser: Any, tmp_path: Path
) -> None:
    page, _ = open_page(browser, f"{demo_server}/maps/communes/thuong-nong", [])
    pdf = tmp_path / "thuong-nong.pdf"
    page.pdf(path=str(pdf), format="A4")

    text = pdf_tool("pdftotext", "-layout", str(pdf), "-")
    assert "Xã Thượng Nông" in text
    assert f"In ngày {datetime.date.today():%d/%m/%Y}" in text
    assert "Lớp bản đồ" not in text and "Báo cáo in" not in text  # no controls, no links
    pages = re.search(r"^Pages:\s+(\d+)$", pdf_tool("pdfinfo", str(pdf)), flags=re.M)
    assert pages is not None and pages.group(1) == "1"
    # Nothing cut off: the map fits the page's width, every village inside the map.
    page.emulate_media(media="print")
    boxes = page.evaluate(PRINT_BOXES_JS)
    page.close()
    a4_width_px = 210 / 25.4 * 96
    west, north, east, south = boxes["map"]
    assert west >= 0 and east <= a4_width_px
    v_west, v_north, v_east, v_south = boxes["villages"]
    assert west <= v_west and v_east <= east and north <= v_north and v_south <= south, boxes


LEAFLET_DIST = Path(__file__).resolve().parents[3] / "node_modules" / "leaflet" / "dist"
HOSTILE_NAME = "Bản <!--<script>"


def test_a_name_that_opens_a_comment_is_only_text(browser: Any) -> None:
    from playwright.sync_api import expect

    names = [HOSTILE_NAME, "Nà </script> Tà", "Khuổi\u2028Phiêng"]
    villages = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "name": names,
            "commune_id": ["x"] * 3,
            "verdict": ["no_signal"] * 3,
        },
        geometry=[
            shapely.box(105.49 + 0.01 * i, 22.56, 105.498 + 0.01 * i, 22.57) for i in range(3)
        ],
        crs="EPSG:4326",
    )
    communes = pd.DataFrame(
        {"id": ["x"], "name": ["Xã <!--"], "district": [None], "province": ["Tuyên Quang"]}
    )
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.set_content(
        commune_page(
            villages,
            commune="X",
            urls=CommuneUrls("x", province="Tuyên Quang"),
            inline_assets_dir=LEAFLET_DIST,
        )
    )
    expect(page.locator("path.lomsong-village")).to_have_count(3)
    expect(page.locator(".lomsong-nav li a")).to_have_text(names)
    expect(page.locator(".lomsong-label", has_text=HOSTILE_NAME)).to_have_count(1)

    page.set_content(render_index_page(communes, villages, inline_assets=True))
    page.fill("#lomsong-search", "ban")
    expect(page.locator("#lomsong-results a")).to_have_text([HOSTILE_NAME])
    page.fill("#lomsong-search", "xa")
    expect(page.locator("#lomsong-results a")).to_have_text(["Xã <!--"])
    page.close()
    assert errors == []


def test_village_names_show_at_commune_zoom_not_over_a_province(browser: Any) -> None:
    from playwright.sync_api import expect

    # 64 small villages, as a province's worth would be, too many to name at once.
    boxes = [
        shapely.box(105.0 + 0.02 * i, 22.0 + 0.02 * j, 105.015 + 0.02 * i, 22.015 + 0.02 * j)
        for i in range(8)
        for j in range(8)
    ]
    villages = gpd.GeoDataFrame(
        {"id": [f"v{k}" for k in range(64)], "name": [f"Thôn {k}" for k in range(64)]},
        geometry=boxes,
        crs="EPSG:4326",
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_content(commune_page(villages, commune="X", inline_assets_dir=LEAFLET_DIST))
    expect(page.locator("path.lomsong-village")).to_have_count(64)
    labels = page.locator(".lomsong-label")
    expect(labels).to_have_count(0)

    # (About:blank's window refuses localStorage: look only at folium's map_* names.)
    the_map = """Object.keys(window).filter((k) => k.startsWith("map_"))
        .map((k) => window[k]).find((v) => v instanceof L.Map)"""
    # The page opens with an animated zoom to the villages; a view set meanwhile is dropped.
    page.wait_for_function(f"() => !({the_map})._animatingZoom")
    set_view = (
        f"""([lat, lon, zoom]) => ({the_map}).setView([lat, lon], zoom, {{animate: false}})"""
    )
    page.evaluate(set_view, [22.0075, 105.0075, 14])  # one village and its neighbours
    expect(labels.filter(has_text="Thôn 0")).to_have_count(1)
    assert 1 <= labels.count() <= 9
    page.evaluate(set_view, [22.0075, 105.0075, 8])  # far out: no names even if few in view
    expect(labels).to_have_count(0)
    page.close()
