"""Blocked cross-validation (whole blocks held out, neighbours kept out of
training) and the scoring of village verdicts."""

from __future__ import annotations

from pathlib import Path

import h3ronpy
import numpy as np
import pandas as pd
import pytest

from coverage.evaluate import (
    ESTIMATORS,
    REFERENCE_SIGNAL_COLUMNS,
    VERDICTS,
    ReferenceSignalError,
    VerdictsError,
    cross_validate,
    idw,
    score_verdicts,
    spatial_folds,
    training_mask,
)
from geodata.demo import READING_TRUTH_FILE, write_demo
from geodata.hexgrid import cells_for_points


def grid_cells() -> np.ndarray:
    lat, lon = np.meshgrid(np.linspace(22.50, 22.60, 40), np.linspace(105.40, 105.50, 40))
    return np.unique(cells_for_points(lat.ravel(), lon.ravel(), resolution=10))


def test_folds_never_split_a_block() -> None:
    cells = grid_cells()
    fold = spatial_folds(cells, folds=5)
    parents = np.asarray(h3ronpy.change_resolution(cells, 7), dtype=np.uint64)
    for parent in np.unique(parents):
        assert len(set(fold[parents == parent])) == 1
    assert set(fold) == {0, 1, 2, 3, 4}


def test_buffer_keeps_neighbours_out_of_training() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 5000, 500), rng.uniform(0, 5000, 500)
    fold = (x // 1000).astype(int) % 5
    train = training_mask(x, y, fold, 2, buffer_m=300.0)
    held = fold == 2
    assert not (train & held).any()
    gaps = np.hypot(x[train][:, None] - x[held][None, :], y[train][:, None] - y[held][None, :])
    assert gaps.min() > 300.0
    # Without the buffer, the training set is exactly the other folds.
    assert (training_mask(x, y, fold, 2, buffer_m=0.0) == ~held).all()


def test_readings_only_cv_without_sites(readings) -> None:
    result = cross_validate(readings, readings.iloc[0:0], resolution=9)
    summary = result.summary.set_index("estimator")
    assert list(summary.index) == list(ESTIMATORS)
    assert summary.loc["readings", "cells"] > 0
    assert summary.loc["model", "cells"] == 0
    held = result.estimates
    # Every held-out cell was estimated without its own fold.
    assert held["fold"].nunique() > 1


def reference(*verdicts: str, borderline: list[bool] | None = None) -> pd.DataFrame:
    ids = [f"v{i}" for i in range(len(verdicts))]
    table = pd.DataFrame({"verdict": list(verdicts)}, index=pd.Index(ids, dtype=object))
    if borderline is not None:
        table["borderline"] = borderline
    return table


def test_score_verdicts_binary_rates_and_confusion() -> None:
    truth = reference("no_signal", "patchy", "covered", "covered", "covered", "patchy")
    found = pd.Series(
        ["patchy", "covered", "covered", "no_signal", "unknown", "patchy"], index=truth.index
    )
    score = score_verdicts(found, truth)
    # Judged: all but v4 (unknown). Problems v0, v1, v5: v1 missed.
    # Covered v2, v3: v3 a false alarm. Agreements: v0, v2, v5 of 5.
    assert (score.n, score.judged) == (6, 5)
    assert score.accuracy == pytest.approx(3 / 5)
    assert score.miss_rate == pytest.approx(1 / 3)
    assert score.false_alarm_rate == pytest.approx(1 / 2)
    assert score.unknown_share == pytest.approx(1 / 6)
    assert list(score.confusion.index) == list(VERDICTS)
    assert list(score.confusion.columns) == list(VERDICTS)
    assert score.confusion.loc["no_signal", "patchy"] == 1
    assert score.confusion.loc["covered", "unknown"] == 1
    assert score.confusion.to_numpy().sum() == 6


def test_score_verdicts_borderline_and_exclude_leave_the_rates() -> None:
    truth = reference("covered", "covered", "patchy", borderline=[False, True, False])
    found = pd.Series(["covered", "patchy", "covered"], index=truth.index)
    score = score_verdicts(found, truth, exclude=["v2"])
    assert (score.n, score.judged) == (2, 1)
    assert score.accuracy == 1.0 and score.false_alarm_rate == 0.0
    assert np.isnan(score.miss_rate)  # no true problem judged
    # The borderline village still shows in the confusion table.
    assert score.confusion.loc["covered", "patchy"] == 1


def test_score_verdicts_missing_village_is_unknown() -> None:
    truth = reference("patchy", "covered")
    score = score_verdicts(pd.Series({"v1": "covered", "elsewhere": "patchy"}), truth)
    assert score.n == 2 and score.judged == 1 and score.unknown_share == 0.5
    assert score.confusion.loc["patchy", "unknown"] == 1


def test_score_verdicts_empty_and_all_unknown() -> None:
    empty = score_verdicts(pd.Series(dtype=object), reference())
    assert (empty.n, empty.judged) == (0, 0)
    assert all(
        np.isnan(v)
        for v in (empty.accuracy, empty.false_alarm_rate, empty.miss_rate, empty.unknown_share)
    )
    assert empty.confusion.shape == (4, 4) and empty.confusion.to_numpy().sum() == 0
    truth = reference("patchy", "covered")
    unknown = score_verdicts(pd.Series("unknown", index=truth.index), truth)
    assert unknown.unknown_share == 1.0 and unknown.judged == 0
    assert np.isnan(unknown.accuracy)


def test_score_verdicts_refuses_bad_verdicts() -> None:
    truth = reference("patchy")
    with pytest.raises(VerdictsError, match="'lom_song'"):
        score_verdicts(pd.Series({"v0": "lom_song"}), truth)
    with pytest.raises(VerdictsError, match="more than once"):
        score_verdicts(pd.Series(["covered", "covered"], index=["v0", "v0"]), truth)


def test_square_blocks_of_a_given_side() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 5000, 400), rng.uniform(0, 5000, 400)
    fold = spatial_folds(np.zeros(400, dtype=np.uint64), folds=4, block_m=1000.0, x=x, y=y)
    block = (x // 1000).astype(int) * 10 + (y // 1000).astype(int)
    for b in np.unique(block):
        assert len(set(fold[block == b])) == 1
    assert set(fold) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="block_m"):
        spatial_folds(np.zeros(3, dtype=np.uint64), block_m=1000.0)


