"""Fuse readings with the prediction into P(usable signal) per cell and carrier.

Steps 3 and 4 of the pipeline. Where a cell has readings they rule; where it
has few, the calibrated prediction fills in. Every estimate carries its
probability of usable signal, its class and its evidence label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from geodata import constants as C

# A prediction weighs as much as this many readings when blended with a
# cell's own readings (a Beta-binomial prior of strength 2): two readings
# already move the estimate halfway, as a surveyor would trust them.
PRIOR_READINGS = 2.0
# Calibration needs this many cells with both a measured mean and a
# prediction before a carrier/radio gets an offset of its own.
MIN_CALIBRATION_CELLS = 5
# Cells where more than this share of readings had no service have a mean
# dBm biased upwards (the lost readings carry no dBm); calibration skips them.
MAX_NO_SERVICE_SHARE_FOR_CALIBRATION = 0.2
# Bounds on the fitted prediction error, in dB.
SIGMA_BOUNDS_DB = (4.0, 15.0)


def calibrate(measured: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """Fit an offset and error σ per carrier and radio: measured − predicted.

    Robust: the offset is the median residual and σ is 1.4826·MAD (the
    normal-consistent median absolute deviation), over cells with a usable
    mean and few no-service readings.

    Parameters
    ----------
    measured : DataFrame
        Cell statistics (``h3, carrier, radio, count, no_service_count, mean_dbm``).
    predicted : DataFrame
        ``h3, carrier, radio, predicted_dbm``.

    Returns
    -------
    DataFrame
        ``carrier, radio, offset_db, sigma_db, cells``.
    """
    clean = measured.loc[
        (measured["count"] - measured["no_service_count"] >= 1)
        & (measured["no_service_count"] <= MAX_NO_SERVICE_SHARE_FOR_CALIBRATION * measured["count"])
    ]
    pairs = clean.merge(predicted, on=["h3", "carrier", "radio"], how="inner")
    pairs["residual"] = pairs["mean_dbm"] - pairs["predicted_dbm"]
    overall_offset = float(pairs["residual"].median()) if len(pairs) else 0.0
    rows = []
    for (carrier, radio), _group in predicted.groupby(["carrier", "radio"]):
        fit = pairs.loc[(pairs["carrier"] == carrier) & (pairs["radio"] == radio), "residual"]
        basis = fit if len(fit) >= MIN_CALIBRATION_CELLS else pairs["residual"]
        offset = float(basis.median()) if len(fit) >= MIN_CALIBRATION_CELLS else overall_offset
        if len(basis) >= MIN_CALIBRATION_CELLS:
            sigma = 1.4826 * float((basis - basis.median()).abs().median())
        else:
            sigma = C.PREDICTION_SIGMA_DB
        rows.append({
            "carrier": carrier, "radio": radio, "offset_db": offset,
            "sigma_db": float(np.clip(sigma, *SIGMA_BOUNDS_DB)), "cells": len(fit),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["carrier", "radio", "offset_db", "sigma_db", "cells"])


def predicted_probability(predicted: pd.DataFrame, calibration: pd.DataFrame) -> pd.DataFrame:
    """P(usable) per cell and carrier from the calibrated prediction.

    P = Φ((predicted + offset − usable threshold) / σ); a carrier's best
    radio in the cell is kept.
    """
    table = predicted.merge(calibration, on=["carrier", "radio"], how="left")
    table["offset_db"] = table["offset_db"].fillna(0.0)
    table["sigma_db"] = table["sigma_db"].fillna(C.PREDICTION_SIGMA_DB)
    table["calibrated_dbm"] = table["predicted_dbm"] + table["offset_db"]
    threshold = table["radio"].map(C.USABLE_DBM).to_numpy(float)
    margin = table["calibrated_dbm"].to_numpy(float) - threshold
    table["p_predicted"] = norm.cdf(margin / table["sigma_db"].to_numpy(float))
    table = table.sort_values("p_predicted", ascending=False)
    best = table.drop_duplicates(["h3", "carrier"])
    return best[["h3", "carrier", "radio", "calibrated_dbm", "p_predicted"]].rename(
        columns={"radio": "predicted_radio"}
    )


def measured_by_carrier(stats: pd.DataFrame) -> pd.DataFrame:
    """Pool a cell's readings over radios: does the carrier give usable signal?

    A phone camps on the best radio it can; a reading on UMTS already says
    LTE was not usable there, so a carrier's evidence is all its readings.
    """
    if stats.empty:
        return pd.DataFrame({
            "h3": pd.Series(dtype="uint64"), "carrier": pd.Series(dtype="string"),
            **{c: pd.Series(dtype=float) for c in ("count", "usable_count", "no_service_count",
                                                  "mean_dbm", "std_dbm", "days")},
            "measured_radio": pd.Series(dtype=object),
        })  # fmt: skip
    weighted = stats.assign(
        _sum=stats["mean_dbm"].fillna(0) * (stats["count"] - stats["no_service_count"])
    )
    pooled = weighted.groupby(["h3", "carrier"], sort=False).agg(
        count=("count", "sum"),
        usable_count=("usable_count", "sum"),
        no_service_count=("no_service_count", "sum"),
        _sum=("_sum", "sum"),
        std_dbm=("std_dbm", "max"),
        days=("days", "max"),
    )
    served = pooled["count"] - pooled["no_service_count"]
    pooled["mean_dbm"] = np.where(served > 0, pooled["_sum"] / served.where(served > 0, 1), np.nan)
    top = stats.sort_values("usable_count", ascending=False).drop_duplicates(["h3", "carrier"])
    pooled = pooled.drop(columns="_sum").reset_index()
    return pooled.merge(
        top[["h3", "carrier", "radio"]].rename(columns={"radio": "measured_radio"}),
        on=["h3", "carrier"],
    )


def classify(p_usable: np.ndarray, dbm: np.ndarray, radio: np.ndarray) -> np.ndarray:
    """Cell class from P(usable) and the typical dBm (Android levels).

    ``no_signal`` below :data:`~geodata.constants.USABLE_P_LOW`, ``patchy``
    up to :data:`~geodata.constants.USABLE_P_HIGH`; above it the Android level
    of the dBm gives ``weak`` (1 bar), ``fair`` (2) or ``good`` (3–4);
    ``unknown`` where P is NaN.
    """
    p = np.asarray(p_usable, float)
    levels = np.array([C.SIGNAL_LEVELS_DBM.get(r, (np.nan,) * 4) for r in radio]).reshape(-1, 4)
    dbm = np.asarray(dbm, float)
    with np.errstate(invalid="ignore"):
        served = np.where(
            dbm >= levels[:, 2], "good", np.where(dbm >= levels[:, 1], "fair", "weak")
        )
    out = np.where(
        p >= C.USABLE_P_HIGH, served, np.where(p >= C.USABLE_P_LOW, "patchy", "no_signal")
    )
    return np.where(np.isnan(p), "unknown", out)


def fuse(
    cells: np.ndarray,
    carriers: list[str],
    *,
    measured: pd.DataFrame,
    predicted: pd.DataFrame,
    site_carriers: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """P(usable) per (cell, carrier) from readings and the prediction.

    P = (usable readings + k·P_predicted) / (readings + k), with k =
    :data:`PRIOR_READINGS`: a Beta-binomial posterior mean whose prior is the
    prediction. A carrier listed in ``site_carriers`` (its sites are known)
    but with none in range gets a prior of 0: predicted absent. A carrier
    without known sites and without readings in the cell has evidence ``none``.

    Returns
    -------
    DataFrame
        ``h3, carrier, count, usable_count, p_usable, dbm, radio, evidence,
        cell_class``.
    """
    grid = pd.MultiIndex.from_product([np.unique(cells), carriers], names=["h3", "carrier"])
    table = pd.DataFrame(index=grid).reset_index()
    table = table.merge(measured, on=["h3", "carrier"], how="left")
    table = table.merge(predicted, on=["h3", "carrier"], how="left")
    n = table["count"].fillna(0).to_numpy(float)
    usable = table["usable_count"].fillna(0).to_numpy(float)
    has_prediction = (
        table["p_predicted"].notna() | table["carrier"].isin(site_carriers)
    ).to_numpy()
    prior = table["p_predicted"].fillna(0.0).to_numpy(float)
    p = (usable + PRIOR_READINGS * prior) / (n + PRIOR_READINGS)
    evidence = np.where(
        n >= C.MIN_READINGS_MEASURED, "measured", np.where(has_prediction, "predicted", "none")
    )
    evidence = np.where((evidence == "none") & (n > 0), "measured", evidence)
    table["count"] = n.astype(int)
    table["usable_count"] = usable.astype(int)
    table["p_usable"] = p
    table["dbm"] = table["mean_dbm"].where(n >= C.MIN_READINGS_MEASURED, table["calibrated_dbm"])
    table["radio"] = table["measured_radio"].fillna(table["predicted_radio"]).fillna("lte")
    table["evidence"] = evidence
    table["cell_class"] = classify(p, table["dbm"].to_numpy(float), table["radio"].to_numpy(str))
    return table[["h3", "carrier", "count", "usable_count", "p_usable", "dbm", "radio",
                  "evidence", "cell_class"]]  # fmt: skip
