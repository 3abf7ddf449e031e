"""Score the signal estimates and the village verdicts: how good they are.

Village verdicts are scored against reference verdicts a user brings (a field
survey, a commune's own list) by :func:`score_verdicts`; the signal estimates
by spatially blocked cross-validation on readings.

Cells with readings are grouped into blocks (H3 res 7: ~2.4 km across, or
squares of a given side), blocks into folds. Each fold's cells are
estimated from the other folds' readings only, by four estimators:

- ``readings``: the readings alone, interpolated (mean + kriged deviations);
- ``idw``: inverse-distance weighting of the 8 nearest cells, the baseline;
- ``model``: the calibrated path-loss prediction, no spatial residuals;
- ``fused``: the calibrated prediction plus kriged residuals (what
  :func:`coverage.pipeline.analyze` uses);

and, given the true signal (a simulation's), ``oracle``: the floor.

Neighbouring cells are correlated, so a random split would reward an
estimator for copying the cell next door; blocks (and an optional buffer
around the held-out cells) keep the test honest (Roberts et al. 2017,
*Ecography* 40:913).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from coverage import thresholds as T
from coverage.calibration import apply_calibration, calibrate
from coverage.censoring import observed_median, reading_spread_db
from coverage.errors import CoverageError
from coverage.fusion import krige_residuals
from coverage.kriging import fit_variogram, simple_krige
from coverage.predict import metric_centres, predict_cells
from coverage.stats import aggregate_readings, service_floors
from geodata import constants as C
from geodata.hexgrid import cells_for_points, change_resolution
from geodata.raster import Raster, read_raster, utm_crs_for
from geodata.sites import carrier_names

ESTIMATORS = ("readings", "idw", "model", "fused")
BLOCK_RESOLUTION = 7
# The IDW baseline: the 8 nearest cells, weights 1/d² (Shepard's classic
# choice; the power 2 is what GIS tools default to).
IDW_NEIGHBOURS = 8
IDW_POWER = 2.0
#: Columns of a reference signal table (see :func:`reference_cells`).
REFERENCE_SIGNAL_COLUMNS = ("lat", "lon", "mcc", "mnc", "radio", "median_dbm", "shadowing_db")
#: Village verdicts, in the order the confusion table lists them.
VERDICTS = ("no_signal", "patchy", "covered", "unknown")
# A village "has a problem" (the planner should look at it) when it is
# trắng sóng or lõm sóng; scoring is binary on that question.
PROBLEM_VERDICTS = frozenset({"no_signal", "patchy"})


class VerdictsError(CoverageError, ValueError):
    """Verdicts to score are malformed (an unknown verdict, a repeated village)."""


class ReferenceSignalError(CoverageError, ValueError):
    """A reference signal table lacks a column the oracle needs."""


@dataclass(frozen=True)
class VerdictScore:
    """Score village verdicts against reference verdicts on the binary question.

    The question: "does the village have a problem (no_signal or patchy) or
    is it covered?".

    Rates are NaN when their denominator is zero.
    """

    accuracy: float  # share of judged villages where found and reference agree
    false_alarm_rate: float  # covered villages called a problem / covered villages judged
    miss_rate: float  # problem villages called covered / problem villages judged
    unknown_share: float  # share of scored villages the analysis left unknown
    n: int  # villages scored (reference villages not excluded)
    judged: int  # of those, neither unknown, nor borderline, nor unknown in the reference
    judged_covered: int  # judged villages the reference calls covered (false alarms' base)
    judged_problems: int  # judged villages the reference calls a problem (misses' base)
    confusion: pd.DataFrame  # reference verdict (rows) x found verdict (columns), all villages


def _check_verdicts(values: pd.Series, what: str) -> None:
    bad = values.loc[~values.isin(VERDICTS)]
    if len(bad):
        raise VerdictsError(
            f"{what}: village {bad.index[0]!r} has verdict {bad.iloc[0]!r}, "
            f"not one of {', '.join(VERDICTS)}"
        )
    repeated = values.index[values.index.duplicated()]
    if len(repeated):
        raise VerdictsError(f"{what}: village {repeated[0]!r} appears more than once")


def reference_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Check a table of reference verdicts as read from a CSV (text cells).

    Columns ``village_id``, ``verdict`` (one of :data:`VERDICTS`) and an
    optional ``borderline`` (true/false, 1/0, yes/no; empty is false).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``village_id``: ``verdict`` and ``borderline`` (bool).

    Raises
    ------
    VerdictsError
        Naming the first bad row by its line in the file (the header is
        line 1), the field, the value and why.

    Examples
    --------
    >>> table = pd.DataFrame({"village_id": ["a", "b"], "verdict": ["Patchy", "covered"],
    ...                       "borderline": ["", "true"]})
    >>> reference_verdicts(table).to_dict("list")
    {'verdict': ['patchy', 'covered'], 'borderline': [False, True]}
    """
    missing = [c for c in ("village_id", "verdict") if c not in table]
    if missing:
        raise VerdictsError(
            f"no column {', '.join(missing)} (columns: "
            f"{', '.join(map(str, table.columns)) or 'none'})"
        )
    ids = table["village_id"].fillna("").astype(str).str.strip()
    verdict = table["verdict"].fillna("").astype(str).str.strip().str.lower()
    flags = table["borderline"] if "borderline" in table else pd.Series("", index=table.index)
    flags = flags.fillna("").astype(str).str.strip().str.lower()
    borderline = flags.map(_BOOLEAN_TEXT)
    seen: dict[str, int] = {}
    for row, (village, called, flag, raw) in enumerate(
        zip(ids, verdict, borderline, flags, strict=True)
    ):
        line = row + 2
        if not village:
            raise VerdictsError(f"line {line}, field village_id, value '': no village id")
        if village in seen:
            raise VerdictsError(
                f"line {line}, field village_id, value {village!r}: "
                f"repeated (first on line {seen[village]})"
            )
        seen[village] = line
        if called not in VERDICTS:
            raise VerdictsError(
                f"line {line}, field verdict, value {called!r}: not one of {', '.join(VERDICTS)}"
            )
        if pd.isna(flag):
            raise VerdictsError(f"line {line}, field borderline, value {raw!r}: not true/false")
    return pd.DataFrame(
        {"verdict": verdict.to_numpy(object), "borderline": borderline.astype(bool).to_numpy()},
        index=pd.Index(ids.to_numpy(object), name="village_id"),
    )


