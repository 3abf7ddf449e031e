"""Calibrate the path-loss prediction against the readings.

The measured median is fitted as the prediction plus an offset, a slope and
a scale on the predicted terrain (diffraction) loss, robustly. The slope and
the diffraction scale describe propagation, the same for every carrier: they
are fitted once on all carriers and radios; the offset per carrier and radio.
Then sites with enough measured cells of their own get an offset each: a
site's real power, tilt and feeder losses are never in the site file.

Cells where every reading lost service say only that the median lies below
what the readings could show: they bound the fit from above instead of
pulling it to their (read-off) value (see :func:`calibrate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from coverage import thresholds as T

# Calibration needs this many measured cells before a carrier/radio gets an
# offset of its own (else the pooled fit of all carriers and radios is used).
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
# The predicted diffraction loss is scaled by a factor in this range. Deygout's
# construction sums the losses of up to three edges and over-estimates the
# loss behind several rounded ridges (ITU-R P.526-15 §4.5 warns that it
# "may overestimate" for multiple edges; Epstein-Peterson under-estimates),
# so the readings decide the scale; above 1.5 or below 0 it is not physics.
DIFFRACTION_SCALE_BOUNDS = (0.0, 1.5)
# The shared terms are fitted on at most this many cells (a fixed random
# subset): two shape terms and an offset per carrier/radio are pinned to
# ~0.01 by 20,000 cells, and the fit's cost grows with the cells × terms.
CALIBRATION_POINTS = 20_000
# Bounds on the fitted prediction error, in dB.
SIGMA_BOUNDS_DB = (4.0, 15.0)

# The calibrated model is the prediction plus a linear correction:
#   calibrated = predicted + offset + (slope − 1)·(predicted − ref)
#                − (diffraction_scale − 1)·diffraction + site offset
# a reduced form of the "Standard Propagation Model" tuning of planning tools
# (a K per term, fitted to drive tests). Fitted per carrier and radio, the
# shape terms chased the selection of the readings (UMTS is read only where
# LTE fails, so its cells never span the range) and over-rated hamlets in
# deep shadow; fitted once on every carrier and radio, with cells that lost
# all service as upper bounds, they lower the demo's cross-validated RMSE by
# ~1 dB and village verdicts gain (95.6 % against 94.9 % over 13 seeds).
_TERMS = ("offset_db", "slope", "diffraction_scale")
# Terms shared by every carrier and radio (fitted on them all).
_SHAPE_TERMS = ("slope", "diffraction_scale")
_IDENTITY = {"offset_db": 0.0, "slope": 1.0, "diffraction_scale": 1.0}
_BOUNDS = {
    "offset_db": (-np.inf, np.inf),
    "slope": SLOPE_BOUNDS,
    "diffraction_scale": DIFFRACTION_SCALE_BOUNDS,
}
_COLUMNS = ["carrier", "radio", *_TERMS, "sigma_db", "cells"]


@dataclass(frozen=True)
class Calibration:
    """Fitted corrections: per (carrier, radio) and per site."""

    carriers: pd.DataFrame  # carrier, radio, offset_db, slope, sigma_db, cells
    sites: pd.DataFrame  # site_id, site_offset_db, cells

    @classmethod
    def none(cls) -> Calibration:
        """No correction at all."""
        return cls(
            pd.DataFrame(columns=_COLUMNS),
            pd.DataFrame(columns=["site_id", "site_offset_db", "cells"]),
        )


def _features(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Build the correction terms' regressors for each row (see the model above).

    Without a ``diffraction_db`` column (no terrain) that term is zero.
    """
    predicted = table["predicted_dbm"].to_numpy(float)
    diffraction = (
        table["diffraction_db"].to_numpy(float)
        if "diffraction_db" in table
        else np.zeros(len(table))
    )
    return {
        "offset_db": np.ones(len(table)),
        "slope": predicted - REFERENCE_DBM,
        "diffraction_scale": -np.nan_to_num(diffraction),
    }


