"""Spatial interpolation of prediction residuals: simple kriging (step 3).

The path-loss model cannot know local shadowing (a hill, a forest, a row of
houses), but readings nearby do: the residual (measured − predicted) is
spatially correlated. Simple kriging with a fitted exponential variogram
spreads the residuals of measured cells to their neighbours, and says how
sure it is there.

Written with numpy/scipy rather than a kriging package (PyKrige, gstools):
the system is small (cells with readings of one carrier and radio, at most
a few thousand, solved in blocks of neighbours), and the fit we need is one
exponential model, ~40 lines; a dependency would cost more than it gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit
from scipy.spatial import cKDTree

# Residuals are correlated over a few hundred metres in hilly terrain
# (shadowing decorrelation distances of 50–500 m, 3GPP TR 38.901 Table 7.5-6);
# the fit is bounded to that range.
RANGE_BOUNDS_M = (50.0, 2000.0)
# Neighbours used per target: beyond ~30 the weights are negligible.
NEIGHBOURS = 32
# The empirical variogram is binned up to this lag.
MAX_LAG_M = 3000.0


@dataclass(frozen=True)
class Variogram:
    """Exponential variogram γ(h) = nugget + sill·(1 − exp(−h/range))."""

    nugget: float
    sill: float
    range_m: float

    def covariance(self, h: np.ndarray) -> np.ndarray:
        """Covariance of the correlated part at lag ``h`` (metres)."""
        return self.sill * np.exp(-np.asarray(h) / self.range_m)


def _exponential(h: np.ndarray, nugget: float, sill: float, range_m: float) -> np.ndarray:
    return nugget + sill * (1.0 - np.exp(-h / range_m))


def fit_variogram(x: np.ndarray, y: np.ndarray, residual: np.ndarray) -> Variogram:
    """Fit an exponential variogram to residuals at points (metres).

    Pairs are taken within :data:`MAX_LAG_M` (a KD-tree, not all n² pairs),
    binned in 150 m lags, and fitted by weighted least squares (weights: pair
    counts). With too few points the variogram is pure nugget (no spatial
    correlation): kriging then returns the mean residual, zero.
    """
    total = float(np.var(residual)) if len(residual) > 1 else 0.0
    if len(residual) < 10 or total == 0.0:
        return Variogram(nugget=max(total, 1e-6), sill=0.0, range_m=RANGE_BOUNDS_M[0])
    tree = cKDTree(np.column_stack([x, y]))
    pairs = tree.query_pairs(MAX_LAG_M, output_type="ndarray")
    if len(pairs) < 30:
        return Variogram(nugget=total, sill=0.0, range_m=RANGE_BOUNDS_M[0])
    lag = np.hypot(x[pairs[:, 0]] - x[pairs[:, 1]], y[pairs[:, 0]] - y[pairs[:, 1]])
    half_sq = 0.5 * (residual[pairs[:, 0]] - residual[pairs[:, 1]]) ** 2
    edges = np.arange(0.0, MAX_LAG_M + 150.0, 150.0)
    which = np.digitize(lag, edges) - 1
    counts = np.bincount(which, minlength=len(edges))[: len(edges) - 1]
    sums = np.bincount(which, weights=half_sq, minlength=len(edges))[: len(edges) - 1]
    keep = counts >= 5
    if keep.sum() < 3:
        return Variogram(nugget=total, sill=0.0, range_m=RANGE_BOUNDS_M[0])
    centres = (edges[:-1] + 75.0)[keep]
    gamma = sums[keep] / counts[keep]
    try:
        (nugget, sill, range_m), _ = curve_fit(
            _exponential, centres, gamma,
            p0=(0.5 * total, 0.5 * total, 300.0),
            bounds=([0.0, 0.0, RANGE_BOUNDS_M[0]], [2 * total, 2 * total, RANGE_BOUNDS_M[1]]),
            sigma=1.0 / np.sqrt(counts[keep]),
        )  # fmt: skip
    except (RuntimeError, ValueError):
        return Variogram(nugget=total, sill=0.0, range_m=RANGE_BOUNDS_M[0])
    return Variogram(nugget=float(max(nugget, 1e-6)), sill=float(sill), range_m=float(range_m))


def simple_krige(
    x: np.ndarray,
    y: np.ndarray,
    residual: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    *,
    variogram: Variogram,
) -> tuple[np.ndarray, np.ndarray]:
    """Kriged residual and its variance at target points (simple kriging, mean 0).

    Each target uses its :data:`NEIGHBOURS` nearest observations; the small
    systems are solved together with one batched ``numpy.linalg.solve``.

    Returns
    -------
    (estimate, variance) : numpy arrays shaped like ``tx``. The variance
    covers the correlated part and the nugget, so it never falls below the
    nugget: a reading-less cell is never surer than a measured one.
    """
    n_targets = len(tx)
    prior_var = variogram.sill + variogram.nugget
    if len(residual) == 0 or variogram.sill <= 0.0 or n_targets == 0:
        return np.zeros(n_targets), np.full(n_targets, prior_var)
    k = min(NEIGHBOURS, len(residual))
    tree = cKDTree(np.column_stack([x, y]))
    distance, index = tree.query(np.column_stack([tx, ty]), k=k)
    distance = distance.reshape(n_targets, k)
    index = index.reshape(n_targets, k)
    px, py = x[index], y[index]
    between = np.hypot(px[:, :, None] - px[:, None, :], py[:, :, None] - py[:, None, :])
    system = variogram.covariance(between) + variogram.nugget * np.eye(k)[None, :, :]
    target_cov = variogram.covariance(distance)
    weights = np.linalg.solve(system, target_cov[:, :, None])[:, :, 0]
    estimate = np.einsum("ij,ij->i", weights, residual[index])
    variance = prior_var - np.einsum("ij,ij->i", weights, target_cov)
    return estimate, np.maximum(variance, variogram.nugget)
