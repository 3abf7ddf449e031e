"""Fuse readings with the prediction into P(usable signal) per cell and carrier.

Steps 3 and 4 of the pipeline. Where a cell has readings they rule; where it
has few, the calibrated prediction fills in. Every estimate carries its
probability of usable signal, its class and its evidence label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from coverage.calibration import SIGMA_BOUNDS_DB, Calibration, apply_calibration
from coverage.hexgrid import parent_cells
from coverage.kriging import fit_variogram, simple_krige
from geodata import constants as C

# A prediction weighs as much as this many readings when blended with a
# cell's own readings (a Beta-binomial prior of strength 2): two readings
# already move the estimate halfway, as a surveyor would trust them.
PRIOR_READINGS = 2.0
# Cells where more than this share of readings had no service have a mean
# dBm biased upwards (the lost readings carry no dBm): their median is read
# from the share of usable readings instead (see observed_median).
MAX_NO_SERVICE_SHARE = 0.2


# w(u) = u + φ(u)/Φ(u): the standardised mean of a normal truncated below
# its floor, as a function of the standardised median u = (μ − floor)/σ. It
# rises monotonically from 0 (u → −∞) to u (u ≫ 0); tabulated once, inverted
# by interpolation.
_U = np.linspace(-6.0, 8.0, 561)
_W = _U + norm.pdf(_U) / norm.cdf(_U)


def reading_spread_db(stats: pd.DataFrame) -> float:
    """Typical spread (σ, dB) of readings within one cell: the median of the
    per-cell σ over cells with at least ten readings with service, well above
    any floor. 6 dB when there are none (3GPP TR 36.942 fading)."""
    served = stats["count"] - stats["no_service_count"]
    well = stats.loc[served >= 10, "std_dbm"].dropna()
    return float(np.clip(well.median(), 2.0, 10.0)) if len(well) else 6.0


def observed_median(
    measured: pd.DataFrame, *, floors: dict[str, float], spread_db: float
) -> pd.DataFrame:
    """The median dBm each measured cell shows, with lost readings accounted for.

    Readings below a phone's sensitivity ("floor") come as no-service, or not
    at all: many apps log nothing without service. So

    - where many readings lost service (share > :data:`MAX_NO_SERVICE_SHARE`),
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
        return cells.assign(median_dbm=pd.Series(dtype=float), censored=pd.Series(dtype=bool),
                            p_measured=pd.Series(dtype=float))  # fmt: skip
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
    use_share = (lost > MAX_NO_SERVICE_SHARE * count) | np.isnan(from_mean)
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


def predicted_probability(
    predicted: pd.DataFrame,
    calibration: Calibration,
    *,
    measured: pd.DataFrame | None = None,
    x: pd.Series | None = None,
    y: pd.Series | None = None,
) -> pd.DataFrame:
    """P(usable) per cell and carrier from the calibrated, kriged prediction.

    estimate = calibrated prediction (:func:`coverage.calibration.apply_calibration`)
    + kriged residual (when ``measured`` and the cells' metric coordinates
    ``x``/``y``, indexed by h3, are given); P = Φ((estimate − usable
    threshold) / σ), σ from the kriging variance (or the calibration's σ
    without kriging). A carrier's best radio in the cell is kept.
    """
    table = apply_calibration(predicted, calibration)
    if measured is not None and x is not None and y is not None and len(table):
        enough = measured.loc[measured["count"] >= C.MIN_READINGS_MEASURED]
        table = krige_residuals(table, enough, x, y)
    threshold = table["radio"].map(C.USABLE_DBM).to_numpy(float)
    margin = table["calibrated_dbm"].to_numpy(float) - threshold
    table["p_predicted"] = norm.cdf(margin / table["sigma_db"].to_numpy(float))
    return table[["h3", "carrier", "radio", "calibrated_dbm", "sigma_db", "p_predicted"]]


def best_radio(predicted: pd.DataFrame) -> pd.DataFrame:
    """Per cell and carrier, the radio the prediction rates most likely usable."""
    best = predicted.sort_values("p_predicted", ascending=False).drop_duplicates(["h3", "carrier"])
    return best.rename(columns={"radio": "predicted_radio"})


