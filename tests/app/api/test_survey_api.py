"""GET /api/v1/survey-plan: where to measure next in a commune, public and cached.

On the tiny region of ``tests/app/conftest.py``, with its one Viettel site at
Bản Giòng's centre made weak (40 dBm EIRP) and no readings: Nà Tà, 2 km west,
is judged from a prediction near the usable level alone. The plan is computed
from a fresh analysis of what the store holds.
"""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import app.services.survey
from app.services.keys import create_key
from app.store import Store

URL = "/api/v1/survey-plan"


@pytest.fixture
def loaded_store(
    loaded_store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
) -> Store:
    """The tiny region with a weak site: Nà Tà's verdict rests on a doubtful prediction."""
    loaded_store.replace_region(communes, villages, sites.assign(eirp_dbm=40.0))
    return loaded_store


PLACE_FIELDS = {
    "rank",
    "commune_id",
    "village_id",
    "village",
    "lon",
    "lat",
    "kind",
    "households",
    "score",
    "reason",
    "reason_vi",
}


def test_the_plan_lists_places_with_coordinates_and_reasons(
    client: TestClient, loaded_store: Store
) -> None:
    response = client.get(URL, params={"commune_id": "thuong-nong"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"commune_id", "places"} and body["commune_id"] == "thuong-nong"
    places = body["places"]
    assert places, body
    assert [p["rank"] for p in places] == list(range(1, len(places) + 1))
    for place in places:
        assert set(place) == PLACE_FIELDS  # aggregates only: no device, reading or key
        assert place["commune_id"] == "thuong-nong"
        assert place["village_id"] in {"ban-giong", "na-ta"}
        assert 105.46 <= place["lon"] <= 105.51 and 22.55 <= place["lat"] <= 22.58
        assert place["reason"] and place["reason_vi"]
    first = places[0]
    assert (first["village_id"], first["kind"], first["households"]) == (
        "na-ta",
        "uncertain_verdict",
        40.0,
    )
    assert (first["lon"], first["lat"]) == (105.475, 22.565)  # the village centre
    assert first["reason_vi"].startswith("Dữ liệu chưa đủ để kết luận (độ tin cậy ")
    scores = [p["score"] for p in places]
    assert scores == sorted(scores, reverse=True)


def test_unknown_commune_and_missing_parameter(client: TestClient, loaded_store: Store) -> None:
    response = client.get(URL, params={"commune_id": "nowhere"})
    assert response.status_code == 404
    assert response.json() == {"detail": "commune 'nowhere' not found"}
    missing = client.get(URL)
    assert missing.status_code == 422
    assert [e["loc"] for e in missing.json()["detail"]] == [["query", "commune_id"]]


def test_the_plan_is_computed_once_per_results_version(
    client: TestClient, loaded_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = app.services.survey.analyse

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(app.services.survey, "analyse", counted)
    params = {"commune_id": "thuong-nong"}
    first = client.get(URL, params=params)
    again = client.get(URL, params=params, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert client.get(URL, params=params).json() == first.json()
    assert calls == [["thuong-nong"]]
    # A challenge changes what the plan says: a new version, one new computation.
    _, planner = create_key(loaded_store, "planner")
    client.post(
        "/api/v1/villages/ban-giong/challenges",
        json={"text": "Mất sóng ở nhà văn hóa", "author": "Trưởng thôn"},
        headers={"X-API-Key": planner},
    )
    changed = client.get(URL, params=params)
    assert changed.headers["etag"] != first.headers["etag"]
    assert changed.json()["places"][0]["kind"] == "challenge"
    assert calls == [["thuong-nong"], ["thuong-nong"]]


def test_the_printable_page_lists_the_places_in_order(
    client: TestClient, loaded_store: Store
) -> None:
    places = client.get(URL, params={"commune_id": "thuong-nong"}).json()["places"]
    response = client.get("/maps/communes/thuong-nong/survey")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert '<html lang="vi">' in page
    assert "<h1>Nơi cần đo tiếp: Xã Thượng Nông</h1>" in page
    assert re.search(r"In ngày \d\d/\d\d/\d{4}", page)
    # Every place, in rank order, with its coordinates (lat, lon, decimal degrees).
    shown = re.findall(r'<span class="coords">([-\d.]+), ([-\d.]+)</span>', page)
    assert shown == [(f"{p['lat']:.6f}", f"{p['lon']:.6f}") for p in places]
    assert places[0]["reason_vi"] in page
    assert 'src="data:image/png;base64,' in page  # the small map
    english = client.get("/maps/communes/thuong-nong/survey", params={"lang": "en"})
    assert "<h1>Where to measure next: Commune Thượng Nông</h1>" in english.text
    missing = client.get("/maps/communes/nowhere/survey")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "commune 'nowhere' not found"}


def test_the_commune_map_has_the_layer_and_links_the_page(
    client: TestClient, loaded_store: Store
) -> None:
    places = client.get(URL, params={"commune_id": "thuong-nong"}).json()["places"]
    page = client.get("/maps/communes/thuong-nong").text
    assert '<a href="/maps/communes/thuong-nong/survey">Nơi cần đo tiếp (bản in)</a>' in page
    assert json.dumps("Nơi cần đo tiếp") + " : lomsong_layer_" in page  # in the layer list
    assert page.count('"className":"lomsong-survey"') == 1
    for place in places:
        assert f'"label":"{place["rank"]}. {place["village"]}"' in page
        assert place["reason_vi"] in page


# --- in a browser, on the demo commune (Thượng Nông) -----------------------------

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _demo_plan(base: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}{URL}", params={"commune_id": "thuong-nong"}, timeout=120)
    assert response.status_code == 200
    places: list[dict[str, Any]] = response.json()["places"]
    assert places
    return places


@pytest.mark.browser
@pytest.mark.slow
def test_the_team_reads_the_page_on_a_phone_and_prints_it_on_a4(
    demo_server: str, browser: Any, tmp_path: Path
) -> None:
    places = _demo_plan(demo_server)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    response = page.goto(f"{demo_server}/maps/communes/thuong-nong/survey")
    assert response is not None and response.status == 200
    # A phone page: no sideways scrolling, coordinates large enough to read and type.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("ol.places > li").count() == len(places)
    first = page.locator("ol.places > li").first
    assert f"{places[0]['lat']:.6f}, {places[0]['lon']:.6f}" in first.inner_text()
    size = page.locator(".coords").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 14
    assert page.locator("img.map").evaluate("e => e.naturalWidth > 0 && e.clientWidth <= 390")
    pdf = tmp_path / "survey.pdf"
    pdf.write_bytes(page.pdf(format="A4"))
    context.close()

    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "99", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    sizes = re.findall(r"Page +\d+ size: +(.*)", info)
    assert sizes and set(sizes) == {"595.92 x 842.88 pts (A4)"}, sizes
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(unicodedata.normalize("NFC", text).split())
    assert "Nơi cần đo tiếp: Xã Thượng Nông" in flat
    assert re.search(r"In ngày \d\d/\d\d/\d{4}", flat)
    for place in places[:3]:
        assert f"{place['lat']:.6f}, {place['lon']:.6f}" in flat
    assert re.findall(r"Trang (\d+)/(\d+)", flat) == [
        (str(i), str(len(sizes))) for i in range(1, len(sizes) + 1)
    ]


@pytest.mark.browser
@pytest.mark.slow
def test_the_commune_map_draws_the_places_and_the_layer_list_toggles_them(
    demo_server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    places = _demo_plan(demo_server)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{demo_server}/maps/communes/thuong-nong", wait_until="networkidle")
    markers = page.locator("path.lomsong-survey")
    ranks = page.locator(".lomsong-rank")
    # Off when the page opens (a tap in a village still opens the village).
    assert markers.count() == 0
    toggle = page.locator(".leaflet-control-layers label", has_text="Nơi cần đo tiếp")
    assert not toggle.locator("input").is_checked()
    toggle.locator("input").check()
    assert markers.count() == len(places)
    assert sorted(int(r) for r in ranks.all_inner_texts()) == [p["rank"] for p in places]
    markers.first.click()
    popup = page.locator(".leaflet-popup-content")
    assert popup.inner_text().startswith("1. ")
    assert places[0]["reason_vi"] in popup.inner_text()
    toggle.locator("input").uncheck()
    expect(markers).to_have_count(0)
    expect(ranks).to_have_count(0)  # labels fade out, then go
    page.close()
