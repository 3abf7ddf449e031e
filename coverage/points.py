"""Which reading lies in which village: counts, last readings, villages touched.

One kernel (:func:`coverage._kernels.points_in_polygons`) serves every
point-in-village question of the analysis (readings here, buildings and
pixels in :mod:`coverage.households`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage._kernels import points_in_polygons


def readings_by_village(villages: gpd.GeoDataFrame, readings: pd.DataFrame) -> pd.DataFrame:
    """Find which reading (positional index) lies in which village, ordered by reading.

    Rows ``(village_id, reading)``; see :func:`coverage._kernels.points_in_polygons`.
    """
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
    """Count each village's readings and give the day of its last one.

    The day, not the time: these go public (the village API, exports, maps),
    and the second of a visit would tell who was there.

    Parameters
    ----------
    villages : GeoDataFrame
        Villages (``id``, polygons in EPSG:4326).
    readings : DataFrame
        Readings (``lat``, ``lon``, ``time``).

    Returns
    -------
    DataFrame
        ``readings_count`` and ``last_reading`` (``YYYY-MM-DD``, the day in
        the readings' time zone, UTC once validated; None without readings),
        indexed by village id; counted with numpy, not a groupby.
    """
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
        last[seen] = stamps.strftime("%Y-%m-%d").to_numpy(object)
    out["last_reading"] = pd.Series(last, index=out.index)  # str dtype when any
    return out
