"""Writers for planners' GIS and spreadsheets: GeoJSON (RFC 7946), CSV, GeoPackage.

Each writer takes a GeoDataFrame with a CRS and returns the file's bytes.
Nested values (per-carrier summaries, lists of ids) become JSON text in CSV
and GeoPackage, which have no nested types.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geodata.constants import CRS_WGS84
from geodata.errors import InvalidInputError

GEOJSON_MEDIA_TYPE: Final = "application/geo+json"
CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
GPKG_MEDIA_TYPE: Final = "application/geopackage+sqlite3"
#: Characters that make a spreadsheet read a cell as a formula (OWASP CSV injection):
#: = + - @, and tab / carriage return, which some spreadsheets strip before parsing.
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
# RFC 7946 §11.2: 6 decimals is ~10 cm, more than any village boundary holds.
GEOJSON_DECIMALS: Final = 6


def _wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise InvalidInputError("frame has no CRS")
    return frame.to_crs(CRS_WGS84)


def json_safe(value: Any) -> Any:
    """JSON-safe: NaN/NA -> None, numpy -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _flat(value: Any) -> Any:
    """Nested values as compact JSON text; scalars as they are."""
    value = json_safe(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def to_geojson(frame: gpd.GeoDataFrame) -> bytes:
    """An RFC 7946 FeatureCollection: EPSG:4326, counter-clockwise outer rings, no ``crs``.

    Examples
    --------
    >>> f = gpd.GeoDataFrame({"name": ["Bản Giòng"]},
    ...     geometry=[shapely.box(105.49, 22.56, 105.50, 22.57)], crs="EPSG:4326")
    >>> json.loads(to_geojson(f))["features"][0]["properties"]["name"] == "Bản Giòng"
    True
    """
    frame = _wgs84(frame)
    geometry = shapely.orient_polygons(frame.geometry.to_numpy(), exterior_cw=False)
    geometry = shapely.set_precision(geometry, 10**-GEOJSON_DECIMALS, mode="pointwise")
    features = []
    records = pd.DataFrame(frame.drop(columns=frame.geometry.name)).to_dict("records")
    for properties, geom in zip(records, geometry, strict=True):
        features.append(
            {
                "type": "Feature",
                "properties": json_safe(properties),
                "geometry": None if geom is None else json.loads(shapely.to_geojson(geom)),
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    return json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with ``'``.

    Only text is touched: a number (``-95.0`` dBm) stays a number.

    >>> neutralise("=SUM(A1)"), neutralise("-1+2"), neutralise(-95.0), neutralise("Nà Tà")
    ("'=SUM(A1)", "'-1+2", -95.0, 'Nà Tà')
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(frame: gpd.GeoDataFrame) -> bytes:
    """CSV in UTF-8 with a BOM (Excel then reads Vietnamese correctly).

    Geometry becomes ``lon``/``lat`` of a point inside it and ``wkt``; nested
    values become JSON text; text cells that start like a formula are
    neutralised (:func:`neutralise`).
    """
    frame = _wgs84(frame)
    inside = frame.geometry.representative_point()
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    if "lon" not in table and "lat" not in table:
        table["lon"] = inside.x.round(GEOJSON_DECIMALS).to_numpy()
        table["lat"] = inside.y.round(GEOJSON_DECIMALS).to_numpy()
    table["wkt"] = shapely.to_wkt(frame.geometry.to_numpy(), rounding_precision=GEOJSON_DECIMALS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(str(c)) for c in table.columns])
    for row in table.itertuples(index=False, name=None):
        writer.writerow(["" if v is None else neutralise(v) for v in map(_flat, row)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_geopackage(frame: gpd.GeoDataFrame, *, layer: str) -> bytes:
    """A GeoPackage holding ``frame`` as ``layer`` (written with pyogrio to a temp file)."""
    frame = _wgs84(frame)
    flat = frame.copy()
    for column in flat.columns:
        if column != flat.geometry.name and flat[column].dtype == object:
            flat[column] = [_flat(v) for v in flat[column]]
    with tempfile.TemporaryDirectory(prefix="lomsong-gpkg-") as tmp:
        path = Path(tmp) / f"{layer}.gpkg"
        pyogrio.write_dataframe(flat, path, layer=layer, driver="GPKG")
        return path.read_bytes()
