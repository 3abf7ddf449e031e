"""The response models hold every answer the service gives on the tiny region.

Schemathesis checks conformance on generated requests against an empty-ish
region; these check the pages that carry real verdicts, dead zones and
sites, and the reports with refused rows.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.api.models import (
    DeadZoneCollection,
    Health,
    KeyCreated,
    KeyPublic,
    SiteCollection,
    SiteImportReport,
    UploadReport,
    VillageCollection,
    VillageFeature,
    VillageImportReport,
)
from app.services.keys import create_key
from app.store import Store
from tests.app.api.test_admin_api import collection, native_file, native_row, village_feature
from tests.app.api.test_readings_api import reading


@pytest.fixture
def admin_key(store: Store) -> str:
    return create_key(store, "admin", name="models")[1]


def test_village_pages_match_their_model(client: TestClient, loaded_store: Store) -> None:
    page = VillageCollection.model_validate(
        client.get("/api/v1/villages", params={"rank": "households_without_signal"}).json()
    )
    one = VillageFeature.model_validate(client.get("/api/v1/villages/ban-giong").json())

    assert [f.properties.id for f in page.features] == ["dong-da-1", "ban-giong", "na-ta"]
    assert page.numberMatched == 3
    assert page.features[0].properties.rank_score == 61.0
    assert one.properties.carriers is not None
    assert one.properties.carriers["VinaPhone"].evidence == "measured"
    assert one.geometry is not None and one.geometry.type == "Polygon"


def test_dead_zone_and_site_pages_match_their_models(
    client: TestClient, loaded_store: Store, admin_key: str
) -> None:
    zones = DeadZoneCollection.model_validate(
        client.get("/api/v1/dead-zones", params={"limit": 1}).json()
    )
    sites = SiteCollection.model_validate(
        client.get("/api/v1/sites", headers={"X-API-Key": admin_key}).json()
    )

    assert zones.numberMatched == 2 and zones.numberReturned == 1
    assert zones.links is not None and zones.links[0].rel == "next"
    assert zones.features[0].properties.province == "Tuyên Quang"
    assert [s.properties.carrier for s in sites.features] == ["Viettel"]
    assert sites.features[0].geometry is not None
    assert sites.features[0].geometry.type == "Point"


def test_an_upload_answer_is_an_upload_report(
    client: TestClient, loaded_store: Store, admin_key: str
) -> None:
    good = reading()
    response = client.post(
        "/api/v1/readings",
        content=json.dumps([good, {**good, "lat": 99}, 3]),
        headers={"X-API-Key": admin_key},
    )

    report = UploadReport.model_validate(response.json())
    assert response.status_code == 200
    assert (report.accepted, report.duplicates, report.rejected_total) == (1, 0, 2)
    assert [r.index for r in report.rejected] == [2, 3]  # JSON items from 1
    assert sum(report.rejected_by_reason.values()) == 2


def test_admin_answers_match_their_models(client: TestClient, admin_key: str) -> None:
    headers = {"X-API-Key": admin_key}
    created = KeyCreated.model_validate(
        client.post("/api/v1/keys", params={"role": "planner"}, headers=headers).json()
    )
    listed = [
        KeyPublic.model_validate(k) for k in client.get("/api/v1/keys", headers=headers).json()
    ]
    sites = SiteImportReport.model_validate(
        client.post(
            "/api/v1/sites/import",
            content=native_file(native_row(1), native_row(2, mcc="x")),
            headers=headers,
        ).json()
    )
    villages = VillageImportReport.model_validate(
        client.post(
            "/api/v1/villages/import",
            content=collection(village_feature(), village_feature("x", households="many")),
            headers=headers,
        ).json()
    )

    assert created.key.startswith(f"lsk_{created.id}_")
    assert {k.id for k in listed} >= {created.id}
    assert (sites.added, sites.rejected_total, sites.refreshing) == (1, 1, True)
    assert [r.index for r in sites.rejected] == [3]  # the header is line 1
    assert (villages.added, villages.rejected_total, villages.refreshing) == (1, 1, True)
    assert [r.index for r in villages.rejected] == [2]  # features from 1
    assert Health.model_validate(client.get("/healthz").json()).status == "ok"


def test_a_model_refuses_an_answer_that_breaks_the_contract() -> None:
    with pytest.raises(ValidationError, match="accepted"):
        UploadReport.model_validate(
            {"duplicates": 0, "rejected": [], "rejected_total": 0, "rejected_by_reason": {}}
        )
