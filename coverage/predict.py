"""Predicted signal at the analysis' cells, from sites and terrain (step 2 of the pipeline).

Received reference-signal power = EIRP − reference-signal offset − path
loss (:mod:`coverage.pathloss`) − terrain diffraction (:mod:`coverage.terrain`)
+ sector antenna gain, for every cell of every site within its reach; the
best cell per carrier and radio is kept. :func:`predict_cells` works on H3
cells (their centres in metres), :func:`predict_signal` on plain receivers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj
from scipy.spatial import cKDTree

from coverage import thresholds as T
from coverage.diffraction import float32_terrain
from coverage.pathloss import cell_reach_m, hata_rural_loss_db, sector_gain_db
from coverage.terrain import (
    PREDICTION_PROFILE_SAMPLES,
    PREDICTION_REFINES,
    CoarseTerrain,
    site_terrain_loss,
)
from geodata import constants as C
from geodata.hexgrid import cell_centres, cell_resolutions, change_resolution, unique_cells
from geodata.raster import Raster
from geodata.sites import carrier_names
from geodata.threads import map_in_order, worker_count

# Terrain profiles run to the centres of cells at this resolution (res 9,
# ~175 m across): finer cells away from a site share their parent's
# terrain loss (see coverage.terrain.EXACT_TERRAIN_WITHIN_M). A res-9
# parent has seven res-10 children: one profile instead of seven, while the
# path loss and the antenna pattern stay per cell.
TERRAIN_RESOLUTION = 9


def nearby_cells(
    cells: pd.Series, bounds: tuple[float, ...], margin_deg: float = 0.02
) -> np.ndarray:
    """Select the cells (uint64) whose centres lie within the bounds plus ~2 km."""
    cells = unique_cells(cells.to_numpy(np.uint64))
    lat, lon = cell_centres(cells)
    west, south, east, north = bounds
    inside = (lon >= west - margin_deg) & (lon <= east + margin_deg)
    inside &= (lat >= south - margin_deg) & (lat <= north + margin_deg)
    near: np.ndarray = cells[inside]
    return near


def metric_centres(cells: np.ndarray, metric_crs: object) -> tuple[pd.Series, pd.Series]:
    """Cell centres in the metric CRS, as two Series indexed by the uint64 cell."""
    lat, lon = cell_centres(cells)
    to_metric = pyproj.Transformer.from_crs(C.CRS_WGS84, metric_crs, always_xy=True)
    x, y = to_metric.transform(lon, lat)
    index = pd.Index(cells, name="h3")
    return pd.Series(np.asarray(x), index=index), pd.Series(np.asarray(y), index=index)


def coarse_terrain(
    cells: np.ndarray, metric_crs: object, *, exact: np.ndarray | None = None
) -> CoarseTerrain | None:
    """Find the cells' parents at :data:`TERRAIN_RESOLUTION`, in metres.

    None when the cells are no finer than that. ``exact`` (uint64 cells)
    always get a terrain profile of their own.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return None
    finest = int(cell_resolutions(cells).max())
    if finest <= TERRAIN_RESOLUTION:
        return None
    parents = change_resolution(cells, TERRAIN_RESOLUTION)
    distinct, of_cell = np.unique(parents, return_inverse=True)
    x, y = metric_centres(distinct, metric_crs)
    always = np.isin(cells, exact) if exact is not None else np.zeros(len(cells), dtype=bool)
    return CoarseTerrain(x.to_numpy(), y.to_numpy(), of_cell, always)


