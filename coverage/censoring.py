"""Censoring: the median dBm a cell shows when phones lose the weakest readings.

Step 1b of the pipeline (DESIGN.md): readings below a phone's sensitivity
come as no-service, or not at all, so the readings with service are a
sample truncated at the floor. :func:`reading_spread_db` measures how much
readings of one place spread; :func:`observed_median` corrects each measured
cell's median for the readings it lost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from coverage import thresholds as T
from geodata import constants as C

# w(u) = u + φ(u)/Φ(u): the standardised mean of a normal truncated below
# its floor, as a function of the standardised median u = (μ − floor)/σ. It
# rises monotonically from 0 (u → −∞) to u (u ≫ 0); tabulated once, inverted
# by interpolation.
_U = np.linspace(-6.0, 8.0, 561)
_W = _U + norm.pdf(_U) / norm.cdf(_U)


def reading_spread_db(stats: pd.DataFrame) -> float:
    """Measure the typical spread (σ_t, dB) of readings within one cell.

    The median of the per-cell σ over cells with at least
    :data:`~coverage.thresholds.SPREAD_MIN_SERVED_READINGS` readings with
    service, within :data:`~coverage.thresholds.SPREAD_BOUNDS_DB`;
    :data:`~coverage.thresholds.DEFAULT_FADING_DB` (6 dB, 3GPP TR 36.942)
    when no cell has that many.

    Parameters
    ----------
    stats : DataFrame
        Cell statistics (``count``, ``no_service_count``, ``std_dbm``).

    Returns
    -------
    float

    Examples
    --------
    >>> stats = pd.DataFrame({"count": [20, 30], "no_service_count": [0, 0],
    ...                       "std_dbm": [4.0, 6.0]})
    >>> reading_spread_db(stats)
    5.0
    """
    served = stats["count"] - stats["no_service_count"]
    well = stats.loc[served >= T.SPREAD_MIN_SERVED_READINGS, "std_dbm"].dropna()
    low, high = T.SPREAD_BOUNDS_DB
    return float(np.clip(well.median(), low, high)) if len(well) else T.DEFAULT_FADING_DB


def observed_median(
    measured: pd.DataFrame, *, floors: dict[str, float], spread_db: float
) -> pd.DataFrame:
    """Estimate the median dBm each measured cell shows, with lost readings accounted for.

    Readings below a phone's sensitivity ("floor") come as no-service, or not
    at all: many apps log nothing without service. So

    - where many readings lost service (share > :data:`~coverage.thresholds.MAX_NO_SERVICE_SHARE`),
      the median is read off that share: μ = floor + σ·Φ⁻¹(1 − share);
    - elsewhere the readings with service are a sample truncated at the
      floor, and their mean overstates μ near it; μ is the median whose
      truncated mean equals the observed one (inverse of :data:`_W`).

    Returns the input rows with ``median_dbm``, ``censored`` (True where the
    median was read off the share of lost readings: an order of magnitude,
    not a measurement) and ``p_measured``: the share of usable readings where
    many lost service, else Φ((μ − usable threshold)/σ).
    """
    cells = measured.copy()
    if cells.empty:
        return cells.assign(
            median_dbm=pd.Series(dtype=float),
            censored=pd.Series(dtype=bool),
            p_measured=pd.Series(dtype=float),
        )
    count = cells["count"].to_numpy(float)
    lost = cells["no_service_count"].to_numpy(float)
    floor = cells["radio"].map(floors).to_numpy(float)
    share_lost = (lost + 0.5) / (count + 1.0)
    from_share = floor + spread_db * norm.ppf(1.0 - share_lost)
    standardised = (cells["mean_dbm"].to_numpy(float) - floor) / spread_db
    # Beyond the table w(u) = u (to 1e-14): far above the floor nothing is
    # truncated and the mean is the median. np.interp alone would clamp every
    # strong cell to floor + 8σ (about −81 dBm for LTE).
    inverse = np.interp(standardised, _W, _U)
    from_mean = floor + spread_db * np.where(standardised > _W[-1], standardised, inverse)
    use_share = (lost > T.MAX_NO_SERVICE_SHARE * count) | np.isnan(from_mean)
    cells["median_dbm"] = np.where(use_share, from_share, from_mean)
    cells["censored"] = use_share
    threshold = cells["radio"].map(C.USABLE_DBM).to_numpy(float)
    from_median = norm.cdf((cells["median_dbm"].to_numpy(float) - threshold) / spread_db)
    # Where phones did report losing service, the share of usable readings is
    # P itself, whatever the shape of the dBm distribution (service can come
    # and go at a strong median too: congestion, handover, a moving shadow).
    share_usable = cells["usable_count"].to_numpy(float) / np.maximum(count, 1.0)
    cells["p_measured"] = np.where(use_share, share_usable, from_median)
    return cells
