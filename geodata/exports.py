"""Writers for planners' GIS and spreadsheets: GeoJSON (RFC 7946), CSV, xlsx, GeoPackage.

Each writer takes a GeoDataFrame with a CRS and returns the file's bytes.
:func:`feature_collection` is the one GeoJSON encoder: the API, the exports
and the CLI all write through it.

The tables (CSV, xlsx, GeoPackage) have no nested types. Per-carrier
summaries (``carriers``) become one column per carrier and field,
``hh_without_<carrier>``, ``p_usable_<carrier>``, ``radio_<carrier>``...
(:func:`flatten_carriers`), so a spreadsheet or QGIS filters on them; other
nested values (lists of ids) become JSON text. The GeoJSON keeps them nested.

In spreadsheets (CSV, xlsx) a geometry is a point inside it (``lon``,
``lat``); its WKT only on request, simplified until it fits one cell
(:data:`CELL_LIMIT`, Excel's), and ``wkt_simplified_m`` says by how much.
CSV comes in two dialects (:data:`Delimiter`): ``comma`` (``,`` and a
decimal point) and ``semicolon`` (``;`` and a decimal comma, what Excel
reads in a Vietnamese locale); both UTF-8 with a BOM.
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyogrio
import shapely

from geodata.constants import CRS_WGS84
from geodata.errors import InvalidInputError
from geodata.text import fold

GEOJSON_MEDIA_TYPE: Final = "application/geo+json"
CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
GPKG_MEDIA_TYPE: Final = "application/geopackage+sqlite3"
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Most characters one spreadsheet cell holds (Excel's limit).
CELL_LIMIT: Final = 32_767
#: The CSV dialects: ``comma`` (``,``, decimal point) or ``semicolon`` (``;``, decimal comma).
Delimiter = Literal["comma", "semicolon"]
_DIALECTS: Final[dict[str, tuple[str, str]]] = {"comma": (",", "."), "semicolon": (";", ",")}
#: Flattened names of per-carrier summary fields; any other field keeps its name.
CARRIER_FIELD_PREFIXES: Final = {
    "households_without_signal": "hh_without",
    "centre_p_usable": "p_usable",
}
# Tolerances tried to fit a WKT into one cell, in degrees: ~1 m, doubling up to ~1 km.
_SIMPLIFY_DEG: Final = tuple(1e-5 * 2**k for k in range(11))
_METRES_PER_DEGREE: Final = 111_320.0
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


def column_key(name: Any) -> str:
    """Return a carrier's name as a snake_case column suffix: no diacritics, lower case.

    >>> column_key("VinaPhone"), column_key("I-Telecom"), column_key("452-09")
    ('vinaphone', 'i_telecom', '452_09')
    """
    return re.sub(r"[^0-9a-z]+", "_", fold(str(name))).strip("_") or "unknown"


def flatten_carriers(table: pd.DataFrame, column: str = "carriers") -> pd.DataFrame:
    """Replace the per-carrier summaries in ``column`` with one column per carrier and field.

    The carriers are those of the data (sorted, ignoring case); a field
    ``f`` of carrier ``c`` becomes ``<prefix>_<c>``, the prefix from
    :data:`CARRIER_FIELD_PREFIXES` or the field's own name, ``c`` from
    :func:`column_key`. A row without a summary for a carrier gets nulls.
    Columns are grouped by field, then carrier.

    >>> t = pd.DataFrame({"id": ["a", "b"], "carriers": [
    ...     {"Viettel": {"households_without_signal": 98, "radio": "lte"}}, None]})
    >>> flat = flatten_carriers(t)
    >>> flat.to_dict("list")
    {'id': ['a', 'b'], 'hh_without_viettel': [98, None], 'radio_viettel': ['lte', None]}
    >>> str(flat["hh_without_viettel"].dtype)
    'Int64'
    """
    if column not in table:
        return table
    summaries = [v if isinstance(v, dict) else {} for v in table[column]]
    names = sorted({str(k) for s in summaries for k in s}, key=fold)
    seen: dict[str, None] = {}  # scalar fields, in order of appearance
    for summary in summaries:
        for value in summary.values():
            for field, item in (value if isinstance(value, dict) else {}).items():
                if not isinstance(item, dict | list):
                    seen.setdefault(str(field))
    known = [f for f in CARRIER_FIELD_PREFIXES if f in seen]
    order = [*known, *(f for f in seen if f not in CARRIER_FIELD_PREFIXES)]
    flat: dict[str, Any] = {}
    for field in order:
        prefix = CARRIER_FIELD_PREFIXES.get(field, field)
        for name in names:
            values = [json_safe((s.get(name) or {}).get(field)) for s in summaries]
            flat[f"{prefix}_{column_key(name)}"] = pd.array(values)
    at = list(table.columns).index(column)
    before, after = table.iloc[:, :at], table.iloc[:, at + 1 :]
    middle = pd.DataFrame(flat, index=table.index)
    return pd.concat([before, middle, after], axis=1)


def fitted_wkt(geometry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WKT of each geometry (6 decimals), simplified until it fits one cell.

    Returns the texts and, for each, the simplification tolerance in metres
    (0: exact). A shape no tolerance up to ~1 km fits becomes its envelope
    (tolerance ``NaN``).
    """
    texts = np.asarray(shapely.to_wkt(geometry, rounding_precision=GEOJSON_DECIMALS), dtype=object)
    tolerance = np.zeros(len(texts))
    lengths = np.array([0 if t is None else len(t) for t in texts])
    for i in np.flatnonzero(lengths > CELL_LIMIT):
        for degrees in _SIMPLIFY_DEG:
            simpler = shapely.simplify(geometry[i], degrees, preserve_topology=True)
            text = shapely.to_wkt(simpler, rounding_precision=GEOJSON_DECIMALS)
            if len(text) <= CELL_LIMIT:
                texts[i], tolerance[i] = text, round(degrees * _METRES_PER_DEGREE)
                break
        else:
            texts[i] = shapely.to_wkt(shapely.envelope(geometry[i]), rounding_precision=6)
            tolerance[i] = np.nan
    return texts, tolerance


