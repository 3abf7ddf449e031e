"""``/api/v1/scenarios`` and ``/maps/scenarios/{id}`` on the demo: status, bodies, what is stored.

The demo is loaded once into a data dir of this module's own, and analysed
as a user would have it: without the population raster. The map page is
also driven in Chromium, on a desktop and on a 390×844 phone.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.config import Rasters, Settings
from app.main import create_app
from app.services.demo import load_demo
from app.services.keys import create_key
from app.store import Store
from geodata.maps import VERDICT_LABELS
from tests.app.conftest import database_url_for, store_location
from tests.conftest import _free_port, start_server

pytestmark = pytest.mark.slow

BAN_GIONG = "thuong-nong-ban-giong"
JSON = "application/json"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the demo (seed 7), its rasters without the population grid."""
    data = tmp_path_factory.mktemp("scenario-api")
    store = Store(store_location(data), device_salt="test-salt")
    try:
        load_demo(store, data_dir=data, seed=7)
        store.set_rasters(Rasters(dem=store.rasters().dem))
    finally:
        store.close()
    return data


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=data_dir,
        device_salt="test-salt",
        environment="local",
        database_url=database_url_for(data_dir),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keys(client: TestClient) -> dict[str, dict[str, str]]:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    return {
        role: {"X-API-Key": create_key(store, role, name=role)[1]}
        for role in ("collector", "planner", "admin")
    } | {"planner2": {"X-API-Key": create_key(store, "planner", name="second")[1]}}


@pytest.fixture(scope="module")
def centre(client: TestClient) -> tuple[float, float]:
    village = client.get(f"/api/v1/villages/{BAN_GIONG}").json()["properties"]
    return float(village["centre_lon"]), float(village["centre_lat"])


@pytest.fixture(scope="module")
def created(
    client: TestClient, keys: dict[str, dict[str, str]], centre: tuple[float, float]
) -> dict[str, Any]:
    """A Viettel site at Bản Giòng's centre, posted; the answer, and the store before it."""
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    before = (store.results_version(), store.sites(), store.readings_count())
    response = client.post(
        "/api/v1/scenarios",
        headers=keys["planner"],
        json={
            "name": "Viettel ở Bản Giòng",
            "sites": [{"lon": centre[0], "lat": centre[1], "carrier": "viettel"}],
        },
    )
    return {"response": response, "before": before}


def _village(body: dict[str, Any], village_id: str) -> dict[str, Any]:
    return next(v for v in body["villages"] if v["village_id"] == village_id)


def test_post_answers_201_with_the_villages_before_and_after(
    created: dict[str, Any], keys: dict[str, dict[str, str]], client: TestClient
) -> None:
    response = created["response"]
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert response.headers["location"] == f"/api/v1/scenarios/{body['id']}"
    assert body["map_url"] == f"/maps/scenarios/{body['id']}"
    me = client.get("/api/v1/keys", headers=keys["admin"]).json()
    planner_id = next(k["id"] for k in me if k["name"] == "planner")
    assert (body["name"], body["owner"]) == ("Viettel ở Bản Giòng", f"key:{planner_id}")
    assert body["created"].endswith("+00:00")
    assert body["commune_ids"] == ["thuong-nong"]
    assert [(s["carrier"], s["radio"], s["height_m"]) for s in body["sites"]] == [
        ("Viettel", "lte", 30.0)
    ]
    village = _village(body, BAN_GIONG)
    assert (village["verdict_before"], village["verdict_after"]) == ("no_signal", "covered")
    assert village["households_without_signal_before"] >= 90
    assert village["households_without_signal_after"] <= 10
    assert village["carriers_before"]["Viettel"] == 98
    assert village["carriers_after"]["Viettel"] <= 10
    assert 0 < village["confidence_after"] <= 1
    assert body["totals"]["villages_out_of_no_signal"] == 1
    assert body["totals"]["households_newly_served"] >= 85
    assert body["footprint_cells"] > 0


