"""Calibration and fusion: readings and the prediction into P(usable) per cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from coverage.calibration import calibrate
from coverage.censoring import observed_median
from coverage.evidence import measured_by_carrier
from coverage.fusion import fuse
from coverage.thresholds import ABSENT_MARGIN_DB
from geodata import constants as C

FLOORS = {"lte": -121.0, "umts": -117.0, "gsm": -108.0, "nr": -124.0}


def test_best_radio_speaks_for_the_carrier() -> None:
    stats = pd.DataFrame(
        {
            "h3": np.array([1, 1], dtype=np.uint64),
            "carrier": ["X", "X"],
            "radio": ["lte", "umts"],
            "count": [10, 10],
            "no_service_count": [10, 0],
            "usable_count": [0, 10],
            "mean_dbm": [np.nan, -95.0],
            "std_dbm": [np.nan, 4.0],
        }
    )
    pooled = measured_by_carrier(observed_median(stats, floors=FLOORS, spread_db=5.0)).iloc[0]
    assert pooled["measured_radio"] == "umts"
    assert pooled["count"] == 20
    assert pooled["p_measured"] > 0.99


def test_readings_outweigh_the_prediction() -> None:
    cells = np.array([1, 2, 3], dtype=np.uint64)
    measured = pd.DataFrame(
        {
            "h3": np.array([1, 2], dtype=np.uint64),
            "carrier": ["X", "X"],
            "count": [20, 1],
            "usable_count": [0, 1],
            "no_service_count": [20, 0],
            "mean_dbm": [np.nan, -90.0],
            "p_measured": [0.0, 1.0],
            "measured_radio": ["lte", "lte"],
        }
    )
    predicted = pd.DataFrame(
        {
            "h3": cells,
            "carrier": ["X"] * 3,
            "predicted_radio": ["lte"] * 3,
            "calibrated_dbm": [-90.0] * 3,
            "sigma_db": [8.0] * 3,
        }
    )
    fused = fuse(cells, ["X"], measured=measured, predicted=predicted, fading_db=6.0)
    fused = fused.set_index("h3")
    # Twenty silent readings: margin 6·Φ⁻¹(0.5/21) with error 1.25·6/√20,
    # against the model's +25 dB with error 8: precision-weighted.
    reading, reading_sigma = 6.0 * norm.ppf(0.5 / 21), 1.25 * 6.0 / np.sqrt(20)
    w = (1 / reading_sigma**2) / (1 / reading_sigma**2 + 1 / 64.0)
    assert fused.loc[1, "margin_db"] == pytest.approx(w * reading + (1 - w) * 25.0)
    assert fused.loc[1, "sigma_db"] == pytest.approx(np.sqrt(1 / (1 / reading_sigma**2 + 1 / 64)))
    assert fused.loc[1, "p_usable"] < 0.1
    assert fused.loc[1, "evidence"] == "measured"
    assert fused.loc[1, "cell_class"] == "no_signal"
    assert fused.loc[2, "evidence"] == "predicted"  # one reading is not a measurement
    # The model alone: usable Φ(25/6) of the time, and we are as sure as its σ.
    assert fused.loc[3, "p_usable"] == pytest.approx(norm.cdf(25 / 6))
    assert fused.loc[3, "sigma_db"] == 8.0
    assert fused.loc[3, "p_served"] == pytest.approx(norm.cdf(25 / 8))


def test_where_no_site_reaches_and_nobody_measured_nothing_is_known() -> None:
    cells = np.array([1, 2], dtype=np.uint64)
    empty = pd.DataFrame(
        {
            "h3": pd.Series(dtype=np.uint64),
            "carrier": pd.Series(dtype=object),
            "count": pd.Series(dtype=float),
            "usable_count": pd.Series(dtype=float),
            "mean_dbm": pd.Series(dtype=float),
            "p_measured": pd.Series(dtype=float),
            "measured_radio": pd.Series(dtype=object),
        }
    )
    # Y's site reaches cell 1 only; X has sites, none within reach of either.
    predicted = pd.DataFrame(
        {
            "h3": np.array([1], dtype=np.uint64),
            "carrier": ["Y"],
            "predicted_radio": ["lte"],
            "calibrated_dbm": [-100.0],
            "sigma_db": [8.0],
        }
    )
    fused = fuse(
        cells, ["X", "Y"], measured=empty, predicted=predicted, site_carriers=frozenset({"X", "Y"})
    ).set_index(["h3", "carrier"])
    # Cell 1: the site database covers it, so X is predicted absent there.
    assert fused.loc[(1, "X"), "margin_db"] == ABSENT_MARGIN_DB
    assert fused.loc[(1, "X"), "evidence"] == "predicted"
    # Cell 2: no known site reaches it: not "no signal", unknown.
    for carrier in ("X", "Y"):
        assert np.isnan(fused.loc[(2, carrier), "p_usable"])
        assert fused.loc[(2, carrier), "evidence"] == "none"
        assert fused.loc[(2, carrier), "cell_class"] == "unknown"


def test_calibration_is_robust_to_outliers() -> None:
    h3 = np.arange(1, 21, dtype=np.uint64)
    predicted_dbm = np.linspace(-120.0, -80.0, 20)
    measured = predicted_dbm + 7.0
    measured[:3] += [40.0, -35.0, 60.0]  # three wild cells
    observed = pd.DataFrame(
        {"h3": h3, "carrier": "X", "radio": "lte", "count": 10, "median_dbm": measured}
    )
    predicted = pd.DataFrame(
        {"h3": h3, "carrier": "X", "radio": "lte", "predicted_dbm": predicted_dbm, "site_id": "s"}
    )
    fit = calibrate(observed, predicted)
    row = fit.carriers.iloc[0]
    assert row["offset_db"] == pytest.approx(7.0, abs=0.5)
    assert row["slope"] == pytest.approx(1.0, abs=0.05)
    assert row["cells"] == 20
    # Seventeen cells agree after the carrier fit: the site needs no offset.
    assert fit.sites["site_offset_db"].abs().max() < 1.0


def test_a_hot_site_gets_its_own_offset() -> None:
    rng = np.random.default_rng(0)
    h3 = np.arange(1, 61, dtype=np.uint64)
    predicted_dbm = rng.uniform(-120.0, -80.0, 60)
    site = np.where(np.arange(60) < 30, "quiet", "hot")
    measured = predicted_dbm + np.where(site == "hot", 8.0, 0.0)
    observed = pd.DataFrame(
        {"h3": h3, "carrier": "X", "radio": "lte", "count": 10, "median_dbm": measured}
    )
    predicted = pd.DataFrame(
        {"h3": h3, "carrier": "X", "radio": "lte", "predicted_dbm": predicted_dbm, "site_id": site}
    )
    offsets = calibrate(observed, predicted).sites.set_index("site_id")["site_offset_db"]
    assert offsets["hot"] - offsets["quiet"] > 5.0


def test_a_new_site_takes_no_service_away() -> None:
    """Readings a newer site retired are a floor: the network they saw is still there."""
    cells = np.array([1, 2, 3], dtype=np.uint64)
    none_measured = pd.DataFrame(
        {
            "h3": pd.Series(dtype=np.uint64),
            "carrier": pd.Series(dtype=object),
            "count": pd.Series(dtype=int),
            "usable_count": pd.Series(dtype=int),
            "no_service_count": pd.Series(dtype=int),
            "mean_dbm": pd.Series(dtype=float),
            "p_measured": pd.Series(dtype=float),
            "measured_radio": pd.Series(dtype=object),
        }
    )
    # The model (now with the new site) says 10 dB short of usable everywhere.
    predicted = pd.DataFrame(
        {
            "h3": cells,
            "carrier": ["X"] * 3,
            "predicted_radio": ["lte"] * 3,
            "calibrated_dbm": [C.USABLE_DBM["lte"] - 10.0] * 3,
            "sigma_db": [8.0] * 3,
        }
    )
    # Before it, cell 1 was usable 19 times in 20, cell 2 never, cell 3 read twice.
    before = pd.DataFrame(
        {
            "h3": np.array([1, 2, 3], dtype=np.uint64),
            "carrier": ["X", "X", "X"],
            "count": [20, 20, 2],
            "usable_count": [19, 0, 2],
            "no_service_count": [0, 20, 0],
            "mean_dbm": [-85.0, np.nan, -80.0],
            "p_measured": [0.95, 0.0, 1.0],
            "measured_radio": ["lte"] * 3,
        }
    )
    kwargs = {"measured": none_measured, "predicted": predicted, "fading_db": 6.0}
    plain = fuse(cells, ["X"], **kwargs).set_index("h3")  # type: ignore[arg-type]
    floored = fuse(cells, ["X"], before=before, **kwargs).set_index("h3")  # type: ignore[arg-type]
    assert plain["margin_db"].tolist() == pytest.approx([-10.0] * 3)
    # Cell 1: the earlier readings' margin, 6·Φ⁻¹(0.95), with their precision.
    assert floored.loc[1, "margin_db"] == pytest.approx(6.0 * norm.ppf(0.95))
    assert floored.loc[1, "sigma_db"] == pytest.approx(1.25 * 6.0 / np.sqrt(20))
    assert floored.loc[1, "p_usable"] > 0.9
    # Cell 2: they saw less than the model now says: the model's stands.
    assert floored.loc[2, "margin_db"] == pytest.approx(-10.0)
    # Cell 3: two readings are not a measurement: nothing changes.
    assert floored.loc[3, "margin_db"] == pytest.approx(-10.0)
