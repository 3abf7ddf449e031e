"""Where to measure next, on small regions built here and analysed as a user's data would be.

No verdict is given to the analysis: a village is uncertain because its only
evidence is a prediction at the edge of a weak site's reach, and a visit
there (readings built here, as a field team would upload them) firms it up.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage import thresholds as T
from coverage.pipeline import analyze
from coverage.survey import (
    FIRM_CONFIDENCE,
    MIN_SCORE,
    SURVEY_COLUMNS,
    challenges_settled,
    survey_plan,
)
from geodata.readings import validate_readings
from geodata.sites import normalise_sites
from geodata.villages import normalise_villages
from tests.coverage.conftest import NOW, readings_grid
from tests.coverage.test_pipeline import _site_at_b


@pytest.fixture
def region() -> gpd.GeoDataFrame:
    """A measured village at a weak site, a populous one 2.5 km out, a small one 4 km out."""
    raw = gpd.GeoDataFrame(
        {
            "id": ["measured", "populous", "small"],
            "name": ["Nà Khản", "Bản Giòng", "Pắc Củng"],
            "commune": ["Thượng Nông"] * 3,
            "province": ["Tuyên Quang"] * 3,
            "households": [500, 300, 20],
        },
        geometry=[
            shapely.box(105.480, 22.560, 105.490, 22.570),
            shapely.box(105.505, 22.560, 105.515, 22.570),
            shapely.box(105.520, 22.560, 105.530, 22.570),
        ],
        crs="EPSG:4326",
    )
    return normalise_villages(raw)


@pytest.fixture
def weak_site() -> pd.DataFrame:
    """One VinaPhone LTE omni site of low power at the measured village's edge."""
    return normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE"],
                "mcc": [452],
                "net": [2],
                "area": [1201],
                "cell": [1001],
                "lon": [105.485],
                "lat": [22.558],
                "site_id": ["s1"],
                "height_m": [30.0],
                "eirp_dbm": [40.0],
                "freq_mhz": [1800.0],
            }
        )
    )


def _valid(raw: pd.DataFrame) -> pd.DataFrame:
    result = validate_readings(raw, now=NOW)
    assert result.rejected == []
    return result.valid


@pytest.fixture
def viettel_at_measured() -> pd.DataFrame:
    """Viettel readings with good service all over the measured village (no Viettel site known)."""
    raw = readings_grid(105.480, 22.560, n=600, no_service=False, signal=-85.0)
    return _valid(raw.assign(mnc=4))


def _visit(lon: float, lat: float, *, signal: float, n: int = 90, seed: int = 5) -> pd.DataFrame:
    """``n`` VinaPhone readings of a walk within ~130 m of a place, one February day."""
    rng = np.random.default_rng(seed)
    times = pd.Timestamp("2026-02-10T02:00:00Z") + pd.to_timedelta(
        np.arange(n) * 6 * 3600 // n * 16, unit="s"
    )
    return _valid(
        pd.DataFrame(
            {
                "time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lat": lat + rng.uniform(-0.0012, 0.0012, n),
                "lon": lon + rng.uniform(-0.0012, 0.0012, n),
                "accuracy_m": 8.0,
                "mcc": 452,
                "mnc": 2,
                "radio": "lte",
                "signal_dbm": signal + rng.normal(0, 2, n),
                "no_service": False,
                "device": [f"team{i % 3}" for i in range(n)],
            }
        )
    )


def test_an_uncertain_populous_village_ranks_first(region, weak_site, viettel_at_measured) -> None:
    result = analyze(region, weak_site, viettel_at_measured)
    judged = result.villages.set_index("id")
    # Uncertain by its evidence: a prediction near the usable level, no readings.
    assert judged.at["populous", "confidence"] < FIRM_CONFIDENCE
    assert judged.at["populous", "readings_count"] == 0
    assert judged.at["measured", "confidence"] >= FIRM_CONFIDENCE

    plan = survey_plan(result)
    assert list(plan.columns) == list(SURVEY_COLUMNS)
    assert plan["rank"].tolist() == list(range(1, len(plan) + 1))
    top = plan.iloc[0]
    assert (top["village_id"], top["village"], top["kind"]) == (
        "populous",
        "Bản Giòng",
        "uncertain_verdict",
    )
    assert top["households"] == 300.0
    doubt = 1 - abs(2 * judged.at["populous", "p_problem"] - 1)
    assert top["score"] == pytest.approx(300 * doubt, abs=0.06)
    # At the village centre, in decimal degrees.
    assert (top["lon"], top["lat"]) == pytest.approx(
        (judged.at["populous", "centre_lon"], judged.at["populous", "centre_lat"]), abs=1e-6
    )
    assert "confidence" in top["reason"] and "độ tin cậy" in top["reason_vi"]
    # The measured village, with more households, is firm: nothing to visit there.
    assert "measured" not in set(plan.loc[plan["kind"] == "uncertain_verdict", "village_id"])
    assert (plan["score"] >= MIN_SCORE).all()
    assert plan["score"].is_monotonic_decreasing


