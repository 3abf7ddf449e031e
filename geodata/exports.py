"""Writers for planners' GIS and spreadsheets: GeoJSON (RFC 7946), CSV, GeoPackage.

Each writer takes a GeoDataFrame with a CRS and returns the file's bytes.
:func:`feature_collection` is the one GeoJSON encoder: the API, the exports
and the CLI all write through it.
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
import orjson
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


def to_geojson(frame: gpd.GeoDataFrame, **members: Any) -> bytes:
    """``frame`` as RFC 7946 GeoJSON bytes: the one GeoJSON encoder.

    A FeatureCollection in EPSG:4326, outer rings counter-clockwise, no
    ``crs``; coordinates keep :data:`GEOJSON_DECIMALS` decimals; properties
    are JSON-safe (:func:`json_safe`); the frame's index is not written. The
    API's answers, the exports and the CLI's files all come from here.

    Parameters
    ----------
    frame : GeoDataFrame
        Any CRS.
    **members
        Extra top-level members (``numberMatched``, ``links``...), after ``features``.

    Raises
    ------
    InvalidInputError
        When ``frame`` has no CRS.

    Examples
    --------
    >>> f = gpd.GeoDataFrame({"name": ["Bản Giòng"]},
    ...     geometry=[shapely.box(105.49, 22.56, 105.50, 22.57)], crs="EPSG:4326")
    >>> json.loads(to_geojson(f))["features"][0]["properties"]["name"] == "Bản Giòng"
    True
    """
    frame = _wgs84(frame)
    geometry = shapely.orient_polygons(frame.geometry.to_numpy(), exterior_cw=False)
    geometry = shapely.transform(geometry, lambda xy: np.round(xy, GEOJSON_DECIMALS))
    records = pd.DataFrame(frame.drop(columns=frame.geometry.name)).to_dict("records")
    # GEOS writes each geometry's GeoJSON; orjson embeds the text as it is.
    features = [
        {
            "type": "Feature",
            "properties": json_safe(properties),
            "geometry": None if text is None else orjson.Fragment(text),
        }
        for properties, text in zip(records, shapely.to_geojson(geometry), strict=True)
    ]
    return encode_geojson({"type": "FeatureCollection", "features": features, **members})


def encode_geojson(content: Any) -> bytes:
    """JSON as compact UTF-8 bytes (Vietnamese kept readable; NaN as ``null``)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def feature_collection(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """:func:`to_geojson` as a dict.

    Examples
    --------
    >>> f = gpd.GeoDataFrame({"name": ["Bản Giòng"]},
    ...     geometry=[shapely.box(105.49, 22.56, 105.50, 22.57)], crs="EPSG:4326")
    >>> feature_collection(f)["features"][0]["geometry"]["coordinates"][0][0]
    [105.5, 22.56]
    """
    collection: dict[str, Any] = orjson.loads(to_geojson(frame))
    return collection


def feature(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the first row of ``frame`` as one RFC 7946 Feature dict."""
    first: dict[str, Any] = feature_collection(frame.iloc[:1])["features"][0]
    return first


def write_geojson(frame: gpd.GeoDataFrame, path: str | Path) -> None:
    """Write ``frame`` as an RFC 7946 GeoJSON file (:func:`to_geojson`)."""
    Path(path).write_bytes(to_geojson(frame))


def neutralise(value: Any) -> Any:
    """Prefix with ``'`` a text cell a spreadsheet would run as a formula.

    Only text is touched: a number (``-95.0`` dBm) stays a number.

    >>> neutralise("=SUM(A1)"), neutralise("-1+2"), neutralise(-95.0), neutralise("Nà Tà")
    ("'=SUM(A1)", "'-1+2", -95.0, 'Nà Tà')
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every text cell that starts like a formula neutralised (vectorised).

    What :func:`neutralise` does to one value, column by column; numbers and
    missing values are untouched. The one formula guard of tables written as
    CSV a row batch at a time (the planners' raw readings export).

    >>> t = pd.DataFrame({"source": ["=1+2", "app"], "dbm": [-95.0, -80.0]})
    >>> neutralise_table(t)["source"].tolist(), neutralise_table(t)["dbm"].tolist()
    (["'=1+2", 'app'], [-95.0, -80.0])
    """
    out = table.copy()
    for column in out.columns:
        values = out[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue  # numbers, flags and times cannot hold a formula
        live = values.str.startswith(FORMULA_PREFIXES, na=False).to_numpy(dtype=bool)
        if live.any():
            out[column] = values.astype(object).mask(live, "'" + values[live].astype(str))
    return out


def csv_text(table: pd.DataFrame, *, header: bool = True) -> str:
    """``table`` as CSV text (no index), formulas neutralised (:func:`neutralise_table`).

    >>> print(csv_text(pd.DataFrame({"source": ["+1 555", "ok"]})), end="")
    source
    '+1 555
    ok
    """
    text: str = neutralise_table(table).to_csv(index=False, header=header)
    return text


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
    """Return a GeoPackage holding ``frame`` as ``layer`` (written with pyogrio to a temp file)."""
    frame = _wgs84(frame)
    flat = frame.copy()
    for column in flat.columns:
        if column != flat.geometry.name and flat[column].dtype == object:
            flat[column] = [_flat(v) for v in flat[column]]
    with tempfile.TemporaryDirectory(prefix="lomsong-gpkg-") as tmp:
        path = Path(tmp) / f"{layer}.gpkg"
        pyogrio.write_dataframe(flat, path, layer=layer, driver="GPKG")
        return path.read_bytes()