_BOOLEAN_TEXT = {
    "": False,
    "false": False,
    "0": False,
    "no": False,
    "true": True,
    "1": True,
    "yes": True,
}


def score_verdicts(
    found: pd.Series, truth: pd.DataFrame, *, exclude: Iterable[str] | None = None
) -> VerdictScore:
    """Score village verdicts against reference verdicts.

    Binary question: a problem (``no_signal`` or ``patchy``) or ``covered``.
    Every reference village not in ``exclude`` is scored; one the analysis
    did not judge counts as ``unknown``. Accuracy, false alarms and misses
    cover the *judged* villages: found verdict not ``unknown``, reference
    verdict not ``unknown`` and not ``borderline`` (a village whose reference
    verdict hangs on a fraction of a dB, where either answer is defensible).
    The confusion table covers all scored villages.

    Parameters
    ----------
    found : pandas.Series
        Verdict (``no_signal|patchy|covered|unknown``) indexed by village id.
    truth : pandas.DataFrame
        Indexed by village id: ``verdict`` and optionally a boolean
        ``borderline``.
    exclude : iterable of str, optional, keyword-only
        Village ids left out of the score altogether.

    Returns
    -------
    VerdictScore

    Raises
    ------
    VerdictsError
        A verdict outside :data:`VERDICTS`, or a village id repeated.

    Examples
    --------
    >>> found = pd.Series({"a": "no_signal", "b": "covered", "c": "patchy", "d": "unknown"})
    >>> truth = pd.DataFrame({"verdict": ["patchy", "covered", "covered", "no_signal"]},
    ...                      index=["a", "b", "c", "d"])
    >>> score = score_verdicts(found, truth)
    >>> score.accuracy, score.false_alarm_rate, score.miss_rate, score.unknown_share
    (0.6666666666666666, 0.5, 0.0, 0.25)
    >>> int(score.confusion.loc["covered", "patchy"])
    1
    """
    found = pd.Series(found, dtype=object)
    if "verdict" not in truth:
        raise VerdictsError("reference verdicts: no 'verdict' column")
    reference = truth["verdict"].astype(object)
    _check_verdicts(found, "found verdicts")
    _check_verdicts(reference, "reference verdicts")
    borderline = (
        truth["borderline"].fillna(False).astype(bool)
        if "borderline" in truth
        else pd.Series(False, index=truth.index)
    )
    keep = ~reference.index.isin(list(exclude or ()))
    reference, borderline = reference.loc[keep], borderline.loc[keep]
    called = found.reindex(reference.index).fillna("unknown").astype(object)
    judged = (called != "unknown") & (reference != "unknown") & ~borderline
    problem, called_problem = reference.isin(PROBLEM_VERDICTS), called.isin(PROBLEM_VERDICTS)

    def share(numerator: pd.Series, denominator: pd.Series) -> float:
        total = int(denominator.sum())
        return float((numerator & denominator).sum() / total) if total else float("nan")

    confusion = pd.crosstab(
        pd.Categorical(reference, categories=VERDICTS),
        pd.Categorical(called, categories=VERDICTS),
        rownames=["reference"],
        colnames=["found"],
        dropna=False,
    )
    confusion = confusion.reindex(index=list(VERDICTS), columns=list(VERDICTS), fill_value=0)
    return VerdictScore(
        accuracy=share(problem == called_problem, judged),
        false_alarm_rate=share(called_problem, judged & ~problem),
        miss_rate=share(~called_problem, judged & problem),
        unknown_share=float((called == "unknown").mean()) if len(called) else float("nan"),
        n=len(reference),
        judged=int(judged.sum()),
        judged_covered=int((judged & ~problem).sum()),
        judged_problems=int((judged & problem).sum()),
        confusion=confusion.astype(int),
    )


