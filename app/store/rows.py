"""Conversions between store rows and frames: plain values, JSON columns, WKB geometries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.store.schema import JSON_COLUMNS, RESULT_COLUMNS, VILLAGE_COLUMNS
from geodata.constants import CRS_WGS84


def _numpy_json(value: Any) -> Any:
    """``json.dumps`` fallback for numpy scalars and arrays inside dict/list columns."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of plain Python values (NA/NaN -> None) for ``executemany``."""
    values = []
    for column in columns:
        series = frame[column]
        if column in JSON_COLUMNS:
            values.append(
                [None if v is None else json.dumps(v, default=_numpy_json) for v in series.tolist()]
            )
        else:
            values.append(series.to_numpy(dtype=object, na_value=None).tolist())
    return list(zip(*values, strict=True))


def parse_json_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Decode the JSON text columns of a stored frame in place, and return the frame."""
    for column in JSON_COLUMNS & set(frame.columns):
        # NULL (a village not yet judged) may reach pandas as None or NaN.
        frame[column] = [json.loads(v) if isinstance(v, str) else None for v in frame[column]]
    return frame


def to_geoframe(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """Turn a stored frame (WKB ``geometry``, JSON text columns) into an EPSG:4326 frame."""
    geometry = shapely.from_wkb(frame.pop("geometry").to_numpy())
    return gpd.GeoDataFrame(parse_json_columns(frame), geometry=geometry, crs=CRS_WGS84)


def meeting(frame: gpd.GeoDataFrame, bbox: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """Return the rows of ``frame`` whose geometry meets ``(west, south, east, north)`` (edges too).

    The exact test after a bounding-box filter in SQL (:func:`app.store.sql.bbox_clause`).
    """
    keep = shapely.intersects(frame.geometry.to_numpy(), shapely.box(*bbox))
    return frame.loc[np.asarray(keep, dtype=bool)]


def where_clause(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """Return a SQL ``WHERE`` clause of equalities, skipping filters that are ``None``."""
    clauses = [f"{column} = ?" for column, value in filters.items() if value is not None]
    params = [value for value in filters.values() if value is not None]
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def qualify(column: str) -> str:
    """Prefix a filter column with its table alias (results live in ``r``)."""
    if column == "verdict":
        return "COALESCE(r.verdict, 'unknown')"  # no stored result yet means unknown
    if column in RESULT_COLUMNS:
        return f"r.{column}"
    if column in VILLAGE_COLUMNS:
        return f"v.{column}"
    raise ValueError(f"cannot filter villages by {column!r}")


def iso_or_none(value: Any) -> str | None:
    """Return a timestamp as an ISO 8601 string (``None`` stays ``None``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)