def test_the_real_results_and_sites_are_untouched(
    created: dict[str, Any], client: TestClient
) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    version, sites, readings = created["before"]

    assert store.results_version() == version
    assert store.sites().equals(sites)
    assert store.readings_count() == readings
    public = client.get(f"/api/v1/villages/{BAN_GIONG}").json()["properties"]
    assert public["verdict"] == "no_signal"


def test_get_list_and_the_stored_scenario_after_a_restart(
    created: dict[str, Any], client: TestClient, keys: dict[str, dict[str, str]], data_dir: Path
) -> None:
    body = created["response"].json()

    one = client.get(f"/api/v1/scenarios/{body['id']}", headers=keys["planner2"])
    listed = client.get("/api/v1/scenarios", headers=keys["planner"], params={"limit": 1})

    assert (one.status_code, one.headers["content-type"]) == (200, JSON)
    assert one.json() == body
    assert listed.status_code == 200
    assert listed.json()["scenarios"][0]["id"] == body["id"]
    assert listed.json()["scenarios"][0]["sites_count"] == 1
    assert listed.json()["scenarios"][0]["totals"] == body["totals"]
    assert (listed.json()["limit"], listed.json()["offset"]) == (1, 0)
    # A new Store on the same file: the scenario is there, whole.
    reopened = Store(store_location(data_dir), device_salt="test-salt")
    try:
        stored = reopened.scenario(body["id"])
    finally:
        reopened.close()
    assert stored is not None
    assert stored["villages"] == body["villages"]
    assert stored["totals"] == body["totals"]


@pytest.mark.parametrize(
    ("role", "status", "detail"),
    [
        (None, 401, "invalid or missing API key"),
        ("collector", 403, "this key may not read raw readings"),
    ],
)
def test_every_scenario_route_is_for_planners(
    client: TestClient,
    keys: dict[str, dict[str, str]],
    role: str | None,
    status: int,
    detail: str,
) -> None:
    headers = keys[role] if role else {}
    body = {"sites": [{"lon": 105.5, "lat": 22.59, "carrier": "Viettel"}]}
    answers = [
        client.post("/api/v1/scenarios", json=body, headers=headers),
        client.get("/api/v1/scenarios", headers=headers),
        client.get("/api/v1/scenarios/x", headers=headers),
        client.get("/api/v1/scenarios/x/compare?with=y", headers=headers),
        client.delete("/api/v1/scenarios/x", headers=headers),
    ]
    assert [(a.status_code, a.json()) for a in answers] == [(status, {"detail": detail})] * 5


def test_bad_sites_are_a_422_naming_item_field_value_and_reason(
    client: TestClient, keys: dict[str, dict[str, str]], centre: tuple[float, float]
) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    count = store.scenarios()[1]
    far = [centre[0] + 0.5, centre[1]]
    sites = [
        {"lon": centre[0], "lat": centre[1], "carrier": "Viettel"},
        {"lon": far[0], "lat": far[1], "carrier": "Viettel"},
        {"lon": centre[0], "lat": centre[1], "carrier": "Beeline", "radio": "lte"},
    ]

    response = client.post("/api/v1/scenarios", headers=keys["planner"], json={"sites": sites})

    assert (response.status_code, response.headers["content-type"]) == (422, JSON)
    carriers = "MobiFone, VinaPhone, Viettel, Vietnamobile, Gmobile, I-Telecom"
    assert response.json() == {
        "detail": [
            {
                "type": "value_error",
                "loc": ["body", "sites", 1, "lon/lat"],
                "msg": "site 2: lon/lat: farther than 15 km (a cell's range) from every village"
                " analysed",
                "input": far,
                "index": 2,
                "field": "lon/lat",
                "value": far,
                "reason": "farther than 15 km (a cell's range) from every village analysed",
            },
            {
                "type": "value_error",
                "loc": ["body", "sites", 2, "carrier"],
                "msg": f"site 3: carrier: unknown carrier (one of {carriers}, or MCC-MNC)",
                "input": "Beeline",
                "index": 3,
                "field": "carrier",
                "value": "Beeline",
                "reason": f"unknown carrier (one of {carriers}, or MCC-MNC)",
            },
        ]
    }
    too_many = client.post(
        "/api/v1/scenarios", headers=keys["planner"], json={"sites": sites[:1] * 51}
    )
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "sites"]
    assert "at most 50 items" in too_many.json()["detail"][0]["msg"]
    unknown = client.post(
        "/api/v1/scenarios",
        headers=keys["planner"],
        json={"sites": sites[:1], "commune_ids": ["nowhere"]},
    )
    assert unknown.json() == {"detail": "commune_ids: unknown communes ['nowhere']"}
    assert store.scenarios()[1] == count  # nothing stored


