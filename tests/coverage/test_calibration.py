"""Calibration on constructed cells: the terrain-loss scale, and cells that lost all service."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coverage.calibration import apply_calibration, calibrate
from coverage.censoring import observed_median


def cells(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Predicted cells of two carriers with a spread of diffraction losses."""
    rng = np.random.default_rng(seed)
    diffraction = rng.uniform(0.0, 60.0, n)
    return pd.DataFrame(
        {
            "h3": np.arange(1, n + 1, dtype=np.uint64),
            "carrier": np.where(np.arange(n) % 2, "X", "Y"),
            "radio": "lte",
            "site_id": "s",
            "diffraction_db": diffraction,
            "predicted_dbm": rng.uniform(-90.0, -70.0, n) - diffraction,
        }
    )


def test_the_terrain_loss_scale_is_learnt_once_for_every_carrier() -> None:
    # The real terrain costs 60 % of the predicted diffraction; carrier Y's
    # power is 5 dB above its file, X's as filed.
    predicted = cells(200)
    truth = predicted["predicted_dbm"] + 0.4 * predicted["diffraction_db"]
    truth += np.where(predicted["carrier"] == "Y", 5.0, 0.0)
    observed = predicted[["h3", "carrier", "radio"]].assign(count=10, median_dbm=truth)
    fit = calibrate(observed, predicted).carriers.set_index("carrier")
    assert fit["diffraction_scale"].to_numpy() == pytest.approx([0.6, 0.6], abs=0.02)
    assert fit.loc["Y", "offset_db"] - fit.loc["X", "offset_db"] == pytest.approx(5.0, abs=0.3)
    assert fit["slope"].to_numpy() == pytest.approx([1.0, 1.0], abs=0.02)
    calibrated = apply_calibration(predicted, calibrate(observed, predicted))
    assert np.abs(calibrated["calibrated_dbm"] - truth).max() < 0.5


def test_cells_that_lost_all_service_only_bound_the_fit() -> None:
    # Deep in shadow every reading lost service: the median read off that
    # share is a ceiling (here −108 dBm), the truth lies below it. Taken as a
    # value it would flatten the terrain loss; as a bound it must not.
    predicted = cells(300, seed=1)
    truth = (predicted["predicted_dbm"] + 0.4 * predicted["diffraction_db"]).to_numpy()
    dead = truth < -110.0
    assert 30 < dead.sum() < 250
    observed = predicted[["h3", "carrier", "radio"]].assign(
        count=10, no_service_count=np.where(dead, 10, 0), median_dbm=np.where(dead, -108.0, truth)
    )
    fit = calibrate(observed, predicted).carriers
    assert fit["diffraction_scale"].to_numpy() == pytest.approx([0.6, 0.6], abs=0.03)
    as_values = calibrate(observed.drop(columns="no_service_count"), predicted).carriers
    # Taken as values, the ceilings bend the fit away from the truth.
    assert (np.abs(as_values["diffraction_scale"] - 0.6) > 0.08).all()


def test_a_strong_cell_keeps_its_median() -> None:
    # Far above the phones' floor nothing is truncated: the median is the
    # mean, not clamped to floor + 8σ.
    stats = pd.DataFrame(
        {
            "h3": np.array([1, 2], dtype=np.uint64),
            "carrier": "X",
            "radio": "lte",
            "count": 20,
            "no_service_count": 0,
            "usable_count": 20,
            "mean_dbm": [-60.0, -100.0],
        }
    )
    median = observed_median(stats, floors={"lte": -121.0}, spread_db=5.0)["median_dbm"]
    assert median.iloc[0] == pytest.approx(-60.0)
    assert median.iloc[1] == pytest.approx(-100.0, abs=0.1)
