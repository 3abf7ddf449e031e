"""Predicted signal from sites and terrain (step 2 of the pipeline).

Received reference-signal power = EIRP − reference-signal offset − path loss
− terrain diffraction + sector antenna gain. Each model is cited where it is
written; all work on arrays of receivers at once, one site at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from coverage.threads import map_in_order, worker_count
from geodata import constants as C
from geodata.raster import Raster

# Effective earth radius with the standard k = 4/3 refraction (ITU-R P.452).
EFFECTIVE_EARTH_RADIUS_M = 4 / 3 * 6_371_000.0
SPEED_OF_LIGHT = 299_792_458.0
# Samples along each terrain profile: at 15 km and 48 samples a step is
# ~300 m, finer than the ridges' width in a 30 m DEM smoothed by the
# bilinear lookup; enough to find the dominant edge.
PROFILE_SAMPLES = 48
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
    # Evaluated where it applies only: far below −0.78 the root and v cancel.
    w = np.maximum(v, -0.78) - 0.1
    loss = 6.9 + 20 * np.log10(np.sqrt(w**2 + 1) + w)
    return np.where(v > -0.78, loss, 0.0)


# Profiles are computed in blocks of this many receivers: a block's arrays
# (receivers × samples, float32) stay within the CPU caches' reach and the
# memory of one call stays bounded whatever the number of receivers.
PROFILE_BLOCK = 4096


def float32_terrain(dem: Raster) -> Raster:
    """The same DEM with float32 values: half the memory, and what the
    profile sampler reads (heights need centimetres, not float64)."""
    if dem.values.dtype == np.float32:
        return dem
    return Raster(dem.values.astype(np.float32), dem.transform, dem.crs)


def _bilinear(values: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Bilinear values of a float32 grid at fractional pixel positions
    (pixel centres at +0.5, as in :meth:`geodata.raster.Raster.sample`);
    NaN outside the grid.

    Written out rather than ``scipy.ndimage.map_coordinates``: four gathers
    are several times faster than its generic spline machinery, and the
    profiles need nothing above order 1.
    """
    height, width = values.shape
    r = row - np.float32(0.5)
    c = col - np.float32(0.5)
    inside = (r >= 0) & (r <= height - 1) & (c >= 0) & (c <= width - 1)
    r0 = np.clip(np.floor(r), 0, max(height - 2, 0)).astype(np.intp)
    c0 = np.clip(np.floor(c), 0, max(width - 2, 0)).astype(np.intp)
    fr = np.clip(r - r0, 0, 1).astype(np.float32)
    fc = np.clip(c - c0, 0, 1).astype(np.float32)
    flat = values.ravel()
    top = r0 * width + c0
    step_right = 1 if width > 1 else 0
    step_down = width if height > 1 else 0
    upper = flat[top] * (1 - fc) + flat[top + step_right] * fc
    lower = flat[top + step_down] * (1 - fc) + flat[top + step_down + step_right] * fc
    return np.where(inside, upper * (1 - fr) + lower * fr, np.float32(np.nan))


