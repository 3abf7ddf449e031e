"""The whole analysis: villages, sites, readings (and terrain) -> verdicts, dead zones.

This is the one entry point the service, the CLI and the notebooks call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import thresholds as T
from coverage.calibration import Calibration, calibrate
from coverage.censoring import observed_median, reading_spread_db
from coverage.dead_zones import find_dead_zones
from coverage.errors import NoVillagesError
from coverage.fusion import (
    best_radio,
    fuse,
    measured_by_carrier,
    predicted_probability,
    signal_estimates,
)
from coverage.households import place_households
from coverage.map_cells import MAP_RESOLUTION, cells_for_storage
from coverage.points import (
    readings_per_village,
)
from coverage.predict import metric_centres, nearby_cells, predict_cells
from coverage.stats import (
    aggregate_readings,
    infer_silent_gaps,
    new_sites_near,
    retired_readings,
    select_as_of,
    service_floors,
)
from coverage.verdicts import judge_villages
from geodata import constants as C
from geodata.hexgrid import cells_for_points, cells_in_polygons, neighbourhood, unique_cells
from geodata.raster import Raster, read_raster, utm_crs_for
from geodata.sites import carrier_names
from geodata.villages import normalise_villages

# Terrain beyond the villages still shadows them: read the DEM with this margin.
DEM_MARGIN_M = C.MAX_CELL_RANGE_M


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
    """

    villages: gpd.GeoDataFrame
    dead_zones: gpd.GeoDataFrame
    cells: pd.DataFrame
    signal: pd.DataFrame
    calibration: Calibration

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
        return cells_for_storage(self.cells, self.villages, resolution=resolution)


def _as_raster(
    source: Raster | str | Path | None, bounds: tuple[float, ...], margin: float
) -> Raster | None:
    if source is None or isinstance(source, Raster):
        return source
    return read_raster(source, bounds_wgs84=bounds, margin_m=margin)  # type: ignore[arg-type]


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
    readings = select_as_of(readings, as_of)
    observed_readings = readings
    if infer_gaps:
        silent = infer_silent_gaps(readings)
        if len(silent):
            readings = pd.concat([readings, silent], ignore_index=True)
    if as_of is not None and "created" in sites and len(sites):
        cutoff = pd.Timestamp(as_of)
        cutoff = cutoff if cutoff.tzinfo else cutoff.tz_localize("UTC")
        sites = sites.loc[sites["created"].isna() | (sites["created"] <= cutoff)]
    bounds = tuple(villages.total_bounds)
    centre_lon, centre_lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    terrain = _as_raster(dem, bounds, DEM_MARGIN_M)
    metric_crs = terrain.crs if terrain is not None else utm_crs_for(centre_lon, centre_lat)

    village_cells = cells_in_polygons(villages, resolution=resolution).rename(
        columns={"id": "village_id"}
    )
    centre = cells_for_points(
        villages["centre_lat"].to_numpy(float),
        villages["centre_lon"].to_numpy(float),
        resolution=resolution,
    )
    # The centre is judged on its cell and the ring around it (~200 m at res
    # 10): the cultural house and the yard people stand in to make a call.
    ring = neighbourhood(centre, k=1).rename(columns={"h3": "centre", "neighbour": "h3"})
    centre_cells = ring.merge(
        pd.DataFrame({"village_id": villages["id"].to_numpy(), "centre": centre}), on="centre"
    )[["village_id", "h3"]]
    grid = unique_cells(
        np.concatenate(
            [village_cells["h3"].to_numpy(np.uint64), centre_cells["h3"].to_numpy(np.uint64)]
        )
    )

    stats = aggregate_readings(readings, resolution=resolution)
    # Predict at the villages' cells and at every measured cell near them: the
    # measured ones calibrate the model and feed the residual kriging.
    x, y = metric_centres(
        unique_cells(np.concatenate([grid, nearby_cells(stats["h3"], bounds)])), metric_crs
    )
    with_readings = stats.loc[stats["count"] >= T.MIN_READINGS_MEASURED, "h3"]
    predicted = predict_cells(
        x, y, sites, terrain, metric_crs, measured=unique_cells(with_readings.to_numpy(np.uint64))
    )
    retired = retired_readings(readings, predicted, sites, resolution=resolution)
    if retired.any():
        stats = aggregate_readings(readings.loc[~retired], resolution=resolution)
    fading = reading_spread_db(stats)
    observed = observed_median(stats, floors=service_floors(readings), spread_db=fading)
    measured = measured_by_carrier(observed)
    calibration = calibrate(observed, predicted)
    estimates = predicted_probability(
        predicted, calibration, measured=observed, x=x, y=y, fading_db=fading
    )
    prior = best_radio(estimates)
    site_carriers = (
        frozenset(carrier_names(sites["mcc"], sites["mnc"])) if len(sites) else frozenset()
    )
    carriers = sorted(
        set(prior["carrier"].unique()) | set(measured["carrier"].unique()) | site_carriers
    )
    fused = fuse(
        grid,
        carriers,
        measured=measured,
        predicted=prior,
        site_carriers=site_carriers,
        fading_db=fading,
    )

    households = place_households(
        villages,
        village_cells,
        resolution=resolution,
        metric_crs=metric_crs,
        terrain=terrain,
        population=_as_raster(population, bounds, 0.0),
        buildings=buildings,
        reading_cells=unique_cells(stats["h3"].to_numpy(np.uint64)),
    )
    per_village = readings_per_village(villages, observed_readings)
    verdicts = judge_villages(
        villages,
        fused,
        households=households,
        centre_cells=centre_cells,
        fading_db=fading,
        readings=per_village,
        new_sites=new_sites_near(
            centre_cells, readings, retired, predicted, sites, resolution=resolution
        ),
    )
    judged = villages.join(verdicts, on="id")
    judged = judged.join(per_village, on="id")
    zones = find_dead_zones(
        fused,
        village_cells=village_cells,
        households=households,
        villages=villages,
        sites=sites,
        metric_crs=metric_crs,
    )
    return AnalysisResult(
        villages=gpd.GeoDataFrame(judged, geometry="geometry", crs=C.CRS_WGS84),
        dead_zones=zones,
        cells=fused,
        signal=signal_estimates(estimates, observed),
        calibration=calibration,
    )