@pytest.mark.parametrize("signal", [-98.0, -121.0], ids=["usable", "unusable"])
def test_readings_where_the_plan_sent_the_team_lower_the_doubt(
    region, weak_site, viettel_at_measured, signal
) -> None:
    before = analyze(region, weak_site, viettel_at_measured)
    plan = survey_plan(before)
    top = plan.iloc[0]
    assert top["village_id"] == "populous"

    # The team goes to the place named, and their phones read VinaPhone there.
    # Whichever way the signal turns out, the doubt it showed goes down.
    visit = _visit(float(top["lon"]), float(top["lat"]), signal=signal)
    after = analyze(region, weak_site, pd.concat([viettel_at_measured, visit], ignore_index=True))
    again = survey_plan(after)
    same = again.loc[(again["village_id"] == "populous") & (again["kind"] == top["kind"])]
    score_after = float(same["score"].iloc[0]) if len(same) else 0.0
    assert score_after < float(top["score"]) / 2
    sure_before = before.villages.set_index("id").at["populous", "confidence"]
    sure_after = after.villages.set_index("id").at["populous", "confidence"]
    assert sure_after > sure_before


def test_predicted_only_households_are_one_place_per_village(
    region, weak_site, viettel_at_measured
) -> None:
    result = analyze(region, weak_site, viettel_at_measured)
    plan = survey_plan(result)
    clusters = plan.loc[plan["kind"] == "predicted_only"]
    assert clusters["village_id"].is_unique
    assert "measured" not in set(clusters["village_id"])  # Viettel was measured everywhere there
    for row in clusters.itertuples():
        village = region.set_index("id").geometry[row.village_id]
        assert village.buffer(0.001).contains(shapely.Point(row.lon, row.lat))
        assert 0 < row.households <= region.set_index("id").at[row.village_id, "households"]
        assert "predicted only" in row.reason and "chỉ dự báo" in row.reason_vi


def test_a_challenge_goes_first_at_the_place_it_names(region, weak_site, viettel_at_measured):
    result = analyze(region, weak_site, viettel_at_measured)
    challenges = pd.DataFrame(
        {
            "village_id": ["measured", "small"],
            "created": pd.to_datetime(["2026-02-20T08:00:00Z", "2026-02-21T08:00:00Z"]),
            "text": ["Không có sóng ở nhà văn hóa", "Settled already"],
            "status": ["open", "settled"],
            "lon": [105.4861, None],
            "lat": [22.5655, None],
        }
    )
    plan = survey_plan(result, challenges=challenges)
    top = plan.iloc[0]
    assert (top["village_id"], top["kind"], top["households"]) == ("measured", "challenge", 500.0)
    assert (top["lon"], top["lat"]) == (105.4861, 22.5655)
    assert top["reason_vi"] == (
        "Kết luận (có sóng) bị phản ánh ngày 20/02/2026: “Không có sóng ở nhà văn hóa”;"
        " chưa có số đo mới"
    )
    # A settled challenge no longer counts, and one made later than ``now`` not yet.
    assert (plan["kind"] == "challenge").sum() == 1
    early = survey_plan(result, challenges=challenges, now=pd.Timestamp("2026-02-01T00:00:00Z"))
    assert "challenge" not in set(early["kind"])


def test_old_evidence_near_a_new_site_is_worth_a_visit(villages, sites, readings) -> None:
    # Village b's readings (January) lost service; a site at its centre since
    # 15/02/2026 retired them, and nobody has measured there since.
    new = pd.concat([sites, _site_at_b("2026-02-15T00:00:00Z")], ignore_index=True)
    plan = survey_plan(analyze(villages, new, readings))
    changes = plan.loc[plan["kind"] == "network_change"]
    assert changes["village_id"].tolist() == ["b"]
    row = changes.iloc[0]
    assert row["reason"] == (
        "Site s2 (VinaPhone) since 15/02/2026, not yet measured: "
        "older readings at the centre no longer count"
    )
    assert row["score"] >= 98 * 0.5
    # Measured before the site was built: nothing changed, nothing to visit.
    old = pd.concat([sites, _site_at_b("2025-06-01T00:00:00Z")], ignore_index=True)
    assert "network_change" not in set(survey_plan(analyze(villages, old, readings))["kind"])


def test_no_villages_no_places() -> None:
    empty = gpd.GeoDataFrame({"id": []}, geometry=[], crs="EPSG:4326")
    from coverage.calibration import Calibration
    from coverage.pipeline import AnalysisResult

    result = AnalysisResult(empty, empty, pd.DataFrame(), pd.DataFrame(), Calibration.none())
    plan = survey_plan(result)
    assert plan.empty and list(plan.columns) == list(SURVEY_COLUMNS)


def _reads(times: list[str], lons: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.to_datetime(times, utc=True),
            "lat": 22.565,
            "lon": lons,
            "mcc": 452,
            "mnc": 2,
            "radio": "lte",
        }
    )


def test_enough_new_readings_in_the_village_settle_a_challenge(region) -> None:
    challenge = pd.DataFrame(
        {"village_id": ["populous"], "created": pd.to_datetime(["2026-02-20T00:00:00Z"])}
    )
    need = T.MIN_READINGS_MEASURED
    after = ["2026-02-21T00:00:00Z"] * need
    before = ["2026-02-19T00:00:00Z"] * need
    inside, outside = [105.51] * need, [105.485] * need
    assert challenges_settled(challenge, region, _reads(after, inside)).tolist() == [True]
    assert challenges_settled(challenge, region, _reads(before, inside)).tolist() == [False]
    assert challenges_settled(challenge, region, _reads(after, outside)).tolist() == [False]
    fewer = _reads(after[: need - 1], inside[: need - 1])
    assert challenges_settled(challenge, region, fewer).tolist() == [False]
    # As many readings, but each in a cell of its own: no cell is measured yet.
    spread = _reads(after, [105.506 + 0.003 * i for i in range(need)])
    assert challenges_settled(challenge, region, spread).tolist() == [False]