def _fit_cell(value: Any) -> Any:
    """Text cut to :data:`CELL_LIMIT` characters (the last one an ellipsis)."""
    if isinstance(value, str) and len(value) > CELL_LIMIT:
        return value[: CELL_LIMIT - 1] + "…"
    return value


def spreadsheet_table(frame: gpd.GeoDataFrame, *, wkt: bool = False) -> pd.DataFrame:
    """``frame`` as a flat table for spreadsheets, every cell within :data:`CELL_LIMIT`.

    Per-carrier summaries flattened (:func:`flatten_carriers`); other nested
    values as JSON text; the geometry as ``lon``/``lat`` of a point inside
    it (unless the frame has them), and with ``wkt`` its WKT
    (:func:`fitted_wkt`) and ``wkt_simplified_m``. Formulas are not
    neutralised here: the writers do it.
    """
    frame = _wgs84(frame)
    geometry = frame.geometry.to_numpy()
    table = flatten_carriers(pd.DataFrame(frame.drop(columns=frame.geometry.name)))
    if "lon" not in table and "lat" not in table:
        inside = shapely.point_on_surface(geometry)
        table["lon"] = np.round(shapely.get_x(inside), GEOJSON_DECIMALS)
        table["lat"] = np.round(shapely.get_y(inside), GEOJSON_DECIMALS)
    if wkt:
        table["wkt"], table["wkt_simplified_m"] = fitted_wkt(geometry)
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = [_fit_cell(_flat(v)) for v in table[column]]
        elif pd.api.types.is_string_dtype(table[column]):
            table[column] = table[column].map(_fit_cell, na_action="ignore")
    return table.reset_index(drop=True)


def to_csv(frame: gpd.GeoDataFrame, *, delimiter: Delimiter = "comma", wkt: bool = False) -> bytes:
    """CSV in UTF-8 with a BOM (Excel then reads Vietnamese correctly).

    The table of :func:`spreadsheet_table`; text cells that start like a
    formula are neutralised (:func:`neutralise_table`). ``delimiter``:
    ``comma`` (``,`` and a decimal point) or ``semicolon`` (``;`` and a
    decimal comma, as Excel in a Vietnamese locale reads it).
    """
    separator, decimal = _DIALECTS[delimiter]
    table = neutralise_table(spreadsheet_table(frame, wkt=wkt))
    table.columns = [neutralise(str(c)) for c in table.columns]
    text: str = table.to_csv(index=False, sep=separator, decimal=decimal, lineterminator="\r\n")
    return ("\ufeff" + text).encode("utf-8")


def to_xlsx(frame: gpd.GeoDataFrame, *, sheet: str, wkt: bool = False) -> bytes:
    """Return an Excel workbook (xlsx) of one sheet, the table of :func:`spreadsheet_table`.

    Numbers stay numbers; text is never read as a formula, a link or a
    number, and text that starts like a formula is neutralised as in the
    CSV. Times are written in UTC. The header row is frozen, with filters.
    """
    table = neutralise_table(spreadsheet_table(frame, wkt=wkt))
    table.columns = [neutralise(str(c)) for c in table.columns]
    for column in table.columns:
        if isinstance(table[column].dtype, pd.DatetimeTZDtype):
            table[column] = table[column].dt.tz_convert("UTC").dt.tz_localize(None)
    buffer = io.BytesIO()
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    with pd.ExcelWriter(buffer, engine="xlsxwriter", engine_kwargs={"options": options}) as writer:
        table.to_excel(writer, sheet_name=sheet, index=False)
        sheet_ = writer.sheets[sheet]
        sheet_.freeze_panes(1, 0)
        sheet_.autofilter(0, 0, len(table), max(len(table.columns) - 1, 0))
    return buffer.getvalue()


def to_geopackage(frame: gpd.GeoDataFrame, *, layer: str) -> bytes:
    """Return a GeoPackage holding ``frame`` as ``layer`` (written with pyogrio to a temp file).

    Per-carrier summaries flattened (:func:`flatten_carriers`), other nested
    values as JSON text; the geometry as it is.
    """
    frame = _wgs84(frame)
    flat = gpd.GeoDataFrame(
        flatten_carriers(pd.DataFrame(frame)), geometry=frame.geometry.name, crs=frame.crs
    )
    for column in flat.columns:
        if column != flat.geometry.name and flat[column].dtype == object:
            flat[column] = [_flat(v) for v in flat[column]]
    with tempfile.TemporaryDirectory(prefix="lomsong-gpkg-") as tmp:
        path = Path(tmp) / f"{layer}.gpkg"
        pyogrio.write_dataframe(flat, path, layer=layer, driver="GPKG")
        return path.read_bytes()
