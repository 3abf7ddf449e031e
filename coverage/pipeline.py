"""The whole analysis: villages, sites, readings (and terrain) -> verdicts, dead zones.

This is the one entry point the service, the CLI and the notebooks call.
:func:`analyze` reads as the steps of DESIGN.md, each a call into one module:

====================  ==========================================================
grid                  :func:`coverage.grid.village_grid`: the cells villages are
                      judged on, and each centre's ring
evidence              :func:`coverage.stats.aggregate_readings`, then
                      :func:`coverage.evidence.measure` (retired readings,
                      censoring, each carrier's best radio)
model                 :func:`coverage.predict.predict_grid`: sites and terrain
fuse                  :func:`coverage.fusion.fuse_evidence`: calibration, kriging,
                      readings and model per (cell, carrier)
judge                 :func:`coverage.households.place_households`, then
                      :func:`coverage.verdicts.judge_villages`
dead zones            :func:`coverage.dead_zones.find_dead_zones`
====================  ==========================================================

The model comes before the evidence is final because they need each other:
the prediction is run at the measured cells (to calibrate it), and a reading
taken before the site that now serves its cell is retired.

The steps run in four stages, so that a region can be cut into tiles and each
tile analysed on its own (:mod:`coverage.tiles`, on dask.distributed) with
the same answers; :func:`analyze` is the same four stages on one tile:

1. :func:`survey_tile`: per tile, the cell statistics of the readings it
   *owns* (each reading belongs to exactly one tile), which of them a newer
   site retired, the prediction at the tile's cells and at its measured cells
   near the region, and the summaries the fits need;
2. :func:`fit_region`, once, from the tiles' summaries (per-cell tables,
   never raw readings): the service floors, the fading σ_t, the censored
   medians, the calibration and each carrier and radio's variogram;
3. :func:`analyse_tile`: per tile, given those fits and the per-cell tables
   around it (:meth:`RegionTables.around`): kriging, fusion, households,
   verdicts, dead zones;
4. :func:`stitch`: the tiles' answers in one :class:`AnalysisResult`
   (cells shared by two tiles' villages are kept once, dead zones numbered
   together).

Every table is put in one canonical order before an order-sensitive step (a
fit's random subset, a tie broken by row order, a float sum), so that the
order in which tiles are gathered changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.stats import norm

from coverage import thresholds as T
from coverage.calibration import Calibration, apply_calibration, calibrate
from coverage.censoring import observed_median, reading_spread_db
from coverage.dead_zones import find_dead_zones, number_zones
from coverage.diffraction import _COMPILED_LEVELS, CROP_GRID_PX, SEGMENT_LEVELS
from coverage.errors import NoVillagesError
from coverage.evidence import measured_by_carrier
from coverage.fusion import (
    KrigingFit,
    best_radio,
    fit_kriging,
    fuse,
    krige_with,
    residual_observations,
    signal_estimates,
)
from coverage.grid import village_grid
from coverage.households import place_households
from coverage.kriging import FAR_RANGES
from coverage.map_cells import MAP_RESOLUTION, cells_for_storage, device_sketch, empty_device_sketch
from coverage.nearest_sites import nearest_sites
from coverage.points import carrier_readings_per_village, readings_per_village
from coverage.predict import metric_centres, nearby_cells, predict_cells
from coverage.stats import (
    aggregate_readings,
    infer_silent_gaps,
    new_sites_near,
    retired_readings,
    select_as_of,
)
from coverage.verdicts import judge_villages
from geodata import constants as C
from geodata.hexgrid import (
    cell_centres,
    cells_for_points,
    change_resolution,
    parent_cells,
    unique_cells,
)
from geodata.raster import Raster, read_raster, utm_crs_for
from geodata.sites import carrier_names
from geodata.villages import normalise_villages

# Terrain beyond the villages still shadows them: read the DEM with this margin.
DEM_MARGIN_M = C.MAX_CELL_RANGE_M


def _no_households() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "village_id": pd.Series(dtype=object),
            "h3": pd.Series(dtype="uint64"),
            "households": pd.Series(dtype=float),
            "placed_by": pd.Series(dtype=object),
        }
    )


def _no_centre_cells() -> pd.DataFrame:
    return pd.DataFrame({"village_id": pd.Series(dtype=object), "h3": pd.Series(dtype="uint64")})


def _no_new_sites() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=object) for c in ("village_id", "site_id", "carrier", "since")}
    )


@dataclass
class AnalysisResult:
    """What :func:`analyze` finds.

    Attributes
    ----------
    villages : GeoDataFrame
        Input columns plus ``verdict``, ``households_without_signal``,
        ``best_carrier``, ``centre_p_usable``, ``carriers`` (dict),
        ``readings_count`` and ``last_reading``.
    dead_zones : GeoDataFrame
        See :data:`coverage.dead_zones.DEAD_ZONE_COLUMNS`.
    cells : DataFrame
        Per (H3 cell, carrier): readings, P(usable), class and evidence.
    signal : DataFrame
        Per (H3 cell, carrier, radio): ``mean_dbm``, ``sigma_db``,
        ``p_usable``, ``evidence`` (measured / predicted / both), ``count``.
    calibration : Calibration
        Offset, slope and σ per carrier and radio; offsets per site.
    devices : DataFrame
        Which devices read each cell (:func:`coverage.map_cells.device_sketch`):
        what keeps the map cells from following one device.
    households : DataFrame
        ``village_id, h3, households, placed_by``: where each village's
        households were placed (:func:`coverage.households.place_households`),
        the weights every count of households comes from.
    centre_cells : DataFrame
        ``village_id, h3``: the cells each village centre is judged on
        (:attr:`coverage.grid.VillageGrid.centre_cells`).
    metric_crs : pyproj.CRS or None
        Where the analysis measured distances (the DEM's CRS, else the
        villages' UTM zone).
    fading_db : float
        The spread of readings in one place, σ_t, that availabilities were
        judged with (:attr:`coverage.evidence.Evidence.fading_db`).
    new_sites : DataFrame
        ``village_id, site_id, carrier, since``: sites that retired older
        readings at a village centre and are not measured there since
        (:func:`coverage.stats.new_sites_near`; "Site X since …, not yet measured").
    """

    villages: gpd.GeoDataFrame
    dead_zones: gpd.GeoDataFrame
    cells: pd.DataFrame
    signal: pd.DataFrame
    calibration: Calibration
    devices: pd.DataFrame = field(default_factory=empty_device_sketch)
    households: pd.DataFrame = field(default_factory=_no_households)
    centre_cells: pd.DataFrame = field(default_factory=_no_centre_cells)
    metric_crs: object = None
    fading_db: float = T.DEFAULT_FADING_DB
    new_sites: pd.DataFrame = field(default_factory=_no_new_sites)

    def map_cells(self, resolution: int = MAP_RESOLUTION) -> pd.DataFrame:
        """Gather :attr:`cells` into the hexagons maps show, each with its commune.

        The same cells for the service (which stores them), the CLI and the
        notebooks; see :func:`coverage.map_cells.cells_for_storage`.

        Parameters
        ----------
        resolution : int, default :data:`coverage.map_cells.MAP_RESOLUTION` (9)
            H3 resolution of the map cells, no finer than the analysis'.

        Returns
        -------
        DataFrame
            One row per (map cell, carrier): :data:`coverage.map_cells.CELL_COLUMNS`.
        """
        return cells_for_storage(
            self.cells, self.villages, resolution=resolution, devices=self.devices
        )


def _as_raster(
    source: Raster | str | Path | None, bounds: tuple[float, ...], margin: float
) -> Raster | None:
    if source is None or isinstance(source, Raster):
        return source
    return read_raster(source, bounds_wgs84=bounds, margin_m=margin)  # type: ignore[arg-type]


def _within(bounds: tuple[float, ...], region: tuple[float, ...]) -> tuple[float, ...]:
    """Clip ``bounds`` to ``region`` (degrees): a tile's raster window never passes the region's.

    A window of (bounds ∩ region) plus a margin holds every pixel within that
    margin of ``bounds`` that the region's window holds, and no other.
    """
    west, south, east, north = bounds
    rw, rs, re, rn = region
    west, south, east, north = max(west, rw), max(south, rs), min(east, re), min(north, rn)
    return (min(west, east), min(south, north), max(west, east), max(south, north))


# Terrain profiles are read from a window around their site on a grid of
# these many pixels counted from the DEM window's corner
# (coverage.diffraction.CROP_GRID_PX): a tile's window starts on the region
# window's grid, so that its sites' windows are the same.
_ENVELOPE_BLOCK_PX = int(np.lcm.reduce([*SEGMENT_LEVELS, *_COMPILED_LEVELS, CROP_GRID_PX]))

# A tile reads the DEM this far beyond the cells it predicts: a site within
# reach (MAX_CELL_RANGE_M) reads its profiles within its own reach plus a
# few pixels of grid (coverage.diffraction.site_crop), and that window must
# be whole in the tile's as in the region's.
TILE_DEM_MARGIN_M = 2 * C.MAX_CELL_RANGE_M + 5_000.0


def _tile_raster(
    source: Raster | str | Path | None,
    needed: tuple[float, ...],
    region: tuple[float, ...],
    margin: float,
    region_margin: float,
) -> Raster | None:
    """Read a raster for a tile: the window of ``needed`` plus ``margin``, within the region's.

    The window is the one :func:`geodata.raster.read_raster` reads for
    (``needed`` ∩ ``region``) plus ``margin``, within the one it reads for
    the region plus ``region_margin`` (the single run's), its corner moved
    back onto the region window's grid of :data:`_ENVELOPE_BLOCK_PX` pixels:
    the same pixels, on the same grid, as the single run reads there. A
    Raster is used as given; a geographic raster is warped per window.
    """
    if source is None or isinstance(source, Raster):
        return source
    import rasterio
    from pyproj import CRS

    from geodata.errors import InvalidInputError
    from geodata.raster import open_raster

    with open_raster(source) as dataset:
        crs = CRS.from_user_input(dataset.crs)
        if not crs.is_projected:
            return _as_raster(source, _within(needed, region), margin)
        whole = rasterio.windows.Window(0, 0, dataset.width, dataset.height)

        def window(bounds: tuple[float, ...], margin: float) -> rasterio.windows.Window:
            west, south, east, north = rasterio.warp.transform_bounds(
                "EPSG:4326", dataset.crs, *bounds
            )
            return (
                rasterio.windows.from_bounds(
                    west - margin, south - margin, east + margin, north + margin, dataset.transform
                )
                .round_offsets()
                .round_lengths()
                .intersection(whole)
            )

        outer = window(region, region_margin)
        inner = window(_within(needed, region), margin).intersection(outer)
        block = _ENVELOPE_BLOCK_PX
        col = outer.col_off + (inner.col_off - outer.col_off) // block * block
        row = outer.row_off + (inner.row_off - outer.row_off) // block * block
        end_col = min(inner.col_off + inner.width, outer.col_off + outer.width)
        end_row = min(inner.row_off + inner.height, outer.row_off + outer.height)
        tile = rasterio.windows.Window(col, row, end_col - col, end_row - row)
        values = dataset.read(1, window=tile, masked=True).astype("float64").filled(np.nan)
        transform = dataset.window_transform(tile)
    if values.size == 0:
        raise InvalidInputError(f"{source}: the raster does not cover the area of interest")
    return Raster(values, transform, crs)


def _bbox(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float, float, float]:
    return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))


def readings_in_force(
    readings: pd.DataFrame, as_of: pd.Timestamp | str | None, *, infer_gaps: bool
) -> tuple[pd.DataFrame, np.ndarray]:
    """Select the readings in force at ``as_of``, with inferred silent gaps appended.

    Returns them and which were taken (not inferred).
    """
    readings = select_as_of(readings, as_of)
    taken = len(readings)
    if infer_gaps:
        silent = infer_silent_gaps(readings)
        if len(silent):
            readings = pd.concat([readings, silent], ignore_index=True)
    return readings, np.arange(len(readings)) < taken


def sites_in_force(sites: pd.DataFrame, as_of: pd.Timestamp | str | None) -> pd.DataFrame:
    """Select the sites that existed at ``as_of``."""
    if as_of is not None and "created" in sites and len(sites):
        cutoff = pd.Timestamp(as_of)
        cutoff = cutoff if cutoff.tzinfo else cutoff.tz_localize("UTC")
        sites = sites.loc[sites["created"].isna() | (sites["created"] <= cutoff)]
    return sites


# --- the service floors, from summaries -------------------------------------

# The service floor is this quantile of the readings with service, per radio,
# where a radio has MIN_FLOOR_READINGS of them (coverage.stats.service_floors).
_FLOOR_QUANTILE = 0.005
_MIN_FLOOR_READINGS = 200


@dataclass(frozen=True)
class FloorSummary:
    """What :func:`service_floors_of` needs of some readings, per radio.

    Attributes
    ----------
    rows : dict
        Readings with service.
    low : dict
        Their dBm below the radio's usable level, sorted.
    valid, above : dict
        How many have a dBm; the least dBm at or above the usable level (inf: none).
    """

    rows: dict[str, int]
    valid: dict[str, int]
    low: dict[str, np.ndarray]
    above: dict[str, float]


def floor_summary(readings: pd.DataFrame) -> FloorSummary:
    """Summarise readings for the service floors (see :func:`service_floors_of`)."""
    rows: dict[str, int] = {}
    valid: dict[str, int] = {}
    low: dict[str, np.ndarray] = {}
    above: dict[str, float] = {}
    served = readings.loc[~readings["no_service"].to_numpy(bool), ["radio", "signal_dbm"]]
    for radio, group in served.groupby("radio"):  # a handful of radios
        name = str(radio)
        values = group["signal_dbm"].to_numpy(float)
        rows[name] = len(values)
        values = values[~np.isnan(values)]
        usable = float(C.USABLE_DBM[name])
        valid[name] = len(values)
        low[name] = np.sort(values[values < usable])
        high = values[values >= usable]
        above[name] = float(high.min()) if len(high) else np.inf
    return FloorSummary(rows, valid, low, above)


def service_floors_of(summaries: Sequence[FloorSummary]) -> dict[str, float]:
    """Find the service floors of all the summaries' readings together.

    Exactly :func:`coverage.stats.service_floors` of the readings they
    summarise: the quantile's two order statistics lie among the values below
    the usable level and the least above it, whenever it is below that level
    (else the 3GPP sensitivity stands).
    """
    floors = dict(C.SERVICE_FLOOR_DBM)
    radios = sorted({r for s in summaries for r in s.rows})
    for radio in radios:
        rows = sum(s.rows.get(radio, 0) for s in summaries)
        n = sum(s.valid.get(radio, 0) for s in summaries)
        if rows < _MIN_FLOOR_READINGS or n == 0:
            continue
        low = np.sort(np.concatenate([s.low[radio] for s in summaries if radio in s.low]))
        position = _FLOOR_QUANTILE * (n - 1)
        lo = int(np.floor(position))
        if lo >= len(low):
            continue
        above = min(s.above.get(radio, np.inf) for s in summaries)
        after = low[lo + 1] if lo + 1 < len(low) else (above if lo + 1 < n else low[lo])
        value = float(low[lo] + (after - low[lo]) * (position - lo))
        if value < C.USABLE_DBM[radio]:
            floors[radio] = value
    return floors


# --- stage 1: each tile's survey --------------------------------------------


@dataclass(frozen=True)
class Region:
    """What every tile of an analysis shares.

    Attributes
    ----------
    bounds : (west, south, east, north)
        All the villages' bounds, degrees: measured cells within
        :data:`NEARBY_DEG` of them are predicted (and calibrate the model),
        and rasters are read no farther than their margins beyond them.
    metric_crs : pyproj.CRS
        Where distances are measured (the DEM's CRS, else the UTM zone).
    resolution : int
        H3 resolution of the analysis.
    """

    bounds: tuple[float, float, float, float]
    metric_crs: object
    resolution: int


# Measured cells this far (degrees, ~2 km) beyond the villages' bounds are
# predicted, calibrate the model and are kriged from (coverage.predict.nearby_cells).
NEARBY_DEG = 0.02


@dataclass
class TileInput:
    """One tile's villages and readings.

    Attributes
    ----------
    villages : GeoDataFrame
        The tile's villages (normalised), whole communes.
    positions : numpy.ndarray
        Their positions among all the analysis' villages.
    readings : DataFrame
        The readings in force (silent gaps inferred) the tile owns or that lie
        in its halo, in their original order.
    taken : numpy.ndarray
        Per reading: taken, not inferred.
    owned_cells : numpy.ndarray or None
        The H3 res-5 cells (uint64) whose readings this tile owns: a reading
        is owned where its analysis cell's res-5 ancestor is one of them.
        None: the tile owns every reading it has (one tile).
    buildings : GeoDataFrame or None
        Building footprints or points around the tile's villages.
    """

    villages: gpd.GeoDataFrame
    positions: np.ndarray
    readings: pd.DataFrame
    taken: np.ndarray
    owned_cells: np.ndarray | None = None
    buildings: gpd.GeoDataFrame | None = None


# Readings are owned per H3 cell at this resolution (~250 km²): the readings
# dataset's partitions (geodata.readings_dataset.PARTITION_RESOLUTION).
OWNER_RESOLUTION = 5


def owner_cells(readings: pd.DataFrame, resolution: int) -> np.ndarray:
    """Each reading's analysis cell's res-:data:`OWNER_RESOLUTION` ancestor (uint64).

    The ancestor of the cell, not the point's own res-5 cell: all the readings
    of one analysis cell have one owner.
    """
    cells = cells_for_points(
        readings["lat"].to_numpy(float), readings["lon"].to_numpy(float), resolution=resolution
    )
    return change_resolution(cells, OWNER_RESOLUTION)


@dataclass
class TileSurvey:
    """What :func:`survey_tile` sends back: per-cell tables, no raw readings.

    Attributes
    ----------
    stats : DataFrame
        Cell statistics of the owned readings no newer site retired.
    retired_stats : DataFrame or None
        Those of the owned readings a newer site retired (None: none).
    predicted : DataFrame
        The uncalibrated prediction at :attr:`receivers` (:func:`coverage.predict.predict_cells`).
    receivers : numpy.ndarray
        The tile's villages' cells and the measured cells it owns near the region (uint64).
    reading_cells : numpy.ndarray
        The cells of every owned reading, retired or not.
    devices : DataFrame
        The device sketch of the owned readings in force (:func:`coverage.map_cells.device_sketch`).
    floors : FloorSummary
        For the service floors.
    """

    stats: pd.DataFrame
    retired_stats: pd.DataFrame | None
    predicted: pd.DataFrame
    receivers: np.ndarray
    reading_cells: np.ndarray
    devices: pd.DataFrame
    floors: FloorSummary


def _owned_mask(tile: TileInput, resolution: int) -> np.ndarray:
    if tile.owned_cells is None:
        return np.ones(len(tile.readings), dtype=bool)
    return np.isin(owner_cells(tile.readings, resolution), tile.owned_cells)


def survey_tile(
    tile: TileInput,
    sites: pd.DataFrame,
    region: Region,
    *,
    dem: Raster | str | Path | None = None,
) -> TileSurvey:
    """Stage 1: the tile's owned cell statistics, retired readings and prediction.

    Parameters
    ----------
    tile : TileInput
    sites : DataFrame
        Every site in force (those that reach no receiver are skipped).
    region : Region
    dem : Raster or path, optional, keyword-only
        A path is read in the window of the tile's receivers (within the
        region) plus :data:`DEM_MARGIN_M`.

    Returns
    -------
    TileSurvey
    """
    resolution = region.resolution
    readings = tile.readings
    owned = _owned_mask(tile, resolution)
    grid = village_grid(tile.villages, resolution=resolution)
    # The tile's readings hold every reading of its villages' cells and of
    # the cells it owns: their counts are whole.
    stats = aggregate_readings(readings, resolution=resolution)
    mine = readings.loc[owned]
    owned_stats = aggregate_readings(mine, resolution=resolution)
    receivers = unique_cells(
        np.concatenate([grid.cells, nearby_cells(owned_stats["h3"], region.bounds, NEARBY_DEG)])
    )
    lat, lon = cell_centres(receivers)
    terrain = (
        _tile_raster(dem, _bbox(lat, lon), region.bounds, TILE_DEM_MARGIN_M, DEM_MARGIN_M)
        if len(receivers)
        else None
    )
    x, y = metric_centres(receivers, region.metric_crs)
    with_readings = stats.loc[stats["count"] >= T.MIN_READINGS_MEASURED, "h3"]
    predicted = predict_cells(
        x,
        y,
        sites,
        terrain,
        region.metric_crs,
        measured=unique_cells(with_readings.to_numpy(np.uint64)),
    )
    retired = retired_readings(mine, predicted, sites, resolution=resolution)
    kept = owned_stats
    retired_stats = None
    if retired.any():
        kept = aggregate_readings(mine.loc[~retired], resolution=resolution)
        retired_stats = aggregate_readings(mine.loc[retired], resolution=resolution)
    return TileSurvey(
        stats=kept,
        retired_stats=retired_stats,
        predicted=predicted,
        receivers=receivers,
        reading_cells=unique_cells(owned_stats["h3"].to_numpy(np.uint64)),
        devices=device_sketch(mine.loc[~retired], resolution=resolution),
        floors=floor_summary(mine),
    )


# --- stage 2: the fits, once -------------------------------------------------


def _canonical(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort on ``keys`` (stable): the one order every tiling gives."""
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


_STATS_KEYS = ["h3", "mcc", "mnc", "radio"]
_CELL_KEYS = ["h3", "carrier", "radio"]


@dataclass(frozen=True)
class RegionFits:
    """What the whole analysis fits once, from every tile's summaries.

    Attributes
    ----------
    floors : dict
        dBm at which phones lose service, per radio (:func:`service_floors_of`).
    fading_db : float
        σ_t, the spread of readings in one place (:func:`coverage.censoring.reading_spread_db`).
    calibration : Calibration
        :func:`coverage.calibration.calibrate` on every measured cell with a prediction.
    kriging : dict
        ``(carrier, radio)`` to its :class:`coverage.fusion.KrigingFit`.
    carriers : list of str
        Every carrier with a prediction, readings or sites: each cell gets a row for each.
    site_carriers : frozenset of str
        The carriers whose sites are known.
    """

    floors: dict[str, float]
    fading_db: float
    calibration: Calibration
    kriging: dict[tuple[str, str], KrigingFit]
    carriers: list[str]
    site_carriers: frozenset[str]


@dataclass
class RegionTables:
    """The analysis' per-cell tables, gathered from the tiles' surveys.

    Attributes
    ----------
    observed : DataFrame
        Per (cell, carrier, radio): the in-force statistics with censored
        medians (:func:`coverage.censoring.observed_median`).
    observed_tile : numpy.ndarray
        The tile each observed row came from.
    measured, before : DataFrame
        Per (cell, carrier): the best radio's evidence, in force and retired
        (:func:`coverage.evidence.measured_by_carrier`); ``before`` may be None.
    predicted : DataFrame
        The uncalibrated prediction at every predicted cell.
    observations : DataFrame
        The kriging residuals (:func:`coverage.fusion.residual_observations`).
    reading_cells : numpy.ndarray
        Every cell with a reading.
    targets : numpy.ndarray
        The cells whose estimates a tile reports (all, in one tile).
    metric_crs : pyproj.CRS
        Where the observations' ``x``/``y`` are.
    """

    observed: pd.DataFrame
    observed_tile: np.ndarray
    measured: pd.DataFrame
    before: pd.DataFrame | None
    predicted: pd.DataFrame
    observations: pd.DataFrame
    reading_cells: np.ndarray
    targets: np.ndarray
    metric_crs: object

    def around(self, tile: int, targets: np.ndarray, fits: RegionFits) -> RegionTables:
        """Slice the tables for the tile numbered ``tile``, which reports ``targets``.

        The prediction at every cell sharing an H3 parent with a target (they
        share a kriging neighbourhood), the residuals within each carrier
        and radio's search radius (:data:`coverage.kriging.FAR_RANGES`
        ranges plus the group spread) of the targets, the evidence at the
        targets, and the observed cells the tile owns.
        """
        targets = unique_cells(targets)
        cells = self.predicted["h3"].to_numpy(np.uint64)
        family = np.isin(parent_cells(cells), parent_cells(targets))
        predicted = self.predicted.loc[family].reset_index(drop=True)
        x, y = metric_centres(unique_cells(predicted["h3"].to_numpy(np.uint64)), self.metric_crs)
        keep = np.zeros(len(self.observations), dtype=bool)
        carrier = self.observations["carrier"].to_numpy(object)
        radio = self.observations["radio"].to_numpy(object)
        ox = self.observations["x"].to_numpy(float)
        oy = self.observations["y"].to_numpy(float)
        for (c, r), fit in fits.kriging.items():
            mine = (carrier == c) & (radio == r)
            if not mine.any() or not len(x):
                continue
            reach = FAR_RANGES * fit.variogram.range_m + fit.spread + 1.0
            keep |= (
                mine
                & (ox >= x.min() - reach)
                & (ox <= x.max() + reach)
                & (oy >= y.min() - reach)
                & (oy <= y.max() + reach)
            )
        at_targets = np.isin(self.observed["h3"].to_numpy(np.uint64), targets)
        observed = at_targets | (self.observed_tile == tile)
        return RegionTables(
            observed=self.observed.loc[observed].reset_index(drop=True),
            observed_tile=self.observed_tile[observed],
            measured=self.measured.loc[
                np.isin(self.measured["h3"].to_numpy(np.uint64), targets)
            ].reset_index(drop=True),
            before=None
            if self.before is None
            else self.before.loc[
                np.isin(self.before["h3"].to_numpy(np.uint64), targets)
            ].reset_index(drop=True),
            predicted=predicted,
            observations=self.observations.loc[keep].reset_index(drop=True),
            reading_cells=self.reading_cells[np.isin(self.reading_cells, targets)],
            targets=targets,
            metric_crs=self.metric_crs,
        )


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    kept = [f for f in frames if len(f)]
    if not kept:
        return frames[0].iloc[0:0] if frames else pd.DataFrame()
    return pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0]


def fit_region(
    surveys: Sequence[TileSurvey], sites: pd.DataFrame, region: Region
) -> tuple[RegionFits, RegionTables]:
    """Stage 2: the fits that depend on all readings, made once from the tiles' surveys.

    Parameters
    ----------
    surveys : sequence of TileSurvey
        One per tile, in tile order (:func:`survey_tile`).
    sites : DataFrame
        Every site in force.
    region : Region

    Returns
    -------
    (RegionFits, RegionTables)
    """
    floors = service_floors_of([s.floors for s in surveys])
    tile_of = np.repeat(np.arange(len(surveys)), [len(s.stats) for s in surveys])
    stats = _concat([s.stats for s in surveys]).assign(_tile=tile_of)
    stats = _canonical(stats, _STATS_KEYS)
    observed_tile = stats.pop("_tile").to_numpy(int)
    fading = reading_spread_db(stats)
    observed = observed_median(stats, floors=floors, spread_db=fading)
    old = [s.retired_stats for s in surveys if s.retired_stats is not None]
    before = None
    if old:
        retired = _canonical(_concat(old), _STATS_KEYS)
        before = measured_by_carrier(observed_median(retired, floors=floors, spread_db=fading))
    predicted = _concat([s.predicted for s in surveys])
    if len(surveys) > 1:  # a cell two tiles predict is predicted alike
        predicted = predicted.drop_duplicates(_CELL_KEYS)
    predicted = _canonical(predicted, ["carrier", "radio", "h3"])
    calibration = calibrate(observed, predicted)
    x, y = metric_centres(unique_cells(predicted["h3"].to_numpy(np.uint64)), region.metric_crs)
    table = apply_calibration(predicted, calibration)
    enough = observed.loc[observed["count"] >= T.MIN_READINGS_MEASURED]
    observations = residual_observations(table, enough, x, y)
    site_carriers = (
        frozenset(carrier_names(sites["mcc"], sites["mnc"])) if len(sites) else frozenset()
    )
    measured = measured_by_carrier(observed)
    carriers = sorted(
        set(predicted["carrier"].astype(object).unique())
        | set(measured["carrier"].astype(object).unique())
        | site_carriers
    )
    fits = RegionFits(
        floors=floors,
        fading_db=fading,
        calibration=calibration,
        kriging=fit_kriging(table, observations, x, y) if len(table) else {},
        carriers=[str(c) for c in carriers],
        site_carriers=site_carriers,
    )
    tables = RegionTables(
        observed=observed,
        observed_tile=observed_tile,
        measured=measured,
        before=before,
        predicted=predicted,
        observations=observations,
        reading_cells=unique_cells(np.concatenate([s.reading_cells for s in surveys])),
        targets=unique_cells(np.concatenate([s.receivers for s in surveys])),
        metric_crs=region.metric_crs,
    )
    return fits, tables


# --- stage 3: each tile's analysis ------------------------------------------


@dataclass
class TileAnalysis:
    """What :func:`analyse_tile` finds for one tile (see :class:`AnalysisResult`)."""

    positions: np.ndarray
    villages: gpd.GeoDataFrame
    dead_zones: gpd.GeoDataFrame
    cells: pd.DataFrame
    signal: pd.DataFrame
    households: pd.DataFrame
    centre_cells: pd.DataFrame
    new_sites: pd.DataFrame


# Village cells reach a little beyond the villages' bounds (the centre's
# ring): rasters and buildings are read this far (degrees, ~550 m) beyond.
_CELL_MARGIN_DEG = 0.005


def estimates_at(tables: RegionTables, fits: RegionFits) -> pd.DataFrame:
    """Calibrate and krige the prediction at the tables' targets, with its availability.

    As :func:`coverage.fusion.predicted_probability`, with the variograms
    fitted on the whole analysis.
    """
    table = apply_calibration(tables.predicted, fits.calibration)
    if len(table):
        x, y = metric_centres(unique_cells(table["h3"].to_numpy(np.uint64)), tables.metric_crs)
        table = krige_with(table, tables.observations, fits.kriging, x, y)
    table = table.loc[np.isin(table["h3"].to_numpy(np.uint64), tables.targets)]
    threshold = table["radio"].map(C.USABLE_DBM).to_numpy(float)
    margin = table["calibrated_dbm"].to_numpy(float) - threshold
    table = table.assign(p_predicted=norm.cdf(margin / fits.fading_db))
    columns = ["h3", "carrier", "radio", "calibrated_dbm", "sigma_db", "p_predicted"]
    return _canonical(table[columns], _CELL_KEYS)


def analyse_tile(
    tile: TileInput,
    sites: pd.DataFrame,
    region: Region,
    fits: RegionFits,
    tables: RegionTables,
    *,
    dem: Raster | str | Path | None = None,
    population: Raster | str | Path | None = None,
) -> TileAnalysis:
    """Stage 3: judge the tile's villages given the region's fits and the tables around it.

    Parameters
    ----------
    tile : TileInput
    sites : DataFrame
        Every site in force (a site beyond the tile may still be the nearest).
    region : Region
    fits : RegionFits
    tables : RegionTables
        Sliced for the tile (:meth:`RegionTables.around`), or whole for one tile.
    dem, population : Raster or path, optional, keyword-only
        Paths are read in the window of the tile's villages (within the region).

    Returns
    -------
    TileAnalysis
    """
    villages, resolution, crs = tile.villages, region.resolution, region.metric_crs
    west, south, east, north = villages.total_bounds
    m = _CELL_MARGIN_DEG
    needed = (west - m, south - m, east + m, north + m)
    terrain = _tile_raster(dem, needed, region.bounds, TILE_DEM_MARGIN_M, DEM_MARGIN_M)
    grid = village_grid(villages, resolution=resolution)
    estimates = estimates_at(tables, fits)
    fused = fuse(
        grid.cells,
        fits.carriers,
        measured=tables.measured,
        predicted=best_radio(estimates),
        site_carriers=fits.site_carriers,
        fading_db=fits.fading_db,
        before=tables.before,
    )
    households = place_households(
        villages,
        grid.village_cells,
        resolution=resolution,
        metric_crs=crs,
        terrain=terrain,
        population=_tile_raster(population, needed, region.bounds, 0.0, 0.0),
        buildings=tile.buildings,
        # Where phones were read says where people go, whatever the readings
        # say of a network since changed: every reading's cell, retired or not.
        reading_cells=tables.reading_cells,
    )
    taken = tile.readings.loc[tile.taken]
    per_village = readings_per_village(villages, taken)
    retired = retired_readings(tile.readings, tables.predicted, sites, resolution=resolution)
    started = new_sites_near(
        grid.centre_cells,
        tile.readings,
        retired,
        tables.predicted,
        sites,
        resolution=resolution,
    )
    verdicts = judge_villages(
        villages,
        fused,
        households=households,
        centre_cells=grid.centre_cells,
        fading_db=fits.fading_db,
        readings=per_village,
        new_sites=started,
        nearest=nearest_sites(villages, sites, metric_crs=crs, terrain=terrain),
        carrier_readings=carrier_readings_per_village(villages, taken),
    )
    signal = signal_estimates(estimates, tables.observed)
    zones = find_dead_zones(
        fused,
        village_cells=grid.village_cells,
        households=households,
        villages=villages,
        sites=sites,
        metric_crs=crs,
        radios=signal,
    )
    return TileAnalysis(
        positions=tile.positions,
        villages=villages.join(verdicts, on="id").join(per_village, on="id"),
        dead_zones=zones,
        cells=fused,
        signal=signal,
        households=households,
        centre_cells=grid.centre_cells,
        new_sites=started,
    )


# --- stage 4: stitching ------------------------------------------------------


def _by_village(frames: Sequence[pd.DataFrame], order: pd.Series) -> pd.DataFrame:
    """Concatenate per-village tables, the villages in the analysis' order."""
    frame = _concat(frames)
    if frame.empty:
        return frame.reset_index(drop=True)
    rank = frame["village_id"].map(order).to_numpy(float)
    return frame.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


def stitch(
    surveys: Sequence[TileSurvey],
    fits: RegionFits,
    analyses: Sequence[TileAnalysis],
    region: Region,
) -> AnalysisResult:
    """Stage 4: the tiles' answers as one :class:`AnalysisResult`.

    Villages come back in the analysis' order; a cell that two tiles' villages
    share (found alike by both) is kept once; dead zones are numbered
    together (:func:`coverage.dead_zones.number_zones`).
    """
    positions = np.concatenate([a.positions for a in analyses])
    judged = pd.concat([a.villages for a in analyses]).iloc[np.argsort(positions, kind="stable")]
    order = pd.Series(np.arange(len(judged)), index=judged["id"].to_numpy())
    cells = _concat([a.cells for a in analyses])
    signal = _concat([a.signal for a in analyses])
    if len(analyses) > 1:
        cells = cells.drop_duplicates(["h3", "carrier"])
        signal = signal.drop_duplicates(_CELL_KEYS)
    zones = pd.concat([a.dead_zones for a in analyses], ignore_index=True)
    return AnalysisResult(
        villages=gpd.GeoDataFrame(judged, geometry="geometry", crs=C.CRS_WGS84),
        devices=_canonical(_concat([s.devices for s in surveys]), ["h3", "carrier", "device"]),
        dead_zones=number_zones(gpd.GeoDataFrame(zones, geometry="geometry", crs=C.CRS_WGS84)),
        cells=_canonical(cells, ["h3", "carrier"]),
        signal=_canonical(signal, _CELL_KEYS),
        calibration=fits.calibration,
        households=_by_village([a.households for a in analyses], order),
        centre_cells=_by_village([a.centre_cells for a in analyses], order),
        metric_crs=region.metric_crs,
        new_sites=_by_village([a.new_sites for a in analyses], order),
        fading_db=fits.fading_db,
    )


def region_of(villages: gpd.GeoDataFrame, terrain: Raster | None, resolution: int) -> Region:
    """Return the villages' region: their bounds and where distances are measured."""
    bounds = tuple(float(v) for v in villages.total_bounds)
    crs = terrain.crs if terrain is not None else utm_crs_for(bounds[0::2], bounds[1::2])
    return Region(bounds=bounds, metric_crs=crs, resolution=resolution)  # type: ignore[arg-type]


def analyze(
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    readings: pd.DataFrame,
    *,
    dem: Raster | str | Path | None = None,
    population: Raster | str | Path | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    as_of: pd.Timestamp | str | None = None,
    resolution: int = T.H3_RESOLUTION_VERDICT,
    infer_gaps: bool = True,
) -> AnalysisResult:
    """Judge every village from the readings, the sites and the terrain.

    The four stages of the module on one tile (:func:`coverage.tiles.analyze_tiled`
    runs them on many, with the same answers).

    Parameters
    ----------
    villages : GeoDataFrame
        Village polygons (see :func:`geodata.villages.normalise_villages`).
    sites : DataFrame
        Carrier cells (see :func:`geodata.sites.normalise_sites`).
    readings : DataFrame
        Validated readings (see :func:`geodata.readings.validate_readings`).
    dem, population : Raster or path, optional, keyword-only
        Terrain for diffraction (and, without a better source, to find the
        settled ground); a population raster to place households.
    buildings : GeoDataFrame, optional, keyword-only
        Building footprints or points (see :func:`geodata.buildings.read_buildings`):
        the best source of where households live (see :mod:`coverage.households`).
    as_of : Timestamp or str, optional, keyword-only
        Judge with the readings and sites that existed at this instant.
    resolution : int, keyword-only
        H3 resolution on which villages are judged (10 by default; see
        :data:`coverage.thresholds.H3_RESOLUTION_VERDICT`). Cell statistics
        for maps come at res 9 from :func:`coverage.stats.aggregate_readings`.
    infer_gaps : bool, keyword-only
        Add no-service readings where a phone that never logs them fell
        silent (see :func:`coverage.stats.infer_silent_gaps`).

    Raises
    ------
    NoVillagesError
        When ``villages`` is empty.
    """
    if villages.empty:
        raise NoVillagesError("no villages to analyse")
    villages = normalise_villages(villages)
    readings, taken = readings_in_force(readings, as_of, infer_gaps=infer_gaps)
    sites = sites_in_force(sites, as_of)
    bounds = tuple(float(v) for v in villages.total_bounds)
    terrain = _as_raster(dem, bounds, DEM_MARGIN_M)
    region = region_of(villages, terrain, resolution)
    tile = TileInput(
        villages=villages,
        positions=np.arange(len(villages)),
        readings=readings,
        taken=taken,
        buildings=buildings,
    )
    survey = survey_tile(tile, sites, region, dem=terrain)
    fits, tables = fit_region([survey], sites, region)
    analysis = analyse_tile(
        tile,
        sites,
        region,
        fits,
        tables,
        dem=terrain,
        population=_as_raster(population, bounds, 0.0),
    )
    return stitch([survey], fits, [analysis], region)