def test_idw_weights_the_nearest_by_inverse_square_distance() -> None:
    x, y = np.array([0.0, 100.0, 300.0]), np.zeros(3)
    values = np.array([-80.0, -90.0, -120.0])
    # At 50 m: weights 1/50², 1/50², 1/250² over the three.
    weights = np.array([1 / 50**2, 1 / 50**2, 1 / 250**2])
    assert idw(x, y, values, np.array([50.0]), np.zeros(1))[0] == pytest.approx(
        (weights * values).sum() / weights.sum()
    )
    assert idw(x, y, values, np.array([100.0]), np.zeros(1), k=2)[0] == pytest.approx(-90.0)
    assert np.isnan(idw(x[:0], y[:0], values[:0], np.zeros(2), np.zeros(2))).all()


def test_oracle_from_a_reference_signal(readings) -> None:
    # The tiny region's readings and their own signal as the "truth": no
    # shadowing, so the oracle is the true median itself.
    reference = readings.assign(median_dbm=readings["signal_dbm"].fillna(-130.0), shadowing_db=0.0)
    result = cross_validate(
        readings, readings.iloc[0:0], resolution=10, block_m=300.0, reference_signal=reference
    )
    summary = result.summary.set_index("estimator")
    assert list(summary.index) == [*ESTIMATORS, "oracle"]
    assert summary.loc["oracle", "cells"] > 0
    assert summary.loc["oracle", "rmse_db"] < summary.loc["idw", "rmse_db"] + 1e-9
    assert set(result.by_radio["radio"]) == {"lte"}
    with pytest.raises(ReferenceSignalError, match="no column shadowing_db"):
        cross_validate(
            readings, readings.iloc[0:0], reference_signal=reference.drop(columns="shadowing_db")
        )


def test_demo_signal_file_matches_its_readings(tmp_path: Path) -> None:
    files = write_demo(tmp_path / "demo", seed=7)
    signal = pd.read_csv(files.readings.parent / READING_TRUTH_FILE)
    readings = pd.read_csv(files.readings)
    assert list(signal.columns) == list(REFERENCE_SIGNAL_COLUMNS)
    assert len(signal) == len(readings)
    for column in ("lat", "lon", "mcc", "mnc", "radio"):
        assert (signal[column] == readings[column]).all(), column
    # Shadowing is a zero-mean field of σ 6 dB (field.py), here seen along roads.
    assert abs(signal["shadowing_db"].mean()) < 2.0
    assert 3.0 < signal["shadowing_db"].std() < 9.0
    served = readings["signal_dbm"].notna()
    # Readings are the true median plus 5 dB temporal fading.
    error = readings.loc[served, "signal_dbm"] - signal.loc[served, "median_dbm"]
    assert abs(error.median()) < 1.0
