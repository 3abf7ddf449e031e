"""Path loss on an open path: free space, Okumura-Hata, the sector pattern, a cell's reach.

The link budget of step 2 (DESIGN.md) before terrain: received
reference-signal power = EIRP − reference-signal offset − path loss +
sector antenna gain; :mod:`coverage.terrain` then takes the terrain's
diffraction loss away. Each model is cited where it is written; all work
on arrays of receivers at once.
"""

from __future__ import annotations

import numpy as np

from coverage import thresholds as T
from geodata import constants as C

# Hata is fitted from 1 km; closer than 100 m free space rules anyway.
MIN_DISTANCE_KM = 0.1
# A cell's reach ends where its open path (no terrain, boresight) leaves it
# this far below its radio's service floor: shadowing would have to lift it
# by 2.33 σ, the 1 % tail of log-normal shadowing with σ = PREDICTION_SIGMA_DB
# (8 dB for rural macro cells, 3GPP TR 36.942), to bring service back.
REACH_SHADOWING_MARGIN_DB = 2.33 * T.PREDICTION_SIGMA_DB
# Distances at which the reach is looked for (log-spaced, interpolated):
# 512 points from 100 m to 15 km are ~1 % apart.
_REACH_GRID_POINTS = 512


def free_space_loss_db(distance_km: np.ndarray, freq_mhz: float | np.ndarray) -> np.ndarray:
    """Free-space path loss (ITU-R P.525): 32.45 + 20 log10 f[MHz] + 20 log10 d[km]."""
    d = np.maximum(distance_km, 1e-3)
    loss: np.ndarray = 32.45 + 20 * np.log10(freq_mhz) + 20 * np.log10(d)
    return loss


def hata_rural_loss_db(
    distance_km: np.ndarray,
    freq_mhz: float,
    *,
    base_height_m: float,
    mobile_height_m: float = C.RECEIVER_HEIGHT_M,
) -> np.ndarray:
    """Median path loss in open/rural terrain, Okumura-Hata family.

    - 150–1500 MHz: Okumura-Hata (Hata 1980, IEEE Trans. Veh. Tech. 29(3)),
      small/medium-city mobile correction, then the open-area correction
      −4.78 (log f)² + 18.33 log f − 40.94.
    - 1500–2000 MHz: COST-231 Hata (COST Action 231 final report, 1999,
      §4.4.3) with C_m = 0, then the same open-area correction.
    - Above 2000 MHz (NR n78): COST-231 evaluated at 2000 MHz plus the
      free-space frequency term 20 log10(f/2000) — a conservative choice,
      as ITU-R P.1546 scales its curves with frequency the same way.

    Distances are clamped to at least 100 m; the result never falls below
    free-space loss.
    """
    d = np.maximum(np.asarray(distance_km, float), MIN_DISTANCE_KM)
    f_model = min(max(freq_mhz, 150.0), 2000.0)
    log_f = np.log10(f_model)
    hb = max(base_height_m, 1.0)
    a_hm = (1.1 * log_f - 0.7) * mobile_height_m - (1.56 * log_f - 0.8)
    slope = (44.9 - 6.55 * np.log10(hb)) * np.log10(d)
    if f_model <= 1500.0:
        urban = 69.55 + 26.16 * log_f - 13.82 * np.log10(hb) - a_hm + slope
    else:
        urban = 46.3 + 33.9 * log_f - 13.82 * np.log10(hb) - a_hm + slope
    rural = urban - 4.78 * log_f**2 + 18.33 * log_f - 40.94
    if freq_mhz > 2000.0:
        rural = rural + 20 * np.log10(freq_mhz / 2000.0)
    loss: np.ndarray = np.maximum(rural, free_space_loss_db(d, freq_mhz))
    return loss


def sector_gain_db(bearing_deg: np.ndarray, azimuth_deg: float, beamwidth_deg: float) -> np.ndarray:
    """Horizontal sector pattern relative to boresight (3GPP TR 36.814 Table A.2.1.1-2).

    A(φ) = −min(12 (φ/φ3dB)², A_m) with A_m = 25 dB; an omni antenna
    (``azimuth_deg`` NaN) gives 0 dB everywhere.

    >>> sector_gain_db(np.array([0.0, 32.5, 180.0]), 0.0, 65.0).round(1).tolist()
    [-0.0, -3.0, -25.0]
    """
    if np.isnan(azimuth_deg):
        return np.zeros_like(np.asarray(bearing_deg, float))
    phi = (np.asarray(bearing_deg, float) - azimuth_deg + 180.0) % 360.0 - 180.0
    return -np.minimum(12.0 * (phi / beamwidth_deg) ** 2, C.SECTOR_BACKLOBE_DB)


def cell_reach_m(
    eirp_dbm: np.ndarray,
    reference_offset_db: np.ndarray,
    floor_dbm: np.ndarray,
    freq_mhz: np.ndarray,
    height_m: np.ndarray,
    *,
    margin_db: float = REACH_SHADOWING_MARGIN_DB,
    cap_m: float = C.MAX_CELL_RANGE_M,
) -> np.ndarray:
    """How far each cell is worth predicting: its link budget, not a database's range.

    The distance at which the open-path reference signal, EIRP − offset −
    :func:`hata_rural_loss_db` at boresight, falls to ``floor_dbm`` −
    ``margin_db`` (the radio's service floor less a shadowing margin),
    capped at ``cap_m`` (:data:`geodata.constants.MAX_CELL_RANGE_M`).
    Terrain only takes signal away, so past this distance no receiver can
    be served; within it the terrain profiles decide. OpenCelliD's
    ``range`` (the spread of the readings it was sent) plays no part.

    Examples
    --------
    >>> reach = cell_reach_m(np.array([62.0, 30.0]), np.array([30.8, 30.8]),
    ...                      np.array([-124.0, -124.0]), np.array([1800.0, 1800.0]),
    ...                      np.array([30.0, 30.0]))
    >>> reach.round(-2).tolist()  # a macro sector: the cap; a 30 dBm small cell: ~10 km
    [15000.0, 11700.0]
    """
    eirp = np.asarray(eirp_dbm, float)
    budget = (
        eirp - np.asarray(reference_offset_db, float) - (np.asarray(floor_dbm, float) - margin_db)
    )
    freq = np.broadcast_to(np.asarray(freq_mhz, float), eirp.shape)
    height = np.broadcast_to(np.asarray(height_m, float), eirp.shape)
    log_d = np.linspace(np.log10(MIN_DISTANCE_KM), np.log10(cap_m / 1000.0), _REACH_GRID_POINTS)
    reach = np.empty(eirp.shape)
    pairs, which = np.unique(
        np.column_stack([freq, height]).reshape(-1, 2), axis=0, return_inverse=True
    )
    which = which.reshape(eirp.shape)
    for k, (f, h) in enumerate(pairs):
        loss = hata_rural_loss_db(10**log_d, float(f), base_height_m=float(h))
        mine = which == k
        reach[mine] = 1000.0 * 10 ** np.interp(budget[mine], loss, log_d)
    return np.minimum(reach, cap_m)
