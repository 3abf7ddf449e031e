"""Calibrate the path-loss prediction against the readings.

Per carrier and radio, the measured median is fitted as an offset plus a
slope on the prediction (robustly), then sites with enough measured cells of
their own get an offset each: a site's real power, tilt and feeder losses
are never in the site file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from geodata import constants as C

# Calibration needs this many measured cells before a carrier/radio gets a
# fit of its own (else the pooled fit of all carriers and radios is used).
MIN_CALIBRATION_CELLS = 5
# A site needs this many measured cells for an offset of its own; its
# offset is shrunk towards zero by n / (n + SITE_SHRINKAGE_CELLS).
MIN_SITE_CELLS = 10
SITE_SHRINKAGE_CELLS = 10
# The slope is fitted around this reference level, so that the offset reads
# as the correction at a typical cell-edge signal.
REFERENCE_DBM = -100.0
# A slope outside this range means the fit is chasing noise, not physics.
SLOPE_BOUNDS = (0.5, 1.5)
# Bounds on the fitted prediction error, in dB.
SIGMA_BOUNDS_DB = (4.0, 15.0)

_COLUMNS = ["carrier", "radio", "offset_db", "slope", "sigma_db", "cells"]


@dataclass(frozen=True)
class Calibration:
    """Fitted corrections: per (carrier, radio) and per site."""

    carriers: pd.DataFrame  # carrier, radio, offset_db, slope, sigma_db, cells
    sites: pd.DataFrame  # site_id, site_offset_db, cells

    @classmethod
    def none(cls) -> Calibration:
        """No correction at all (offset 0, slope 1)."""
        return cls(pd.DataFrame(columns=_COLUMNS),
                   pd.DataFrame(columns=["site_id", "site_offset_db", "cells"]))  # fmt: skip


def _robust_line(predicted: np.ndarray, measured: np.ndarray) -> tuple[float, float, float]:
    """Offset, slope and σ of measured ≈ ref + offset + slope·(predicted − ref).

    Soft-L1 least squares (scipy ``least_squares``, loss="soft_l1"): a few
    wild cells (a reading taken indoors, a GPS jump) do not drag the line.
    σ is 1.4826·MAD of the residuals, normal-consistent.
    """
    x = predicted - REFERENCE_DBM
    y = measured - REFERENCE_DBM
    scale = max(1.4826 * float(np.median(np.abs(y - x - np.median(y - x)))), 1.0)
    fit = least_squares(
        lambda p: p[0] + p[1] * x - y,
        x0=[float(np.median(y - x)), 1.0],
        bounds=([-np.inf, SLOPE_BOUNDS[0]], [np.inf, SLOPE_BOUNDS[1]]),
        loss="soft_l1",
        f_scale=scale,
    )
    offset, slope = (float(v) for v in fit.x)
    residual = y - (offset + slope * x)
    sigma = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    return offset, slope, float(np.clip(sigma, *SIGMA_BOUNDS_DB))


def calibrate(observed: pd.DataFrame, predicted: pd.DataFrame) -> Calibration:
    """Fit the prediction to the measured cell medians.

    Parameters
    ----------
    observed : DataFrame
        Measured cells with ``h3, carrier, radio, count, median_dbm`` (see
        :func:`coverage.fusion.observed_median`).
    predicted : DataFrame
        ``h3, carrier, radio, predicted_dbm, site_id``.

    Returns
    -------
    Calibration
    """
    enough = observed.loc[observed["count"] >= C.MIN_READINGS_MEASURED]
    pairs = enough.merge(predicted, on=["h3", "carrier", "radio"], how="inner")
    if len(pairs) >= MIN_CALIBRATION_CELLS:
        pooled = _robust_line(pairs["predicted_dbm"].to_numpy(float),
                              pairs["median_dbm"].to_numpy(float))  # fmt: skip
    else:
        pooled = (0.0, 1.0, C.PREDICTION_SIGMA_DB)
    rows = []
    for (carrier, radio), _ in predicted.groupby(["carrier", "radio"], sort=True):
        mine = pairs.loc[(pairs["carrier"] == carrier) & (pairs["radio"] == radio)]
        fit = pooled
        if len(mine) >= MIN_CALIBRATION_CELLS:
            fit = _robust_line(mine["predicted_dbm"].to_numpy(float),
                               mine["median_dbm"].to_numpy(float))  # fmt: skip
        rows.append(dict(zip(_COLUMNS, (carrier, radio, *fit, len(mine)), strict=True)))
    carriers = pd.DataFrame(rows, columns=_COLUMNS)
    if "site_id" not in pairs or pairs.empty:
        return Calibration(carriers, Calibration.none().sites)
    corrected = apply_calibration(pairs, Calibration(carriers, Calibration.none().sites))
    corrected["residual"] = corrected["median_dbm"] - corrected["calibrated_dbm"]
    per_site = corrected.groupby("site_id")["residual"].agg(["median", "size"])
    per_site = per_site.loc[per_site["size"] >= MIN_SITE_CELLS]
    shrink = per_site["size"] / (per_site["size"] + SITE_SHRINKAGE_CELLS)
    sites = pd.DataFrame({
        "site_id": per_site.index, "site_offset_db": (per_site["median"] * shrink).to_numpy(),
        "cells": per_site["size"].to_numpy(),
    })  # fmt: skip
    return Calibration(carriers, sites)


def apply_calibration(predicted: pd.DataFrame, calibration: Calibration) -> pd.DataFrame:
    """Add ``calibrated_dbm`` and ``sigma_db`` to predicted rows.

    calibrated = ref + offset + slope·(predicted − ref) + site offset.
    """
    table = predicted.merge(calibration.carriers.drop(columns="cells"), on=["carrier", "radio"],
                            how="left")  # fmt: skip
    table["offset_db"] = table["offset_db"].astype(float).fillna(0.0)
    table["slope"] = table["slope"].astype(float).fillna(1.0)
    table["sigma_db"] = table["sigma_db"].astype(float).fillna(C.PREDICTION_SIGMA_DB)
    site_offset = 0.0
    if "site_id" in table and len(calibration.sites):
        by_site = calibration.sites.set_index("site_id")["site_offset_db"]
        site_offset = table["site_id"].map(by_site).astype(float).fillna(0.0)
    table["calibrated_dbm"] = (
        REFERENCE_DBM
        + table["offset_db"]
        + table["slope"] * (table["predicted_dbm"] - REFERENCE_DBM)
        + site_offset
    )
    return table.drop(columns=["offset_db", "slope"])
