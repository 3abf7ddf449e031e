"""``GET /api/v1/plans`` and the plan page on the demo's Thượng Nông (no population raster)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely.geometry
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.services.analysis import analyze_communes
from app.services.keys import create_key
from app.services.planning import DEFAULT_K
from app.store import Store
from tests.app.api.plan_region import PlanRegion, plan_region  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(plan_region: PlanRegion) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(create_app(plan_region.settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def store(client: TestClient) -> Store:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    return store


@pytest.fixture(scope="module")
def planner(store: Store) -> dict[str, str]:
    _, key = create_key(store, "planner", name="plan tests")
    return {"X-API-Key": key}


@pytest.fixture(scope="module")
def answer(client: TestClient, planner: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/plans?commune_id=thuong-nong", headers=planner)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def test_a_plan_needs_a_planner_key(client: TestClient, store: Store) -> None:
    anonymous = client.get("/api/v1/plans?commune_id=thuong-nong")
    assert anonymous.status_code == 401
    _, collector = create_key(store, "collector")
    refused = client.get("/api/v1/plans?commune_id=thuong-nong", headers={"X-API-Key": collector})
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this key may not read raw readings"}


def test_the_answer_has_the_summary_the_chosen_with_footprints_and_the_villages(
    answer: dict[str, Any], store: Store
) -> None:
    summary, chosen = answer["summary"], answer["chosen"]
    assert summary["commune_id"] == "thuong-nong"
    assert (summary["k"], summary["budget"], summary["carrier"]) == (DEFAULT_K, None, None)
    assert summary["results_version"] == store.results_version()
    assert summary["method"].startswith("Lazy greedy maximum coverage")
    assert "1 - 1/e" in summary["method"] and "Nemhauser" in summary["method"]
    assert summary["candidates_evaluated"] > DEFAULT_K
    assert chosen["type"] == "FeatureCollection" and len(chosen["features"]) == DEFAULT_K
    properties = [f["properties"] for f in chosen["features"]]
    assert [p["rank"] for p in properties] == list(range(1, DEFAULT_K + 1))
    marginal = np.array([p["marginal_households"] for p in properties])
    assert np.allclose(
        np.cumsum(marginal), [p["cumulative_households"] for p in properties], atol=0.2
    )
    assert summary["households_served"] == pytest.approx(marginal.sum(), abs=0.5)
    costs = np.cumsum([p["cost"] for p in properties])
    assert [p["cumulative_cost"] for p in properties] == pytest.approx(costs.tolist())
    assert summary["cost"] == pytest.approx(costs[-1])
    # Each footprint is a polygon in lon/lat around its mast.
    for feature in chosen["features"]:
        assert feature["geometry"]["type"] in {"Polygon", "MultiPolygon"}
        shape = shapely.geometry.shape(feature["geometry"])
        west, south, east, north = shape.bounds
        assert 105.3 < west < east < 105.7 and 22.4 < south < north < 22.7
    villages = {v["village_id"]: v for v in answer["villages"]}
    assert len(villages) == 12 and villages["thuong-nong-ban-giong"]["name"] == "Bản Giòng"
    for village in villages.values():
        assert (
            village["households_without_signal_after"]
            <= village["households_without_signal_before"] + 0.1
        )
    lifted = sum(
        v["verdict_before"] == "no_signal" and v["verdict_after"] != "no_signal"
        for v in villages.values()
    )
    assert summary["villages_out_of_no_signal"] == lifted


def test_the_same_plan_is_computed_once_per_results_version(
    client: TestClient, planner: dict[str, str], store: Store, answer: dict[str, Any]
) -> None:
    cache = client.app.state.plan_cache  # type: ignore[attr-defined]
    weighed, picked = cache.evaluations.computed, cache.plans.computed
    again = client.get(f"/api/v1/plans?commune_id=thuong-nong&k={DEFAULT_K}", headers=planner)
    assert again.json() == answer  # k=5 is the default: the same plan, from memory
    assert (cache.evaluations.computed, cache.plans.computed) == (weighed, picked)
    fewer = client.get("/api/v1/plans?commune_id=thuong-nong&k=2", headers=planner).json()
    # Another k is another plan from the same weighed candidates: its first picks, in order.
    assert (cache.evaluations.computed, cache.plans.computed) == (weighed, picked + 1)
    ids = [f["properties"]["candidate_id"] for f in answer["chosen"]["features"]]
    assert [f["properties"]["candidate_id"] for f in fewer["chosen"]["features"]] == ids[:2]
    # New results (a re-analysis): weighed again.
    analyze_communes(store, ["thuong-nong"])
    newer = client.get("/api/v1/plans?commune_id=thuong-nong", headers=planner).json()
    assert cache.evaluations.computed == weighed + 1
    assert newer["summary"]["results_version"] == answer["summary"]["results_version"] + 1


def test_a_budget_plan_stays_within_it(client: TestClient, planner: dict[str, str]) -> None:
    response = client.get("/api/v1/plans?commune_id=thuong-nong&budget=2000000000", headers=planner)
    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["budget"] == 2e9 and body["summary"]["k"] is None
    assert "Khuller" in body["summary"]["method"]
    assert 0 < body["summary"]["cost"] <= 2e9


def test_an_unknown_commune_is_a_404(client: TestClient, planner: dict[str, str]) -> None:
    response = client.get("/api/v1/plans?commune_id=nowhere", headers=planner)
    assert (response.status_code, response.json()) == (
        404,
        {"detail": "commune 'nowhere' not found"},
    )
    page = client.get("/maps/communes/nowhere/plan")
    assert (page.status_code, page.json()) == (404, {"detail": "commune 'nowhere' not found"})


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [
        ("k=0", "k", "0"),
        ("k=51", "k", "51"),
        ("k=two", "k", "two"),
        ("budget=-1", "budget", "-1"),
        ("budget=inf", "budget", "inf"),
        ("budget=lots", "budget", "lots"),
    ],
)
def test_a_bad_k_or_budget_is_a_422_naming_the_value(
    client: TestClient, planner: dict[str, str], query: str, field: str, value: str
) -> None:
    response = client.get(f"/api/v1/plans?commune_id=thuong-nong&{query}", headers=planner)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field] and error["input"] == value


def test_k_and_budget_together_or_a_bad_carrier_is_a_422(
    client: TestClient, planner: dict[str, str]
) -> None:
    both = client.get("/api/v1/plans?commune_id=thuong-nong&k=3&budget=1e9", headers=planner)
    assert (both.status_code, both.json()) == (
        422,
        {"detail": "k and budget are exclusive: give one (k=3, budget=1e+09)"},
    )
    for carrier in ("Beeline", "any"):
        bad = client.get(f"/api/v1/plans?commune_id=thuong-nong&carrier={carrier}", headers=planner)
        assert bad.status_code == 422
        [error] = bad.json()["detail"]
        assert error["loc"] == ["query", "carrier"]
        assert error["msg"].startswith(f"unknown carrier {carrier!r}; expected one of: ")
    two = client.get(
        "/api/v1/plans?commune_id=thuong-nong&carrier=Viettel,MobiFone", headers=planner
    )
    assert (two.status_code, two.json()) == (
        422,
        {"detail": "a plan is for one carrier, not Viettel, MobiFone"},
    )
    page = client.get("/maps/communes/thuong-nong/plan?k=99")
    assert page.status_code == 422 and page.json()["detail"][0]["input"] == "99"
    code = client.get("/maps/communes/thuong-nong/plan?carrier=452-99")
    assert (code.status_code, code.json()) == (
        422,
        {
            "detail": "the plan page takes a carrier's brand (MobiFone, VinaPhone, Viettel,"
            " Vietnamobile, Gmobile, I-Telecom), not '452-99'"
        },
    )


def test_a_plan_for_one_carrier_counts_households_without_it(
    client: TestClient, planner: dict[str, str]
) -> None:
    body = client.get(
        "/api/v1/plans?commune_id=thuong-nong&k=2&carrier=452-04", headers=planner
    ).json()
    assert body["summary"]["carrier"] == "Viettel"
    assert {f["properties"]["carrier"] for f in body["chosen"]["features"]} == {"Viettel"}


def test_the_plan_page_is_public_vietnamese_and_cached(client: TestClient) -> None:
    page = client.get("/maps/communes/thuong-nong/plan?k=3")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    assert '<html lang="vi">' in html
    assert "<title>Kế hoạch phủ sóng — Xã Thượng Nông</title>" in html
    assert html.count('<tr data-candidate="') == 3
    assert '"className":"lomsong-footprint"' in html
    assert '<a href="/maps/communes/thuong-nong">Bản đồ xã Thượng Nông</a>' in html
    assert "signal_dbm" not in html and "no_service" not in html  # aggregates, not readings
    again = client.get(
        "/maps/communes/thuong-nong/plan?k=3", headers={"If-None-Match": page.headers["etag"]}
    )
    assert again.status_code == 304
    english = client.get("/maps/communes/thuong-nong/plan?k=3&lang=en")
    assert '<html lang="en">' in english.text and "Coverage plan" in english.text
    assert english.headers["etag"] != page.headers["etag"]


def test_a_commune_no_site_would_improve_gets_an_empty_plan(
    settings: Settings,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
) -> None:
    """The tiny region of tests/app/conftest.py: a Viettel site serves both villages; no DEM."""
    with TestClient(create_app(settings)) as tiny:
        store = tiny.app.state.store  # type: ignore[attr-defined]
        store.replace_region(communes, villages, sites)
        _, key = create_key(store, "planner")
        response = tiny.get("/api/v1/plans?commune_id=thuong-nong&k=2", headers={"X-API-Key": key})
        assert response.status_code == 200
        body = response.json()
        assert body["chosen"]["features"] == []
        assert (body["summary"]["households_served"], body["summary"]["cost"]) == (0.0, 0.0)
        assert {v["village_id"] for v in body["villages"]} == {"ban-giong", "na-ta"}
        page = tiny.get("/maps/communes/thuong-nong/plan?lang=en")
        assert page.status_code == 200
        assert "No site serves any more households." in page.text
        assert '"className":"lomsong-footprint"' not in page.text