def signal_estimates(predicted: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """The estimate per (cell, carrier, radio): mean dBm, σ, P(usable), evidence.

    Where a cell has measured readings of the radio, its median and the
    prediction are blended by weight n / (n + k) (k = :data:`PRIOR_READINGS`),
    the same rule as :func:`fuse`; σ shrinks likewise. ``mean_dbm`` is
    floored at the low end of the radio's reporting range. ``evidence`` is
    ``measured`` (readings only), ``predicted`` (model only) or ``both``.

    Parameters
    ----------
    predicted : DataFrame
        From :func:`predicted_probability` (all radios).
    observed : DataFrame
        From :func:`observed_median`.
    """
    keys = ["h3", "carrier", "radio"]
    measured = observed.loc[observed["count"] >= C.MIN_READINGS_MEASURED,
                            [*keys, "count", "median_dbm", "p_measured"]]  # fmt: skip
    table = predicted.merge(measured, on=keys, how="outer")
    n = table["count"].fillna(0).to_numpy(float)
    has_model = table["calibrated_dbm"].notna().to_numpy()
    has_readings = n > 0
    weight = np.where(has_model, n / (n + PRIOR_READINGS), 1.0)
    model = table["calibrated_dbm"].to_numpy(float)
    seen = table["median_dbm"].to_numpy(float)
    mean = np.where(has_readings, weight * seen + (1 - weight) * np.nan_to_num(model), model)
    # Below its radio's reporting range a value only says "nothing": a phone
    # cannot show −160 dBm. Estimates are floored at the range's low end.
    floor = table["radio"].map({r: lo for r, (lo, _) in C.SIGNAL_RANGE_DBM.items()})
    table["mean_dbm"] = np.maximum(mean, floor.to_numpy(float))
    sigma = table["sigma_db"].fillna(C.PREDICTION_SIGMA_DB).to_numpy(float)
    table["sigma_db"] = np.where(has_readings, sigma * np.sqrt(1 - weight) + 1e-9, sigma)
    p_model = table["p_predicted"].fillna(0.0).to_numpy(float)
    p_seen = table["p_measured"].fillna(0.0).to_numpy(float)
    table["p_usable"] = np.where(has_readings, weight * p_seen + (1 - weight) * p_model, p_model)
    table["evidence"] = np.where(has_readings & has_model, "both",
                                 np.where(has_readings, "measured", "predicted"))  # fmt: skip
    table["count"] = n.astype(int)
    return table[[*keys, "mean_dbm", "sigma_db", "p_usable", "evidence", "count"]]


def krige_residuals(
    table: pd.DataFrame, observed: pd.DataFrame, x: pd.Series, y: pd.Series
) -> pd.DataFrame:
    """Add the kriged residual to ``calibrated_dbm`` and set σ, per carrier and radio.

    ``observed`` holds measured cells with ``median_dbm``; ``x``/``y`` are
    metric cell centres indexed by h3 covering both tables' cells. Sibling
    cells (one H3 parent) share a kriging neighbourhood (see
    :func:`coverage.kriging.simple_krige`).
    """
    parts = []
    for (carrier, radio), group in table.groupby(["carrier", "radio"], sort=False):
        mine = observed.loc[(observed["carrier"] == carrier) & (observed["radio"] == radio)]
        mine = mine.merge(group[["h3", "calibrated_dbm"]], on="h3")
        residual = (mine["median_dbm"] - mine["calibrated_dbm"]).to_numpy(float)
        ox = x.reindex(mine["h3"]).to_numpy(float)
        oy = y.reindex(mine["h3"]).to_numpy(float)
        variogram = fit_variogram(ox, oy, residual)
        targets = group["h3"].to_numpy(np.uint64)
        estimate, variance = simple_krige(
            ox, oy, residual, x.reindex(targets).to_numpy(float),
            y.reindex(targets).to_numpy(float), variogram=variogram,
            groups=parent_cells(targets),
        )  # fmt: skip
        group = group.assign(
            calibrated_dbm=group["calibrated_dbm"].to_numpy(float) + estimate,
            sigma_db=np.clip(np.sqrt(variance), *SIGMA_BOUNDS_DB),
        )
        parts.append(group)
    return pd.concat(parts, ignore_index=True)


def measured_by_carrier(observed: pd.DataFrame) -> pd.DataFrame:
    """A carrier's measured evidence per cell: its best radio's P(usable).

    A phone camps on the best radio it can, so the carrier serves a cell
    when any of its radios does. Among radios with enough readings the best
    P counts; with none, the most-read radio. ``count`` pools all readings.

    Parameters
    ----------
    observed : DataFrame
        Output of :func:`observed_median`.
    """
    columns = ["h3", "carrier", "count", "usable_count", "no_service_count", "mean_dbm",
               "p_measured", "measured_radio"]  # fmt: skip
    if observed.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns}).astype(
            {"h3": "uint64", "carrier": "string", "measured_radio": object}
        )
    enough = observed["count"] >= C.MIN_READINGS_MEASURED
    ranked = observed.assign(_enough=enough).sort_values(
        ["_enough", "p_measured", "count"], ascending=False
    )
    best = ranked.drop_duplicates(["h3", "carrier"]).set_index(["h3", "carrier"])
    pooled = observed.groupby(["h3", "carrier"], sort=False)[
        ["count", "usable_count", "no_service_count"]
    ].sum()
    pooled["mean_dbm"] = best["mean_dbm"]
    pooled["p_measured"] = best["p_measured"]
    pooled["measured_radio"] = best["radio"]
    return pooled.reset_index()[columns]


def classify(p_usable: np.ndarray, dbm: np.ndarray, radio: np.ndarray) -> np.ndarray:
    """Cell class from P(usable) and the typical dBm (Android levels).

    ``no_signal`` below :data:`~geodata.constants.USABLE_P_LOW`, ``patchy``
    up to :data:`~geodata.constants.USABLE_P_HIGH`; above it the Android level
    of the dBm gives ``weak`` (1 bar), ``fair`` (2) or ``good`` (3–4);
    ``unknown`` where P is NaN.
    """
    p = np.asarray(p_usable, float)
    # Levels looked up once per distinct radio, then spread to the cells.
    codes, radios = pd.factorize(np.asarray(radio))
    table = np.array([*(C.SIGNAL_LEVELS_DBM.get(str(r), (np.nan,) * 4) for r in radios),
                      (np.nan,) * 4], dtype=float)  # fmt: skip
    levels = table[codes]  # code -1 (no radio) takes the trailing NaNs
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

    P = (n·P_measured + k·P_predicted) / (n + k), with n the cell's readings
    and k = :data:`PRIOR_READINGS`: the measured evidence outweighs the
    prediction as readings accumulate. A carrier listed in ``site_carriers`` (its sites are known)
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
    measured_p = table["p_measured"].fillna(0.0).to_numpy(float)
    p = (n * measured_p + PRIOR_READINGS * prior) / (n + PRIOR_READINGS)
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
