"""The verdict rules (trắng sóng, lõm sóng) and their confidence, on constructed villages.

Each village has a centre cell (100) and household cells (1, 2, ...); every
cell carries a margin (median dBm above the usable level), its standard
error σ and, through ``fading_db``, the temporal spread of readings.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import norm

from coverage.thresholds import MIN_CONFIDENCE
from coverage.verdicts import judge_villages, people_date

FADING_DB = 6.0
CENTRE = np.uint64(100)


def judge(
    centre: dict[str, tuple[float, float]],
    cells: list[dict[str, tuple[float, float]]],
    households: list[float],
    *,
    evidence: str = "measured",
    nearest: pd.DataFrame | None = None,
    carrier_readings: pd.DataFrame | None = None,
) -> pd.Series:
    """Judge one village; ``centre`` and each cell map carrier -> (margin, σ)."""
    villages = gpd.GeoDataFrame(
        {"id": ["v"], "households": [sum(households)]},
        geometry=[shapely.box(0, 0, 1, 1)],
        crs="EPSG:4326",
    )
    rows = [(CENTRE, carrier, m, s) for carrier, (m, s) in centre.items()]
    for number, cell in enumerate(cells, start=1):
        rows += [(np.uint64(number), carrier, m, s) for carrier, (m, s) in cell.items()]
    fused = pd.DataFrame(rows, columns=["h3", "carrier", "margin_db", "sigma_db"]).assign(
        evidence=evidence, radio="lte", count=20 if evidence == "measured" else 0
    )
    fused["h3"] = fused["h3"].astype(np.uint64)
    weights = pd.DataFrame(
        {
            "village_id": "v",
            "households": households,
            "h3": np.arange(1, len(cells) + 1, dtype=np.uint64),
        }
    )
    centre_cells = pd.DataFrame({"village_id": ["v"], "h3": np.array([CENTRE])})
    return judge_villages(
        villages,
        fused,
        households=weights,
        centre_cells=centre_cells,
        fading_db=FADING_DB,
        nearest=nearest,
        carrier_readings=carrier_readings,
    ).iloc[0]


SURE = 1.0  # σ of a well-measured cell (dB)
GOOD = (20.0, SURE)  # 20 dB above usable: available Φ(20/6) ≈ 99.96 % of the time
NONE = (-25.0, SURE)


def test_no_usable_signal_at_the_centre_is_no_signal() -> None:
    row = judge({"X": NONE}, [{"X": GOOD}, {"X": GOOD}], [50, 50])
    assert row["verdict"] == "no_signal"
    assert row["confidence"] > 0.99
    assert row["centre_p_usable"] < 0.01
    assert row["reasons"][0].startswith("No carrier gives usable signal at the village centre")
    assert "không nhà mạng nào có sóng" in row["reasons_vi"][0]
    # The strongest carrier there is named as such, never as the best.
    assert "The strongest there, X 4G, is usable 0% of the time" in row["reasons"][1]
    assert not any("best" in reason for reason in row["reasons"])


def test_an_intermittent_centre_is_patchy() -> None:
    # 3 dB above usable with a 6 dB temporal spread: usable Φ(0.5) = 69 % of the time.
    row = judge({"X": (3.0, SURE)}, [{"X": GOOD}, {"X": GOOD}], [50, 50])
    assert row["verdict"] == "patchy"
    assert row["centre_p_usable"] == pytest.approx(norm.cdf(0.5), abs=1e-3)
    assert "comes and goes" in row["reasons"][0]


def test_a_hamlet_without_signal_makes_the_village_patchy() -> None:
    row = judge({"X": GOOD}, [{"X": GOOD}, {"X": NONE}], [85, 15])  # 15 % unserved
    assert row["verdict"] == "patchy"
    assert row["households_without_signal"] == 15
    assert row["reasons"][0].startswith("15 of 100 households live where no carrier")
    assert sum("15 of 100 households" in reason for reason in row["reasons"]) == 1


def test_a_few_households_short_stay_covered() -> None:
    row = judge({"X": GOOD}, [{"X": GOOD}, {"X": NONE}], [95, 5])  # 5 % < the 10 % share
    assert row["verdict"] == "covered"
    assert row["households_without_signal"] == 5
    assert row["confidence"] > 0.99


def test_a_household_is_served_when_any_carrier_serves_it() -> None:
    # X serves the east half, Y the west half: every household has a carrier.
    row = judge({"X": GOOD, "Y": GOOD}, [{"X": GOOD, "Y": NONE}, {"X": NONE, "Y": GOOD}], [50, 50])
    assert row["verdict"] == "covered"
    assert row["households_without_signal"] == 0
    # Per carrier, each leaves half the village without signal.
    assert row["carriers"]["X"]["households_without_signal"] == 50
    assert row["carriers"]["Y"]["households_without_signal"] == 50


def test_not_knowing_is_not_patchy() -> None:
    # The same 6 dB margin: measured (σ 1 dB) it is truly intermittent
    # (usable 84 % of the time); predicted only (σ 8 dB) we cannot tell.
    measured = judge({"X": (6.0, SURE)}, [{"X": (6.0, SURE)}], [40])
    assert measured["verdict"] == "patchy"
    assert measured["confidence"] > 0.9
    guessed = judge({"X": (6.0, 8.0)}, [{"X": (6.0, 8.0)}], [40], evidence="predicted")
    assert guessed["verdict"] == "unknown"
    assert guessed["confidence"] < MIN_CONFIDENCE
    assert guessed["reasons"][0].startswith("Not known: the evidence cannot decide (confidence")
    assert sum("cannot decide" in reason for reason in guessed["reasons"]) == 1


def test_confidence_grows_with_the_evidence() -> None:
    # A centre 12 dB above usable: covered, more surely as σ shrinks.
    confidence = [
        judge({"X": (12.0, s)}, [{"X": (12.0, s)}], [40])["confidence"] for s in (8.0, 4.0, 1.0)
    ]
    assert confidence == sorted(confidence)
    assert confidence[-1] > 0.99
    # P(problem) = Φ(z₀), z₀ = (6·Φ⁻¹(0.9) − 12) / 8 for the centre rule.
    expected = 1 - norm.cdf((FADING_DB * norm.ppf(0.9) - 12.0) / 8.0)
    assert confidence[0] == pytest.approx(expected, abs=1e-3)


def test_no_evidence_at_all_is_unknown_never_no_signal() -> None:
    villages = gpd.GeoDataFrame(
        {"id": ["v"], "households": [30]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326"
    )
    empty = pd.DataFrame(
        {
            "h3": pd.Series(dtype=np.uint64),
            "carrier": pd.Series(dtype=object),
            "margin_db": pd.Series(dtype=float),
            "sigma_db": pd.Series(dtype=float),
            "evidence": pd.Series(dtype=object),
            "radio": pd.Series(dtype=object),
            "count": pd.Series(dtype=int),
        }
    )
    row = judge_villages(
        villages,
        empty,
        households=pd.DataFrame(
            {"village_id": ["v"], "h3": np.array([1], np.uint64), "households": [30.0]}
        ),
        centre_cells=pd.DataFrame({"village_id": ["v"], "h3": np.array([CENTRE])}),
    ).iloc[0]
    assert row["verdict"] == "unknown"
    assert row["confidence"] == 0.0
    assert row["best_carrier"] is None
    assert "site database does not cover" in row["reasons"][0]


def test_no_best_carrier_where_none_works() -> None:
    row = judge({"X": NONE, "Y": NONE}, [{"X": NONE, "Y": NONE}], [40])
    assert row["verdict"] == "no_signal"
    assert row["best_carrier"] is None


def test_dates_for_people_are_day_month_year() -> None:
    assert people_date(pd.Timestamp("2026-07-01T23:00:00Z")) == "01/07/2026"


def test_a_carrier_serving_one_household_is_no_best_carrier() -> None:
    # Bản Giòng's case: X reaches one house of 98, not the centre.
    row = judge({"X": NONE}, [{"X": GOOD}, {"X": NONE}], [1, 97])
    assert row["verdict"] == "no_signal"
    assert row["households_without_signal"] == 97
    assert row["best_carrier"] is None


def test_a_carrier_usable_at_the_centre_is_the_best_even_serving_no_household_cell() -> None:
    # X serves 5 % of the households and not the centre; Y is usable at the
    # centre (Φ(0) = 50 %) but reaches no household's cell. Y serves; X does not.
    row = judge({"X": NONE, "Y": (0.0, SURE)}, [{"X": GOOD, "Y": NONE}, {"X": NONE}], [5, 95])
    assert row["best_carrier"] == "Y"


def nearest_site(carrier: str, metres: int, behind: bool | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "village_id": ["v"],
            "carrier": [carrier],
            "site_id": [f"{carrier}-1"],
            "distance_m": [metres],
            "terrain_loss_db": [None if behind is None else (24.0 if behind else 0.0)],
            "behind_terrain": [behind],
        }
    )


def test_the_why_line_names_the_nearest_site_the_ridge_and_the_readings() -> None:
    readings = pd.DataFrame(
        {
            "village_id": ["v"],
            "carrier": ["X"],
            "readings": [312],
            "reading_days": [14],
            "unusable_share": [0.88],
        }
    )
    row = judge(
        {"X": NONE},
        [{"X": NONE}],
        [40],
        nearest=nearest_site("X", 2630, True),
        carrier_readings=readings,
    )
    assert row["best_carrier"] is None
    assert row["reasons"][0] == (
        "No carrier gives usable signal at the village centre; nearest X site 2.6 km, "
        "behind a ridge; 312 X readings over 14 days, 88% without usable signal."
    )
    assert row["reasons_vi"][0] == (
        "Tại trung tâm thôn không nhà mạng nào có sóng dùng được; trạm X gần nhất cách "
        "2,6 km, bị núi che khuất; 312 số đo X trong 14 ngày, 88% không có sóng dùng được."
    )
    summary = row["carriers"]["X"]
    assert summary["nearest_site_m"] == 2630 and isinstance(summary["nearest_site_m"], int)
    assert summary["nearest_site_id"] == "X-1"
    assert (summary["terrain_loss_db"], summary["behind_terrain"]) == (24.0, True)
    assert (summary["readings"], summary["reading_days"], summary["unusable_share"]) == (
        312,
        14,
        0.88,
    )


def test_the_why_line_speaks_of_the_serving_carrier_and_says_only_what_is_known() -> None:
    # Y serves; X's site is nearer. Without a DEM the terrain is not mentioned.
    near = pd.concat([nearest_site("X", 900, True), nearest_site("Y", 4100, None)])
    row = judge({"X": NONE, "Y": GOOD}, [{"Y": GOOD}], [40], nearest=near)
    assert row["best_carrier"] == "Y"
    assert row["reasons"][0] == (
        "At the village centre Y 4G is usable 100% of the time (measured); "
        "nearest Y site 4.1 km; no Y readings in the village."
    )
    assert row["carriers"]["Y"]["behind_terrain"] is None
    assert row["carriers"]["Y"]["readings"] == 0


def test_without_a_carrier_serving_the_why_line_takes_the_nearest_site() -> None:
    near = pd.concat([nearest_site("X", 5200, False), nearest_site("Y", 1800, True)])
    row = judge({"X": NONE, "Y": NONE}, [{"X": NONE, "Y": NONE}], [40], nearest=near)
    assert "nearest Y site 1.8 km, behind a ridge" in row["reasons"][0]
    assert row["carriers"]["X"]["nearest_site_m"] == 5200


def test_nothing_known_names_the_nearest_known_site() -> None:
    villages = gpd.GeoDataFrame(
        {"id": ["v"], "households": [30]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326"
    )
    fused = pd.DataFrame(
        {
            "h3": pd.Series(dtype=np.uint64),
            "carrier": pd.Series(dtype=object),
            "margin_db": pd.Series(dtype=float),
            "sigma_db": pd.Series(dtype=float),
            "evidence": pd.Series(dtype=object),
            "radio": pd.Series(dtype=object),
            "count": pd.Series(dtype=int),
        }
    )
    row = judge_villages(
        villages,
        fused,
        households=pd.DataFrame(
            {"village_id": ["v"], "h3": np.array([1], np.uint64), "households": [30.0]}
        ),
        centre_cells=pd.DataFrame({"village_id": ["v"], "h3": np.array([CENTRE])}),
        nearest=nearest_site("X", 31_250, None),
    ).iloc[0]
    assert row["verdict"] == "unknown" and row["best_carrier"] is None
    assert row["reasons"][0].endswith(
        "the site database does not cover this place (nearest known site: X, 31.2 km)."
    )
