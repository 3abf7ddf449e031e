"""Villages (thôn/bản) and communes: read, validate, normalise.

The file contract is in DESIGN.md: Polygon/MultiPolygon features with ``id``,
``name``, ``commune``, ``district``, ``province``, ``households`` and optional
``population``, ``poverty_rate``, ``centre_lon``/``centre_lat``.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata import constants as C
from geodata.errors import InvalidInputError, MissingColumnError
from geodata.text import fold, nfc

VILLAGE_REQUIRED: tuple[str, ...] = ("id", "name", "commune", "district", "province", "households")
COMMUNE_REQUIRED: tuple[str, ...] = ("id", "name", "district", "province")


def commune_id(name: str) -> str:
    """A URL-safe id from a commune name: ``"Thượng Nông"`` -> ``"thuong-nong"``."""
    return "-".join(fold(name).replace("-", " ").split())


def _read(path: str | Path) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise InvalidInputError(f"{path}: not a readable vector file ({exc})") from exc
    if frame.crs is None:
        raise InvalidInputError(f"{path}: the file declares no CRS")
    return frame.to_crs(C.CRS_WGS84)


def _nfc_text(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    for column in columns:
        if column in frame.columns:
            frame[column] = frame[column].astype(str).map(nfc)


def normalise_villages(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Validate a villages table and fill the derived columns.

    Adds ``commune_id`` (when absent), ``population`` (NaN when absent),
    ``poverty_rate`` and the village centre (a representative point inside
    the polygon when ``centre_lon``/``centre_lat`` are missing).

    Raises
    ------
    MissingColumnError
        When a required property is absent.
    InvalidInputError
        On duplicate ids, non-polygon geometry or negative households.
    """
    missing = [c for c in VILLAGE_REQUIRED if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"villages: missing required field(s): {', '.join(missing)}")
    if frame.crs is None:
        raise InvalidInputError("villages: no CRS")
    out = frame.to_crs(C.CRS_WGS84).copy()
    out["id"] = out["id"].astype(str)
    duplicated = out["id"][out["id"].duplicated()].unique()
    if len(duplicated):
        raise InvalidInputError(f"villages: duplicate id(s): {', '.join(duplicated[:5])}")
    kinds = shapely.get_type_id(out.geometry.values)
    bad = ~np.isin(kinds, [3, 6])  # Polygon, MultiPolygon
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"villages: row {row} (id {out['id'].iloc[row]}): geometry is not a polygon"
        )
    households = pd.to_numeric(out["households"], errors="coerce")
    if households.isna().any() or (households < 0).any():
        row = int(np.flatnonzero(households.isna() | (households < 0))[0])
        raise InvalidInputError(f"villages: row {row}: households must be a non-negative integer")
    out["households"] = households.astype("int64")
    _nfc_text(out, ("name", "commune", "district", "province"))
    if "commune_id" not in out.columns:
        out["commune_id"] = out["commune"].map(commune_id)
    for column in ("population", "poverty_rate"):
        out[column] = pd.to_numeric(out.get(column), errors="coerce") if column in out else np.nan
    inside = out.geometry.representative_point()
    for column, fallback in (("centre_lon", inside.x), ("centre_lat", inside.y)):
        given = pd.to_numeric(out[column], errors="coerce") if column in out else np.nan
        out[column] = pd.Series(given, index=out.index).fillna(fallback)
    return out


def read_villages(path: str | Path) -> gpd.GeoDataFrame:
    """Read villages from GeoJSON, GeoPackage or Shapefile into EPSG:4326.

    Examples
    --------
    >>> import tempfile, shapely
    >>> frame = gpd.GeoDataFrame({"id": ["a"], "name": ["Bản Giòng"], "commune": ["Thượng Nông"],
    ...     "district": ["Na Hang"], "province": ["Tuyên Quang"], "households": [98]},
    ...     geometry=[shapely.box(105.49, 22.56, 105.50, 22.57)], crs="EPSG:4326")
    >>> path = tempfile.mkdtemp() + "/v.geojson"
    >>> frame.to_file(path)
    >>> read_villages(path)[["id", "commune_id", "households"]].values.tolist()
    [['a', 'thuong-nong', 98]]
    """
    return normalise_villages(_read(path))


def read_communes(path: str | Path) -> gpd.GeoDataFrame:
    """Read commune polygons (``id``, ``name``, ``district``, ``province``)."""
    frame = _read(path)
    missing = [c for c in COMMUNE_REQUIRED if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"communes: missing required field(s): {', '.join(missing)}")
    _nfc_text(frame, ("name", "district", "province"))
    frame["id"] = frame["id"].astype(str)
    return frame
