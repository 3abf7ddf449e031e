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

from coverage import thresholds as T
from coverage.diffraction import FIXED_PROFILE_SAMPLES, diffraction_loss_db, float32_terrain
from geodata import constants as C
from geodata.raster import Raster
from geodata.threads import map_in_order, worker_count

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
# A cell's reach ends where its open path (no terrain, boresight) leaves it
# this far below its radio's service floor: shadowing would have to lift it
# by 2.33 σ, the 1 % tail of log-normal shadowing with σ = PREDICTION_SIGMA_DB
# (8 dB for rural macro cells, 3GPP TR 36.942), to bring service back.
REACH_SHADOWING_MARGIN_DB = 2.33 * T.PREDICTION_SIGMA_DB
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
# Distances at which the reach is looked for (log-spaced, interpolated):
# 512 points from 100 m to 15 km are ~1 % apart.
_REACH_GRID_POINTS = 512


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


_PREDICTION_COLUMNS = [
    "point",
    "carrier",
    "mcc",
    "mnc",
    "radio",
    "predicted_dbm",
    "site_id",
    "distance_m",
    "diffraction_db",
]


def _refined_loss(
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
    """Terrain loss at receivers ``rx``: ``samples`` per profile, then, with
    ``refine``, the exact search where the loss decides — the receivers
    whose signal so found lies within :data:`REFINE_BELOW_USABLE_DB` below
    and :data:`REFINE_ABOVE_USABLE_DB` above usable, and the ``always``
    ones (readings: the calibration fits their loss) the site can serve,
    within :data:`HOPELESS_MARGIN_DB` of usable."""
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
    (:func:`_refined_loss`).
    """
    x, y = receivers
    if coarse is None:
        return _refined_loss(
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
    loss[own] = _refined_loss(
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
        eirp = cells["eirp_dbm"].to_numpy(float)
        offset = cells["radio"].map(C.REFERENCE_SIGNAL_OFFSET_DB).to_numpy(float)
        reach = cell_reach_m(
            eirp,
            offset,
            cells["radio"].map(C.SERVICE_FLOOR_DBM).to_numpy(float),
            cells["freq_mhz"].to_numpy(float),
            cells["height_m"].to_numpy(float),
        )
        return cls(
            x=np.asarray(site_x, float),
            y=np.asarray(site_y, float),
            reach=reach,
            radio=radio,
            eirp=eirp,
            reference_offset=offset,
            usable=cells["radio"].map(C.USABLE_DBM).to_numpy(float),
            freq=cells["freq_mhz"].to_numpy(float),
            height=cells["height_m"].to_numpy(float),
            azimuth=cells["azimuth_deg"].to_numpy(float),
            beamwidth=cells["beamwidth_deg"].to_numpy(float),
        )


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
    samples: int | None = PREDICTION_PROFILE_SAMPLES,
    refine: bool = PREDICTION_REFINES,
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
        - hata_rural_loss_db(
            distance / 1000.0, float(table.freq[i]), base_height_m=float(table.height[i])
        )
        + sector_gain_db(bearing, float(table.azimuth[i]), float(table.beamwidth[i]))
        for i in rows
    ]
    keys = [(float(table.freq[i]), float(table.height[i])) for i in rows]
    terrain_loss: dict[tuple[float, float], np.ndarray] = {}
    for key in dict.fromkeys(keys):
        if terrain is None:
            break
        sharing = [j for j, other in enumerate(keys) if other == key]  # the site's sectors
        headroom = np.max([open_path[j] - table.usable[rows[j]] for j in sharing], axis=0)
        terrain_loss[key] = _site_terrain(
            terrain,
            (sx, sy),
            key[1],
            key[0],
            near,
            distance,
            headroom,
            (x, y),
            coarse,
            samples,
            refine,
        )
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
    profile_samples: int | None = PREDICTION_PROFILE_SAMPLES,
    refine_profiles: bool = PREDICTION_REFINES,
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
    profile_samples : int or None, keyword-only
        Samples per terrain profile (:data:`PREDICTION_PROFILE_SAMPLES`);
        None samples every DEM pixel (exact, slower: see
        :func:`coverage.diffraction.diffraction_loss_db`).
    refine_profiles : bool, keyword-only
        With ``profile_samples``, recompute exactly (every DEM pixel) the
        receivers whose signal from a site lies near the usable level, where
        a crest the samples missed could flip served/unserved, and those
        with readings (:data:`PREDICTION_REFINES`, the band
        :data:`REFINE_BELOW_USABLE_DB` / :data:`REFINE_ABOVE_USABLE_DB`).

    Returns
    -------
    pandas.DataFrame
        Rows ``(point, carrier, mcc, mnc, radio, predicted_dbm, site_id,
        distance_m, diffraction_db)``: for each receiver index and carrier/radio, the
        strongest cell within reach (:func:`cell_reach_m`: the link budget,
        never OpenCelliD's ``range_m``).

    Notes
    -----
    Receivers within each site's range come from one KD-tree; the best cell
    per receiver is kept in running arrays, one row per (carrier, radio), so
    memory grows with receivers × carriers, not receivers × sites. With
    terrain, sites are worked on by threads (:func:`geodata.threads.worker_count`);
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
        return _site_contribution(
            item[0], item[1], table, tree, (x, y), terrain, coarse, profile_samples, refine_profiles
        )

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
        frames.append(
            pd.DataFrame(
                {
                    "point": point,
                    "carrier": carrier,
                    "mcc": mcc,
                    "mnc": mnc,
                    "radio": radio,
                    "predicted_dbm": best_dbm[k, point],
                    "site_id": site_ids[best_site[k, point]],
                    "distance_m": best_distance[k, point].astype(float),
                    "diffraction_db": best_diffraction[k, point].astype(float),
                }
            )
        )
    best = pd.concat(frames, ignore_index=True)
    if best.duplicated(["point", "carrier", "radio"]).any():  # one name, several codes
        best = best.sort_values("predicted_dbm", ascending=False, kind="stable")
        best = best.drop_duplicates(["point", "carrier", "radio"]).reset_index(drop=True)
    return best
