"""What-if scenarios on the demo: a site changes the verdicts it should, and nothing real.

The demo is loaded once for the module and analysed, as a user would have
it, without the population raster (and never with the generator's truth).
The checks on bad sites run on the tiny region of ``tests/app/conftest.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from app.core.config import Rasters
from app.core.errors import NotFoundError, PermissionDeniedError, UnprocessableError
from app.services import scenarios as service
from app.services.analysis import analyse
from app.services.demo import load_demo
from app.services.keys import Caller
from app.store import Store
from app.store.keys import StoredKey
from coverage.candidates import colocation_candidates
from coverage.planning import evaluate_candidates, plan
from geodata.sites import CANDIDATE_COLUMNS

pytestmark = pytest.mark.slow

BAN_GIONG = "thuong-nong-ban-giong"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The demo region in a store of its own, its rasters without the population grid."""
    data_dir = tmp_path_factory.mktemp("scenario-demo")
    store = Store(data_dir / "lomsong.sqlite3", device_salt="test-salt")
    load_demo(store, data_dir=data_dir, seed=7)
    store.set_rasters(Rasters(dem=store.rasters().dem))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def centre(demo: Store) -> tuple[float, float]:
    village = demo.village(BAN_GIONG).iloc[0]
    return float(village["centre_lon"]), float(village["centre_lat"])


@pytest.fixture(scope="module")
def viettel_at_ban_giong(demo: Store, centre: tuple[float, float]) -> dict[str, Any]:
    before = (demo.results_version(), demo.sites(), demo.villages(), demo.readings_count())
    scenario = service.run_scenario(
        demo,
        [{"lon": centre[0], "lat": centre[1], "carrier": "Viettel"}],
        owner="key:planner1",
        name="Viettel ở Bản Giòng",
    )
    return {"scenario": scenario, "store_before": before}


def _village(scenario: dict[str, Any], village_id: str) -> dict[str, Any]:
    return next(v for v in scenario["villages"] if v["village_id"] == village_id)


def test_a_viettel_site_at_ban_giongs_centre_lifts_it_out_of_no_signal(
    viettel_at_ban_giong: dict[str, Any],
) -> None:
    scenario = viettel_at_ban_giong["scenario"]
    village = _village(scenario, BAN_GIONG)

    assert scenario["commune_ids"] == ["thuong-nong"]
    assert len(scenario["villages"]) == 12
    assert scenario["sites"] == [
        {
            "candidate_id": "what-if-1",
            "lon": pytest.approx(105.5158, abs=1e-3),
            "lat": pytest.approx(22.5906, abs=1e-3),
            "height_m": 30.0,
            "carrier": "Viettel",
            "radio": "lte",  # Viettel's main radio on the demo
        }
    ]
    assert (village["verdict_before"], village["verdict_after"]) == ("no_signal", "covered")
    assert village["households_without_signal_before"] >= 90
    assert village["households_without_signal_after"] <= 10
    assert village["carriers_before"]["Viettel"] == 98
    assert village["carriers_after"]["Viettel"] <= 10
    # The other carriers' households are the model's without the site: unchanged or nearly.
    assert village["carriers_after"]["VinaPhone"] == village["carriers_before"]["VinaPhone"]
    newly = sum(v["households_newly_served"] for v in scenario["villages"])
    assert scenario["totals"]["households_newly_served"] == newly >= 85
    assert scenario["totals"]["villages_out_of_no_signal"] == 1
    assert scenario["footprint"], "a site at the centre newly serves cells there"


def test_a_scenario_leaves_the_real_results_sites_and_readings_as_they_were(
    demo: Store, viettel_at_ban_giong: dict[str, Any]
) -> None:
    version, sites, villages, readings = viettel_at_ban_giong["store_before"]

    assert demo.results_version() == version
    pd.testing.assert_frame_equal(demo.sites(), sites)
    pd.testing.assert_frame_equal(demo.villages(), villages)
    assert demo.readings_count() == readings
    assert (
        demo.village(BAN_GIONG).iloc[0]["verdict"]
        == villages.set_index("id").loc[BAN_GIONG, "verdict"]
    )


def test_the_scenario_is_saved_and_survives_a_new_store_on_the_file(
    demo: Store, viettel_at_ban_giong: dict[str, Any]
) -> None:
    scenario = viettel_at_ban_giong["scenario"]
    reopened = Store(demo.path, device_salt="test-salt")
    try:
        assert reopened.scenario(scenario["id"]) == scenario
    finally:
        reopened.close()
    assert len(scenario["id"]) == 12  # 72 random bits, URL-safe