def _pixel_coordinates(dem: Raster, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column and row (fractional) of points given in the DEM's CRS."""
    a, b, c, d, e, f = (~dem.transform)[:6]
    x, y = np.asarray(x, float), np.asarray(y, float)
    return a * x + b * y + c, d * x + e * y + f


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
    site are computed at once, in blocks of :data:`PROFILE_BLOCK`.

    With samples at fractions t of a path of length D, d₁ = tD and
    d₂ = (1 − t)D, so v = h·√(2/(λ D t(1 − t))) separates into a factor per
    profile and one per sample; heights are float32 (centimetres at 2 km).
    """
    n = len(rx_x)
    if n == 0:
        return np.empty(0)
    values = float32_terrain(dem).values
    wavelength = SPEED_OF_LIGHT / (freq_mhz * 1e6)
    t = np.linspace(0.0, 1.0, PROFILE_SAMPLES + 2)[1:-1]  # interior samples only
    sx, sy = site_xy
    site_col, site_row = _pixel_coordinates(dem, np.array([sx]), np.array([sy]))
    ground_tx = np.nan_to_num(
        _bilinear(values, site_col.astype(np.float32), site_row.astype(np.float32)), nan=0.0
    )[0]
    h_tx = float(ground_tx) + site_height_m
    rx_x, rx_y = np.asarray(rx_x, float), np.asarray(rx_y, float)
    rx_col, rx_row = _pixel_coordinates(dem, rx_x, rx_y)
    ground_rx = np.nan_to_num(_bilinear(values, rx_col, rx_row), nan=0.0)
    distance = np.maximum(np.hypot(rx_x - sx, rx_y - sy), 1.0)
    loss = np.empty(n)
    for first in range(0, n, PROFILE_BLOCK):
        block = slice(first, first + PROFILE_BLOCK)
        loss[block] = _deygout_block(
            values, (site_col[0], site_row[0]), rx_col[block], rx_row[block], t,
            distance[block], h_tx, ground_rx[block] + C.RECEIVER_HEIGHT_M, wavelength,
        )  # fmt: skip
    return loss


def _deygout_block(
    values: np.ndarray,
    site_pixel: tuple[float, float],
    rx_col: np.ndarray,
    rx_row: np.ndarray,
    t: np.ndarray,
    distance: np.ndarray,
    h_tx: float,
    h_rx: np.ndarray,
    wavelength: float,
) -> np.ndarray:
    """Deygout loss (dB) for one block of profiles; see :func:`diffraction_loss_db`."""
    t32 = t.astype(np.float32)
    col = np.float32(site_pixel[0]) + np.outer(rx_col - site_pixel[0], t).astype(np.float32)
    row = np.float32(site_pixel[1]) + np.outer(rx_row - site_pixel[1], t).astype(np.float32)
    terrain = np.nan_to_num(_bilinear(values, col, row), nan=-1e9)
    bulge = np.outer(distance**2, t * (1 - t) / (2 * EFFECTIVE_EARTH_RADIUS_M))
    ground = terrain + bulge.astype(np.float32)
    line = np.float32(h_tx) + np.outer(h_rx - h_tx, t).astype(np.float32)
    # v = (ground − line)·√(2/(λ D t(1−t))): a factor per profile, one per sample.
    per_profile = (1.0 / np.sqrt(distance)).astype(np.float32)
    per_sample = np.sqrt(2.0 / (wavelength * t * (1 - t))).astype(np.float32)
    v = (ground - line) * per_profile[:, None] * per_sample[None, :]
    edge = np.argmax(v, axis=1)
    rows = np.arange(len(v))
    v_main = v[rows, edge].astype(float)
    loss = knife_edge_loss_db(v_main)
    blocked = np.flatnonzero(v_main > 0.0)
    if blocked.size == 0:
        return loss
    # Secondary edges, on the blocked profiles only.
    ground, edge = ground[blocked], edge[blocked]
    d = distance[blocked]
    t_edge = t32[edge][:, None]
    h_edge = ground[np.arange(len(blocked)), edge][:, None]
    columns = np.arange(len(t))[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        # Transmitter -> principal edge: d₁ = tD, d₂ = (t_e − t)D.
        line_left = np.float32(h_tx) + (h_edge - np.float32(h_tx)) * (t32[None, :] / t_edge)
        scale_left = np.sqrt(2.0 * t_edge / (wavelength * t32[None, :] * (t_edge - t32[None, :])))
        v_left = np.where(columns < edge[:, None], (ground - line_left) * scale_left, -np.inf)
        # Principal edge -> receiver: d₁ = (t − t_e)D, d₂ = (1 − t)D.
        h_end = h_rx[blocked][:, None].astype(np.float32)
        line_right = h_edge + (h_end - h_edge) * ((t32[None, :] - t_edge) / (1 - t_edge))
        scale_right = np.sqrt(
            2.0 * (1 - t_edge) / (wavelength * (t32[None, :] - t_edge) * (1 - t32[None, :]))
        )
        v_right = np.where(columns > edge[:, None], (ground - line_right) * scale_right, -np.inf)
    per_blocked = (1.0 / np.sqrt(d))[:, None]
    for v_sub in (v_left, v_right):
        best = np.max(v_sub, axis=1) * per_blocked[:, 0]
        loss[blocked] += knife_edge_loss_db(np.where(np.isfinite(best), best, -10.0))
    return loss


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


_PREDICTION_COLUMNS = ["point", "carrier", "mcc", "mnc", "radio", "predicted_dbm", "site_id",
                       "distance_m", "diffraction_db"]  # fmt: skip


def _site_terrain(
    dem: Raster,
    site: tuple[float, float],
    height_m: float,
    freq_mhz: float,
    near: np.ndarray,
    distance: np.ndarray,
    headroom: np.ndarray,
    receivers: tuple[np.ndarray, np.ndarray],
    coarse: CoarseTerrain | None,
) -> np.ndarray:
    """Diffraction loss at the receivers ``near`` a site.

    ``headroom`` is the best the site gives each receiver without terrain,
    above the usable level (dB). With ``coarse``, receivers beyond
    :data:`EXACT_TERRAIN_WITHIN_M` take their coarse point's loss when that
    leaves them more than :data:`HOPELESS_MARGIN_DB` short of usable, and
    get a profile of their own otherwise.
    """
    x, y = receivers
    if coarse is None:
        return diffraction_loss_db(dem, site, height_m, x[near], y[near], freq_mhz)
    loss = np.empty(near.size)
    far = np.flatnonzero((distance >= EXACT_TERRAIN_WITHIN_M) & ~coarse.exact[near])
    points, which = np.unique(coarse.of_receiver[near[far]], return_inverse=True)
    loss[far] = diffraction_loss_db(dem, site, height_m, coarse.x[points], coarse.y[points],
                                    freq_mhz)[which]  # fmt: skip
    own = np.ones(near.size, dtype=bool)
    own[far] = headroom[far] - loss[far] >= -HOPELESS_MARGIN_DB
    loss[own] = diffraction_loss_db(dem, site, height_m, x[near[own]], y[near[own]], freq_mhz)
    return loss


@dataclass(frozen=True)
class _SiteTable:
    """The cells of :func:`predict_signal` as plain arrays (no pandas per site)."""

    x: np.ndarray
    y: np.ndarray
    reach: np.ndarray
    radio: np.ndarray
    eirp: np.ndarray
    reference_offset: np.ndarray
    usable: np.ndarray
    freq: np.ndarray
    height: np.ndarray
    azimuth: np.ndarray
    beamwidth: np.ndarray

    @classmethod
    def of(cls, cells: pd.DataFrame, site_x: np.ndarray, site_y: np.ndarray) -> _SiteTable:
        radio = cells["radio"].to_numpy(object)
        return cls(
            x=np.asarray(site_x, float), y=np.asarray(site_y, float),
            reach=cells["range_m"].to_numpy(float), radio=radio,
            eirp=cells["eirp_dbm"].to_numpy(float),
            reference_offset=cells["radio"].map(C.REFERENCE_SIGNAL_OFFSET_DB).to_numpy(float),
            usable=cells["radio"].map(C.USABLE_DBM).to_numpy(float),
            freq=cells["freq_mhz"].to_numpy(float), height=cells["height_m"].to_numpy(float),
            azimuth=cells["azimuth_deg"].to_numpy(float),
            beamwidth=cells["beamwidth_deg"].to_numpy(float),
        )  # fmt: skip


@dataclass(frozen=True)
class _SiteContribution:
    """What one site's cells give the receivers ``near`` it."""

    number: int
    rows: np.ndarray  # the site's cells (positions in the cell table)
    near: np.ndarray  # receiver indices within the site's reach, sorted
    distance: np.ndarray
    received: list[np.ndarray]  # per cell: dBm at ``near``
    diffraction: list[np.ndarray]  # per cell: terrain loss at ``near``


def _site_contribution(
    number: int,
    rows: np.ndarray,
    table: _SiteTable,
    tree: cKDTree,
    receivers: tuple[np.ndarray, np.ndarray],
    terrain: Raster | None,
    coarse: CoarseTerrain | None,
) -> _SiteContribution | None:
    """Received dBm from each cell of one site at the receivers within its
    reach (None when there are none); the site's position is its first
    cell's, its reach the largest of its cells'."""
    x, y = receivers
    first = rows[0]
    sx, sy = float(table.x[first]), float(table.y[first])
    reach = float(table.reach[rows].max())
    near = np.sort(np.asarray(tree.query_ball_point((sx, sy), reach), dtype=np.intp))
    if near.size == 0:
        return None
    distance = np.hypot(x[near] - sx, y[near] - sy)
    bearing = np.degrees(np.arctan2(x[near] - sx, y[near] - sy)) % 360.0
    open_path = [
        table.eirp[i]
        - table.reference_offset[i]
        - hata_rural_loss_db(distance / 1000.0, float(table.freq[i]),
                             base_height_m=float(table.height[i]))
        + sector_gain_db(bearing, float(table.azimuth[i]), float(table.beamwidth[i]))
        for i in rows
    ]  # fmt: skip
    keys = [(float(table.freq[i]), float(table.height[i])) for i in rows]
    terrain_loss: dict[tuple[float, float], np.ndarray] = {}
    for key in dict.fromkeys(keys):
        if terrain is None:
            break
        sharing = [j for j, other in enumerate(keys) if other == key]  # the site's sectors
        headroom = np.max([open_path[j] - table.usable[rows[j]] for j in sharing], axis=0)
        terrain_loss[key] = _site_terrain(terrain, (sx, sy), key[1], key[0], near, distance,
                                          headroom, (x, y), coarse)  # fmt: skip
    diffraction = [terrain_loss.get(key, np.zeros(near.size)) for key in keys]
    received = [path - loss for path, loss in zip(open_path, diffraction, strict=True)]
    return _SiteContribution(number, rows, near, distance, received, diffraction)


def predict_signal(
    sites: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    *,
    site_x: np.ndarray,
    site_y: np.ndarray,
    dem: Raster | None = None,
    coarse: CoarseTerrain | None = None,
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
    coarse : CoarseTerrain, optional, keyword-only
        Where receivers farther than :data:`EXACT_TERRAIN_WITHIN_M` from a
        site take their terrain loss (one profile per coarse point, shared
        by its receivers). Path loss and antenna gain stay per receiver.

    Returns
    -------
    pandas.DataFrame
        Rows ``(point, carrier, mcc, mnc, radio, predicted_dbm, site_id,
        distance_m, diffraction_db)``: for each receiver index and carrier/radio, the
        strongest cell within range.

    Notes
    -----
    Receivers within each site's range come from one KD-tree; the best cell
    per receiver is kept in running arrays, one row per (carrier, radio), so
    memory grows with receivers × carriers, not receivers × sites. With
    terrain, sites are worked on by threads (:func:`coverage.threads.worker_count`);
    their results are merged in site order, so the outcome does not depend
    on the threads.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(sites) == 0 or len(x) == 0:
        return pd.DataFrame(columns=_PREDICTION_COLUMNS)
    terrain = float32_terrain(dem) if dem is not None else None
    cells = sites.reset_index(drop=True)
    combo_columns = ["carrier", "mcc", "mnc", "radio"]
    combo, combos = pd.MultiIndex.from_frame(cells[combo_columns].astype(object)).factorize()
    site_number, site_ids = pd.factorize(cells["site_id"])
    n = len(x)
    best_dbm = np.full((len(combos), n), -np.inf)
    best_site = np.full((len(combos), n), -1, dtype=np.int32)
    best_distance = np.zeros((len(combos), n), dtype=np.float32)
    best_diffraction = np.zeros((len(combos), n), dtype=np.float32)
    table = _SiteTable.of(cells, site_x, site_y)
    tree = cKDTree(np.column_stack([x, y]))
    by_site = pd.Series(np.arange(len(cells))).groupby(site_number, sort=False).indices
    # Sites whose reach misses every receiver are dropped before the loop
    # (a refresh of one commune sees a few of the province's sites).
    gap_x = np.maximum(np.maximum(x.min() - table.x, table.x - x.max()), 0.0)
    gap_y = np.maximum(np.maximum(y.min() - table.y, table.y - y.max()), 0.0)
    reaches = np.hypot(gap_x, gap_y) <= table.reach
    work = [(number, rows) for number, rows in by_site.items() if reaches[rows].any()]

    def contribution(item: tuple[int, np.ndarray]) -> _SiteContribution | None:
        return _site_contribution(item[0], item[1], table, tree, (x, y), terrain, coarse)

    workers = worker_count() if terrain is not None else 1
    for found in map_in_order(contribution, work, workers=workers):
        if found is None:
            continue
        near = found.near
        for position, received, diffraction in zip(
            found.rows, found.received, found.diffraction, strict=True
        ):
            k = combo[position]
            better = received > best_dbm[k, near]
            where = near[better]
            best_dbm[k, where] = received[better]
            best_site[k, where] = found.number
            best_distance[k, where] = found.distance[better]
            best_diffraction[k, where] = diffraction[better]
    frames = []
    for k, (carrier, mcc, mnc, radio) in enumerate(combos):
        point = np.flatnonzero(best_site[k] >= 0)
        frames.append(pd.DataFrame({
            "point": point, "carrier": carrier, "mcc": mcc, "mnc": mnc, "radio": radio,
            "predicted_dbm": best_dbm[k, point], "site_id": site_ids[best_site[k, point]],
            "distance_m": best_distance[k, point].astype(float),
            "diffraction_db": best_diffraction[k, point].astype(float),
        }))  # fmt: skip
    best = pd.concat(frames, ignore_index=True)
    if best.duplicated(["point", "carrier", "radio"]).any():  # one name, several codes
        best = best.sort_values("predicted_dbm", ascending=False, kind="stable")
        best = best.drop_duplicates(["point", "carrier", "radio"]).reset_index(drop=True)
    return best