def test_a_plans_chosen_row_posts_as_a_scenario(
    client: TestClient, keys: dict[str, dict[str, str]], centre: tuple[float, float]
) -> None:
    row = {
        "candidate_id": "new-3-VinaPhone",
        "kind": "new_site",
        "lon": centre[0] - 0.004,
        "lat": centre[1] + 0.003,
        "height_m": 40.0,
        "carrier": "VinaPhone",
        "radio": "lte",
        "cost": 1.2e9,
        "host_site_id": None,
        "households_served": 75.0,
        "households_served_own": 80.0,
        "rank": 1,
        "marginal_households": 75.0,
        "cumulative_households": 75.0,
        "cumulative_cost": 1.2e9,
    }

    response = client.post(
        "/api/v1/scenarios",
        headers=keys["planner"],
        json={"name": "<script>alert(1)</script>", "sites": [row]},
    )

    assert response.status_code == 201, response.text
    assert response.json()["sites"] == [
        {k: row[k] for k in ("candidate_id", "lon", "lat", "height_m", "carrier", "radio")}
    ]
    page = client.get(response.json()["map_url"]).text
    assert "<script>alert(1)</script>" not in page
    assert "Giả định: &lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_compare_and_delete_round_trip(
    client: TestClient,
    keys: dict[str, dict[str, str]],
    created: dict[str, Any],
    centre: tuple[float, float],
) -> None:
    first = created["response"].json()
    second = client.post(
        "/api/v1/scenarios",
        headers=keys["planner2"],
        json={"sites": [{"lon": centre[0], "lat": centre[1], "carrier": "MobiFone"}]},
    ).json()

    compared = client.get(
        f"/api/v1/scenarios/{first['id']}/compare",
        params={"with": second["id"]},
        headers=keys["planner"],
    )

    assert (compared.status_code, compared.headers["content-type"]) == (200, JSON)
    row = next(v for v in compared.json()["villages"] if v["village_id"] == BAN_GIONG)
    a, b = _village(first, BAN_GIONG), _village(second, BAN_GIONG)
    assert row["households_without_signal"] == a["households_without_signal_after"]
    assert row["households_without_signal_other"] == b["households_without_signal_after"]
    assert row["difference"] == (
        b["households_without_signal_after"] - a["households_without_signal_after"]
    )
    missing = client.get(
        f"/api/v1/scenarios/{first['id']}/compare", params={"with": "gone"}, headers=keys["planner"]
    )
    assert (missing.status_code, missing.json()) == (404, {"detail": "no scenario 'gone'"})

    url = f"/api/v1/scenarios/{second['id']}"
    not_yours = client.delete(url, headers=keys["planner"])
    assert not_yours.status_code == 403
    assert "only its owner or an admin" in not_yours.json()["detail"]
    deleted = client.delete(url, headers=keys["planner2"])
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get(url, headers=keys["planner2"]).json() == {
        "detail": f"no scenario '{second['id']}'"
    }
    assert client.delete(url, headers=keys["admin"]).status_code == 404
    assert client.get(f"/maps/scenarios/{second['id']}").status_code == 404


