"""Cell classes: probability first, then Android's signal levels."""

from __future__ import annotations

import numpy as np

from coverage.classify import classify


def test_classes_follow_probability_then_android_levels() -> None:
    p = np.array([0.95, 0.95, 0.95, 0.5, 0.05, np.nan])
    dbm = np.array([-80.0, -100.0, -112.0, -100.0, -130.0, np.nan])
    radio = np.array(["lte"] * 6)
    assert classify(p, dbm, radio).tolist() == [
        "good",
        "fair",
        "weak",
        "patchy",
        "no_signal",
        "unknown",
    ]


def test_a_cell_without_a_known_radio_is_classed_by_probability_alone() -> None:
    p = np.array([0.95, 0.5, 0.05])
    dbm = np.array([-80.0, -80.0, -80.0])
    assert classify(p, dbm, np.array(["wimax"] * 3)).tolist() == ["weak", "patchy", "no_signal"]
