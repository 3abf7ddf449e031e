"""Villages (thôn/bản) and communes: read, validate, normalise.

The file contract is in DESIGN.md: Polygon/MultiPolygon features with ``id``,
``name``, ``commune``, ``district``, ``province``, ``households`` and optional
``population``, ``poverty_rate``, ``centre_lon``/``centre_lat``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata import constants as C
from geodata.errors import InvalidInputError, MissingColumnError
from geodata.readings import Rejection, count_by_reason, nothing_valid_error
from geodata.text import fold, nfc, unencodable_field

logger = logging.getLogger(__name__)

VILLAGE_REQUIRED: tuple[str, ...] = ("id", "name", "commune", "district", "province", "households")
COMMUNE_REQUIRED: tuple[str, ...] = ("id", "name", "district", "province")


def commune_id(name: str) -> str:
    """Return a URL-safe id from a commune name: ``"Thượng Nông"`` -> ``"thuong-nong"``."""
    return "-".join(fold(name).replace("-", " ").split())


def read_vector_file(source: str | Path | BinaryIO, *, what: str = "") -> gpd.GeoDataFrame:
    """Return a vector file GDAL reads (GeoPackage, Shapefile, GeoJSON...), in EPSG:4326.

    Raises
    ------
    InvalidInputError
        When GDAL cannot read it, or it declares no CRS; the message names
        the path (or ``what``, for a stream).
    """
    name = source if isinstance(source, str | Path) else what or "the file"
    try:
        frame = gpd.read_file(source)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise InvalidInputError(f"{name}: not a readable vector file ({exc})") from exc
    if frame.crs is None:
        raise InvalidInputError(f"{name}: the file declares no CRS")
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
    """Return the valid villages of a file (GeoJSON, GeoPackage, Shapefile), in EPSG:4326.

    A thin wrapper of :func:`geodata.formats.read_villages`, the one village
    reader: refused features are left out and logged (count per reason); use
    that reader to see them. Index from 0.

    Raises
    ------
    InvalidInputError
        When the file is unreadable, or no valid village is left.

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
    from geodata.formats.village_features import read_villages as read_village_file

    result = read_village_file(path)
    if result.valid.empty:
        raise nothing_valid_error("villages", path, result.rejected)
    if result.rejected:
        logger.warning(
            "%s: %d village features refused: %s",
            path,
            len(result.rejected),
            result.rejected_by_reason,
        )
    return result.valid.reset_index(drop=True)


def read_communes(path: str | Path) -> gpd.GeoDataFrame:
    """Read commune polygons (``id``, ``name``, ``district``, ``province``)."""
    frame = read_vector_file(path)
    missing = [c for c in COMMUNE_REQUIRED if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"communes: missing required field(s): {', '.join(missing)}")
    _nfc_text(frame, ("name", "district", "province"))
    frame["id"] = frame["id"].astype(str)
    return frame


# --- GeoJSON features, one by one (the admin's village import) --------------
#: Longest village or commune id: ids are parts of URLs (``/maps/villages/{id}``).
MAX_ID_CHARS = 200
_TEXT_FIELDS: tuple[str, ...] = ("name", "commune", "district", "province")
_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})


@dataclass
class ValidatedVillages:
    """Villages that passed :func:`validate_village_features`, and the refused features.

    ``valid`` is :func:`normalise_villages` output (EPSG:4326) indexed by each
    feature's position in the collection.
    """

    valid: gpd.GeoDataFrame
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        """Count of rejections per ``field: reason``."""
        return count_by_reason(self.rejected)


