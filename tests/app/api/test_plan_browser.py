"""The plan page (served) and ``plan.html`` (``lomsong plan``) in Chromium, desktop and phone.

Both draw each chosen site's footprint and marker, and list the kinds
drawn in the legend; on a phone the legend and the plan's table start
closed and open with a tap. The service runs for real (uvicorn) on the
demo region without a population raster (:mod:`tests.app.api.plan_region`).
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import uvicorn

from app.cli import main
from app.main import create_app
from geodata.maps.plan import KIND_LABELS, PLAN_TEXT
from tests.app.api.plan_region import PlanRegion, plan_region  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
SCREENS = {"desktop": DESKTOP, "phone": PHONE}
K = 3


@pytest.fixture(scope="module")
def server(plan_region: PlanRegion) -> Iterator[str]:  # noqa: F811
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(plan_region.settings), host="127.0.0.1", port=port, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def plan_html(plan_region: PlanRegion, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """``lomsong plan`` on Thượng Nông's files, as a planner runs it."""
    files, root = plan_region.files, tmp_path_factory.mktemp("plan-html")
    villages = gpd.read_file(files.villages)
    villages = villages.loc[villages["commune_id"] == "thuong-nong"]
    villages.to_file(root / "villages.geojson", driver="GeoJSON")
    west, south, east, north = villages.total_bounds
    readings = pd.read_csv(files.readings, dtype=str)
    lon, lat = readings["lon"].astype(float), readings["lat"].astype(float)
    near = lon.between(west - 0.02, east + 0.02) & lat.between(south - 0.02, north + 0.02)
    readings.loc[near].to_csv(root / "readings.csv", index=False)
    out = root / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(
            [
                "plan",
                "--villages",
                str(root / "villages.geojson"),
                "--sites",
                str(files.sites),
                "--readings",
                str(root / "readings.csv"),
                "--dem",
                str(files.dem),
                "--k",
                str(K),
                "--out",
                str(out),
            ]
        )
    assert status == 0
    return out


def _open(browser: Any, screen: str, url: str) -> tuple[Any, Any, list[str], list[str]]:
    context = browser.new_context(**SCREENS[screen])
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(800)  # Leaflet's zoom to the villages, animated on a phone
    return context, page, errors, requests


def _check_drawn(page: Any, screen: str, kinds: set[str]) -> None:
    """K footprints and K markers drawn; the legend names each kind drawn, and the outline."""
    assert page.locator("path.lomsong-footprint").count() == K
    assert page.locator("path.lomsong-candidate").count() == K
    assert page.locator("path.lomsong-footprint").first.is_visible()
    legend = page.locator(".lomsong-legend")
    if screen == "phone":
        assert not legend.is_visible()  # closed until asked for: the map first
        page.get_by_role("button", name="Chú giải").tap()
    assert legend.is_visible()
    text = legend.inner_text()
    for kind in kinds:
        assert KIND_LABELS["vi"][kind] in text
    for kind in set(KIND_LABELS["vi"]) - kinds:
        assert KIND_LABELS["vi"][kind] not in text
    assert PLAN_TEXT["vi"]["legend_footprint"] in text
    panel = page.locator("details.lomsong-plan")
    rows = page.locator("table.lomsong-plan-chosen tbody tr")
    if screen == "phone":
        assert panel.get_attribute("open") is None and not rows.first.is_visible()
        page.locator("details.lomsong-plan summary").tap()
    assert rows.count() == K and rows.first.is_visible()
    box = panel.bounding_box()
    width = SCREENS[screen]["viewport"]["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_plan_page_draws_the_footprints_and_their_legend(
    browser: Any, server: str, screen: str
) -> None:
    context, page, errors, requests = _open(
        browser, screen, f"{server}/maps/communes/thuong-nong/plan?k={K}"
    )
    try:
        chosen = page.locator("table.lomsong-plan-chosen tbody tr")
        kinds = {chosen.nth(i).get_attribute("data-kind") for i in range(chosen.count())}
        _check_drawn(page, screen, kinds)
        assert all(url.startswith(server) for url in requests)  # nothing from other hosts
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_plan_html_draws_the_footprints_and_their_legend(
    browser: Any, plan_html: Path, screen: str
) -> None:
    rows = pd.read_csv(plan_html / "plan.csv", encoding="utf-8-sig")
    assert len(rows) == K
    context, page, errors, requests = _open(
        browser, screen, (plan_html / "plan.html").resolve().as_uri()
    )
    try:
        _check_drawn(page, screen, set(rows["kind"]))
        drawn = page.locator("table.lomsong-plan-chosen tbody tr")
        assert [drawn.nth(i).get_attribute("data-candidate") for i in range(K)] == rows[
            "id"
        ].tolist()
        assert all(url.startswith(("file:", "data:")) for url in requests)  # offline
        assert errors == []
    finally:
        context.close()
