"""How good are the estimates and the verdicts?

Village verdicts are scored against reference verdicts a user brings (a field
survey, a commune's own list) by :func:`score_verdicts`; the signal estimates
by spatially blocked cross-validation on readings.

Cells with readings are grouped into H3 blocks (res 7: ~2.4 km across, well
over 1 km), blocks into folds. Each fold's cells are estimated from the
other folds' readings only, by three estimators:

- ``readings``: the readings alone, interpolated (mean + kriged deviations);
- ``model``: the calibrated path-loss prediction, no spatial residuals;
- ``fused``: the calibrated prediction plus kriged residuals (what
  :func:`coverage.pipeline.analyze` uses).

Neighbouring cells are correlated, so a random split would reward an
estimator for copying the cell next door; blocks (and an optional buffer
around the held-out cells) keep the test honest (Roberts et al. 2017,
*Ecography* 40:913).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h3ronpy
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from coverage.calibration import apply_calibration, calibrate
from coverage.cells import metric_centres, predict_cells
from coverage.errors import CoverageError
from coverage.fusion import krige_residuals, observed_median, reading_spread_db
from coverage.kriging import fit_variogram, simple_krige
from coverage.stats import aggregate_readings, service_floors
from geodata import constants as C
from geodata.raster import Raster, read_raster, utm_crs_for

ESTIMATORS = ("readings", "model", "fused")
BLOCK_RESOLUTION = 7
#: Village verdicts, in the order the confusion table lists them.
VERDICTS = ("no_signal", "patchy", "covered", "unknown")
# A village "has a problem" (the planner should look at it) when it is
# trắng sóng or lõm sóng; scoring is binary on that question.
PROBLEM_VERDICTS = frozenset({"no_signal", "patchy"})


class VerdictsError(CoverageError, ValueError):
    """Verdicts to score are malformed (an unknown verdict, a repeated village)."""


@dataclass(frozen=True)
class VerdictScore:
    """How village verdicts agree with reference verdicts, on the binary question
    "does the village have a problem (no_signal or patchy) or is it covered?".

    Rates are NaN when their denominator is zero.
    """

    accuracy: float  # share of judged villages where found and reference agree
    false_alarm_rate: float  # covered villages called a problem / covered villages judged
    miss_rate: float  # problem villages called covered / problem villages judged
    unknown_share: float  # share of scored villages the analysis left unknown
    n: int  # villages scored (reference villages not excluded)
    judged: int  # of those, neither unknown, nor borderline, nor unknown in the reference
    confusion: pd.DataFrame  # reference verdict (rows) x found verdict (columns), all villages


def _check_verdicts(values: pd.Series, what: str) -> None:
    bad = values.loc[~values.isin(VERDICTS)]
    if len(bad):
        raise VerdictsError(f"{what}: village {bad.index[0]!r} has verdict {bad.iloc[0]!r}, "
                            f"not one of {', '.join(VERDICTS)}")  # fmt: skip
    repeated = values.index[values.index.duplicated()]
    if len(repeated):
        raise VerdictsError(f"{what}: village {repeated[0]!r} appears more than once")


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
    borderline = (truth["borderline"].fillna(False).astype(bool) if "borderline" in truth
                  else pd.Series(False, index=truth.index))  # fmt: skip
    keep = ~reference.index.isin(list(exclude or ()))
    reference, borderline = reference.loc[keep], borderline.loc[keep]
    called = found.reindex(reference.index).fillna("unknown").astype(object)
    judged = (called != "unknown") & (reference != "unknown") & ~borderline
    problem, called_problem = reference.isin(PROBLEM_VERDICTS), called.isin(PROBLEM_VERDICTS)

    def share(numerator: pd.Series, denominator: pd.Series) -> float:
        total = int(denominator.sum())
        return float((numerator & denominator).sum() / total) if total else float("nan")

    confusion = pd.crosstab(
        pd.Categorical(reference, categories=VERDICTS), pd.Categorical(called, categories=VERDICTS),
        rownames=["reference"], colnames=["found"], dropna=False,
    )  # fmt: skip
    confusion = confusion.reindex(index=list(VERDICTS), columns=list(VERDICTS), fill_value=0)
    return VerdictScore(
        accuracy=share(problem == called_problem, judged),
        false_alarm_rate=share(called_problem, judged & ~problem),
        miss_rate=share(~called_problem, judged & problem),
        unknown_share=float((called == "unknown").mean()) if len(called) else float("nan"),
        n=len(reference),
        judged=int(judged.sum()),
        confusion=confusion.astype(int),
    )


@dataclass
class CrossValidation:
    """Blocked CV results: the summary table and every held-out estimate."""

    summary: pd.DataFrame  # estimator, cells, rmse_db, bias_db, usable_accuracy
    estimates: pd.DataFrame  # h3, carrier, radio, fold, observed_dbm, <estimator>_dbm


def spatial_folds(
    cells: np.ndarray, *, folds: int = 5, block_resolution: int = BLOCK_RESOLUTION, seed: int = 0
) -> np.ndarray:
    """Fold number of each cell: whole H3 blocks go to one fold.

    >>> cells = np.array([0x89415846567ffff, 0x89415846563ffff], dtype=np.uint64)
    >>> spatial_folds(cells, folds=3).tolist()  # same res-7 block, same fold
    [0, 0]
    """
    parents = np.asarray(
        h3ronpy.change_resolution(np.asarray(cells, dtype=np.uint64), block_resolution),
        dtype=np.uint64,
    )
    blocks, which = np.unique(parents, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(blocks))
    return (order % folds)[which]


def training_mask(
    x: np.ndarray, y: np.ndarray, fold: np.ndarray, held_out: int, *, buffer_m: float
) -> np.ndarray:
    """Cells that may train the estimate of fold ``held_out``: other folds,
    and farther than ``buffer_m`` from every held-out cell."""
    train = fold != held_out
    if buffer_m > 0 and (~train).any():
        tree = cKDTree(np.column_stack([x[~train], y[~train]]))
        distance, _ = tree.query(np.column_stack([x[train], y[train]]), k=1)
        keep = np.flatnonzero(train)[distance > buffer_m]
        train = np.zeros_like(train)
        train[keep] = True
    return train


def _readings_only(
    train: pd.DataFrame, test: pd.DataFrame, x: pd.Series, y: pd.Series
) -> np.ndarray:
    """Mean of the training cells plus kriged deviations, per carrier and radio."""
    out = np.full(len(test), np.nan)
    for (carrier, radio), rows in test.groupby(["carrier", "radio"], sort=False):
        mine = train.loc[(train["carrier"] == carrier) & (train["radio"] == radio)]
        if mine.empty:
            continue
        values = mine["median_dbm"].to_numpy(float)
        mean = float(values.mean())
        ox, oy = x.reindex(mine["h3"]).to_numpy(), y.reindex(mine["h3"]).to_numpy()
        estimate, _ = simple_krige(
            ox, oy, values - mean, x.reindex(rows["h3"]).to_numpy(),
            y.reindex(rows["h3"]).to_numpy(), variogram=fit_variogram(ox, oy, values - mean),
        )  # fmt: skip
        out[test.index.get_indexer(rows.index)] = mean + estimate
    return out


def cross_validate(
    readings: pd.DataFrame,
    sites: pd.DataFrame,
    *,
    dem: Raster | str | Path | None = None,
    resolution: int = C.H3_RESOLUTION,
    folds: int = 5,
    block_resolution: int = BLOCK_RESOLUTION,
    buffer_m: float = 0.0,
    seed: int = 0,
) -> CrossValidation:
    """Spatially blocked cross-validation of the three estimators.

    Parameters
    ----------
    readings : DataFrame
        Validated readings.
    sites : DataFrame
        Carrier cells (may be empty: then only ``readings`` is scored).
    dem : Raster or path, optional, keyword-only
    resolution : int, keyword-only
        H3 resolution of the cells being estimated.
    folds, block_resolution, buffer_m, seed : keyword-only
        Fold count, H3 resolution of the blocks, the no-training buffer
        around held-out cells (metres), and the shuffling seed.

    Returns
    -------
    CrossValidation
    """
    stats = aggregate_readings(readings, resolution=resolution)
    observed = observed_median(stats, floors=service_floors(readings),
                               spread_db=reading_spread_db(stats))  # fmt: skip
    observed = observed.loc[observed["count"] >= C.MIN_READINGS_MEASURED].reset_index(drop=True)
    lon, lat = readings["lon"].to_numpy(float), readings["lat"].to_numpy(float)
    bounds = (lon.min(), lat.min(), lon.max(), lat.max())
    terrain = dem if dem is None or isinstance(dem, Raster) else read_raster(
        dem, bounds_wgs84=bounds, margin_m=C.MAX_CELL_RANGE_M)  # fmt: skip
    metric_crs = terrain.crs if terrain is not None else utm_crs_for(
        (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)  # fmt: skip
    cells = np.unique(observed["h3"].to_numpy(np.uint64))
    x, y = metric_centres(cells, metric_crs)
    predicted = predict_cells(x, y, sites, terrain, metric_crs)
    observed["fold"] = spatial_folds(observed["h3"].to_numpy(np.uint64), folds=folds,
                                     block_resolution=block_resolution, seed=seed)  # fmt: skip
    ox, oy = x.reindex(observed["h3"]).to_numpy(), y.reindex(observed["h3"]).to_numpy()

    parts = []
    for held_out in range(folds):
        train_rows = training_mask(ox, oy, observed["fold"].to_numpy(), held_out, buffer_m=buffer_m)
        train = observed.loc[train_rows]
        test = observed.loc[observed["fold"] == held_out].copy()
        if test.empty or train.empty:
            continue
        test["readings_dbm"] = _readings_only(train, test, x, y)
        test["model"] = np.nan
        test["fused"] = np.nan
        if len(predicted):
            test = test.drop(columns=["model", "fused"])
            calibration = calibrate(train, predicted)
            model = apply_calibration(predicted, calibration)
            fused = krige_residuals(model.copy(), train, x, y)
            keys = ["h3", "carrier", "radio"]
            for name, table in (("model", model), ("fused", fused)):
                estimate = table[[*keys, "calibrated_dbm"]].rename(columns={"calibrated_dbm": name})
                test = test.merge(estimate, on=keys, how="left")
        test["model_dbm"], test["fused_dbm"] = test.pop("model"), test.pop("fused")
        parts.append(test)
    estimates = pd.concat(parts, ignore_index=True).rename(columns={"median_dbm": "observed_dbm"})
    estimates = estimates[["h3", "carrier", "radio", "fold", "count", "censored", "observed_dbm",
                           *(f"{e}_dbm" for e in ESTIMATORS)]]  # fmt: skip
    return CrossValidation(summary=summarise(estimates), estimates=estimates)


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
    for name in ESTIMATORS:
        estimate = estimates[f"{name}_dbm"].to_numpy(float)
        ok = np.isfinite(estimate)
        scored = ok & measured
        error = estimate[scored] - observed[scored]
        agree = (estimate[ok] >= threshold[ok]) == (observed[ok] >= threshold[ok])
        rows.append({
            "estimator": name, "cells": int(ok.sum()), "measured_cells": int(scored.sum()),
            "rmse_db": float(np.sqrt(np.mean(error**2))) if scored.any() else np.nan,
            "bias_db": float(np.mean(error)) if scored.any() else np.nan,
            "usable_accuracy": float(np.mean(agree)) if ok.any() else np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)