def test_a_site_far_from_every_village_is_refused_naming_it(
    demo: Store, centre: tuple[float, float]
) -> None:
    far = {"lon": centre[0] + 0.5, "lat": centre[1], "carrier": "VinaPhone"}
    near = {"lon": centre[0], "lat": centre[1], "carrier": "VinaPhone"}

    with pytest.raises(service.InvalidSitesError) as refused:
        service.run_scenario(demo, [near, far], owner="key:planner1")

    assert refused.value.problems == [
        {
            "index": 2,
            "field": "lon/lat",
            "value": [far["lon"], far["lat"]],
            "reason": "farther than 15 km (a cell's range) from every village analysed",
        }
    ]
    assert demo.scenarios()[1] == 1  # only the module's Viettel scenario


def test_a_plans_candidate_row_runs_as_a_scenario(demo: Store, centre: tuple[float, float]) -> None:
    """A plan's chosen rows carry more columns than a scenario needs: they are ignored."""
    candidate = dict.fromkeys(CANDIDATE_COLUMNS) | {
        "candidate_id": "co-452-02-003-Viettel",
        "kind": "colocation",
        "lon": centre[0] + 0.01,
        "lat": centre[1] - 0.01,
        "height_m": 35.0,
        "carrier": "Viettel",
        "radio": "lte",
        "cost": 450_000_000.0,
        "host_site_id": "452-02-003",
        "households_served": 80.0,
        "rank": 1,
        "cumulative_cost": 450_000_000.0,
    }

    scenario = service.run_scenario(demo, [candidate], owner="key:planner1")

    assert scenario["sites"] == [
        {
            "candidate_id": "co-452-02-003-Viettel",
            "lon": candidate["lon"],
            "lat": candidate["lat"],
            "height_m": 35.0,
            "carrier": "Viettel",
            "radio": "lte",
        }
    ]
    assert scenario["commune_ids"] == ["thuong-nong"]
    service.delete_scenario(demo, Caller(key=None, identity="key:planner1"), scenario["id"])


def test_a_plans_chosen_rows_post_as_a_scenario_as_they_come(demo: Store) -> None:
    """``coverage.planning.plan``'s chosen rows, as JSON: the scenario keeps each site."""
    result = analyse(demo, ["thuong-nong"])
    assert result is not None
    sites = demo.sites()
    evaluation = evaluate_candidates(
        result, sites, colocation_candidates(sites), terrain=demo.rasters().dem
    )
    chosen = plan(evaluation, k=2).chosen
    rows = json.loads(chosen.to_json(orient="records"))

    scenario = service.run_scenario(demo, rows, owner="key:planner1")

    columns = ["candidate_id", "lon", "lat", "height_m", "carrier", "radio"]
    # Same values; the plan's text columns are pandas strings, JSON's are objects.
    pd.testing.assert_frame_equal(
        pd.DataFrame(scenario["sites"])[columns],
        chosen[columns].reset_index(drop=True).astype({"height_m": float}),
        check_dtype=False,
    )
    service.delete_scenario(demo, Caller(key=None, identity="key:planner1"), scenario["id"])


def test_compare_and_delete_round_trip(
    demo: Store, centre: tuple[float, float], viettel_at_ban_giong: dict[str, Any]
) -> None:
    first = viettel_at_ban_giong["scenario"]
    # MobiFone at the same place: a different carrier, a different gain.
    second = service.run_scenario(
        demo, [{"lon": centre[0], "lat": centre[1], "carrier": "MobiFone"}], owner="key:planner2"
    )

    compared = service.compare_scenarios(demo, first["id"], second["id"])

    row = next(v for v in compared["villages"] if v["village_id"] == BAN_GIONG)
    mine, theirs = _village(first, BAN_GIONG), _village(second, BAN_GIONG)
    assert row == {
        "village_id": BAN_GIONG,
        "name": "Bản Giòng",
        "commune_id": "thuong-nong",
        "verdict": mine["verdict_after"],
        "verdict_other": theirs["verdict_after"],
        "households_without_signal": mine["households_without_signal_after"],
        "households_without_signal_other": theirs["households_without_signal_after"],
        "difference": theirs["households_without_signal_after"]
        - mine["households_without_signal_after"],
    }
    assert len(compared["villages"]) == 12
    with pytest.raises(NotFoundError, match="no scenario 'missing'"):
        service.compare_scenarios(demo, first["id"], "missing")

    other_planner = Caller(
        key=StoredKey("p1", "planner", None, "2026-12-01", None), identity="key:p1"
    )
    with pytest.raises(PermissionDeniedError, match="only its owner or an admin"):
        service.delete_scenario(demo, other_planner, second["id"])
    service.delete_scenario(demo, Caller(key=None, identity="key:planner2"), second["id"])
    with pytest.raises(NotFoundError):
        service.scenario_of(demo, second["id"])
    with pytest.raises(NotFoundError):
        service.compare_scenarios(demo, first["id"], second["id"])


