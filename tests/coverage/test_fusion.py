"""Calibration, fusion and cell classes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coverage.fusion import PRIOR_READINGS, calibrate, classify, fuse


def test_classes_follow_probability_then_android_levels() -> None:
    p = np.array([0.95, 0.95, 0.95, 0.5, 0.05, np.nan])
    dbm = np.array([-80.0, -100.0, -112.0, -100.0, -130.0, np.nan])
    radio = np.array(["lte"] * 6)
    assert classify(p, dbm, radio).tolist() == ["good", "fair", "weak", "patchy", "no_signal",
                                                "unknown"]  # fmt: skip


def test_readings_outweigh_the_prediction() -> None:
    cells = np.array([1, 2, 3], dtype=np.uint64)
    measured = pd.DataFrame({
        "h3": np.array([1, 2], dtype=np.uint64), "carrier": ["X", "X"], "count": [20.0, 1.0],
        "usable_count": [0.0, 1.0], "no_service_count": [20.0, 0.0],
        "mean_dbm": [np.nan, -90.0], "std_dbm": [np.nan, np.nan], "days": [3.0, 1.0],
        "measured_radio": ["lte", "lte"],
    })  # fmt: skip
    predicted = pd.DataFrame({
        "h3": cells, "carrier": ["X"] * 3, "predicted_radio": ["lte"] * 3,
        "calibrated_dbm": [-90.0] * 3, "p_predicted": [1.0, 1.0, 1.0],
    })  # fmt: skip
    fused = fuse(cells, ["X"], measured=measured, predicted=predicted).set_index("h3")
    assert fused.loc[1, "p_usable"] == PRIOR_READINGS / (20 + PRIOR_READINGS)
    assert fused.loc[1, "evidence"] == "measured"
    assert fused.loc[1, "cell_class"] == "no_signal"
    assert fused.loc[2, "evidence"] == "predicted"  # one reading is not a measurement
    assert fused.loc[3, "p_usable"] == 1.0


def test_calibration_is_robust_to_outliers() -> None:
    h3 = np.arange(1, 21, dtype=np.uint64)
    residual = np.full(20, 7.0)
    residual[:3] = [40.0, -35.0, 60.0]  # three wild cells
    measured = pd.DataFrame({
        "h3": h3, "carrier": "X", "radio": "lte", "count": 10, "no_service_count": 0,
        "mean_dbm": -100.0 + residual,
    })  # fmt: skip
    predicted = pd.DataFrame({"h3": h3, "carrier": "X", "radio": "lte", "predicted_dbm": -100.0})
    fit = calibrate(measured, predicted).iloc[0]
    assert fit["offset_db"] == 7.0
    assert fit["sigma_db"] == 4.0  # MAD 0 → the lower bound
    assert fit["cells"] == 20
