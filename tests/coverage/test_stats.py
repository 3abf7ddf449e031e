"""Per-cell statistics from readings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coverage.stats import CELL_STATS_COLUMNS, aggregate_readings, usable_mask


def test_statistics_per_cell_and_carrier(readings) -> None:
    stats = aggregate_readings(readings)
    assert list(stats.columns) == list(CELL_STATS_COLUMNS)
    assert stats["count"].sum() == len(readings)
    silent = stats.loc[stats["no_service_count"] > 0]
    assert (silent["no_service_count"] == silent["count"]).all()
    assert silent["mean_dbm"].isna().all()
    assert (stats["carrier"] == "VinaPhone").all()
    assert stats["devices"].max() <= 4
    assert str(stats["last_seen"].dt.tz) == "UTC"


def test_as_of_drops_later_readings(readings) -> None:
    cutoff = readings["time"].sort_values().iloc[99]
    assert aggregate_readings(readings, as_of=cutoff)["count"].sum() == 100


def test_usable_uses_each_radios_threshold() -> None:
    frame = pd.DataFrame({
        "radio": ["lte", "lte", "nr", "gsm", "lte"],
        "signal_dbm": [-115.0, -116.0, -111.0, -107.0, np.nan],
        "no_service": [False, False, False, False, True],
    })  # fmt: skip
    assert usable_mask(frame).tolist() == [True, False, False, True, False]


def test_empty_readings_give_an_empty_typed_table(readings) -> None:
    stats = aggregate_readings(readings.iloc[0:0])
    assert stats.empty
    assert list(stats.columns) == list(CELL_STATS_COLUMNS)
