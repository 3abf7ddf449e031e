"""Per-cell statistics from readings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coverage.stats import CELL_STATS_COLUMNS, aggregate_readings, infer_silent_gaps, usable_mask


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
    frame = pd.DataFrame(
        {
            "radio": ["lte", "lte", "nr", "gsm", "lte"],
            "signal_dbm": [-115.0, -116.0, -111.0, -107.0, np.nan],
            "no_service": [False, False, False, False, True],
        }
    )
    assert usable_mask(frame).tolist() == [True, False, False, True, False]


def test_empty_readings_give_an_empty_typed_table(readings) -> None:
    stats = aggregate_readings(readings.iloc[0:0])
    assert stats.empty
    assert list(stats.columns) == list(CELL_STATS_COLUMNS)


def _walk(
    signal: list[float],
    seconds: list[float],
    *,
    device: str = "d1",
    no_service: list[bool] | None = None,
) -> pd.DataFrame:
    """A phone walking north, one reading at each time (s) and signal (dBm)."""
    n = len(signal)
    return pd.DataFrame(
        {
            "time": pd.Timestamp("2026-01-05T00:00:00Z") + pd.to_timedelta(seconds, unit="s"),
            "lat": 22.5 + np.asarray(seconds) * 1.2 / 111_320,  # 1.2 m/s
            "lon": 105.5,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": signal,
            "no_service": no_service or [False] * n,
            "device": device,
        }
    )


SECONDS = [0, 30, 60, 90, 120, 600, 630, 660]  # 8 silent minutes between 120 s and 600 s


def test_a_phone_that_hides_no_service_leaves_a_silent_gap() -> None:
    walk = _walk([-100, -104, -108, -110, -113, -112, -105, -100], SECONDS)
    gap = infer_silent_gaps(walk)
    # 480 s at 1.2 m/s: 576 m of path, one point per 60 m.
    assert len(gap) == 9
    assert gap["no_service"].all() and gap["signal_dbm"].isna().all()
    assert set(gap["source"]) == {"inferred-gap"}
    assert gap["lat"].between(walk["lat"].iloc[4], walk["lat"].iloc[5]).all()
    assert (gap["time"] > walk["time"].iloc[4]).all() and (gap["time"] < walk["time"].iloc[5]).all()


def test_a_pause_in_strong_signal_is_not_a_gap() -> None:
    assert infer_silent_gaps(_walk([-90] * 8, SECONDS)).empty


def test_a_phone_that_logs_no_service_is_taken_at_its_word() -> None:
    flags = [False, False, False, False, False, False, True, False]
    walk = _walk([-100, -104, -108, -110, -113, -112, np.nan, -100], SECONDS, no_service=flags)
    assert infer_silent_gaps(walk).empty