def predict_cells(
    x: pd.Series,
    y: pd.Series,
    sites: pd.DataFrame,
    terrain: Raster | None,
    metric_crs: object,
    *,
    measured: np.ndarray | None = None,
) -> pd.DataFrame:
    """Predicted dBm per (cell, carrier, radio) at cell centres given in metres.

    With terrain, a cell finer than :data:`TERRAIN_RESOLUTION`, away from a
    site and without readings, takes the terrain loss of its parent's centre
    where that leaves the site hopeless there (see
    :func:`predict_signal`); ``measured`` (uint64
    cells with readings) always get their own profile. Without
    ``measured``, every cell gets its own.
    """
    columns = ["h3", "carrier", "radio", "predicted_dbm", "site_id", "distance_m", "diffraction_db"]
    if len(sites) == 0 or len(x) == 0:
        return pd.DataFrame(
            {
                "h3": pd.Series(dtype="uint64"),
                "carrier": pd.Series(dtype="string"),
                "radio": pd.Series(dtype=object),
                "predicted_dbm": pd.Series(dtype=float),
                "site_id": pd.Series(dtype=object),
            }
        )
    to_metric = pyproj.Transformer.from_crs(C.CRS_WGS84, metric_crs, always_xy=True)
    site_x, site_y = to_metric.transform(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    sites = sites.assign(carrier=carrier_names(sites["mcc"], sites["mnc"]))
    coarse = None
    if terrain is not None and measured is not None:
        coarse = coarse_terrain(x.index.to_numpy(np.uint64), metric_crs, exact=measured)
    best = predict_signal(
        sites,
        x.to_numpy(float),
        y.to_numpy(float),
        site_x=np.asarray(site_x),
        site_y=np.asarray(site_y),
        dem=terrain,
        coarse=coarse,
    )
    best["h3"] = x.index.to_numpy(np.uint64)[best["point"].to_numpy(int)]
    return best[columns]


@dataclass(frozen=True)
class Prediction:
    """The prediction at the analysis' cells.

    Attributes
    ----------
    x, y : Series
        Cell centres in the metric CRS, indexed by the uint64 cell: the
        villages' cells and every measured cell near them.
    predicted : DataFrame
        Per (cell, carrier, radio): the strongest cell's dBm and its site
        (:func:`predict_cells`).
    """

    x: pd.Series
    y: pd.Series
    predicted: pd.DataFrame


def predict_grid(
    cells: np.ndarray,
    stats: pd.DataFrame,
    sites: pd.DataFrame,
    terrain: Raster | None,
    metric_crs: object,
    *,
    bounds: tuple[float, ...],
) -> Prediction:
    """Predict the signal at the villages' cells and at every measured cell near them.

    The measured cells calibrate the model and feed the residual kriging;
    those with :data:`~coverage.thresholds.MIN_READINGS_MEASURED` readings
    get a terrain profile of their own (see :func:`predict_cells`).

    Parameters
    ----------
    cells : numpy.ndarray
        The villages' cells (uint64; :attr:`coverage.grid.VillageGrid.cells`).
    stats : DataFrame
        Cell statistics of the readings (:func:`coverage.stats.aggregate_readings`).
    sites : DataFrame
        Normalised sites.
    terrain : Raster or None
        The DEM, in ``metric_crs``.
    metric_crs : pyproj.CRS
        Where distances are measured.
    bounds : tuple of float, keyword-only
        ``(west, south, east, north)`` of the villages, in degrees.

    Returns
    -------
    Prediction
    """
    x, y = metric_centres(
        unique_cells(np.concatenate([cells, nearby_cells(stats["h3"], bounds)])), metric_crs
    )
    with_readings = stats.loc[stats["count"] >= T.MIN_READINGS_MEASURED, "h3"]
    predicted = predict_cells(
        x, y, sites, terrain, metric_crs, measured=unique_cells(with_readings.to_numpy(np.uint64))
    )
    return Prediction(x=x, y=y, predicted=predicted)


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
    """Compute the dBm each cell of one site gives the receivers within its reach.

    None when there are none; the site's position is its first cell's, its
    reach the largest of its cells'.
    """
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
        terrain_loss[key] = site_terrain_loss(
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
        Where receivers farther than :data:`~coverage.terrain.EXACT_TERRAIN_WITHIN_M` from a
        site take their terrain loss (one profile per coarse point, shared
        by its receivers). Path loss and antenna gain stay per receiver.
    profile_samples : int or None, keyword-only
        Samples per terrain profile (:data:`~coverage.terrain.PREDICTION_PROFILE_SAMPLES`);
        None samples every DEM pixel (exact, slower: see
        :func:`coverage.diffraction.diffraction_loss_db`).
    refine_profiles : bool, keyword-only
        With ``profile_samples``, recompute exactly (every DEM pixel) the
        receivers whose signal from a site lies near the usable level, where
        a crest the samples missed could flip served/unserved, and those
        with readings (:data:`~coverage.terrain.PREDICTION_REFINES`, the band
        :data:`~coverage.terrain.REFINE_BELOW_USABLE_DB` /
        :data:`~coverage.terrain.REFINE_ABOVE_USABLE_DB`).

    Returns
    -------
    pandas.DataFrame
        Rows ``(point, carrier, mcc, mnc, radio, predicted_dbm, site_id,
        distance_m, diffraction_db)``: for each receiver index and carrier/radio, the
        strongest cell within reach (:func:`~coverage.pathloss.cell_reach_m`: the link budget,
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