def _robust_fit(
    table: pd.DataFrame,
    measured: np.ndarray,
    *,
    fixed: dict[str, float] | None = None,
    groups: np.ndarray | None = None,
) -> tuple[dict[str, float], float]:
    """Correction terms and σ fitted to ``measured − predicted``, robustly.

    Soft-L1 least squares (scipy ``least_squares``, loss="soft_l1"): a few
    wild cells (a reading taken indoors, a GPS jump) do not drag the fit.
    Rows flagged ``upper_bound`` (every reading lost service) count only
    when the model rises above their value, a hinge: the censored-data
    likelihood of a Tobit regression reduced to its one-sided penalty (the
    read-off median of a cell where nothing was received is a ceiling, not
    a measurement: on the demo it sits ~15 dB above the truth). Terms in
    ``fixed`` keep their given values. With ``groups`` (integer codes),
    each group has an offset of its own and the other terms are shared, so
    that carriers' different powers do not leak into the shape; the offset
    returned is their mean weighted by rows. σ is 1.4826·MAD of the
    residuals of the other rows, normal-consistent.
    """
    features = _features(table)
    fixed = fixed or {}
    names = [n for n in _TERMS if n not in fixed]
    codes = np.zeros(len(table), dtype=np.intp) if groups is None else np.asarray(groups)
    n_groups = int(codes.max()) + 1
    offsets = np.zeros((len(table), n_groups))
    offsets[np.arange(len(table)), codes] = 1.0
    shape = [n for n in names if n != "offset_db"]
    design = np.column_stack([offsets, *(features[n] for n in shape)])
    target = measured - table["predicted_dbm"].to_numpy(float)
    for name, value in fixed.items():
        target = target - (value - _IDENTITY[name]) * features[name]
    bound = (
        table["upper_bound"].to_numpy(bool)
        if "upper_bound" in table
        else np.zeros(len(table), dtype=bool)
    )
    points = target[~bound] if (~bound).any() else target
    scale = max(1.4826 * float(np.median(np.abs(points - np.median(points)))), 1.0)
    start = [float(np.median(points))] * n_groups + [0.0] * len(shape)
    lower = [-np.inf] * n_groups + [_BOUNDS[n][0] - _IDENTITY[n] for n in shape]
    upper = [np.inf] * n_groups + [_BOUNDS[n][1] - _IDENTITY[n] for n in shape]

    def residuals(k: np.ndarray) -> np.ndarray:
        error = design @ k - target
        out: np.ndarray = np.where(bound, np.maximum(error, 0.0), error)
        return out

    def jacobian(k: np.ndarray) -> np.ndarray:
        # Exact (a bound row is flat below its ceiling): no finite differences.
        active = ~bound | (design @ k > target)
        out: np.ndarray = design * active[:, None]
        return out

    fit = least_squares(
        residuals, x0=start, jac=jacobian, bounds=(lower, upper), loss="soft_l1", f_scale=scale
    )
    residual = (target - design @ fit.x)[~bound]
    sigma = (
        1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        if len(residual)
        else T.PREDICTION_SIGMA_DB
    )
    weight = np.bincount(codes, minlength=n_groups) / len(codes)
    terms = {n: float(v) + _IDENTITY[n] for n, v in zip(shape, fit.x[n_groups:], strict=True)}
    terms["offset_db"] = float(weight @ fit.x[:n_groups])
    return {**terms, **fixed}, float(np.clip(sigma, *SIGMA_BOUNDS_DB))


