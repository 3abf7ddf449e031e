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

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.spatial import cKDTree

# Residuals are correlated over a few hundred metres in hilly terrain
# (shadowing decorrelation distances of 50–500 m, 3GPP TR 38.901 Table 7.5-6);
# the fit is bounded to that range.
RANGE_BOUNDS_M = (50.0, 2000.0)
# Neighbours used per target: beyond ~30 the weights are negligible.
NEIGHBOURS = 24
# A target farther than this many variogram ranges from every observation
# keeps the prior: its covariance with the data is below e^-5 ≈ 0.7 %.
FAR_RANGES = 5.0
# Targets solved together: a block's neighbour systems (block × k × k
# float64) stay near 100 MB at k = 32, whatever the number of targets.
KRIGING_BLOCK = 12_000
# The empirical variogram is binned up to this lag.
MAX_LAG_M = 3000.0
# The variogram is fitted on at most this many points (a fixed random
# subset): 20,000 points already give ~10⁵ pairs per 150 m lag bin over a
# province, and the pair count grows with the square of the points.
VARIOGRAM_POINTS = 20_000


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

    Pairs are taken within :data:`MAX_LAG_M` (a KD-tree, not all n² pairs)
    among at most :data:`VARIOGRAM_POINTS` points,
    binned in 150 m lags, and fitted by weighted least squares (weights: pair
    counts). With too few points the variogram is pure nugget (no spatial
    correlation): kriging then returns the mean residual, zero.
    """
    total = float(np.var(residual)) if len(residual) > 1 else 0.0
    if len(residual) < 10 or total == 0.0:
        return Variogram(nugget=max(total, 1e-6), sill=0.0, range_m=RANGE_BOUNDS_M[0])
    if len(residual) > VARIOGRAM_POINTS:
        subset = np.random.default_rng(0).choice(len(residual), VARIOGRAM_POINTS, replace=False)
        x, y, residual = x[subset], y[subset], residual[subset]
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
        # Only the parameters are used: a covariance curve_fit cannot
        # estimate (three lag bins fit exactly) is no reason to warn.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            (nugget, sill, range_m), _ = curve_fit(
                _exponential,
                centres,
                gamma,
                p0=(0.5 * total, 0.5 * total, 300.0),
                bounds=([0.0, 0.0, RANGE_BOUNDS_M[0]], [2 * total, 2 * total, RANGE_BOUNDS_M[1]]),
                sigma=1.0 / np.sqrt(counts[keep]),
            )
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
    groups: np.ndarray | None = None,
    spread: float | None = None,
    centre: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Kriged residual and its variance at target points (simple kriging, mean 0).

    Each target uses the :data:`NEIGHBOURS` observations nearest to it, or,
    with ``groups``, nearest to its group's centre: targets of one group
    (e.g. the seven res-10 children of a res-9 cell) share one neighbourhood
    and one factorised system, each with its own covariances to it, as
    block-search kriging does (Deutsch & Journel, GSLIB, 1998, §II.4). The
    systems are solved in blocks of :data:`KRIGING_BLOCK`. A target (group)
    farther than :data:`FAR_RANGES` ranges from every observation keeps the
    prior (0, sill + nugget): its covariance with the data is below
    e^−FAR_RANGES.

    Parameters
    ----------
    x, y, residual : numpy.ndarray
        Observations (metres) and their values.
    tx, ty : numpy.ndarray
        Targets (metres).
    variogram : Variogram, keyword-only
    groups : numpy.ndarray, optional, keyword-only
        A label per target; targets sharing a label share a neighbourhood.
    spread : float, optional, keyword-only
        The largest distance of a target from its group's centre, which
        widens the search radius; measured on the targets when not given.
        A tile of a larger analysis passes the whole analysis' value
        (:func:`group_spread_m`), so its search radius is the same.
    centre : (float, float), optional, keyword-only
        Where coordinates are centred before the float32 distances between
        neighbours (the observations' mean when not given): a tile passes
        the mean of all the analysis' observations, so its sums round alike.

    Returns
    -------
    (estimate, variance) : numpy arrays shaped like ``tx``. The variance
    covers the correlated part and the nugget, so it never falls below the
    nugget: a reading-less cell is never surer than a measured one.
    """
    n_targets = len(tx)
    prior_var = variogram.sill + variogram.nugget
    estimate, variance = np.zeros(n_targets), np.full(n_targets, prior_var)
    if len(residual) == 0 or variogram.sill <= 0.0 or n_targets == 0:
        return estimate, variance
    k = min(NEIGHBOURS, len(residual))
    x, y, residual = (np.asarray(a, float) for a in (x, y, residual))
    tx, ty = np.asarray(tx, float), np.asarray(ty, float)
    if groups is None:
        of_target = np.arange(n_targets)
        gx, gy, spread = tx, ty, 0.0 if spread is None else spread
    else:
        _, of_target = np.unique(groups, return_inverse=True)
        size = np.bincount(of_target)
        gx = np.bincount(of_target, weights=tx) / size
        gy = np.bincount(of_target, weights=ty) / size
        if spread is None:
            spread = float(np.hypot(tx - gx[of_target], ty - gy[of_target]).max())
    tree = cKDTree(np.column_stack([x, y]))
    reach = FAR_RANGES * variogram.range_m + spread
    distance, index = tree.query(np.column_stack([gx, gy]), k=k, distance_upper_bound=reach)
    found_all = np.isfinite(distance.reshape(len(gx), k))
    index = np.where(found_all, index.reshape(len(gx), k), index.reshape(len(gx), k)[:, :1])
    # Targets sorted by group, so that a block of groups owns a slice of them.
    order = np.argsort(of_target, kind="stable")
    starts = np.searchsorted(of_target[order], np.arange(len(gx) + 1))
    near = np.flatnonzero(found_all[:, 0])
    # Distances between neighbours: the upper triangle only, in float32 on
    # coordinates centred on the data (centimetres suffice).
    upper, lower = np.triu_indices(k, 1)
    mx, my = centre if centre is not None else (x.mean(), y.mean())
    cx = (x - mx).astype(np.float32)
    cy = (y - my).astype(np.float32)
    diagonal = np.arange(k)
    for first in range(0, near.size, KRIGING_BLOCK):
        block = near[first : first + KRIGING_BLOCK]
        # Beyond the search radius a neighbour is missing: its row and
        # column of the system become the identity's and its covariance with
        # the target zero, so its weight is exactly zero.
        found, neighbours = found_all[block], index[block]
        px, py = cx[neighbours], cy[neighbours]
        between = np.sqrt((px[:, upper] - px[:, lower]) ** 2 + (py[:, upper] - py[:, lower]) ** 2)
        covariance = variogram.covariance(between).astype(float)
        covariance *= found[:, upper] & found[:, lower]
        system = np.empty((len(block), k, k))
        system[:, upper, lower] = covariance
        system[:, lower, upper] = covariance
        system[:, diagonal, diagonal] = np.where(found, prior_var, 1.0)
        counts = starts[block + 1] - starts[block]
        owner = np.repeat(np.arange(len(block)), counts)
        before = np.cumsum(counts) - counts  # targets of earlier groups in the block
        targets = order[(starts[block] - before)[owner] + np.arange(counts.sum())]
        to_target = np.hypot(
            x[neighbours[owner]] - tx[targets, None], y[neighbours[owner]] - ty[targets, None]
        )
        target_cov = np.where(found[owner], variogram.covariance(to_target), 0.0)
        # One solve per group, its targets' covariances as the right-hand
        # sides (padded to the largest group of the block with zeros).
        slot = np.arange(counts.sum()) - before[owner]
        sides = np.zeros((len(block), k, int(counts.max())))
        sides[owner, :, slot] = target_cov
        weights = np.linalg.solve(system, sides)[owner, :, slot]
        estimate[targets] = np.einsum("ij,ij->i", weights, residual[neighbours[owner]])
        variance[targets] = prior_var - np.einsum("ij,ij->i", weights, target_cov)
    return estimate, np.maximum(variance, variogram.nugget)


def group_spread_m(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Return the largest distance (metres) of a point from its group's centre.

    The ``spread`` :func:`simple_krige` widens its search radius by; 0 without points.
    """
    if len(x) == 0:
        return 0.0
    _, of_target = np.unique(groups, return_inverse=True)
    size = np.bincount(of_target)
    gx = np.bincount(of_target, weights=x) / size
    gy = np.bincount(of_target, weights=y) / size
    return float(np.hypot(x - gx[of_target], y - gy[of_target]).max())