def test_the_map_page_shows_the_villages_before_and_after(
    client: TestClient, created: dict[str, Any]
) -> None:
    body = created["response"].json()

    page = client.get(body["map_url"])
    english = client.get(body["map_url"], params={"lang": "en"})

    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert page.headers["cache-control"] == "no-cache"
    again = client.get(body["map_url"], headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    html = page.text
    assert '<html lang="vi">' in html
    assert "Giả định: Viettel ở Bản Giòng" in html
    assert "Thôn/bản: trước → sau" in html
    assert f"{body['totals']['households_newly_served']} hộ có sóng mới" in html
    assert VERDICT_LABELS["vi"]["no_signal"] in html and VERDICT_LABELS["vi"]["covered"] in html
    # The two layers, named in the layer list (folium writes them as JSON escapes).
    for layer in ("Thôn/bản: trước khi có trạm giả định", "Thôn/bản: sau khi có trạm giả định"):
        assert json.dumps(layer) in html
    assert "Vùng có sóng mới nhờ trạm giả định (dự báo)" in html  # the footprint's legend
    assert english.status_code == 200
    assert '<html lang="en">' in english.text
    assert "Villages: before → after" in english.text
    assert client.get("/maps/scenarios/not-a-scenario").status_code == 404


# --- in Chromium --------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(data_dir: Path, client: TestClient, created: dict[str, Any]) -> Iterator[str]:
    """``lomsong serve`` on the module's data dir (the scenario made above is in it)."""
    port = _free_port()
    env = {
        **os.environ,
        "LOMSONG_DATA_DIR": str(data_dir),
        "LOMSONG_DEVICE_SALT": "test-salt",
        "LOMSONG_DEMO": "false",
        "LOMSONG_DATABASE_URL": database_url_for(data_dir) or "",  # "": the SQLite file
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    process, base = start_server(command, env=env, log_path=data_dir / "server.log", timeout_s=120)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def _open(browser: Any, url: str, **context: Any) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(url)
    assert response is not None and response.status == 200
    page.wait_for_selector(".lomsong-village", state="attached")
    page.wait_for_load_state("networkidle")
    return ctx, page, errors


@pytest.mark.browser
def test_the_map_page_in_chromium_on_a_desktop(
    server: str, browser: Any, created: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    body = created["response"].json()
    ctx, page, errors = _open(
        browser, f"{server}{body['map_url']}", viewport={"width": 1280, "height": 800}
    )
    try:
        assert page.locator("path.lomsong-village").count() == 12  # after, shown
        assert page.locator("path.lomsong-village-before").count() == 0  # before, hidden
        assert page.locator("path.lomsong-footprint").count() == 1
        assert page.locator(".lomsong-site").count() >= 1
        table = page.locator("#lomsong-scenario")
        expect(table).to_be_visible()
        row = table.locator("tr", has_text="Bản Giòng")
        expect(row).to_contain_text("Trắng sóng (không có sóng)")
        expect(row).to_contain_text("Có sóng")
        # The toggle: the "before" layer from the layer list.
        page.get_by_text("Thôn/bản: trước khi có trạm giả định").click()
        assert page.locator("path.lomsong-village-before").count() == 12
        assert errors == []
    finally:
        ctx.close()


@pytest.mark.browser
def test_the_map_page_on_a_phone(server: str, browser: Any, created: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    body = created["response"].json()
    ctx, page, errors = _open(
        browser,
        f"{server}{body['map_url']}",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    try:
        table = page.locator("#lomsong-scenario table")
        expect(table).to_be_hidden()  # closed behind its summary on a phone
        summary = page.locator("#lomsong-scenario summary")
        summary.tap()
        expect(table).to_be_visible()
        box = page.locator("#lomsong-scenario").bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["y"] >= 0 and box["y"] + box["height"] <= 844
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        # One panel at a time: the layer list closes the table.
        layers = page.get_by_role("button", name="Lớp bản đồ")
        layers.tap()
        expect(page.locator(".leaflet-control-layers")).to_be_visible()
        expect(table).to_be_hidden()
        page.get_by_text("Thôn/bản: trước khi có trạm giả định").tap()
        assert page.locator("path.lomsong-village-before").count() == 12
        assert errors == []
    finally:
        ctx.close()
    assert httpx.get(f"{server}/maps/scenarios/nope").status_code == 404
