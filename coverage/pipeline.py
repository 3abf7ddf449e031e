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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import thresholds as T
from coverage.calibration import Calibration
from coverage.dead_zones import find_dead_zones
from coverage.errors import NoVillagesError
from coverage.evidence import measure
from coverage.fusion import fuse_evidence, signal_estimates
from coverage.grid import village_grid
from coverage.households import place_households
from coverage.map_cells import MAP_RESOLUTION, cells_for_storage, device_sketch, empty_device_sketch
from coverage.nearest_sites import nearest_sites
from coverage.points import carrier_readings_per_village, readings_per_village
from coverage.predict import predict_grid
from coverage.stats import aggregate_readings, infer_silent_gaps, new_sites_near, select_as_of
from coverage.verdicts import judge_villages
from geodata import constants as C
from geodata.hexgrid import unique_cells
from geodata.raster import Raster, read_raster, utm_crs_for
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


def _in_force(
    readings: pd.DataFrame,
    sites: pd.DataFrame,
    as_of: pd.Timestamp | str | None,
    *,
    infer_gaps: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Select the readings and sites in force at ``as_of``.

    Returns the readings (with inferred silent gaps), the readings as taken,
    and the sites that existed then.
    """
    readings = select_as_of(readings, as_of)
    taken = readings
    if infer_gaps:
        silent = infer_silent_gaps(readings)
        if len(silent):
            readings = pd.concat([readings, silent], ignore_index=True)
    if as_of is not None and "created" in sites and len(sites):
        cutoff = pd.Timestamp(as_of)
        cutoff = cutoff if cutoff.tzinfo else cutoff.tz_localize("UTC")
        sites = sites.loc[sites["created"].isna() | (sites["created"] <= cutoff)]
    return readings, taken, sites


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
    readings, observed_readings, sites = _in_force(readings, sites, as_of, infer_gaps=infer_gaps)
    bounds = tuple(villages.total_bounds)
    terrain = _as_raster(dem, bounds, DEM_MARGIN_M)
    metric_crs = terrain.crs if terrain is not None else utm_crs_for(bounds[0::2], bounds[1::2])

    grid = village_grid(villages, resolution=resolution)
    stats = aggregate_readings(readings, resolution=resolution)
    model = predict_grid(grid.cells, stats, sites, terrain, metric_crs, bounds=bounds)
    evidence = measure(readings, stats, model.predicted, sites, resolution=resolution)
    devices = device_sketch(readings.loc[~evidence.retired], resolution=resolution)
    fusion = fuse_evidence(grid.cells, evidence, model, sites)

    households = place_households(
        villages,
        grid.village_cells,
        resolution=resolution,
        metric_crs=metric_crs,
        terrain=terrain,
        population=_as_raster(population, bounds, 0.0),
        buildings=buildings,
        # Where phones were read says where people go, whatever the readings
        # say of a network since changed: every reading's cell, retired or not.
        reading_cells=unique_cells(stats["h3"].to_numpy(np.uint64)),
    )
    per_village = readings_per_village(villages, observed_readings)
    started = new_sites_near(
        grid.centre_cells, readings, evidence.retired, model.predicted, sites, resolution=resolution
    )
    verdicts = judge_villages(
        villages,
        fusion.cells,
        households=households,
        centre_cells=grid.centre_cells,
        fading_db=evidence.fading_db,
        readings=per_village,
        new_sites=started,
        nearest=nearest_sites(villages, sites, metric_crs=metric_crs, terrain=terrain),
        carrier_readings=carrier_readings_per_village(villages, observed_readings),
    )
    signal = signal_estimates(fusion.estimates, evidence.observed)
    zones = find_dead_zones(
        fusion.cells,
        village_cells=grid.village_cells,
        households=households,
        villages=villages,
        sites=sites,
        metric_crs=metric_crs,
        radios=signal,
    )
    judged = villages.join(verdicts, on="id").join(per_village, on="id")
    return AnalysisResult(
        villages=gpd.GeoDataFrame(judged, geometry="geometry", crs=C.CRS_WGS84),
        devices=devices,
        dead_zones=zones,
        cells=fusion.cells,
        signal=signal,
        calibration=fusion.calibration,
        households=households,
        centre_cells=grid.centre_cells,
        metric_crs=metric_crs,
        new_sites=started,
        fading_db=evidence.fading_db,
    )