# --- bad sites, on the tiny region ----------------------------------------------

GOOD = {"lon": 105.495, "lat": 22.565, "carrier": "Viettel"}


@pytest.mark.parametrize(
    ("site", "field", "reason"),
    [
        ({**GOOD, "carrier": "Viettelz"}, "carrier", "unknown carrier"),
        ({**GOOD, "carrier": "452-99"}, "carrier", "unknown carrier"),
        ({**GOOD, "radio": "6g"}, "radio", "unknown radio (one of gsm, umts, lte, nr)"),
        ({**GOOD, "lon": 190.0}, "lon", "a longitude in degrees, -180 to 180"),
        ({**GOOD, "lat": "22.5"}, "lat", "a latitude in degrees, -90 to 90"),
        ({**GOOD, "lat": True}, "lat", "a latitude in degrees, -90 to 90"),
        ({**GOOD, "height_m": 0}, "height_m", "an antenna height in metres, above 0"),
        ({**GOOD, "candidate_id": ""}, "candidate_id", "text of 1 to 100 characters"),
        ({**GOOD, "lon": 104.0}, "lon/lat", "farther than 15 km"),
    ],
)
def test_each_bad_site_is_named_with_its_index_field_value_and_reason(
    loaded_store: Store, site: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(service.InvalidSitesError) as refused:
        service.validate_sites([GOOD, site], loaded_store)

    (problem,) = refused.value.problems
    assert (problem["index"], problem["field"]) == (2, field)
    assert problem["reason"].startswith(reason)
    expected = [site["lon"], site["lat"]] if field == "lon/lat" else site[field]
    assert problem["value"] == expected


def test_ids_repeated_or_of_real_sites_are_refused(loaded_store: Store) -> None:
    real = str(loaded_store.sites()["site_id"].iloc[0])
    sites = [
        {**GOOD, "candidate_id": "a"},
        {**GOOD, "candidate_id": "a"},
        {**GOOD, "candidate_id": real},
    ]
    with pytest.raises(service.InvalidSitesError) as refused:
        service.validate_sites(sites, loaded_store)

    assert [(p["index"], p["reason"]) for p in refused.value.problems] == [
        (2, "repeats site 1's candidate_id"),
        (3, "a real site's id; name the hypothetical one"),
    ]


def test_too_many_sites_unknown_communes_and_the_communes_reached(loaded_store: Store) -> None:
    with pytest.raises(service.InvalidSitesError, match="1 to 50 sites, not 51"):
        service.validate_sites([GOOD] * 51, loaded_store)
    with pytest.raises(UnprocessableError, match=r"unknown communes \['nowhere'\]"):
        service.validate_sites([GOOD], loaded_store, commune_ids=["nowhere"])

    frame, communes = service.validate_sites([GOOD, {**GOOD, "radio": "UMTS"}], loaded_store)

    assert communes == ["thuong-nong"]  # Linh Phú's village is 60 km away
    assert frame["candidate_id"].tolist() == ["what-if-1", "what-if-2"]
    assert frame["radio"].isna().tolist() == [True, False]  # the carrier's main radio, later
    assert frame["radio"].iloc[1] == "umts"
    assert frame["kind"].tolist() == ["hypothetical"] * 2
    given = service.validate_sites([GOOD], loaded_store, commune_ids=["thuong-nong", "linh-phu"])
    assert given[1] == ["linh-phu", "thuong-nong"]
    with pytest.raises(service.InvalidSitesError, match="from every village analysed"):
        service.validate_sites([GOOD], loaded_store, commune_ids=["linh-phu"])