class _FeatureError(ValueError):
    """One feature's fault: the field and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.field = name
        self.reason = reason


def _identifier(value: Any, name: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _FeatureError(name, "required field is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _FeatureError(name, "not a string or an integer")
    text = nfc(str(value).strip())
    if "/" in text or len(text) > MAX_ID_CHARS:
        raise _FeatureError(name, f"must be at most {MAX_ID_CHARS} characters, without '/'")
    return text


def _number(value: Any, name: str, *, low: float, high: float, integer: bool = False) -> float:
    if isinstance(value, bool):
        raise _FeatureError(name, "not a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise _FeatureError(name, "not a number") from None
    if not math.isfinite(number):
        raise _FeatureError(name, "not a finite number")
    if integer and not number.is_integer():
        raise _FeatureError(name, "not an integer")
    if not low <= number <= high:
        raise _FeatureError(name, f"outside {low:g}..{high:g}")
    return number


def _polygon(value: Any) -> shapely.Geometry:
    if value is None:
        raise _FeatureError("geometry", "required field is missing")
    try:
        geometry = shapely.from_geojson(json.dumps(value))
    except (shapely.errors.GEOSException, TypeError, ValueError):
        raise _FeatureError("geometry", "not a valid GeoJSON geometry") from None
    if geometry.geom_type not in _POLYGONAL:
        raise _FeatureError("geometry", "not a Polygon or MultiPolygon")
    if geometry.is_empty:
        raise _FeatureError("geometry", "empty")
    west, south, east, north = geometry.bounds
    inside = C.LON_MIN <= west <= east <= C.LON_MAX and C.LAT_MIN <= south <= north <= C.LAT_MAX
    if not inside:  # also false for NaN coordinates
        raise _FeatureError(
            "geometry", "coordinates outside lon -180..180, lat -90..90 (GeoJSON is EPSG:4326)"
        )
    if not geometry.is_valid:
        # Self-touching rings are common in digitised boundaries: repair, keep the area.
        parts = shapely.get_parts(shapely.make_valid(geometry))
        geometry = shapely.union_all([p for p in parts if p.geom_type in _POLYGONAL])
        if geometry.is_empty or geometry.geom_type not in _POLYGONAL:
            raise _FeatureError("geometry", "not a valid polygon (no area left once repaired)")
    return geometry


def _village_row(item: Any) -> dict[str, Any]:
    """One GeoJSON Feature as a village row (with ``geometry``), or :class:`_FeatureError`."""
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise _FeatureError("feature", "not a GeoJSON Feature object")
    properties = item.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise _FeatureError("properties", "not a JSON object")
    if (fault := unencodable_field(item)) is not None:  # a lone surrogate in a name or id
        raise _FeatureError(*fault)
    row: dict[str, Any] = {
        "id": _identifier(properties.get("id", item.get("id")), "id", required=True)
    }
    for name in _TEXT_FIELDS:
        value = properties.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise _FeatureError(name, "required field is missing")
        if not isinstance(value, str):
            raise _FeatureError(name, "not a string")
        row[name] = nfc(" ".join(value.split()))
    row["commune_id"] = _identifier(
        properties.get("commune_id"), "commune_id", required=False
    ) or commune_id(row["commune"])
    if properties.get("households") is None:
        raise _FeatureError("households", "required field is missing")
    row["households"] = int(
        _number(properties["households"], "households", low=0, high=1e7, integer=True)
    )
    optional = {"population": (0.0, 1e8), "poverty_rate": (0.0, 1.0)}
    for name, (low, high) in optional.items():
        value = properties.get(name)
        row[name] = np.nan if value is None else _number(value, name, low=low, high=high)
    lon, lat = properties.get("centre_lon"), properties.get("centre_lat")
    if (lon is None) != (lat is None):
        raise _FeatureError("centre_lon" if lon is None else "centre_lat", "give both or neither")
    row["centre_lon"] = np.nan if lon is None else _number(lon, "centre_lon", low=-180, high=180)
    row["centre_lat"] = np.nan if lat is None else _number(lat, "centre_lat", low=-90, high=90)
    row["geometry"] = _polygon(item.get("geometry"))
    return row


def validate_village_features(features: Iterable[tuple[int, Any]]) -> ValidatedVillages:
    """Split GeoJSON features into valid villages and per-feature rejections.

    Each feature must be a Polygon or MultiPolygon in lon/lat (EPSG:4326,
    RFC 7946) with the properties of DESIGN.md: ``id`` (or the feature's own
    ``id``), ``name``, ``commune``, ``district``, ``province``, ``households``;
    optional ``commune_id`` (derived from ``commune`` when absent),
    ``population``, ``poverty_rate`` (0-1), ``centre_lon``/``centre_lat``.
    Text is stored in NFC; an invalid polygon is repaired when it keeps an
    area. A feature repeating an earlier feature's id is refused.

    Parameters
    ----------
    features : iterable of (int, object)
        ``(position, decoded feature)`` pairs, as
        :func:`geodata.formats.jsonstream.iter_json_list` yields them.

    Returns
    -------
    ValidatedVillages

    Examples
    --------
    >>> square = {"type": "Polygon", "coordinates": [[[105.49, 22.56], [105.5, 22.56],
    ...     [105.5, 22.57], [105.49, 22.57], [105.49, 22.56]]]}
    >>> props = {"id": "ban-giong", "name": "Bản Giòng", "commune": "Thượng Nông",
    ...     "district": "Na Hang", "province": "Tuyên Quang", "households": 98}
    >>> result = validate_village_features([
    ...     (0, {"type": "Feature", "properties": props, "geometry": square}),
    ...     (1, {"type": "Feature", "properties": {**props, "households": -1}, "geometry": square}),
    ... ])
    >>> result.valid[["id", "commune_id"]].values.tolist()
    [['ban-giong', 'thuong-nong']]
    >>> result.rejected[0].as_dict()
    {'index': 1, 'field': 'households', 'reason': 'households: outside 0..1e+07'}
    """
    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for position, item in features:
        try:
            row = _village_row(item)
            if row["id"] in seen:
                raise _FeatureError("id", "the same id as an earlier feature")
        except _FeatureError as fault:
            rejected.append(Rejection(position, fault.field, fault.reason))
            continue
        seen.add(row["id"])
        rows.append(row)
        positions.append(position)
    columns = [
        "id",
        *_TEXT_FIELDS,
        "commune_id",
        "households",
        "population",
        "poverty_rate",
        "centre_lon",
        "centre_lat",
    ]
    frame = gpd.GeoDataFrame(
        pd.DataFrame(
            rows, columns=[*columns, "geometry"], index=pd.Index(positions, dtype="int64")
        ),
        geometry="geometry",
        crs=C.CRS_WGS84,
    )
    return ValidatedVillages(valid=normalise_villages(frame), rejected=rejected)
