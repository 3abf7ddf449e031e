"""Predicted signal from sites and terrain (step 2 of the pipeline).

Received reference-signal power = EIRP − reference-signal offset − path loss
− terrain diffraction + sector antenna gain. Each model is cited where it is
written; all work on arrays of receivers at once, one site at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.raster import Raster

# Effective earth radius with the standard k = 4/3 refraction (ITU-R P.452).
EFFECTIVE_EARTH_RADIUS_M = 4 / 3 * 6_371_000.0
SPEED_OF_LIGHT = 299_792_458.0
# Samples along each terrain profile: at 15 km and 48 samples a step is
# ~300 m, finer than the ridges' width in a 30 m DEM smoothed by the
# bilinear lookup; enough to find the dominant edge.
PROFILE_SAMPLES = 48
# Hata is fitted from 1 km; closer than 100 m free space rules anyway.
MIN_DISTANCE_KM = 0.1


def free_space_loss_db(distance_km: np.ndarray, freq_mhz: float | np.ndarray) -> np.ndarray:
    """Free-space path loss (ITU-R P.525): 32.45 + 20 log10 f[MHz] + 20 log10 d[km]."""
    d = np.maximum(distance_km, 1e-3)
    return 32.45 + 20 * np.log10(freq_mhz) + 20 * np.log10(d)


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
    return np.maximum(rural, free_space_loss_db(d, freq_mhz))


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


def knife_edge_loss_db(v: np.ndarray) -> np.ndarray:
    """Single knife-edge diffraction loss J(v) (ITU-R P.526-15, eq. 31).

    J(v) = 6.9 + 20 log10(√((v−0.1)² + 1) + v − 0.1) for v > −0.78, else 0.

    >>> knife_edge_loss_db(np.array([-1.0, 0.0, 2.0])).round(1).tolist()
    [0.0, 6.0, 19.0]
    """
    v = np.asarray(v, float)
    loss = 6.9 + 20 * np.log10(np.sqrt((v - 0.1) ** 2 + 1) + v - 0.1)
    return np.where(v > -0.78, loss, 0.0)


def _principal_edge(
    height: np.ndarray, d1: np.ndarray, d2: np.ndarray, wavelength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Fresnel parameter and index of the highest-v sample in each row.

    ``height`` is the obstacle's height above the line joining the two ends
    of the (sub-)path; rows with no sample (all -inf) get v = -inf.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        v = height * np.sqrt(2 * (d1 + d2) / (wavelength * d1 * d2))
    v = np.where(np.isfinite(v), v, -np.inf)
    index = np.argmax(v, axis=1)
    return v[np.arange(len(v)), index], index


def diffraction_loss_db(
    dem: Raster,
    site_xy: tuple[float, float],
    site_height_m: float,
    rx_x: np.ndarray,
    rx_y: np.ndarray,
    freq_mhz: float,
) -> np.ndarray:
    """Terrain loss along each site→receiver profile: Deygout, up to 3 edges.

    Samples the DEM at :data:`PROFILE_SAMPLES` points per profile and adds
    the earth bulge d₁d₂/(2kR). The principal edge (largest Fresnel
    parameter v over the whole path) gives J(v); then the highest edge
    between the transmitter and it, and between it and the receiver, each
    seen on its own sub-path, add theirs (Deygout 1966; ITU-R P.526-15
    §4.5.1). Secondary edges count only when the principal edge blocks the
    line of sight (v > 0): on open ground every sub-path grazes its Fresnel
    zone, and adding those grazing losses would double-count what Hata's
    median already holds. Profiles run in the DEM's metric CRS; all profiles of a
    site are computed at once.
    """
    n = len(rx_x)
    if n == 0:
        return np.empty(0)
    t = np.linspace(0.0, 1.0, PROFILE_SAMPLES + 2)[1:-1]  # interior samples only
    sx, sy = site_xy
    px = sx + np.outer(rx_x - sx, t)
    py = sy + np.outer(rx_y - sy, t)
    terrain = np.nan_to_num(dem.sample(px, py), nan=-1e9)
    ground_tx = float(np.nan_to_num(dem.sample(np.array([sx]), np.array([sy]))[0], nan=0.0))
    ground_rx = np.nan_to_num(dem.sample(rx_x, rx_y), nan=0.0)
    distance = np.hypot(rx_x - sx, rx_y - sy)
    d1 = np.outer(distance, t)
    d2 = distance[:, None] - d1
    ground = terrain + d1 * d2 / (2 * EFFECTIVE_EARTH_RADIUS_M)  # terrain plus bulge
    h_tx = ground_tx + site_height_m
    h_rx = ground_rx + C.RECEIVER_HEIGHT_M
    wavelength = SPEED_OF_LIGHT / (freq_mhz * 1e6)

    line = h_tx + np.outer(h_rx - h_tx, t)
    v_main, edge = _principal_edge(ground - line, d1, d2, wavelength)
    loss = knife_edge_loss_db(np.where(np.isfinite(v_main), v_main, -10.0))
    obstructed = v_main > 0.0
    rows = np.arange(n)
    d_edge = d1[rows, edge][:, None]
    h_edge = ground[rows, edge][:, None]
    columns = np.arange(len(t))[None, :]
    # Sub-path transmitter -> principal edge.
    left = columns < edge[:, None]
    line_left = h_tx + (h_edge - h_tx) * (d1 / d_edge)
    v_left, _ = _principal_edge(np.where(left, ground - line_left, -np.inf), d1, d_edge - d1,
                                wavelength)  # fmt: skip
    # Sub-path principal edge -> receiver.
    right = columns > edge[:, None]
    d_rest = distance[:, None] - d_edge
    line_right = h_edge + (h_rx[:, None] - h_edge) * ((d1 - d_edge) / d_rest)
    v_right, _ = _principal_edge(np.where(right, ground - line_right, -np.inf), d1 - d_edge,
                                 distance[:, None] - d1, wavelength)  # fmt: skip
    for v_sub in (v_left, v_right):
        extra = knife_edge_loss_db(np.where(np.isfinite(v_sub), v_sub, -10.0))
        loss = loss + np.where(obstructed, extra, 0.0)
    return loss


def predict_signal(
    sites: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    *,
    site_x: np.ndarray,
    site_y: np.ndarray,
    dem: Raster | None = None,
) -> pd.DataFrame:
    """Predicted reference-signal dBm at receivers, best cell per carrier and radio.

    Parameters
    ----------
    sites : pandas.DataFrame
        Cells as returned by :func:`geodata.sites.normalise_sites`.
    x, y : numpy.ndarray
        Receiver coordinates in the metric CRS shared with ``site_x``/``site_y``
        (and with ``dem`` when given).
    site_x, site_y : numpy.ndarray, keyword-only
        Cell coordinates in that CRS, aligned with ``sites``.
    dem : Raster, optional
        Terrain; without it the prediction is the path-loss model alone.

    Returns
    -------
    pandas.DataFrame
        Rows ``(point, carrier, mcc, mnc, radio, predicted_dbm, site_id,
        distance_m, diffraction_db)``: for each receiver index and carrier/radio, the
        strongest cell within range.
    """
    frames = []
    cells = sites.assign(_x=site_x, _y=site_y)
    for site_id, site_cells in cells.groupby("site_id", sort=False):
        sx, sy = float(site_cells["_x"].iloc[0]), float(site_cells["_y"].iloc[0])
        distance = np.hypot(x - sx, y - sy)
        reach = float(site_cells["range_m"].max())
        near = np.flatnonzero(distance <= reach)
        if near.size == 0:
            continue
        bearing = np.degrees(np.arctan2(x[near] - sx, y[near] - sy)) % 360.0
        terrain_cache: dict[tuple[float, float], np.ndarray] = {}
        for cell in site_cells.itertuples(index=False):
            key = (float(cell.freq_mhz), float(cell.height_m))
            if dem is not None and key not in terrain_cache:
                terrain_cache[key] = diffraction_loss_db(
                    dem, (sx, sy), cell.height_m, x[near], y[near], cell.freq_mhz
                )
            loss = hata_rural_loss_db(
                distance[near] / 1000.0, cell.freq_mhz, base_height_m=cell.height_m
            )
            diffraction = terrain_cache.get(key, np.zeros(near.size))
            received = (
                cell.eirp_dbm
                - C.REFERENCE_SIGNAL_OFFSET_DB[cell.radio]
                - loss
                - diffraction
                + sector_gain_db(bearing, cell.azimuth_deg, cell.beamwidth_deg)
            )
            frames.append(pd.DataFrame({
                "point": near, "carrier": cell.carrier, "mcc": cell.mcc, "mnc": cell.mnc,
                "radio": cell.radio, "predicted_dbm": received, "site_id": site_id,
                "distance_m": distance[near], "diffraction_db": diffraction,
            }))  # fmt: skip
    if not frames:
        return pd.DataFrame(
            columns=["point", "carrier", "mcc", "mnc", "radio", "predicted_dbm", "site_id",
                     "distance_m", "diffraction_db"]
        )  # fmt: skip
    every = pd.concat(frames, ignore_index=True)
    best = every.sort_values("predicted_dbm", ascending=False)
    return best.drop_duplicates(["point", "carrier", "radio"]).reset_index(drop=True)
