"""Terrain loss of one site's receivers: which receivers get a profile, and how exact.

The terrain part of step 2. :mod:`coverage.diffraction` computes the loss
along one profile (Deygout over knife edges, sampled or at every DEM
pixel); this module decides, for the receivers around one site, which
profile each gets: a shared one at a coarser point where the site is
hopeless anyway (:class:`CoarseTerrain`), 48 samples elsewhere, and the
exact search where a missed crest could flip served and unserved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coverage.diffraction import FIXED_PROFILE_SAMPLES, diffraction_loss_db
from geodata.raster import Raster

# Where a terrain profile per receiver can be spared (see CoarseTerrain):
# receivers closer to a site than EXACT_TERRAIN_WITHIN_M always get their
# own, since near a site a receiver's bearing turns fast with position.
# Farther ones first take their coarse point's loss; a receiver whose
# signal from the site, so estimated, falls short of the radio's usable
# level by more than HOPELESS_MARGIN_DB gets no profile of its own: the
# site cannot serve it. The margin covers the spread of the terrain loss
# within a res-9 cell (~20 dB RMS on the demo's karst) and the calibration
# (slope and offset) that follows.
EXACT_TERRAIN_WITHIN_M = 1500.0
HOPELESS_MARGIN_DB = 35.0
# Samples per terrain profile in predict_signal, by default: 48 evenly
# spaced samples for every receiver, then the exact search (every DEM pixel,
# compiled in coverage/_deygout.c) where the loss decides (see
# PREDICTION_REFINES). None: the exact search everywhere, ~3.3x the cost
# per profile (7.8 vs 2.35 µs; 183 s at scale 1 against the 120 s budget).
PREDICTION_PROFILE_SAMPLES: int | None = FIXED_PROFILE_SAMPLES
# Whether predict_signal recomputes exactly the receivers whose 48-sample
# signal lies in the band where a missed crest could flip served/unserved
# (48 samples step over ridges narrower than ~300 m at 15 km: ~15-19 dB RMS
# of terrain-loss error against every pixel), and those with readings.
PREDICTION_REFINES = True
# The band, around the radio's usable level, of the signal from a site
# (open path − 48-sample loss, best sector) where the profile is exact.
# It is lopsided because the error mostly is: the 48 samples read the same
# profile at fewer points, so they miss edges and under-estimate the loss
# (the receiver is at best as well off as they say). Below the band the
# exact loss would mostly sink a receiver deeper; what can still lift it is
# the calibration, whose spread σ is at most SIGMA_BOUNDS_DB[1] = 15 dB,
# and a receiver 1.28 σ (≈19 dB) below usable has P(usable) below
# USABLE_P_LOW = 0.1 even then: 20 dB. Not always: Deygout is not monotone
# in the edges it sees (a lesser principal edge leaves the real one on a
# sub-path, counted twice), so 48 samples over-estimate the loss by > 1 dB
# at 13 % of receivers of the benchmark's terrain (1st percentile −26 dB);
# still, below −20 dB none of 48,000 receivers of 12 sites turned usable at
# every pixel (5 of them below −15 dB). Above usable the missed crest
# matters, and it can take any loss away: 48 samples +20-30 dB above usable
# were unserved at every pixel for 1.9 % of those receivers, +30-40 dB for
# none (the 99th percentile of the missed loss is ~40 dB): 40 dB.
REFINE_BELOW_USABLE_DB = 20.0
REFINE_ABOVE_USABLE_DB = 40.0


@dataclass(frozen=True)
class CoarseTerrain:
    """Coarser points at which far receivers take their terrain loss.

    Attributes
    ----------
    x, y : numpy.ndarray
        The coarse points (e.g. H3 parents' centres), in the receivers' CRS.
    of_receiver : numpy.ndarray
        For each receiver, the index of its coarse point.
    exact : numpy.ndarray
        Receivers (boolean mask) that always get their own profile: those
        with readings, whose predictions are calibrated and kriged.
    """

    x: np.ndarray
    y: np.ndarray
    of_receiver: np.ndarray
    exact: np.ndarray


def refined_loss(
    dem: Raster,
    site: tuple[float, float],
    height_m: float,
    freq_mhz: float,
    rx: tuple[np.ndarray, np.ndarray],
    headroom: np.ndarray,
    always: np.ndarray,
    enough: np.ndarray | None,
    samples: int | None,
    refine: bool,
) -> np.ndarray:
    """Compute the terrain loss at receivers ``rx``, exactly where it decides.

    ``samples`` per profile, then, with ``refine``, the exact search where
    the loss decides — the receivers
    whose signal so found lies within :data:`REFINE_BELOW_USABLE_DB` below
    and :data:`REFINE_ABOVE_USABLE_DB` above usable, and the ``always``
    ones (readings: the calibration fits their loss) the site can serve,
    within :data:`HOPELESS_MARGIN_DB` of usable.
    """
    x, y = rx
    loss = diffraction_loss_db(
        dem, site, height_m, x, y, freq_mhz, samples=samples, enough_db=enough
    )
    if samples is None or not refine:
        return loss
    margin = headroom - loss
    redo = (margin >= -REFINE_BELOW_USABLE_DB) & (margin <= REFINE_ABOVE_USABLE_DB)
    redo |= always & (margin >= -HOPELESS_MARGIN_DB)
    if redo.any():
        stop = None if enough is None else enough[redo]
        loss[redo] = diffraction_loss_db(
            dem, site, height_m, x[redo], y[redo], freq_mhz, enough_db=stop
        )
    return loss


def site_terrain_loss(
    dem: Raster,
    site: tuple[float, float],
    height_m: float,
    freq_mhz: float,
    near: np.ndarray,
    distance: np.ndarray,
    headroom: np.ndarray,
    receivers: tuple[np.ndarray, np.ndarray],
    coarse: CoarseTerrain | None,
    samples: int | None = PREDICTION_PROFILE_SAMPLES,
    refine: bool = PREDICTION_REFINES,
) -> np.ndarray:
    """Diffraction loss at the receivers ``near`` a site.

    ``headroom`` is the best the site gives each receiver without terrain,
    above the usable level (dB). With ``coarse``, receivers beyond
    :data:`EXACT_TERRAIN_WITHIN_M` take their coarse point's loss when that
    leaves them more than :data:`HOPELESS_MARGIN_DB` short of usable, and
    get a profile of their own otherwise. A receiver without readings
    whose terrain loss passes ``headroom`` + :data:`HOPELESS_MARGIN_DB` gets
    a lower bound of it (the search stops there: see ``enough_db`` in
    :func:`coverage.diffraction.diffraction_loss_db`). With ``refine``, own
    profiles of ``samples`` are recomputed exactly where they decide
    (:func:`refined_loss`).
    """
    x, y = receivers
    if coarse is None:
        return refined_loss(
            dem,
            site,
            height_m,
            freq_mhz,
            (x[near], y[near]),
            headroom,
            np.zeros(near.size, dtype=bool),
            None,
            samples,
            refine,
        )
    # The loss past which a receiver is hopeless: its exact value is not needed.
    exact = coarse.exact[near]
    enough = np.where(exact, np.inf, headroom + HOPELESS_MARGIN_DB)
    loss = np.empty(near.size)
    far = np.flatnonzero((distance >= EXACT_TERRAIN_WITHIN_M) & ~exact)
    points, which = np.unique(coarse.of_receiver[near[far]], return_inverse=True)
    enough_point = np.full(points.size, -np.inf)
    np.maximum.at(enough_point, which, enough[far])
    loss[far] = diffraction_loss_db(
        dem,
        site,
        height_m,
        coarse.x[points],
        coarse.y[points],
        freq_mhz,
        samples=samples,
        enough_db=enough_point,
    )[which]
    own = np.ones(near.size, dtype=bool)
    own[far] = headroom[far] - loss[far] >= -HOPELESS_MARGIN_DB
    loss[own] = refined_loss(
        dem,
        site,
        height_m,
        freq_mhz,
        (x[near[own]], y[near[own]]),
        headroom[own],
        exact[own],
        enough[own],
        samples,
        refine,
    )
    return loss
