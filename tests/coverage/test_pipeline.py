"""End-to-end analysis on a tiny constructed region."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from scipy.stats import norm

from coverage.errors import NoVillagesError
from coverage.pipeline import analyze
from coverage.points import readings_per_village, villages_touched
from geodata.sites import normalise_sites
from tests.coverage.conftest import NOW


def test_evidence_decides_the_verdicts(villages, sites, readings) -> None:
    result = analyze(villages, sites, readings)
    judged = result.villages.set_index("id")
    assert judged.loc["a", "verdict"] == "covered"
    assert judged.loc["a", "households_without_signal"] == 0
    assert judged.loc["a", "best_carrier"] == "VinaPhone"
    assert judged.loc["b", "verdict"] == "no_signal"
    assert judged.loc["b", "households_without_signal"] == 98
    assert judged.loc["a", "carriers"]["VinaPhone"]["evidence"] == "measured"
    assert judged.loc["a", "readings_count"] == 600
    assert judged.crs == "EPSG:4326"


def test_dead_zone_covers_the_silent_village(villages, sites, readings) -> None:
    zones = analyze(villages, sites, readings).dead_zones
    # The best of any carrier, VinaPhone's own, and VinaPhone LTE's: one zone each.
    assert zones[["carrier", "radio"]].astype(object).values.tolist() == [
        ["any", None],
        ["VinaPhone", None],
        ["VinaPhone", "lte"],
    ]
    zone = zones.iloc[0]
    assert zone["village_id"] == "b"
    assert zone["village_ids"] == ["b"]
    assert zone["verdict"] == "no_signal"
    assert zone["households"] == 98
    assert zone["carriers_absent"] == ["VinaPhone"]
    assert 0.8 < zone["area_km2"] < 1.8  # a 1 km² village in ~0.1 km² hexagons
    assert zone["nearest_site_m"] > 3000
    assert zones.crs == "EPSG:4326"


def test_intermittent_service_is_patchy(villages, sites, readings) -> None:
    # Half the readings in village a lose service: it comes and goes.
    silent = readings.loc[readings["lon"] < 105.49].sample(frac=0.5, random_state=1).index
    flaky = readings.copy()
    flaky.loc[silent, "no_service"] = True
    flaky.loc[silent, "signal_dbm"] = float("nan")
    judged = analyze(villages, sites, flaky).villages.set_index("id")
    assert judged.loc["a", "verdict"] == "patchy"


def test_without_readings_the_prediction_decides(villages, sites) -> None:
    # The site stands 0.7 km from village a: predicted served, no reading needed.
    judged = analyze(villages, sites, readings_empty()).villages.set_index("id")
    assert judged.loc["a", "verdict"] == "covered"
    assert judged.loc["a", "carriers"]["VinaPhone"]["evidence"] == "predicted"
    assert "No readings in the village" in judged.loc["a", "reasons"][-1]


def test_a_village_no_known_site_reaches_is_unknown_not_no_signal(villages, sites) -> None:
    # The only known site stands ~60 km east: no reading, no site within
    # reach. The site database does not cover the place; that is not trắng sóng.
    far = sites.assign(lon=sites["lon"] + 0.6)
    judged = analyze(villages, far, readings_empty()).villages.set_index("id")
    assert judged["verdict"].tolist() == ["unknown", "unknown"]
    assert judged["best_carrier"].isna().all()
    assert "site database does not cover" in judged.loc["b", "reasons"][0]


def _site_at_b(created: str) -> pd.DataFrame:
    return normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE"] * 3,
                "mcc": [452] * 3,
                "net": [2] * 3,
                "area": [1201] * 3,
                "cell": [2001, 2002, 2003],
                "lon": [105.525] * 3,
                "lat": [22.565] * 3,
                "site_id": ["s2"] * 3,
                "height_m": [30.0] * 3,
                "azimuth_deg": [0.0, 120.0, 240.0],
                "eirp_dbm": [62.0] * 3,
                "freq_mhz": [1800.0] * 3,
                "created": [pd.Timestamp(created).timestamp()] * 3,
            }
        )
    )


def test_a_site_built_after_the_readings_changes_the_verdict(villages, sites, readings) -> None:
    # Village b's readings (January 2026) all lost service. A 3-sector site
    # at its centre since 15/02/2026 retires them: they say nothing of it.
    before = analyze(villages, sites, readings).villages.set_index("id").loc["b"]
    assert before["verdict"] == "no_signal"
    new = pd.concat([sites, _site_at_b("2026-02-15T00:00:00Z")], ignore_index=True)
    after = analyze(villages, new, readings).villages.set_index("id").loc["b"]
    assert after["verdict"] == "covered"
    assert after["households_without_signal"] < before["households_without_signal"]
    assert "Site s2 (VinaPhone) since 15/02/2026, not yet measured." in after["reasons"]


def test_measured_silence_outweighs_an_older_site(villages, sites, readings) -> None:
    # The same site, standing since 2025, before the readings: they measured
    # it and found no service, so they rule.
    old = pd.concat([sites, _site_at_b("2025-06-01T00:00:00Z")], ignore_index=True)
    judged = analyze(villages, old, readings).villages.set_index("id").loc["b"]
    assert judged["verdict"] == "no_signal"
    assert not any("Site s2" in reason for reason in judged["reasons"])


def test_no_sites_and_no_readings_is_unknown(villages, sites) -> None:
    judged = analyze(villages, sites.iloc[0:0], readings_empty()).villages
    assert set(judged["verdict"]) == {"unknown"}
    assert judged["best_carrier"].isna().all()


def test_as_of_ignores_later_readings(villages, sites, readings) -> None:
    judged = analyze(villages, sites, readings, as_of="2026-01-01").villages.set_index("id")
    assert judged.loc["a", "readings_count"] == 0
    assert judged.loc["a", "carriers"]["VinaPhone"]["evidence"] == "predicted"


def test_empty_villages_are_refused(villages, sites, readings) -> None:
    with pytest.raises(NoVillagesError, match="no villages to analyse"):
        analyze(villages.iloc[0:0], sites, readings)


def test_villages_touched_by_readings(villages, readings) -> None:
    assert villages_touched(villages, readings.iloc[:3]) == ["a"]
    assert villages_touched(villages, readings.iloc[-3:]) == ["b"]
    assert villages_touched(gpd.GeoDataFrame(villages), readings.iloc[0:0]) == []


def readings_empty() -> pd.DataFrame:
    from geodata.readings import empty_readings, validate_readings

    return validate_readings(empty_readings(), now=NOW).valid


def test_readings_per_village_counts_and_dates(villages, readings) -> None:
    table = readings_per_village(villages, readings)
    assert table.loc["a", "readings_count"] == 600
    # The day only: the public last reading must not say the second of a visit.
    last = readings.loc[readings["lon"] < 105.5, "time"].max()
    assert table.loc["a", "last_reading"] == last.strftime("%Y-%m-%d")
    assert last.strftime("%H:%M:%S") != "00:00:00"
    empty = readings_per_village(villages, readings.iloc[:0])
    assert empty["readings_count"].tolist() == [0, 0]
    assert empty["last_reading"].isna().all()


def test_the_result_keeps_the_spread_its_availabilities_were_judged_with(
    villages, sites, readings
) -> None:
    result = analyze(villages, sites, readings)
    cells = result.cells.loc[result.cells["margin_db"].notna()]
    assert len(cells) > 10
    # p_usable = Φ(margin / σ_t): the σ_t the result carries is the one used.
    assert cells["p_usable"].to_numpy() == pytest.approx(
        norm.cdf(cells["margin_db"].to_numpy() / result.fading_db)
    )
