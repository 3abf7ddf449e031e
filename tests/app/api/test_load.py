"""Under load, as contracts (never timing): one render per page version, stable ETags,
answers kept per results version, and a rate limit on the public routes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.services import pages
from app.store import Store


def test_ten_clients_on_a_cold_page_share_one_render(
    client: TestClient, loaded_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders: list[str] = []
    real = pages.commune_page

    def counted(*args: object, **kwargs: object) -> str:
        renders.append("x")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pages, "commune_page", counted)
    barrier = threading.Barrier(10)
    answers: list[tuple[int, str]] = []

    def fetch() -> None:
        barrier.wait()
        response = client.get("/maps/communes/thuong-nong")
        answers.append((response.status_code, response.headers["etag"]))

    threads = [threading.Thread(target=fetch) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(renders) == 1
    assert len(answers) == 10
    assert {status for status, _ in answers} == {200}
    assert len({etag for _, etag in answers}) == 1


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/villages/ban-giong",
        "/api/v1/villages?q=ban",
        "/api/v1/exports/villages.csv",
    ],
)
def test_a_public_answer_keeps_its_etag_until_results_change(
    client: TestClient, loaded_store: Store, results: pd.DataFrame, url: str
) -> None:
    first = client.get(url)
    second = client.get(url)
    held = client.get(url, headers={"If-None-Match": first.headers["etag"]})

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["content-type"] == second.headers["content-type"]
    assert held.status_code == 304 and held.content == b""

    changed = results.copy()
    changed["households_without_signal"] = 77
    loaded_store.save_results(changed)  # new results: a new answer
    after = client.get(url, headers={"If-None-Match": first.headers["etag"]})

    assert after.status_code == 200
    assert after.headers["etag"] != first.headers["etag"]


def test_an_etag_names_the_content_not_the_version(
    client: TestClient, loaded_store: Store, results: pd.DataFrame
) -> None:
    first = client.get("/api/v1/dead-zones")
    loaded_store.save_results(results)  # the version moves; the dead zones are the same
    after = client.get("/api/v1/dead-zones", headers={"If-None-Match": first.headers["etag"]})

    assert first.status_code == 200 and len(first.json()["features"]) == 2
    assert after.status_code == 304


def test_the_cached_village_is_the_routes_answer(client: TestClient, loaded_store: Store) -> None:
    cached = client.get("/api/v1/villages/ban-giong")
    missing = client.get("/api/v1/villages/nowhere")

    assert cached.status_code == 200
    assert cached.headers["content-type"] == "application/geo+json"
    body = cached.json()
    assert body["type"] == "Feature" and body["properties"]["name"] == "Bản Giòng"
    assert missing.status_code == 404  # errors are never kept
    assert missing.json() == {"detail": "village 'nowhere' not found"}


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "var", device_salt="test-salt", public_rate_limit_per_minute=3
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_an_address_past_the_public_limit_gets_429_with_retry_after(limited: TestClient) -> None:
    answers = [limited.get("/api/v1/villages") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["retry-after"] == "20"
    assert refused.json() == {"detail": "too many requests: at most 3 a minute; retry in 20 s"}
    # Health checks and static assets are not public routes: never counted.
    assert limited.get("/healthz").status_code == 200
    assert limited.get("/static/lomsong/lomsong-map.js").status_code == 200
    assert limited.get("/maps").status_code == 429


def test_the_default_public_limit_lets_a_village_office_browse() -> None:
    assert Settings(demo=True).public_rate_limit_per_minute == 1200
