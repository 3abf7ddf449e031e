"""The SQLite schema of :mod:`app.store`, and conversions between rows and frames."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.constants import CRS_WGS84

COMMUNE_COLUMNS = ("id", "name", "district", "province")
VILLAGE_COLUMNS = (
    "id",
    "name",
    "commune_id",
    "commune",
    "district",
    "province",
    "households",
    "population",
    "poverty_rate",
    "centre_lon",
    "centre_lat",
)
SITE_COLUMNS = (
    "site_id",
    "name",
    "carrier",
    "mcc",
    "mnc",
    "radio",
    "cell_id",
    "area_code",
    "lon",
    "lat",
    "height_m",
    "azimuth_deg",
    "beamwidth_deg",
    "eirp_dbm",
    "freq_mhz",
    "range_m",
    "created",
)
RESULT_COLUMNS = (
    "verdict",
    "households_without_signal",
    "best_carrier",
    "carriers",
    "readings_count",
    "last_reading",
    "confidence",
    "reasons",
    "reasons_vi",
)
DEAD_ZONE_COLUMNS = (
    "id",
    "commune_id",
    "verdict",
    "area_km2",
    "households",
    "village_ids",
    "carriers_absent",
    "nearest_site_m",
)
JSON_COLUMNS = frozenset({"carriers", "village_ids", "carriers_absent", "reasons", "reasons_vi"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS communes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, name_folded TEXT NOT NULL,
    district TEXT, province TEXT, geometry BLOB);
CREATE TABLE IF NOT EXISTS villages (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, name_folded TEXT NOT NULL, commune_id TEXT,
    commune TEXT, district TEXT, province TEXT, households INTEGER, population INTEGER,
    poverty_rate REAL, centre_lon REAL, centre_lat REAL, geometry BLOB NOT NULL,
    min_lon REAL, min_lat REAL, max_lon REAL, max_lat REAL);
CREATE INDEX IF NOT EXISTS villages_commune ON villages (commune_id);
CREATE TABLE IF NOT EXISTS village_results (
    village_id TEXT PRIMARY KEY REFERENCES villages (id) ON DELETE CASCADE,
    verdict TEXT NOT NULL, households_without_signal INTEGER, best_carrier TEXT,
    carriers TEXT, readings_count INTEGER, last_reading TEXT, confidence REAL, reasons TEXT,
    reasons_vi TEXT);
CREATE TABLE IF NOT EXISTS dead_zones (
    id TEXT PRIMARY KEY, commune_id TEXT, verdict TEXT NOT NULL, area_km2 REAL,
    households INTEGER, village_ids TEXT, carriers_absent TEXT, nearest_site_m REAL,
    geometry BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS dead_zones_commune ON dead_zones (commune_id);
CREATE TABLE IF NOT EXISTS sites (
    rowid INTEGER PRIMARY KEY, site_id TEXT, name TEXT, carrier TEXT, mcc INTEGER,
    mnc INTEGER, radio TEXT, cell_id INTEGER, area_code INTEGER, lon REAL, lat REAL,
    height_m REAL, azimuth_deg REAL, beamwidth_deg REAL, eirp_dbm REAL, freq_mhz REAL,
    range_m REAL, created TEXT);
-- API keys: only the SHA-256 of a key is stored, beside a short public id.
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, name TEXT,
    created TEXT NOT NULL, revoked TEXT);
-- The first answer to each (caller, endpoint, Idempotency-Key), replayed on retries.
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
    response TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (scope, key));
"""


# Columns added to a table after its first release: a database made by an
# earlier version gains them (NULL until the next analysis) when opened.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("village_results", "confidence", "REAL"),
    ("village_results", "reasons", "TEXT"),
    ("village_results", "reasons_vi", "TEXT"),
)


def add_missing_columns(conn: Any) -> list[str]:
    """``ALTER TABLE … ADD COLUMN`` for each of :data:`ADDED_COLUMNS` a table lacks.

    Returns the ``table.column`` names added.
    """
    added = []
    for table, column, kind in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            added.append(f"{table}.{column}")
    return added


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
    for column in JSON_COLUMNS & set(frame.columns):
        # NULL (a village not yet judged) may reach pandas as None or NaN.
        frame[column] = [json.loads(v) if isinstance(v, str) else None for v in frame[column]]
    return frame


def to_geoframe(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    geometry = shapely.from_wkb(frame.pop("geometry").to_numpy())
    return gpd.GeoDataFrame(parse_json_columns(frame), geometry=geometry, crs=CRS_WGS84)


def where_clause(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """A SQL ``WHERE`` clause of equalities, skipping filters that are ``None``."""
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
    """A timestamp as an ISO 8601 string (``None`` stays ``None``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)
