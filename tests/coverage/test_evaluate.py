"""Blocked cross-validation: whole blocks held out, neighbours kept out of training."""

from __future__ import annotations

import h3ronpy
import numpy as np

from coverage.evaluate import ESTIMATORS, cross_validate, spatial_folds, training_mask
from coverage.hexgrid import cells_for_points


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
