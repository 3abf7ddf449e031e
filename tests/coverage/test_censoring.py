"""Censoring-aware medians: what phones that lose the weakest readings still tell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from coverage.censoring import observed_median, reading_spread_db
from coverage.thresholds import DEFAULT_FADING_DB, SPREAD_BOUNDS_DB

FLOORS = {"lte": -121.0, "umts": -117.0, "gsm": -108.0, "nr": -124.0}


def cell_stats(**columns: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "h3": np.array([1], dtype=np.uint64),
        "carrier": "X",
        "radio": "lte",
        "std_dbm": 5.0,
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_strong_cells_keep_their_mean() -> None:
    stats = cell_stats(count=[20], no_service_count=[0], usable_count=[20], mean_dbm=[-85.0])
    row = observed_median(stats, floors=FLOORS, spread_db=5.0).iloc[0]
    assert row["median_dbm"] == pytest.approx(-85.0, abs=0.01)
    assert row["p_measured"] > 0.99


def test_readings_near_the_floor_reveal_a_lower_median() -> None:
    # Phones that log nothing without service leave only the lucky readings:
    # six of them averaging −114.5 dBm just above a −117 floor (UMTS).
    stats = cell_stats(
        radio="umts", count=[6], no_service_count=[0], usable_count=[3], mean_dbm=[-114.5]
    )
    row = observed_median(stats, floors=FLOORS, spread_db=5.0).iloc[0]
    assert row["median_dbm"] < -120.0
    assert row["p_measured"] < 0.2


def test_a_silent_cell_is_read_from_its_share_of_lost_readings() -> None:
    stats = cell_stats(count=[20], no_service_count=[20], usable_count=[0], mean_dbm=[np.nan])
    row = observed_median(stats, floors=FLOORS, spread_db=5.0).iloc[0]
    expected = -121.0 + 5.0 * norm.ppf(1 - 20.5 / 21)
    assert row["median_dbm"] == pytest.approx(expected)
    assert row["p_measured"] < 0.01


def test_the_spread_is_the_median_sigma_of_well_measured_cells_within_bounds() -> None:
    stats = pd.DataFrame(
        {
            "count": [12, 30, 40, 9],
            "no_service_count": [0, 5, 0, 0],
            "std_dbm": [4.0, 7.0, 5.0, 50.0],  # the 9-reading cell does not count
        }
    )
    assert reading_spread_db(stats) == 5.0
    assert reading_spread_db(stats.assign(std_dbm=[0.1, 0.2, 0.3, 0.0])) == SPREAD_BOUNDS_DB[0]
    assert reading_spread_db(stats.assign(std_dbm=30.0)) == SPREAD_BOUNDS_DB[1]
    assert reading_spread_db(stats.iloc[3:]) == DEFAULT_FADING_DB
