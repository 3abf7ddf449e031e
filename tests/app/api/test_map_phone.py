"""The commune map on a phone (390×844, touch): what a tap reaches and what it opens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from geodata.maps import VERDICT_LABELS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

# Share of the screen covered by the boxes drawn over the map (title box, buttons,
# zoom, scale, and the layer list and legend when shown), counted per pixel.
COVERED_SHARE_JS = """() => {
  const W = innerWidth, H = innerHeight, seen = new Uint8Array(W * H);
  const boxes = document.querySelectorAll('.lomsong-nav, .lomsong-toggles, .lomsong-legend,'
    + ' .leaflet-control-layers, .leaflet-control-zoom, .leaflet-control-scale');
  let covered = 0;
  for (const el of boxes) {
    const r = el.getBoundingClientRect();
    if (!el.checkVisibility() || !r.width || !r.height) continue;
    for (let y = Math.max(0, Math.floor(r.top)); y < Math.min(H, r.bottom); y++)
      for (let x = Math.max(0, Math.floor(r.left)); x < Math.min(W, r.right); x++)
        if (!seen[y * W + x]) { seen[y * W + x] = 1; covered++; }
  }
  return covered / (W * H);
}"""

# Whether the element at the middle of ``el`` is ``el`` (or inside it): a tap there reaches it.
REACHES_JS = """(el) => {
  const r = el.getBoundingClientRect();
  const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return el === top || el.contains(top);
}"""

# Sample points of the open popup that something else covers.
POPUP_COVERED_JS = """() => {
  const popup = document.querySelector('.leaflet-popup');
  const r = popup.querySelector('.leaflet-popup-content-wrapper').getBoundingClientRect();
  const hidden = [];
  for (let x = r.left + 2; x < r.right - 2; x += 6)
    for (let y = r.top + 2; y < r.bottom - 2; y += 6) {
      if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
      const top = document.elementFromPoint(x, y);
      if (!popup.contains(top)) hidden.push(top.className || top.tagName);
    }
  return hidden;
}"""

SCREEN_POINT_JS = """([lat, lon]) => {
  const map = Object.values(window).find((v) => v instanceof L.Map);
  const p = map.latLngToContainerPoint([lat, lon]);
  const box = map.getContainer().getBoundingClientRect();
  return [box.left + p.x, box.top + p.y];
}"""

PAN_TO_UPPER_JS = """([lat, lon]) => {
  const map = Object.values(window).find((v) => v instanceof L.Map);
  map.setView([lat, lon], map.getZoom(), {animate: false});
  map.panBy([0, map.getSize().y / 2 - 200], {animate: false});
}"""


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


@pytest.fixture(scope="module")
def ban_giong(demo_server: str) -> dict[str, Any]:
    villages = httpx.get(f"{demo_server}/api/v1/villages", params={"commune_id": "thuong-nong"})
    feature = next(f for f in villages.json()["features"] if f["properties"]["name"] == "Bản Giòng")
    properties: dict[str, Any] = feature["properties"]
    return properties


def open_commune(phone: Any, url: str) -> None:
    response = phone.goto(url)
    assert response is not None and response.status == 200
    phone.wait_for_selector(".lomsong-village", state="attached")
    # Settled: the hillshade and the assets in, so the map no longer resizes.
    phone.wait_for_load_state("networkidle")


def test_the_page_is_a_phone_page(demo_server: str, phone: Any) -> None:
    from playwright.sync_api import expect

    open_commune(phone, f"{demo_server}/maps/communes/thuong-nong")

    assert phone.evaluate("document.documentElement.lang") == "vi"
    viewport = phone.locator('meta[name="viewport"]').get_attribute("content")
    assert viewport == "width=device-width, initial-scale=1"  # pinch-zoom allowed
    # The layer list and the legend start closed; two buttons say what they open.
    layers, legend = phone.locator(".leaflet-control-layers"), phone.locator(".lomsong-legend")
    expect(layers).to_be_hidden()
    expect(legend).to_be_hidden()
    layers_button = phone.get_by_role("button", name="Lớp bản đồ")
    legend_button = phone.get_by_role("button", name="Chú giải")
    expect(layers_button).to_have_attribute("aria-expanded", "false")
    covered = phone.evaluate(COVERED_SHARE_JS)
    print(f"\nphone: the closed controls and title box cover {covered:.1%} of the screen")
    assert covered < 0.15

    layers_button.tap()
    expect(layers).to_be_visible()
    expect(layers).to_contain_text("Thôn/bản")
    expect(layers_button).to_have_attribute("aria-expanded", "true")
    legend_button.tap()  # one panel at a time
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("Trắng sóng (không có sóng)")
    expect(layers).to_be_hidden()
    print(f"phone: with the legend open, {phone.evaluate(COVERED_SHARE_JS):.1%}")
    legend_button.tap()
    expect(legend).to_be_hidden()
    expect(legend_button).to_have_attribute("aria-expanded", "false")


def test_taps_reach_the_title_box_and_open_what_they_say(demo_server: str, phone: Any) -> None:
    from playwright.sync_api import expect

    open_commune(phone, f"{demo_server}/maps/communes/thuong-nong")
    nav = phone.locator(".lomsong-nav")
    for target in (
        nav.locator("h1"),
        nav.get_by_role("link", name="English"),
        nav.locator("summary"),
    ):
        assert phone.evaluate(REACHES_JS, target.element_handle()), target

    nav.locator("summary").tap()  # the village list
    village = nav.get_by_role("link", name="Bản Giòng", exact=True)
    expect(village).to_be_visible()
    assert phone.evaluate(REACHES_JS, village.element_handle())
    village.tap()
    expect(phone).to_have_url(f"{demo_server}/maps/villages/thuong-nong-ban-giong")
    expect(phone.locator(".lomsong-nav h1")).to_have_text("Thôn/bản Bản Giòng")

    open_commune(phone, f"{demo_server}/maps/communes/thuong-nong")
    phone.locator(".lomsong-nav").get_by_role("link", name="English").tap()
    expect(phone).to_have_url(f"{demo_server}/maps/communes/thuong-nong?lang=en")
    expect(phone.get_by_role("button", name="Legend")).to_be_visible()
    assert phone.evaluate("document.documentElement.lang") == "en"


def test_a_tap_in_a_village_opens_the_village_above_everything(
    demo_server: str, phone: Any, ban_giong: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    open_commune(phone, f"{demo_server}/maps/communes/thuong-nong")
    # The centre of Bản Giòng: its dot, a hexagon and a dead zone are drawn there.
    centre = [ban_giong["centre_lat"], ban_giong["centre_lon"]]
    # Bring it to the map's upper part, above where the open legend lies, as a
    # person would pan before tapping (the legend itself is not the map).
    phone.evaluate(PAN_TO_UPPER_JS, centre)
    phone.get_by_role("button", name="Chú giải").tap()  # the legend open, over the map
    expect(phone.locator(".lomsong-label", has_text="Bản Giòng")).to_have_count(1)

    phone.touchscreen.tap(*phone.evaluate(SCREEN_POINT_JS, centre))

    popup = phone.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("Bản Giòng")
    expect(popup).to_contain_text(VERDICT_LABELS["vi"][ban_giong["verdict"]])
    expect(popup).not_to_contain_text("Diện tích")  # not the dead zone's popup
    phone.wait_for_function(
        "() => { const m = Object.values(window).find((v) => v instanceof L.Map);"
        " return !(m._panAnim && m._panAnim._inProgress); }"
    )
    expect(phone.locator(".leaflet-popup")).to_have_css("opacity", "1")  # drawn, not faded out
    box = popup.bounding_box()
    assert box is not None and box["width"] <= 390
    assert phone.evaluate(POPUP_COVERED_JS) == []  # no control, box or legend over it


def test_a_popup_opens_above_the_legend_and_the_title_box(demo_server: str, phone: Any) -> None:
    from playwright.sync_api import expect

    open_commune(phone, f"{demo_server}/maps/communes/thuong-nong")
    phone.get_by_role("button", name="Chú giải").tap()
    legend = phone.locator(".lomsong-legend")
    expect(legend).to_be_visible()
    for box in (legend, phone.locator(".lomsong-nav")):
        # A site's popup pinned where the box is drawn (no panning away from it).
        phone.evaluate(
            """(el) => {
                const map = Object.values(window).find((v) => v instanceof L.Map);
                const r = el.getBoundingClientRect();
                const c = map.getContainer().getBoundingClientRect();
                const at = map.containerPointToLatLng([r.left + r.width / 2 - c.left,
                                                       r.bottom - 10 - c.top]);
                let site = null;
                map.eachLayer((l) => { if (!site && l.feature && l.getPopup && l.getPopup()
                    && l.feature.properties.carrier) site = l; });
                site.getPopup().options.autoPan = false;
                site.openPopup(at);
            }""",
            box.element_handle(),
        )
        expect(phone.locator(".leaflet-popup-content")).to_contain_text("Trạm")
        expect(phone.locator(".leaflet-popup")).to_have_css("opacity", "1")
        assert phone.evaluate(POPUP_COVERED_JS) == []
