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

# The calibrated model is the prediction plus a linear correction:
#   calibrated = predicted + offset + (slope − 1)·(predicted − ref) + site offset
# A richer correction on distance and diffraction separately (the "Standard
# Propagation Model" tuning of planning tools) was tried: it lowered the
# demo's cross-validated RMSE by ~1.5 dB but judged hamlets in shadow worse
# (verdict accuracy 92 % against 95 % over 12 seeds), so it is not used.
_TERMS = ("offset_db", "slope")
_COLUMNS = ["carrier", "radio", *_TERMS, "sigma_db", "cells"]


@dataclass(frozen=True)
class Calibration:
    """Fitted corrections: per (carrier, radio) and per site."""

    carriers: pd.DataFrame  # carrier, radio, offset_db, slope, sigma_db, cells
    sites: pd.DataFrame  # site_id, site_offset_db, cells

    @classmethod
    def none(cls) -> Calibration:
        """No correction at all."""
        return cls(pd.DataFrame(columns=_COLUMNS),
                   pd.DataFrame(columns=["site_id", "site_offset_db", "cells"]))  # fmt: skip


def _features(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The correction terms' regressors for each row (see the model above)."""
    predicted = table["predicted_dbm"].to_numpy(float)
    return {"offset_db": np.ones(len(table)), "slope": predicted - REFERENCE_DBM}


def _robust_fit(table: pd.DataFrame, measured: np.ndarray) -> tuple[dict[str, float], float]:
    """Correction terms and σ fitted to ``measured − predicted``, robustly.

    Soft-L1 least squares (scipy ``least_squares``, loss="soft_l1"): a few
    wild cells (a reading taken indoors, a GPS jump) do not drag the fit.
    σ is 1.4826·MAD of the residuals, normal-consistent.
    """
    features = _features(table)
    names = list(features)
    design = np.column_stack([features[n] for n in names])
    target = measured - table["predicted_dbm"].to_numpy(float)
    scale = max(1.4826 * float(np.median(np.abs(target - np.median(target)))), 1.0)
    start = [float(np.median(target)) if n == "offset_db" else 0.0 for n in names]
    lower = [-np.inf, SLOPE_BOUNDS[0] - 1.0]
    upper = [np.inf, SLOPE_BOUNDS[1] - 1.0]
    fit = least_squares(lambda k: design @ k - target, x0=start, bounds=(lower, upper),
                        loss="soft_l1", f_scale=scale)  # fmt: skip
    residual = target - design @ fit.x
    sigma = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    terms = {"offset_db": float(fit.x[0]), "slope": float(fit.x[1]) + 1.0}
    return terms, float(np.clip(sigma, *SIGMA_BOUNDS_DB))


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
    identity = {"offset_db": 0.0, "slope": 1.0}
    pooled = (identity, C.PREDICTION_SIGMA_DB)
    if len(pairs) >= MIN_CALIBRATION_CELLS:
        pooled = _robust_fit(pairs, pairs["median_dbm"].to_numpy(float))
    rows = []
    for (carrier, radio), _ in predicted.groupby(["carrier", "radio"], sort=True):
        mine = pairs.loc[(pairs["carrier"] == carrier) & (pairs["radio"] == radio)]
        terms, sigma = pooled
        if len(mine) >= MIN_CALIBRATION_CELLS:
            terms, sigma = _robust_fit(mine, mine["median_dbm"].to_numpy(float))
        rows.append({"carrier": carrier, "radio": radio, **terms, "sigma_db": sigma,
                     "cells": len(mine)})  # fmt: skip
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
    """Add ``calibrated_dbm`` and ``sigma_db`` to predicted rows (see the model above)."""
    table = predicted.merge(calibration.carriers.drop(columns="cells"), on=["carrier", "radio"],
                            how="left")  # fmt: skip
    defaults = {"offset_db": 0.0, "slope": 1.0, "sigma_db": C.PREDICTION_SIGMA_DB}
    for name, value in defaults.items():
        table[name] = table[name].astype(float).fillna(value)
    features = _features(table)
    correction = sum(
        (table[name].to_numpy(float) - (1.0 if name == "slope" else 0.0)) * values
        for name, values in features.items()
    )
    site_offset = np.zeros(len(table))
    if "site_id" in table and len(calibration.sites):
        by_site = calibration.sites.set_index("site_id")["site_offset_db"]
        site_offset = table["site_id"].map(by_site).astype(float).fillna(0.0).to_numpy()
    table["calibrated_dbm"] = table["predicted_dbm"].to_numpy(float) + correction + site_offset
    return table.drop(columns=list(_TERMS))
