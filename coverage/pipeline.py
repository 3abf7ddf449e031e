"""The whole analysis: villages, sites, readings (and terrain) -> verdicts, dead zones.

This is the one entry point the service, the CLI and the notebooks call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.calibration import Calibration, calibrate
from coverage.cells import metric_centres, nearby_cells, predict_cells
from coverage.dead_zones import find_dead_zones
from coverage.errors import NoVillagesError
from coverage.fusion import (
    best_radio,
    fuse,
    measured_by_carrier,
    observed_median,
    predicted_probability,
    reading_spread_db,
    signal_estimates,
)
from coverage.hexgrid import cells_for_points, cells_in_polygons, neighbourhood, unique_cells
from coverage.households import place_with_raster, spread_evenly
from coverage.stats import aggregate_readings, select_as_of, service_floors
from coverage.threads import map_in_order, worker_count
from coverage.verdicts import judge_villages
from geodata import constants as C
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


def _as_raster(
    source: Raster | str | Path | None, bounds: tuple[float, ...], margin: float
) -> Raster | None:
    if source is None or isinstance(source, Raster):
        return source
    return read_raster(source, bounds_wgs84=bounds, margin_m=margin)  # type: ignore[arg-type]


def points_in_polygons(
    polygons: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(point, polygon)`` (positional indices) where a point lies
    inside a polygon, as shapely's ``within`` says (a point on the boundary
    is not inside).

    The points are bucketed on a grid of about one polygon's size; each
    polygon tests only the points of the buckets its bounding box covers,
    with shapely's vectorised ``contains_xy``. A loop over polygons, never
    over points, and no point geometries are built: a million readings
    take about a second.

    >>> import shapely
    >>> squares = np.array([shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)])
    >>> point, polygon = points_in_polygons(squares, np.array([2.5, 0.5, 9.0]),
    ...                                     np.array([0.5, 0.5, 0.5]))
    >>> point.tolist(), polygon.tolist()
    ([1, 0], [0, 1])
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    nothing = (np.empty(0, np.intp), np.empty(0, np.intp))
    bounds = shapely.bounds(polygons)
    present = np.flatnonzero(np.isfinite(bounds).all(axis=1))
    if len(x) == 0 or present.size == 0:
        return nothing
    west, south = bounds[present, 0].min(), bounds[present, 1].min()
    east, north = bounds[present, 2].max(), bounds[present, 3].max()
    candidates = np.flatnonzero((x >= west) & (x <= east) & (y >= south) & (y <= north))
    if candidates.size == 0:
        return nothing
    if candidates.size < present.size:
        # A handful of points (an upload): query them, not every polygon.
        tree = shapely.STRtree(polygons)
        point, polygon = tree.query(shapely.points(x[candidates], y[candidates]),
                                    predicate="within")  # fmt: skip
        order = np.lexsort((point, polygon))
        return candidates[point[order]], polygon[order].astype(np.intp)
    extent = np.maximum(bounds[present, 2] - bounds[present, 0],
                        bounds[present, 3] - bounds[present, 1])  # fmt: skip
    size = float(np.median(extent)) or max(east - west, north - south) or 1.0
    columns = int((east - west) // size) + 1

    def bucket(value: np.ndarray, origin: float) -> np.ndarray:
        return ((value - origin) // size).astype(np.int64)

    key = bucket(y[candidates], south) * columns + bucket(x[candidates], west)
    if key.max() < np.iinfo(np.uint16).max:
        key = key.astype(np.uint16)  # numpy sorts 16-bit keys by radix: linear
    order = np.argsort(key, kind="stable")
    sorted_key, points = key[order].astype(np.int64), candidates[order]
    px, py = x[points], y[points]
    first_column, last_column = bucket(bounds[:, 0], west), bucket(bounds[:, 2], west)
    first_row, last_row = bucket(bounds[:, 1], south), bucket(bounds[:, 3], south)

    def inside(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found_points = [np.empty(0, np.intp)]
        found_polygons = [np.empty(0, np.intp)]
        for i in chunk:
            rows = np.arange(first_row[i], last_row[i] + 1) * columns
            starts = np.searchsorted(sorted_key, rows + first_column[i])
            stops = np.searchsorted(sorted_key, rows + last_column[i], side="right")
            near = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)])
            hits = near[shapely.contains_xy(polygons[i], px[near], py[near])]
            found_points.append(points[hits])
            found_polygons.append(np.full(hits.size, i, dtype=np.intp))
        return np.concatenate(found_points), np.concatenate(found_polygons)

    # shapely and numpy release the GIL: chunks of polygons on threads,
    # joined in polygon order.
    parts = list(map_in_order(inside, np.array_split(present, 4 * worker_count())))
    return (np.concatenate([found for found, _ in parts]),
            np.concatenate([polygon for _, polygon in parts]))  # fmt: skip


def readings_by_village(villages: gpd.GeoDataFrame, readings: pd.DataFrame) -> pd.DataFrame:
    """Rows ``(village_id, reading)``: which reading (positional index) lies in
    which village (see :func:`points_in_polygons`), ordered by reading."""
    if readings.empty or villages.empty:
        return pd.DataFrame({"village_id": pd.Series(dtype=str), "reading": pd.Series(dtype=int)})
    reading, village = points_in_polygons(villages.geometry.to_numpy(),
                                          readings["lon"].to_numpy(float),
                                          readings["lat"].to_numpy(float))  # fmt: skip
    order = np.lexsort((village, reading))
    return pd.DataFrame({"village_id": villages["id"].to_numpy()[village[order]],
                         "reading": reading[order]})  # fmt: skip


def villages_touched(villages: gpd.GeoDataFrame, readings: pd.DataFrame) -> list[str]:
    """Ids of the villages whose polygons contain any of the readings.

    >>> import shapely
    >>> v = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[shapely.box(0, 0, 1, 1),
    ...     shapely.box(2, 0, 3, 1)], crs="EPSG:4326")
    >>> villages_touched(v, pd.DataFrame({"lat": [0.5], "lon": [2.5]}))
    ['b']
    """
    return sorted(set(readings_by_village(villages, readings)["village_id"]))


def readings_per_village(villages: gpd.GeoDataFrame, readings: pd.DataFrame) -> pd.DataFrame:
    """``readings_count`` and ``last_reading`` (ISO 8601, None without
    readings), indexed by village id; counted with numpy, not a groupby."""
    reading, village = points_in_polygons(villages.geometry.to_numpy(),
                                          readings["lon"].to_numpy(float),
                                          readings["lat"].to_numpy(float))  # fmt: skip
    counts = np.bincount(village, minlength=len(villages))
    out = pd.DataFrame({"readings_count": counts.astype(int)}, index=villages["id"].to_numpy())
    last = np.full(len(villages), None, dtype=object)
    if reading.size:
        times = readings["time"]
        nanos = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        latest = np.full(len(villages), np.iinfo(np.int64).min)
        np.maximum.at(latest, village, nanos.astype(np.int64)[reading])
        seen = np.flatnonzero(counts > 0)
        stamps = pd.to_datetime(latest[seen], unit="ns", utc=True).tz_convert(times.dt.tz)
        last[seen] = [t.isoformat() for t in stamps]
    out["last_reading"] = pd.Series(last, index=out.index)  # str dtype when any
    return out


def analyze(
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    readings: pd.DataFrame,
    *,
    dem: Raster | str | Path | None = None,
    population: Raster | str | Path | None = None,
    as_of: pd.Timestamp | str | None = None,
    resolution: int = C.H3_RESOLUTION_VERDICT,
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
        Terrain for diffraction; population to place households.
    as_of : Timestamp or str, optional, keyword-only
        Judge with the readings and sites that existed at this instant.
    resolution : int, keyword-only
        H3 resolution on which villages are judged (10 by default; see
        :data:`geodata.constants.H3_RESOLUTION_VERDICT`). Cell statistics
        for maps come at res 9 from :func:`coverage.stats.aggregate_readings`.

    Raises
    ------
    NoVillagesError
        When ``villages`` is empty.
    """
    if villages.empty:
        raise NoVillagesError("no villages to analyse")
    villages = normalise_villages(villages)
    readings = select_as_of(readings, as_of)
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
    grid = unique_cells(np.concatenate([village_cells["h3"].to_numpy(np.uint64),
                                     centre_cells["h3"].to_numpy(np.uint64)]))  # fmt: skip

    stats = aggregate_readings(readings, resolution=resolution)
    observed = observed_median(
        stats, floors=service_floors(readings), spread_db=reading_spread_db(stats)
    )
    measured = measured_by_carrier(observed)
    # Predict at the villages' cells and at every measured cell near them: the
    # measured ones calibrate the model and feed the residual kriging.
    x, y = metric_centres(
        unique_cells(np.concatenate([grid, nearby_cells(stats["h3"], bounds)])), metric_crs
    )
    with_readings = stats.loc[stats["count"] >= C.MIN_READINGS_MEASURED, "h3"]
    predicted = predict_cells(x, y, sites, terrain, metric_crs,
                              measured=unique_cells(with_readings.to_numpy(np.uint64)))  # fmt: skip
    calibration = calibrate(observed, predicted)
    estimates = predicted_probability(predicted, calibration, measured=observed, x=x, y=y)
    prior = best_radio(estimates)
    site_carriers = (
        frozenset(carrier_names(sites["mcc"], sites["mnc"])) if len(sites) else frozenset()
    )
    carriers = sorted(
        set(prior["carrier"].unique()) | set(measured["carrier"].unique()) | site_carriers
    )
    fused = fuse(grid, carriers, measured=measured, predicted=prior, site_carriers=site_carriers)

    pop = _as_raster(population, bounds, 0.0)
    if pop is not None:
        households = place_with_raster(pop, villages, village_cells, resolution=resolution)
    else:
        households = spread_evenly(village_cells, villages)
    verdicts = judge_villages(villages, fused, households=households, centre_cells=centre_cells)
    judged = villages.join(verdicts, on="id")
    judged = judged.join(readings_per_village(villages, readings), on="id")
    zones = find_dead_zones(fused, village_cells=village_cells, households=households,
                            villages=villages, sites=sites, metric_crs=metric_crs)  # fmt: skip
    return AnalysisResult(
        villages=gpd.GeoDataFrame(judged, geometry="geometry", crs=C.CRS_WGS84),
        dead_zones=zones,
        cells=fused,
        signal=signal_estimates(estimates, observed),
        calibration=calibration,
    )
