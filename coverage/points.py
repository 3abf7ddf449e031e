"""Which point lies in which village: readings, buildings, pixels.

One kernel (:func:`points_in_polygons`) serves every point-in-village
question of the analysis.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.threads import map_in_order, worker_count


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
        point, polygon = tree.query(
            shapely.points(x[candidates], y[candidates]), predicate="within"
        )
        order = np.lexsort((point, polygon))
        return candidates[point[order]], polygon[order].astype(np.intp)
    extent = np.maximum(
        bounds[present, 2] - bounds[present, 0], bounds[present, 3] - bounds[present, 1]
    )
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
    return (
        np.concatenate([found for found, _ in parts]),
        np.concatenate([polygon for _, polygon in parts]),
    )


def readings_by_village(villages: gpd.GeoDataFrame, readings: pd.DataFrame) -> pd.DataFrame:
    """Rows ``(village_id, reading)``: which reading (positional index) lies in
    which village (see :func:`points_in_polygons`), ordered by reading."""
    if readings.empty or villages.empty:
        return pd.DataFrame({"village_id": pd.Series(dtype=str), "reading": pd.Series(dtype=int)})
    reading, village = points_in_polygons(
        villages.geometry.to_numpy(),
        readings["lon"].to_numpy(float),
        readings["lat"].to_numpy(float),
    )
    order = np.lexsort((village, reading))
    return pd.DataFrame(
        {"village_id": villages["id"].to_numpy()[village[order]], "reading": reading[order]}
    )


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
    reading, village = points_in_polygons(
        villages.geometry.to_numpy(),
        readings["lon"].to_numpy(float),
        readings["lat"].to_numpy(float),
    )
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
