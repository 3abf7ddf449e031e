"""The simulator's true signal where each reading was taken.

One row per row of ``readings.csv``, in its order, keyed by the same
reported ``lat``/``lon``, carrier and radio: the true median the reading was
drawn around (field.py, before temporal fading) split into the part that
path loss, terrain, antenna and clutter give and the serving cell's
location shadowing. Only evaluations read it (the oracle floor of
``lomsong evaluate``): the analysis must never see it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geodata.demo.field import SignalField

#: Columns of ``signal_truth.csv``.
READING_TRUTH_COLUMNS = ("lat", "lon", "mcc", "mnc", "radio", "median_dbm", "shadowing_db")
#: The file :func:`geodata.demo.write_demo` writes them into.
READING_TRUTH_FILE = "signal_truth.csv"


def reading_truth(readings: pd.DataFrame, field: SignalField) -> pd.DataFrame:
    """Return the true median and shadowing at each reading's true position.

    Parameters
    ----------
    readings : pandas.DataFrame
        Simulated readings with ``true_x``/``true_y`` (see
        :func:`geodata.demo.campaign.simulate_readings`).
    field : SignalField

    Returns
    -------
    pandas.DataFrame
        :data:`READING_TRUTH_COLUMNS`, one row per reading, in order.
        ``median_dbm − shadowing_db`` is the median without shadowing.
    """
    x, y = readings["true_x"].to_numpy(float), readings["true_y"].to_numpy(float)
    median, shadowing = np.full(len(readings), np.nan), np.full(len(readings), np.nan)
    mnc, radio = readings["mnc"].to_numpy(int), readings["radio"].to_numpy(str)
    for carrier in np.unique(mnc):
        for name in np.unique(radio):
            mine = (mnc == carrier) & (radio == name)
            median[mine] = field.median(x[mine], y[mine], int(carrier), str(name))
            shadowing[mine] = field.shadowing(x[mine], y[mine], int(carrier), str(name))
    return pd.DataFrame(
        {
            "lat": readings["lat"].to_numpy(),
            "lon": readings["lon"].to_numpy(),
            "mcc": readings["mcc"].to_numpy(),
            "mnc": mnc,
            "radio": radio,
            "median_dbm": median.round(2),
            "shadowing_db": shadowing.round(2),
        }
    )


def write_reading_truth(truth: pd.DataFrame, path: Path) -> Path:
    """Write ``signal_truth.csv``."""
    truth.loc[:, list(READING_TRUTH_COLUMNS)].to_csv(path, index=False, lineterminator="\n")
    return path
