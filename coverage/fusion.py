"""Fuse readings with the prediction into P(usable signal) per cell and carrier.

Step 3 of the pipeline. The prediction's availability comes first
(:func:`predicted_probability`: calibrated, with the residuals kriged);
then, where a cell has readings they rule, and where it has few the
prediction fills in (:func:`fuse`). Every estimate carries its probability
of usable signal, its class (:mod:`coverage.classify`) and its evidence
label. The censoring-corrected medians it starts from come from
:mod:`coverage.censoring`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from coverage import thresholds as T
from coverage._kernels import grid_rows, labels_from_codes, outer_join, spread
from coverage.calibration import SIGMA_BOUNDS_DB, Calibration, apply_calibration, calibrate
from coverage.classify import CELL_CLASSES, class_codes
from coverage.evidence import Evidence
from coverage.kriging import Variogram, fit_variogram, group_spread_m, simple_krige
from coverage.predict import Prediction
from geodata import constants as C
from geodata.hexgrid import parent_cells, unique_cells
from geodata.sites import carrier_names
from geodata.threads import map_in_order


def predicted_probability(
    predicted: pd.DataFrame,
    calibration: Calibration,
    *,
    measured: pd.DataFrame | None = None,
    x: pd.Series | None = None,
    y: pd.Series | None = None,
    fading_db: float = T.DEFAULT_FADING_DB,
) -> pd.DataFrame:
    """Availability per cell, carrier and radio from the calibrated, kriged prediction.

    estimate = calibrated prediction (:func:`coverage.calibration.apply_calibration`)
    + kriged residual (when ``measured`` and the cells' metric coordinates
    ``x``/``y``, indexed by h3, are given); ``sigma_db`` is its standard
    error (the kriging variance, or the calibration's σ without kriging).
    ``p_predicted`` = Φ((estimate − usable threshold) / σ_t): the share of
    time service is usable at that median, with σ_t = ``fading_db`` the
    temporal spread of readings. Our uncertainty about the estimate stays in
    ``sigma_db``; it is not mixed into the availability.
    """
    table = apply_calibration(predicted, calibration)
    if measured is not None and x is not None and y is not None and len(table):
        enough = measured.loc[measured["count"] >= T.MIN_READINGS_MEASURED]
        table = krige_residuals(table, enough, x, y)
    threshold = table["radio"].map(C.USABLE_DBM).to_numpy(float)
    margin = table["calibrated_dbm"].to_numpy(float) - threshold
    table["p_predicted"] = norm.cdf(margin / fading_db)
    return table[["h3", "carrier", "radio", "calibrated_dbm", "sigma_db", "p_predicted"]]


def best_radio(predicted: pd.DataFrame) -> pd.DataFrame:
    """Pick, per cell and carrier, the radio the prediction rates most likely usable.

    The largest margin above its radio's usable level wins.
    """
    margin = predicted["calibrated_dbm"] - predicted["radio"].map(C.USABLE_DBM).astype(float)
    order = np.argsort(-margin.to_numpy(float), kind="stable")
    best = predicted.iloc[order].drop_duplicates(["h3", "carrier"])
    return best.rename(columns={"radio": "predicted_radio"})


def signal_estimates(predicted: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """Blend readings and model per (cell, carrier, radio): mean dBm, σ, P(usable), evidence.

    Where a cell has measured readings of the radio, its median and the
    prediction are blended by weight n / (n + k) (k = :data:`~coverage.thresholds.PRIOR_READINGS`),
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
    measured = observed.loc[
        observed["count"] >= T.MIN_READINGS_MEASURED, [*keys, "count", "median_dbm", "p_measured"]
    ]
    table = outer_join(predicted, measured, keys)
    n = table["count"].fillna(0).to_numpy(float)
    has_model = table["calibrated_dbm"].notna().to_numpy()
    has_readings = n > 0
    weight = np.where(has_model, n / (n + T.PRIOR_READINGS), 1.0)
    model = table["calibrated_dbm"].to_numpy(float)
    seen = table["median_dbm"].to_numpy(float)
    mean = np.where(has_readings, weight * seen + (1 - weight) * np.nan_to_num(model), model)
    # Below its radio's reporting range a value only says "nothing": a phone
    # cannot show −160 dBm. Estimates are floored at the range's low end.
    codes, radios = pd.factorize(table["radio"])
    floors = {r: lo for r, (lo, _) in C.SIGNAL_RANGE_DBM.items()}
    floor = np.array([*(floors.get(r, np.nan) for r in radios), np.nan])[codes]
    table["mean_dbm"] = np.maximum(mean, floor)
    sigma = table["sigma_db"].fillna(T.PREDICTION_SIGMA_DB).to_numpy(float)
    table["sigma_db"] = np.where(has_readings, sigma * np.sqrt(1 - weight) + 1e-9, sigma)
    p_model = table["p_predicted"].fillna(0.0).to_numpy(float)
    p_seen = table["p_measured"].fillna(0.0).to_numpy(float)
    table["p_usable"] = np.where(has_readings, weight * p_seen + (1 - weight) * p_model, p_model)
    table["evidence"] = np.where(
        has_readings & has_model, "both", np.where(has_readings, "measured", "predicted")
    )
    table["count"] = n.astype(int)
    return table[[*keys, "mean_dbm", "sigma_db", "p_usable", "evidence", "count"]]


@dataclass(frozen=True)
class KrigingFit:
    """What kriging one carrier and radio needs from the whole analysis.

    Attributes
    ----------
    variogram : Variogram
        Fitted on every residual of the carrier and radio (:func:`~coverage.kriging.fit_variogram`).
    centre : (float, float)
        The observations' mean position (metres), where float32 distances are centred.
    spread : float
        The largest distance of a target from its H3 parent group's centre (metres).
    """

    variogram: Variogram
    centre: tuple[float, float]
    spread: float


def residual_observations(
    table: pd.DataFrame, observed: pd.DataFrame, x: pd.Series, y: pd.Series
) -> pd.DataFrame:
    """Residuals (median − calibrated prediction) at the measured cells, per carrier and radio.

    ``table`` is the calibrated prediction (:func:`~coverage.calibration.apply_calibration`),
    ``observed`` the measured cells with ``median_dbm`` (those with
    :data:`~coverage.thresholds.MIN_READINGS_MEASURED` readings), ``x``/``y``
    metric cell centres indexed by h3.

    Returns
    -------
    DataFrame
        ``carrier, radio, h3, x, y, residual``, in ``observed``'s order.
    """
    keys = ["h3", "carrier", "radio"]
    mine = observed[[*keys, "median_dbm"]].merge(table[[*keys, "calibrated_dbm"]], on=keys)
    cells = mine["h3"].to_numpy(np.uint64)
    return pd.DataFrame(
        {
            "carrier": mine["carrier"].to_numpy(object),
            "radio": mine["radio"].to_numpy(object),
            "h3": cells,
            "x": x.reindex(cells).to_numpy(float),
            "y": y.reindex(cells).to_numpy(float),
            "residual": (mine["median_dbm"] - mine["calibrated_dbm"]).to_numpy(float),
        }
    )


def _of(observations: pd.DataFrame, carrier: str, radio: str) -> pd.DataFrame:
    return observations.loc[
        (observations["carrier"] == carrier).to_numpy(bool)
        & (observations["radio"] == radio).to_numpy(bool)
    ]


def fit_kriging(
    table: pd.DataFrame, observations: pd.DataFrame, x: pd.Series, y: pd.Series
) -> dict[tuple[str, str], KrigingFit]:
    """Fit each carrier and radio's variogram on all its residuals, once.

    Parameters
    ----------
    table : DataFrame
        The calibrated prediction at every target cell (``h3, carrier, radio``).
    observations : DataFrame
        From :func:`residual_observations`.
    x, y : Series
        Metric cell centres indexed by h3.

    Returns
    -------
    dict
        ``(carrier, radio)`` to its :class:`KrigingFit`.
    """
    fits = {}
    for (carrier, radio), group in table.groupby(["carrier", "radio"], sort=False):
        mine = _of(observations, carrier, radio)
        ox, oy = mine["x"].to_numpy(float), mine["y"].to_numpy(float)
        targets = group["h3"].to_numpy(np.uint64)
        fits[(str(carrier), str(radio))] = KrigingFit(
            variogram=fit_variogram(ox, oy, mine["residual"].to_numpy(float)),
            centre=(float(ox.mean()), float(oy.mean())) if len(ox) else (0.0, 0.0),
            spread=group_spread_m(
                x.reindex(targets).to_numpy(float),
                y.reindex(targets).to_numpy(float),
                parent_cells(targets),
            ),
        )
    return fits


def krige_with(
    table: pd.DataFrame,
    observations: pd.DataFrame,
    fits: dict[tuple[str, str], KrigingFit],
    x: pd.Series,
    y: pd.Series,
) -> pd.DataFrame:
    """Add the kriged residual to ``calibrated_dbm`` and set σ, given the fits.

    Sibling cells (one H3 parent) share a kriging neighbourhood (see
    :func:`coverage.kriging.simple_krige`), so ``table`` must hold every
    target of each parent it holds. Carriers and radios are kriged on
    threads (:func:`geodata.threads.map_in_order`): the solves release the GIL.
    """

    def krige(item: tuple[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
        (carrier, radio), group = item
        mine = _of(observations, carrier, radio)
        fit = fits.get((str(carrier), str(radio)))
        if fit is None:  # no residual anywhere: the nugget-only variogram
            fit = KrigingFit(fit_variogram(np.zeros(0), np.zeros(0), np.zeros(0)), (0.0, 0.0), 0.0)
        targets = group["h3"].to_numpy(np.uint64)
        estimate, variance = simple_krige(
            mine["x"].to_numpy(float),
            mine["y"].to_numpy(float),
            mine["residual"].to_numpy(float),
            x.reindex(targets).to_numpy(float),
            y.reindex(targets).to_numpy(float),
            variogram=fit.variogram,
            groups=parent_cells(targets),
            spread=fit.spread,
            centre=fit.centre,
        )
        return group.assign(
            calibrated_dbm=group["calibrated_dbm"].to_numpy(float) + estimate,
            sigma_db=np.clip(np.sqrt(variance), *SIGMA_BOUNDS_DB),
        )

    groups = list(table.groupby(["carrier", "radio"], sort=False))
    return pd.concat(list(map_in_order(krige, groups)), ignore_index=True)


def krige_residuals(
    table: pd.DataFrame, observed: pd.DataFrame, x: pd.Series, y: pd.Series
) -> pd.DataFrame:
    """Add the kriged residual to ``calibrated_dbm`` and set σ, per carrier and radio.

    ``observed`` holds measured cells with ``median_dbm``; ``x``/``y`` are
    metric cell centres indexed by h3 covering both tables' cells. The
    variograms are fitted on these residuals (:func:`fit_kriging`), then
    applied (:func:`krige_with`).
    """
    observations = residual_observations(table, observed, x, y)
    return krige_with(table, observations, fit_kriging(table, observations, x, y), x, y)


def fuse(
    cells: np.ndarray,
    carriers: list[str],
    *,
    measured: pd.DataFrame,
    predicted: pd.DataFrame,
    site_carriers: frozenset[str] = frozenset(),
    fading_db: float = T.DEFAULT_FADING_DB,
    before: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Availability and how sure we are of it, per (cell, carrier).

    Two things are kept apart (issue: "not knowing is not *lõm sóng*"):

    - **availability** (``p_usable``): the share of the time service is
      usable, Φ(m / σ_t), from the *margin* m (median dBm above the radio's
      usable level) and the temporal spread σ_t of readings (``fading_db``,
      the physics of *lõm sóng*);
    - **uncertainty** (``sigma_db``): the standard error of m itself. The
      prediction's comes from the calibration and kriging; readings add
      precision n / (1.25 σ_t)² (the standard error of a median of n
      readings is about 1.25 σ/√n). The two are combined by precision,
      as a normal prior and a normal measurement combine.

    The readings' margin is σ_t·Φ⁻¹(P) with P their share of usable time
    (:func:`observed_median`), smoothed as (k + ½)/(n + 1) at the ends.
    ``p_served`` = Φ(m / σ): how likely the median is usable at all.

    ``before`` (:attr:`coverage.evidence.Evidence.before`: the readings a
    newer site retired, per cell and carrier) is a floor: a new site adds to
    the network it joins and takes no service away, so where those readings
    showed a better margin than the evidence in force, theirs stands (with
    their precision). Without it, a carrier's well-measured cell that a new
    site could reach fell back to the model, and building a site could
    leave more households without signal than before.

    A carrier listed in ``site_carriers`` (its sites are known) with none
    within reach of a cell that another carrier's site reaches is predicted
    absent (margin :data:`~coverage.thresholds.ABSENT_MARGIN_DB`): the site database covers the
    place. Where no known site reaches a cell and no reading was taken,
    the evidence is ``none`` and availability is unknown (NaN): an area the
    site database does not cover is not an area without signal.

    Returns
    -------
    DataFrame
        ``h3, carrier, count, usable_count, p_usable, p_served, margin_db,
        sigma_db, dbm, radio, evidence, cell_class``.
    """
    cells = unique_cells(np.asarray(cells, dtype=np.uint64))
    names = pd.Index(carriers, dtype=object)
    size = len(cells) * len(names)
    # A grid row per (cell, carrier), cell-major; the tables are laid on it
    # by integer positions (no merge on a string key).
    on_measured = grid_rows(measured, cells, names)
    on_predicted = grid_rows(predicted, cells, names)
    n = np.nan_to_num(spread(measured, "count", on_measured, size, np.nan), nan=0.0)
    usable = np.nan_to_num(spread(measured, "usable_count", on_measured, size, np.nan), nan=0.0)
    carrier_code = np.tile(np.arange(len(names)), len(cells))
    # The measured radio, else the predicted one, else LTE; as codes.
    measured_radio, measured_radios = pd.factorize(measured["measured_radio"])
    predicted_radio, predicted_radios = pd.factorize(predicted["predicted_radio"])
    radios = pd.Index([*measured_radios, *predicted_radios, "lte"], dtype=object).unique()
    measured_radio = np.append(radios.get_indexer(measured_radios), -1)[measured_radio]
    predicted_radio = np.append(radios.get_indexer(predicted_radios), -1)[predicted_radio]
    model_radio = np.full(size, -1)
    model_radio[on_predicted[1]] = predicted_radio[on_predicted[0]]
    radio = model_radio.copy()
    from_measured = measured_radio[on_measured[0]]
    radio[on_measured[1][from_measured >= 0]] = from_measured[from_measured >= 0]
    radio[radio < 0] = radios.get_loc("lte")
    usable_level = np.array([C.USABLE_DBM.get(str(r), np.nan) for r in radios])

    # The model's margin and its standard error.
    model_dbm = spread(predicted, "calibrated_dbm", on_predicted, size, np.nan)
    model_margin = model_dbm - usable_level[np.maximum(model_radio, 0)]
    model_sigma = (
        spread(predicted, "sigma_db", on_predicted, size, np.nan)
        if "sigma_db" in predicted
        else np.full(size, T.PREDICTION_SIGMA_DB)
    )
    model_sigma = np.where(np.isnan(model_sigma), T.PREDICTION_SIGMA_DB, model_sigma)
    has_model = ~np.isnan(model_margin)
    known = np.isin(np.asarray(names, dtype=object), list(site_carriers))
    reached = (
        has_model.reshape(len(cells), len(names)).any(axis=1)
        if len(names)
        else np.zeros(len(cells), dtype=bool)
    )
    absent = ~has_model & known[carrier_code] & np.repeat(reached, len(names))
    model_margin = np.where(absent, T.ABSENT_MARGIN_DB, model_margin)
    has_model |= absent

    # The readings' margin and its standard error.
    measured_p = spread(measured, "p_measured", on_measured, size, np.nan)
    has_readings = (n > 0) & ~np.isnan(measured_p)
    edge = 0.5 / (n + 1.0)
    share = np.clip(np.nan_to_num(measured_p, nan=0.5), edge, 1.0 - edge)
    reading_margin = fading_db * norm.ppf(share)
    reading_sigma = T.MEDIAN_ERROR_FACTOR * fading_db / np.sqrt(np.maximum(n, 1.0))

    # Precision-weighted: a normal prior (the model) and a normal measurement.
    model_precision = np.where(has_model, 1.0 / model_sigma**2, 0.0)
    reading_precision = np.where(has_readings, 1.0 / reading_sigma**2, 0.0)
    precision = model_precision + reading_precision
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = (
            model_precision * np.nan_to_num(model_margin) + reading_precision * reading_margin
        ) / precision
        sigma = np.maximum(1.0 / np.sqrt(precision), T.MIN_SIGMA_DB)
    known_here = precision > 0
    margin = np.where(known_here, margin, np.nan)
    sigma = np.where(known_here, sigma, np.nan)
    raised = np.zeros(size, dtype=bool)
    if before is not None and len(before):
        margin, sigma, raised = _floor_by_earlier_readings(
            margin, sigma, before, cells, names, fading_db=fading_db
        )
    p = norm.cdf(margin / fading_db)
    p_served = norm.cdf(margin / sigma)
    # Evidence codes into _EVIDENCE: readings enough, else a prediction,
    # else none; a cell with a reading or two and no prediction is measured.
    evidence = np.where(n >= T.MIN_READINGS_MEASURED, 0, np.where(has_model, 1, 2))
    evidence = np.where(((evidence == 2) & (n > 0)) | (raised & (evidence == 2)), 0, evidence)
    dbm = np.where(
        n >= T.MIN_READINGS_MEASURED,
        spread(measured, "mean_dbm", on_measured, size, np.nan),
        model_dbm,
    )
    return pd.DataFrame(
        {
            "h3": np.repeat(cells, len(names)),
            "carrier": pd.Series(np.asarray(names, dtype=object)[carrier_code], dtype=object),
            "count": n.astype(int),
            "usable_count": usable.astype(int),
            "p_usable": p,
            "p_served": p_served,
            "margin_db": margin,
            "sigma_db": sigma,
            "dbm": dbm,
            "radio": labels_from_codes(radio, radios),
            "evidence": labels_from_codes(evidence, _EVIDENCE),
            "cell_class": labels_from_codes(class_codes(p, dbm, radio, radios), CELL_CLASSES),
        }
    )


_EVIDENCE = ("measured", "predicted", "none")


def _floor_by_earlier_readings(
    margin: np.ndarray,
    sigma: np.ndarray,
    before: pd.DataFrame,
    cells: np.ndarray,
    names: pd.Index,
    *,
    fading_db: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raise margins to what retired readings showed, where they showed more (see :func:`fuse`).

    Returns the margins, their standard errors and where they were raised.
    """
    size = len(cells) * len(names)
    on_before = grid_rows(before, cells, names)
    n = np.nan_to_num(spread(before, "count", on_before, size, np.nan), nan=0.0)
    p = spread(before, "p_measured", on_before, size, np.nan)
    enough = (n >= T.MIN_READINGS_MEASURED) & ~np.isnan(p)
    edge = 0.5 / (n + 1.0)
    share = np.clip(np.nan_to_num(p, nan=0.5), edge, 1.0 - edge)
    earlier = fading_db * norm.ppf(share)
    earlier_sigma = T.MEDIAN_ERROR_FACTOR * fading_db / np.sqrt(np.maximum(n, 1.0))
    raise_to = enough & ~(margin >= earlier)  # NaN margins are raised too
    return (
        np.where(raise_to, earlier, margin),
        np.where(raise_to, np.maximum(earlier_sigma, T.MIN_SIGMA_DB), sigma),
        raise_to,
    )


@dataclass(frozen=True)
class Fusion:
    """The model calibrated on the evidence, and fused with it.

    Attributes
    ----------
    calibration : Calibration
        Offset, slope and σ per carrier and radio; offsets per site.
    estimates : DataFrame
        Per (cell, carrier, radio): the calibrated, kriged prediction and its
        availability (:func:`predicted_probability`).
    cells : DataFrame
        Per (cell, carrier): the fused availability, its uncertainty, class
        and evidence (:func:`fuse`).
    """

    calibration: Calibration
    estimates: pd.DataFrame
    cells: pd.DataFrame


def fuse_evidence(
    cells: np.ndarray, evidence: Evidence, prediction: Prediction, sites: pd.DataFrame
) -> Fusion:
    """Calibrate the prediction on the evidence, then fuse both on the villages' cells.

    Every carrier that has sites, a prediction or readings gets a row per
    cell (see :func:`fuse` for a carrier whose sites reach none of them).

    Parameters
    ----------
    cells : numpy.ndarray
        The villages' cells (uint64; :attr:`coverage.grid.VillageGrid.cells`).
    evidence : Evidence
        What the readings say (:func:`coverage.evidence.measure`).
    prediction : Prediction
        The model at the cells (:func:`coverage.predict.predict_grid`).
    sites : DataFrame
        Normalised sites (``mcc``, ``mnc``).

    Returns
    -------
    Fusion
    """
    calibration = calibrate(evidence.observed, prediction.predicted)
    estimates = predicted_probability(
        prediction.predicted,
        calibration,
        measured=evidence.observed,
        x=prediction.x,
        y=prediction.y,
        fading_db=evidence.fading_db,
    )
    # The predicted best radio per (cell, carrier), against the measured one.
    predicted_best = best_radio(estimates)
    site_carriers = (
        frozenset(carrier_names(sites["mcc"], sites["mnc"])) if len(sites) else frozenset()
    )
    carriers = sorted(
        set(predicted_best["carrier"].unique())
        | set(evidence.measured["carrier"].unique())
        | site_carriers
    )
    fused = fuse(
        cells,
        carriers,
        measured=evidence.measured,
        predicted=predicted_best,
        site_carriers=site_carriers,
        fading_db=evidence.fading_db,
        before=evidence.before,
    )
    return Fusion(calibration=calibration, estimates=estimates, cells=fused)
