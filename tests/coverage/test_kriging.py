"""Residual kriging: fitted variogram, exact-ish at data, prior far away."""

from __future__ import annotations

import numpy as np

from coverage.kriging import Variogram, fit_variogram, simple_krige


def correlated_field(n: int, *, range_m: float, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)
    distance = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    covariance = 36.0 * np.exp(-distance / range_m) + 1e-6 * np.eye(n)
    values = np.linalg.cholesky(covariance) @ rng.standard_normal(n)
    return x, y, values + rng.normal(0, 1.0, n)  # a 1 dB nugget


def test_variogram_recovers_the_correlation_range() -> None:
    x, y, values = correlated_field(600, range_m=400.0)
    fitted = fit_variogram(x, y, values)
    assert 150.0 < fitted.range_m < 1200.0
    assert fitted.sill > fitted.nugget


def test_kriging_follows_nearby_data_and_reverts_far_away() -> None:
    variogram = Variogram(nugget=1.0, sill=36.0, range_m=300.0)
    x, y, r = np.array([0.0, 50.0]), np.array([0.0, 0.0]), np.array([10.0, 10.0])
    estimate, variance = simple_krige(
        x, y, r, np.array([25.0, 20000.0]), np.array([0.0, 0.0]), variogram=variogram
    )
    assert 8.0 < estimate[0] <= 10.0
    assert abs(estimate[1]) < 1e-6
    assert variance[0] < variance[1] == 37.0


def test_too_few_points_mean_no_spatial_model() -> None:
    fitted = fit_variogram(np.zeros(3), np.zeros(3), np.array([1.0, 2.0, 3.0]))
    assert fitted.sill == 0.0
    estimate, _ = simple_krige(
        np.zeros(3), np.zeros(3), np.ones(3), np.ones(1), np.ones(1), variogram=fitted
    )
    assert estimate.tolist() == [0.0]


def test_siblings_sharing_a_neighbourhood_krige_almost_alike() -> None:
    x, y, values = correlated_field(400, range_m=600.0)
    variogram = fit_variogram(x, y, values)
    rng = np.random.default_rng(1)
    tx, ty = rng.uniform(0, 5000, 700), rng.uniform(0, 5000, 700)
    groups = (tx // 150) * 1000 + ty // 150  # ~150 m blocks, like an H3 parent's children
    alone, alone_var = simple_krige(x, y, values, tx, ty, variogram=variogram)
    shared, shared_var = simple_krige(x, y, values, tx, ty, variogram=variogram, groups=groups)
    assert np.sqrt(np.mean((alone - shared) ** 2)) < 0.2
    assert np.abs(alone_var - shared_var).max() < 1.0


def test_a_neighbour_beyond_the_search_radius_weighs_nothing() -> None:
    # Two data: one near the target, one 50 ranges away (outside the search).
    variogram = Variogram(nugget=1.0, sill=36.0, range_m=100.0)
    x, y = np.array([0.0, 5000.0]), np.array([0.0, 0.0])
    near_only, _ = simple_krige(
        x[:1], y[:1], np.array([10.0]), np.array([20.0]), np.array([0.0]), variogram=variogram
    )
    both, _ = simple_krige(
        x, y, np.array([10.0, -50.0]), np.array([20.0]), np.array([0.0]), variogram=variogram
    )
    assert both[0] == near_only[0]
