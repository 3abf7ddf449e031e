"""The model's thresholds: the numbers that decide a verdict, each with its reason.

One module for the rules and parameters the analysis' steps share, so a
reviewer finds every number a verdict rests on in one place:

- the official rule (what *trắng sóng* and *lõm sóng* mean: ``USABLE_P_*``,
  ``PATCHY_HOUSEHOLD_SHARE``) is defined in :mod:`geodata.constants` beside the
  :class:`~geodata.constants.Verdict` vocabulary and re-exported here. It stays
  there because geodata code needs it without importing coverage (the demo's
  true verdicts, ``geodata/demo/truth.py``, judge by the same rule, and geodata
  never imports coverage);
- the model's parameters (how much a prediction weighs, when readings count,
  how sure is sure) live here and nowhere else.

:mod:`geodata.constants` keeps the physical and network bounds (signal ranges,
Android's levels, 3GPP sensitivities, site defaults). Settings internal to one
estimator (kriging's neighbourhood, calibration's bounds, the household
priors, the silent-gap detector) stay beside their step, with their reasons.

>>> USABLE_P_LOW < SERVED_P < USABLE_P_HIGH
True
"""

from __future__ import annotations

from typing import Final

from geodata.constants import PATCHY_HOUSEHOLD_SHARE, USABLE_P_HIGH, USABLE_P_LOW

__all__ = [
    "ABSENT_MARGIN_DB",
    "DEFAULT_FADING_DB",
    "H3_RESOLUTION_VERDICT",
    "MAX_NO_SERVICE_SHARE",
    "MEDIAN_ERROR_FACTOR",
    "MIN_CONFIDENCE",
    "MIN_READINGS_MEASURED",
    "MIN_SIGMA_DB",
    "PATCHY_HOUSEHOLD_SHARE",
    "PREDICTION_SIGMA_DB",
    "PRIOR_READINGS",
    "SERVED_P",
    "SETTLEMENTS",
    "SPREAD_BOUNDS_DB",
    "SPREAD_MIN_SERVED_READINGS",
    "USABLE_P_HIGH",
    "USABLE_P_LOW",
]

# --- Where villages are judged ------------------------------------------------
# Villages are judged on res-10 cells (~0.015 km², ~66 m edge): the official
# criterion is a point (the cultural house) and households are points; a
# res-9 cell (~350 m across) mixes a hamlet with the road beside it. Over 12
# demo seeds the verdict accuracy is 95.2 % at res 10, 94.7 % at res 9.
H3_RESOLUTION_VERDICT: Final = 10

# --- When readings count ------------------------------------------------------
# A hex is "measured" when at least this many readings of a carrier/radio
# fall in it; fewer and the prediction decides. Three readings is the fewest
# for which a share of no-service readings (0, 1/3, 2/3, 1) means anything.
MIN_READINGS_MEASURED: Final = 3
# A prediction weighs as much as this many readings when blended with a
# cell's own readings (a Beta-binomial prior of strength 2): two readings
# already move the estimate halfway, as a surveyor would trust them. Map
# cells weigh their children by readings plus this (coverage.map_cells).
PRIOR_READINGS: Final = 2.0
# Cells where more than this share of readings had no service have a mean
# dBm biased upwards (the lost readings carry no dBm): their median is read
# from the share of usable readings instead (coverage.censoring).
MAX_NO_SERVICE_SHARE: Final = 0.2

# --- How much readings of one place spread --------------------------------------
# Temporal spread (σ_t, dB) of readings in one place when the readings are
# too few to show it: 6 dB, the fast-fading-averaged spread 3GPP TR 36.942
# assumes for a pedestrian; measured per region by reading_spread_db.
DEFAULT_FADING_DB: Final = 6.0
# reading_spread_db measures σ_t on cells with at least this many readings
# with service: a sample σ's relative error is ≈ 1/√(2(n − 1)), 24 % at ten.
SPREAD_MIN_SERVED_READINGS: Final = 10
# ... and clips it to these bounds (dB). A guard, chosen rather than fitted:
# near 0 (a region measured by one parked phone) every probability would be
# 0 or 1; far above the 6 dB of TR 36.942 the cells mix places, not fading.
SPREAD_BOUNDS_DB: Final = (2.0, 10.0)
# The standard error of a median of n normal readings is √(π/2)·σ/√n ≈
# 1.25·σ/√n (Kendall & Stuart, The Advanced Theory of Statistics, §10.10).
MEDIAN_ERROR_FACTOR: Final = 1.25
# No estimate of a median is surer than this (dB): readings of one place
# still differ by phone model (Android's calibration spread is ~2 dB).
MIN_SIGMA_DB: Final = 1.0

# --- The prediction -------------------------------------------------------------
# Default temporal fading σ (dB) used to turn a predicted mean into a
# probability of usable signal when a hex has no readings of its own. 8 dB is
# the log-normal shadowing σ typical for rural macro cells (3GPP TR 36.942).
PREDICTION_SIGMA_DB: Final = 8.0
# A carrier whose known sites all lie beyond reach of a cell (another
# carrier's site reaches it, so the site database covers the place) is
# predicted this far below the usable level: past its link budget, well
# under the service floor (SERVICE_FLOOR_DBM is ~9 dB below usable).
ABSENT_MARGIN_DB: Final = -30.0

# --- Judging ------------------------------------------------------------------
# A household counts as served by a carrier when availability is at least
# this: more often with usable signal than without (DESIGN.md).
SERVED_P: Final = 0.5
# Below this confidence the evidence cannot decide between a problem and
# coverage, and the village says so (``unknown``) instead of guessing: odds
# of 3 to 2. At 2 to 1 a fifth of the karst scenarios' visited villages
# (tests/scenarios) came out unknown; at 3 to 2 about a tenth, with
# accuracy still above 0.9 on both scenario generators.
MIN_CONFIDENCE: Final = 0.6
# How sure the household placement is, as the effective number of
# independent places a village's households could be (a Beta(S·n, (1−S)·n)
# spread of the unserved share S): buildings pin every house; a 100 m
# population raster resolves a village into a few dozen pixels that matter;
# the evidence prior (terrain, readings, distance) knows a village only as a
# handful of hamlets (hill villages here have 1–5 xóm).
SETTLEMENTS: Final[dict[str, float]] = {
    "buildings": float("inf"),
    "raster": 20.0,
    "evidence": 5.0,
    "even": 5.0,
}