@dataclass
class CrossValidation:
    """Blocked CV results: summary tables and every held-out estimate."""

    summary: pd.DataFrame  # estimator, cells, measured_cells, rmse_db, bias_db, usable_accuracy
    estimates: pd.DataFrame  # h3, carrier, radio, fold, observed_dbm, <estimator>_dbm
    by_radio: pd.DataFrame  # the summary per radio (radio, estimator, ...)


def spatial_folds(
    cells: np.ndarray,
    *,
    folds: int = 5,
    block_resolution: int = BLOCK_RESOLUTION,
    seed: int = 0,
    block_m: float | None = None,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> np.ndarray:
    """Fold number of each cell: whole blocks go to one fold.

    Blocks are the cells' H3 parents at ``block_resolution``, or, with
    ``block_m``, squares of that side in metres on the cells' metric
    coordinates ``x``/``y`` (any block size, not only H3's steps of √7).

    >>> cells = np.array([0x89415846567ffff, 0x89415846563ffff], dtype=np.uint64)
    >>> spatial_folds(cells, folds=3).tolist()  # same res-7 block, same fold
    [0, 0]
    """
    if block_m is not None:
        if x is None or y is None or not block_m > 0:
            raise ValueError("square blocks need block_m > 0 and the cells' x and y")
        column = np.floor(np.asarray(x, float) / block_m).astype(np.int64)
        row = np.floor(np.asarray(y, float) / block_m).astype(np.int64)
        parents = (column - column.min()) * (row.max() - row.min() + 1) + (row - row.min())
    else:
        parents = change_resolution(cells, block_resolution)
    blocks, which = np.unique(parents, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(blocks))
    return (order % folds)[which]


def training_mask(
    x: np.ndarray, y: np.ndarray, fold: np.ndarray, held_out: int, *, buffer_m: float
) -> np.ndarray:
    """Select the cells that may train the estimate of fold ``held_out``.

    Those of other folds, farther than ``buffer_m`` from every held-out cell.
    """
    train = fold != held_out
    if buffer_m > 0 and (~train).any():
        tree = cKDTree(np.column_stack([x[~train], y[~train]]))
        distance, _ = tree.query(np.column_stack([x[train], y[train]]), k=1)
        keep = np.flatnonzero(train)[distance > buffer_m]
        train = np.zeros_like(train)
        train[keep] = True
    mask: np.ndarray = train
    return mask


def idw(
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    *,
    k: int = IDW_NEIGHBOURS,
    power: float = IDW_POWER,
) -> np.ndarray:
    """Inverse-distance-weighted mean of the ``k`` nearest values (Shepard 1968).

    >>> idw(np.array([0.0, 10.0]), np.array([0.0, 0.0]), np.array([-80.0, -100.0]),
    ...     np.array([5.0]), np.array([0.0])).tolist()
    [-90.0]
    """
    if len(values) == 0:
        return np.full(len(tx), np.nan)
    k = min(k, len(values))
    distance, index = cKDTree(np.column_stack([x, y])).query(np.column_stack([tx, ty]), k=k)
    distance, index = distance.reshape(len(tx), k), index.reshape(len(tx), k)
    # A target on an observation takes its value (weight 1/0 is the limit).
    weight = 1.0 / np.maximum(distance, 1e-6) ** power
    estimate: np.ndarray = (weight * np.asarray(values, float)[index]).sum(axis=1) / weight.sum(
        axis=1
    )
    return estimate


def _per_group(
    train: pd.DataFrame,
    test: pd.DataFrame,
    x: pd.Series,
    y: pd.Series,
    value: str,
    estimate: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Run ``estimate(ox, oy, values, tx, ty)`` per carrier and radio of the test rows.

    On the training cells of each test row's carrier and radio (NaN where
    there are none).
    """
    out = np.full(len(test), np.nan)
    for (carrier, radio), rows in test.groupby(["carrier", "radio"], sort=False):
        mine = train.loc[(train["carrier"] == carrier) & (train["radio"] == radio)]
        mine = mine.loc[mine[value].notna()]
        if mine.empty:
            continue
        ox, oy = x.reindex(mine["h3"]).to_numpy(), y.reindex(mine["h3"]).to_numpy()
        tx, ty = x.reindex(rows["h3"]).to_numpy(), y.reindex(rows["h3"]).to_numpy()
        out[test.index.get_indexer(rows.index)] = estimate(
            ox, oy, mine[value].to_numpy(float), tx, ty
        )
    return out


def _kriged_about_mean(
    ox: np.ndarray, oy: np.ndarray, values: np.ndarray, tx: np.ndarray, ty: np.ndarray
) -> np.ndarray:
    """Estimate the mean of the values plus their kriged deviations from it."""
    mean = float(values.mean())
    estimate, _ = simple_krige(
        ox, oy, values - mean, tx, ty, variogram=fit_variogram(ox, oy, values - mean)
    )
    return mean + estimate


def _kriged_zero_mean(
    ox: np.ndarray, oy: np.ndarray, values: np.ndarray, tx: np.ndarray, ty: np.ndarray
) -> np.ndarray:
    """Krige values whose mean is known to be zero (shadowing), by simple kriging."""
    estimate, _ = simple_krige(ox, oy, values, tx, ty, variogram=fit_variogram(ox, oy, values))
    return estimate


def reference_cells(reference: pd.DataFrame, *, resolution: int) -> pd.DataFrame:
    """Gather reference signal at points per (cell, carrier, radio).

    The mean median without shadowing (``trend_dbm``) and the mean shadowing.

    ``reference`` has ``lat, lon, mcc, mnc, radio, median_dbm, shadowing_db``
    (as the demo region writes them: the simulator's true median where each
    reading was taken, and the location shadowing inside it).
    """
    missing = [c for c in REFERENCE_SIGNAL_COLUMNS if c not in reference]
    if missing:
        raise ReferenceSignalError(f"no column {', '.join(missing)}")
    number = {}
    for column in ("lat", "lon", "mcc", "mnc", "median_dbm", "shadowing_db"):
        values = pd.to_numeric(reference[column], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ReferenceSignalError(
                f"line {bad[0] + 2}, field {column}, value "
                f"{reference[column].iloc[bad[0]]!r}: not a number"
            )
        number[column] = values
    table = pd.DataFrame(
        {
            "h3": cells_for_points(number["lat"], number["lon"], resolution=resolution),
            "carrier": carrier_names(
                pd.Series(number["mcc"].astype(int)), pd.Series(number["mnc"].astype(int))
            )
            .astype(str)
            .to_numpy(),
            "radio": reference["radio"].astype(str).str.lower().to_numpy(),
            "trend_dbm": number["median_dbm"] - number["shadowing_db"],
            "shadowing_db": number["shadowing_db"],
        }
    )
    return table.groupby(["h3", "carrier", "radio"], as_index=False, sort=True).mean()


def cross_validate(
    readings: pd.DataFrame,
    sites: pd.DataFrame,
    *,
    dem: Raster | str | Path | None = None,
    resolution: int = C.H3_RESOLUTION,
    folds: int = 5,
    block_resolution: int = BLOCK_RESOLUTION,
    block_m: float | None = None,
    buffer_m: float = 0.0,
    seed: int = 0,
    reference_signal: pd.DataFrame | None = None,
) -> CrossValidation:
    """Spatially blocked cross-validation of the estimators.

    ``readings`` (the readings alone: their mean plus kriged deviations),
    ``idw`` (inverse-distance weighting of the k = 8 nearest cell medians,
    the baseline any interpolator must beat), ``model`` (the calibrated
    prediction) and ``fused`` (the prediction plus kriged residuals, as the
    analysis does); with ``reference_signal``, also ``oracle``: the true
    median without shadowing plus the true shadowing kriged from the other
    folds, the floor a model-plus-kriging estimate can hope for (it still
    misses the readings' own noise and what kriging cannot know).

    Parameters
    ----------
    readings : DataFrame
        Validated readings.
    sites : DataFrame
        Carrier cells (may be empty: then ``model`` and ``fused`` are NaN).
    dem : Raster or path, optional, keyword-only
    resolution : int, keyword-only
        H3 resolution of the cells being estimated.
    folds, block_resolution, buffer_m, seed : keyword-only
        Fold count, H3 resolution of the blocks, the no-training buffer
        around held-out cells (metres), and the shuffling seed.
    block_m : float, optional, keyword-only
        Square blocks of this side (metres) instead of H3 blocks.
    reference_signal : DataFrame, optional, keyword-only
        The true signal at points (see :func:`reference_cells`).

    Returns
    -------
    CrossValidation
    """
    stats = aggregate_readings(readings, resolution=resolution)
    observed = observed_median(
        stats, floors=service_floors(readings), spread_db=reading_spread_db(stats)
    )
    observed = observed.loc[observed["count"] >= T.MIN_READINGS_MEASURED].reset_index(drop=True)
    lon, lat = readings["lon"].to_numpy(float), readings["lat"].to_numpy(float)
    bounds = (lon.min(), lat.min(), lon.max(), lat.max())
    terrain = (
        dem
        if dem is None or isinstance(dem, Raster)
        else read_raster(dem, bounds_wgs84=bounds, margin_m=C.MAX_CELL_RANGE_M)
    )
    metric_crs = (
        terrain.crs
        if terrain is not None
        else utm_crs_for((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    )
    cells = np.unique(observed["h3"].to_numpy(np.uint64))
    x, y = metric_centres(cells, metric_crs)
    predicted = predict_cells(x, y, sites, terrain, metric_crs) if len(sites) else sites
    keys = ["h3", "carrier", "radio"]
    estimators = [*ESTIMATORS]
    if reference_signal is not None:
        estimators.append("oracle")
        truth = reference_cells(reference_signal, resolution=resolution)
        observed["carrier"] = observed["carrier"].astype(str)
        observed = observed.merge(truth, on=keys, how="left")
    ox, oy = x.reindex(observed["h3"]).to_numpy(), y.reindex(observed["h3"]).to_numpy()
    observed["fold"] = spatial_folds(
        observed["h3"].to_numpy(np.uint64),
        folds=folds,
        block_resolution=block_resolution,
        seed=seed,
        block_m=block_m,
        x=ox,
        y=oy,
    )

    parts = []
    for held_out in range(folds):
        train_rows = training_mask(ox, oy, observed["fold"].to_numpy(), held_out, buffer_m=buffer_m)
        train = observed.loc[train_rows]
        test = observed.loc[observed["fold"] == held_out].copy()
        if test.empty or train.empty:
            continue
        test["readings_dbm"] = _per_group(train, test, x, y, "median_dbm", _kriged_about_mean)
        test["idw_dbm"] = _per_group(train, test, x, y, "median_dbm", idw)
        if "oracle" in estimators:
            shadowing = _per_group(train, test, x, y, "shadowing_db", _kriged_zero_mean)
            test["oracle_dbm"] = test["trend_dbm"].to_numpy(float) + np.nan_to_num(shadowing)
        test["model_dbm"], test["fused_dbm"] = np.nan, np.nan
        if len(predicted):
            calibration = calibrate(train, predicted)
            model = apply_calibration(predicted, calibration)
            fused = krige_residuals(model.copy(), train, x, y)
            for name, table in (("model", model), ("fused", fused)):
                estimate = table[[*keys, "calibrated_dbm"]].rename(
                    columns={"calibrated_dbm": "estimate"}
                )
                test = test.drop(columns=f"{name}_dbm").merge(estimate, on=keys, how="left")
                test[f"{name}_dbm"] = test.pop("estimate")
        parts.append(test)
    if not parts:  # one block only: nothing to hold out
        parts = [observed.iloc[0:0].assign(**{f"{e}_dbm": np.nan for e in estimators})]
    estimates = pd.concat(parts, ignore_index=True).rename(columns={"median_dbm": "observed_dbm"})
    estimates = estimates[
        [*keys, "fold", "count", "censored", "observed_dbm", *(f"{e}_dbm" for e in estimators)]
    ]
    per_radio = [summarise(rows).assign(radio=radio) for radio, rows in estimates.groupby("radio")]
    by_radio = pd.concat(per_radio, ignore_index=True) if per_radio else summarise(estimates)
    by_radio = by_radio.assign(radio=by_radio.get("radio", ""))
    by_radio = by_radio[["radio", *by_radio.columns.drop("radio")]]
    return CrossValidation(summary=summarise(estimates), estimates=estimates, by_radio=by_radio)


def summarise(estimates: pd.DataFrame) -> pd.DataFrame:
    """RMSE, bias and usable-signal agreement of each estimator.

    RMSE and bias cover the held-out cells whose median was measured (few
    readings lost service): where most readings lost service the median is
    only known to lie below the floor, and a difference of 10 dB between two
    "no signal" values means nothing. ``usable_accuracy`` covers every
    held-out cell: the share where the estimate and the readings agree on
    whether the median is usable (at or above the lowest Android level), the
    per-cell verdict that village verdicts are built from.
    """
    threshold = estimates["radio"].map(C.USABLE_DBM).to_numpy(float)
    observed = estimates["observed_dbm"].to_numpy(float)
    measured = ~estimates["censored"].to_numpy(bool)
    rows = []
    names = [
        c.removesuffix("_dbm")
        for c in estimates.columns
        if c.endswith("_dbm") and c != "observed_dbm"
    ]
    for name in names:
        estimate = estimates[f"{name}_dbm"].to_numpy(float)
        ok = np.isfinite(estimate)
        scored = ok & measured
        error = estimate[scored] - observed[scored]
        agree = (estimate[ok] >= threshold[ok]) == (observed[ok] >= threshold[ok])
        rows.append(
            {
                "estimator": name,
                "cells": int(ok.sum()),
                "measured_cells": int(scored.sum()),
                "rmse_db": float(np.sqrt(np.mean(error**2))) if scored.any() else np.nan,
                "bias_db": float(np.mean(error)) if scored.any() else np.nan,
                "usable_accuracy": float(np.mean(agree)) if ok.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)
