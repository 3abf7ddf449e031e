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
from coverage.stats import usable_mask
from geodata.sites import carrier_names


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


CARRIER_READING_COLUMNS: tuple[str, ...] = (
    "village_id",
    "carrier",
    "readings",
    "reading_days",
    "unusable_share",
)


def carrier_readings_per_village(
    villages: gpd.GeoDataFrame, readings: pd.DataFrame
) -> pd.DataFrame:
    """Count each carrier's readings in each village, the days they span and the share unusable.

    Parameters
    ----------
    villages : GeoDataFrame
        Villages (``id``, polygons in EPSG:4326).
    readings : DataFrame
        Readings as taken (``lat``, ``lon``, ``time``, ``mcc``, ``mnc``,
        ``radio``, ``signal_dbm``, ``no_service``).

    Returns
    -------
    DataFrame
        :data:`CARRIER_READING_COLUMNS`, one row per (village, carrier) with
        readings: ``reading_days`` from the first reading to the last,
        counted inclusively (one day when they fall within 24 h), and
        ``unusable_share`` the share without usable signal (no service, or
        below the radio's usable level: :func:`coverage.stats.usable_mask`).

    Examples
    --------
    >>> import shapely
    >>> v = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326")
    >>> r = pd.DataFrame({"lat": [0.5, 0.5], "lon": [0.5, 0.5], "mcc": 452, "mnc": 4,
    ...     "radio": "lte", "signal_dbm": [-90.0, None], "no_service": [False, True],
    ...     "time": pd.to_datetime(["2026-01-01T08:00Z", "2026-01-14T08:00Z"])})
    >>> row = carrier_readings_per_village(v, r).iloc[0]
    >>> row["carrier"], int(row["readings"]), int(row["reading_days"]), float(row["unusable_share"])
    ('Viettel', 2, 14, 0.5)
    """
    pairs = readings_by_village(villages, readings)
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CARRIER_READING_COLUMNS})
    taken = readings.iloc[pairs["reading"].to_numpy()]
    frame = pd.DataFrame(
        {
            "village_id": pairs["village_id"].to_numpy(),
            "carrier": carrier_names(taken["mcc"], taken["mnc"]).astype(object).to_numpy(),
            # Naive UTC datetime64: a tz-aware column's to_numpy() is one object per row.
            "time": pd.to_datetime(taken["time"], utc=True).dt.tz_localize(None).to_numpy(),
            "unusable": ~usable_mask(taken),
        }
    )
    grouped = frame.groupby(["village_id", "carrier"], sort=True)
    table = grouped.agg(
        readings=("unusable", "size"),
        unusable_share=("unusable", "mean"),
        first=("time", "min"),
        last=("time", "max"),
    ).reset_index()
    span = (table["last"] - table["first"]) / pd.Timedelta(days=1)
    table["reading_days"] = np.floor(span.to_numpy(float)).astype(int) + 1
    table["unusable_share"] = table["unusable_share"].astype(float).round(3)
    table["readings"] = table["readings"].astype(int)
    return table[list(CARRIER_READING_COLUMNS)]