def calibrate(observed: pd.DataFrame, predicted: pd.DataFrame) -> Calibration:
    """Fit the prediction to the measured cell medians.

    Parameters
    ----------
    observed : DataFrame
        Measured cells with ``h3, carrier, radio, count, median_dbm`` (see
        :func:`coverage.censoring.observed_median`); with ``no_service_count``,
        cells where every reading lost service bound the fit from above.
    predicted : DataFrame
        ``h3, carrier, radio, predicted_dbm, site_id``, optionally
        ``diffraction_db`` (the terrain loss inside ``predicted_dbm``).

    Returns
    -------
    Calibration
    """
    enough = observed.loc[observed["count"] >= T.MIN_READINGS_MEASURED]
    pairs = enough.merge(predicted, on=["h3", "carrier", "radio"], how="inner")
    if "no_service_count" in pairs:
        pairs["upper_bound"] = (pairs["no_service_count"] >= pairs["count"]).to_numpy(bool)
    pooled = (dict(_IDENTITY), T.PREDICTION_SIGMA_DB)
    if len(pairs) >= MIN_CALIBRATION_CELLS:
        sample = pairs
        if len(pairs) > CALIBRATION_POINTS:
            chosen = np.random.default_rng(0).choice(len(pairs), CALIBRATION_POINTS, replace=False)
            sample = pairs.iloc[np.sort(chosen)]
        codes, _ = pd.MultiIndex.from_frame(sample[["carrier", "radio"]].astype(object)).factorize()
        pooled = _robust_fit(sample, sample["median_dbm"].to_numpy(float), groups=codes)
    shape = {name: pooled[0][name] for name in _SHAPE_TERMS}
    rows = []
    for (carrier, radio), _ in predicted.groupby(["carrier", "radio"], sort=True):
        mine = pairs.loc[(pairs["carrier"] == carrier) & (pairs["radio"] == radio)]
        terms, sigma = pooled
        if len(mine) >= MIN_CALIBRATION_CELLS:
            terms, sigma = _robust_fit(mine, mine["median_dbm"].to_numpy(float), fixed=shape)
        rows.append(
            {"carrier": carrier, "radio": radio, **terms, "sigma_db": sigma, "cells": len(mine)}
        )
    carriers = pd.DataFrame(rows, columns=_COLUMNS)
    if "site_id" not in pairs or pairs.empty:
        return Calibration(carriers, Calibration.none().sites)
    corrected = apply_calibration(pairs, Calibration(carriers, Calibration.none().sites))
    corrected["residual"] = corrected["median_dbm"] - corrected["calibrated_dbm"]
    if "upper_bound" in corrected:  # a ceiling is no measure of a site's power
        corrected = corrected.loc[~corrected["upper_bound"]]
    per_site = corrected.groupby("site_id")["residual"].agg(["median", "size"])
    per_site = per_site.loc[per_site["size"] >= MIN_SITE_CELLS]
    shrink = per_site["size"] / (per_site["size"] + SITE_SHRINKAGE_CELLS)
    sites = pd.DataFrame(
        {
            "site_id": per_site.index,
            "site_offset_db": (per_site["median"] * shrink).to_numpy(),
            "cells": per_site["size"].to_numpy(),
        }
    )
    return Calibration(carriers, sites)


def apply_calibration(predicted: pd.DataFrame, calibration: Calibration) -> pd.DataFrame:
    """Add ``calibrated_dbm`` and ``sigma_db`` to predicted rows (see the model above)."""
    table = predicted.merge(
        calibration.carriers.drop(columns="cells"), on=["carrier", "radio"], how="left"
    )
    defaults = {**_IDENTITY, "sigma_db": T.PREDICTION_SIGMA_DB}
    for name, value in defaults.items():
        table[name] = table[name].astype(float).fillna(value)
    features = _features(table)
    correction = sum(
        (table[name].to_numpy(float) - _IDENTITY[name]) * values
        for name, values in features.items()
    )
    site_offset = np.zeros(len(table))
    if "site_id" in table and len(calibration.sites):
        by_site = calibration.sites.set_index("site_id")["site_offset_db"]
        site_offset = table["site_id"].map(by_site).astype(float).fillna(0.0).to_numpy()
    table["calibrated_dbm"] = table["predicted_dbm"].to_numpy(float) + correction + site_offset
    return table.drop(columns=list(_TERMS))
