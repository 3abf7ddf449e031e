"""Villages (thôn/bản) and communes: read, validate, normalise.

The file contract is in DESIGN.md: Polygon/MultiPolygon features with ``id``,
``name``, ``commune``, ``province``, ``households`` and optional ``district``
(districts were abolished on 1 July 2025), ``population``, ``poverty_rate``,
``centre_lon``/``centre_lat``. Village points become Voronoi cells clipped to
their commune (:func:`voronoi_villages`), marked ``boundary = "voronoi"``.
Numbers may be written the Vietnamese way (``"1.234"`` = 1234, ``"1,5"`` =
1.5; :func:`parse_number`); a field map (:class:`FieldMap`) renames a file's
own columns (GADM's ``NAME_3``...) to these.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
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

VILLAGE_REQUIRED: tuple[str, ...] = ("id", "name", "commune", "province", "households")
COMMUNE_REQUIRED: tuple[str, ...] = ("name", "province")
#: How a village's outline was obtained: drawn, or a Voronoi cell around its point.
BOUNDARY_POLYGON = "polygon"
BOUNDARY_VORONOI = "voronoi"


def commune_id(name: str) -> str:
    """Return a URL-safe id from a commune name: ``"Thượng Nông"`` -> ``"thuong-nong"``."""
    return "-".join(fold(name).replace("-", " ").split())


#: Tables (not vector files) read with pandas; their points come from lon/lat columns.
TABLE_SUFFIXES = frozenset({".csv", ".txt", ".tsv", ".xlsx", ".xls", ".ods"})
_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "kinh_do", "kinhdo")
_LAT_NAMES = ("lat", "latitude", "y", "vi_do", "vido")
#: Column a table's row carries when its lon/lat could not be read (the reason).
POINT_ERROR = "__point_error"


def read_vector_file(
    source: str | Path | BinaryIO,
    *,
    what: str = "",
    fields: FieldMap | None = None,
    table_crs: str = C.CRS_WGS84,
) -> gpd.GeoDataFrame:
    """Return a vector file GDAL reads (GeoPackage, Shapefile, GeoJSON...), in EPSG:4326.

    A CSV or spreadsheet (by suffix) is a table of points instead: its
    ``lon``/``lat`` columns (or those ``fields`` names; ``x``/``y``,
    ``longitude``/``latitude`` are found too) in ``table_crs``, read as
    numbers in Vietnamese or plain notation; a row whose point cannot be
    read has no geometry and its reason in :data:`POINT_ERROR`. The file's
    own CRS is kept in ``frame.attrs["source_crs"]``.

    Raises
    ------
    InvalidInputError
        When GDAL cannot read it, or it declares no CRS; the message names
        the path (or ``what``, for a stream).
    """
    name = source if isinstance(source, str | Path) else what or "the file"
    if isinstance(source, str | Path) and Path(source).suffix.lower() in TABLE_SUFFIXES:
        return _read_point_table(Path(source), fields or FieldMap(), table_crs)
    try:
        frame = gpd.read_file(source)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise InvalidInputError(f"{name}: not a readable vector file ({exc})") from exc
    if frame.crs is None:
        raise InvalidInputError(f"{name}: the file declares no CRS")
    source_crs = frame.crs.to_string()
    out = frame.to_crs(C.CRS_WGS84)
    out.attrs["source_crs"] = source_crs
    return out


def _read_point_table(path: Path, fields: FieldMap, crs: str) -> gpd.GeoDataFrame:
    try:
        if path.suffix.lower() in {".xlsx", ".xls", ".ods"}:
            # python-calamine, the readings' spreadsheet reader too (geodata/formats/xlsx.py).
            table = pd.read_excel(path, dtype=str, engine="calamine").fillna("")
        else:
            # sep=None: the python engine sniffs ',', ';' (Vietnamese-locale Excel) or tab.
            table = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                sep=None,
                engine="python",
                encoding="utf-8-sig",
            )
    except ImportError as exc:
        raise InvalidInputError(
            f"{path}: reading a spreadsheet needs python-calamine ({exc}); or save it as CSV UTF-8"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f'{path}: not UTF-8 text (byte {exc.start}); save it as "CSV UTF-8"'
        ) from exc
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidInputError(f"{path}: not a readable table ({exc})") from exc
    lowered = {str(c).strip().lower(): c for c in table.columns}

    def column(key: str, names: tuple[str, ...]) -> str:
        if key in fields.fields:
            if fields.fields[key] not in table.columns:
                raise MissingColumnError(f"{path}: no column {fields.fields[key]!r} ({key})")
            return fields.fields[key]
        for candidate in names:
            if candidate in lowered:
                return str(lowered[candidate])
        raise MissingColumnError(
            f"{path}: a table of points needs a {key} column ({', '.join(names)}),"
            f" or --{key}-field naming it; columns: {', '.join(map(str, table.columns[:12]))}"
        )

    lon_column, lat_column = column("lon", _LON_NAMES), column("lat", _LAT_NAMES)
    points: list[shapely.Geometry | None] = []
    errors: list[str | None] = []
    for x, y in zip(table[lon_column], table[lat_column], strict=True):
        try:
            lon, lat = parse_number(x), parse_number(y)
        except ValueError as exc:
            points.append(None)
            errors.append(f"{lon_column}/{lat_column}: {exc}")
            continue
        points.append(shapely.Point(lon, lat))
        errors.append(None)
    table[POINT_ERROR] = errors
    frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(points, crs=crs))
    out = frame.to_crs(C.CRS_WGS84)
    out.attrs["source_crs"] = crs
    return out


def _nfc_text(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """NFC text in place; missing values (``None``, NaN) stay ``None``."""
    for column in columns:
        if column in frame.columns:
            frame[column] = [
                None if v is None or (isinstance(v, float) and math.isnan(v)) else nfc(str(v))
                for v in frame[column]
            ]


def normalise_villages(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Validate a villages table and fill the derived columns.

    Adds ``commune_id`` (when absent), ``district`` (``None`` when absent),
    ``boundary`` (``"polygon"`` when absent), ``population`` (NaN when absent),
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
    if "district" not in out.columns:
        out["district"] = None
    _nfc_text(out, ("name", "commune", "district", "province"))
    if "boundary" not in out.columns:
        out["boundary"] = BOUNDARY_POLYGON
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


def read_communes(path: str | Path, *, fields: FieldMap | None = None) -> gpd.GeoDataFrame:
    """Read the valid communes of a vector file, in EPSG:4326 (refused ones are logged).

    See :func:`read_commune_file` for the columns and the refusals.
    """
    result = read_commune_file(path, fields=fields)
    if result.valid.empty:
        raise nothing_valid_error("communes", path, result.rejected)
    if result.rejected:
        logger.warning(
            "%s: %d communes refused: %s", path, len(result.rejected), result.rejected_by_reason
        )
    return result.valid.reset_index(drop=True)


# --- numbers as Vietnamese files write them -----------------------------------
_PLAIN = re.compile(r"[+-]?\d+(\.\d+)?")
_VN_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?")
_VN_DECIMAL = re.compile(r"[+-]?\d+,\d+")
_EN_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?")
_AMBIGUOUS = re.compile(r"[+-]?[1-9]\d{0,2},\d{3}")


def parse_number(value: Any) -> float:
    """Read a number from a cell, in Vietnamese notation where it is written so.

    Vietnamese groups thousands with ``.`` and writes decimals with ``,``:
    ``"1.234"`` is 1234 and ``"1.234,5"`` is 1234.5. A dot followed by other
    than groups of three digits is a decimal point (``"12.5"``), and
    ``"1,234.5"`` is read as English. ``"1,234"`` alone could be either
    (1234 in English, 1.234 in Vietnamese) and is refused rather than guessed.

    Raises
    ------
    ValueError
        With the value quoted and why it was not read.

    Examples
    --------
    >>> [parse_number(v) for v in ("1.234", "1.234,5", "12,5", "12.5", "1.234.567", 98)]
    [1234.0, 1234.5, 12.5, 12.5, 1234567.0, 98.0]
    >>> parse_number("1,234")
    Traceback (most recent call last):
    ...
    ValueError: '1,234' is ambiguous: 1234 (English) or 1.234 (Vietnamese); write 1234 or 1,2340
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if len(text) > 40:
            raise ValueError(f"{text[:40]!r}... is not a number")
        if _PLAIN.fullmatch(text) and not _VN_THOUSANDS.fullmatch(text):
            number = float(text)
        elif _VN_THOUSANDS.fullmatch(text):
            number = float(text.replace(".", "").replace(",", "."))
        elif _AMBIGUOUS.fullmatch(text):
            raise ValueError(
                f"{text!r} is ambiguous: {text.replace(',', '')} (English) or"
                f" {text.replace(',', '.')} (Vietnamese); write {text.replace(',', '')}"
                f" or {text}0"
            )
        elif _VN_DECIMAL.fullmatch(text):
            number = float(text.replace(",", "."))
        elif _EN_THOUSANDS.fullmatch(text):
            number = float(text.replace(",", ""))
        else:
            raise ValueError(f"{text!r} is not a number (1234, 1.234 or 1.234,5)")
    else:
        raise ValueError(f"a {type(value).__name__} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


# --- field maps: a file's own column names to lomsong's ------------------------
#: The fields a map may name, for villages and for communes.
MAPPABLE_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "commune",
    "commune_id",
    "district",
    "province",
    "households",
    "population",
    "poverty_rate",
    "unit_type",
    "aliases",
    "lon",
    "lat",
)


def _split_joined(text: str) -> str:
    """GADM names lost their spaces ("ThượngNông"): a small letter then a capital marks one."""
    text = nfc(text)
    return "".join(
        f" {c}" if i and c.isupper() and text[i - 1].islower() else c for i, c in enumerate(text)
    )


@dataclass(frozen=True)
class FieldMap:
    """Which column of a file holds each of lomsong's fields.

    ``fields`` maps lomsong's name (``name``) to the file's (``NAME_3``);
    fields not named are looked for under their own name. ``split_joined``
    restores the spaces GADM strips from names (``ThượngNông`` -> ``Thượng Nông``).

    Examples
    --------
    >>> FieldMap.parse({"name": "TEN_XA", "households": "SO_HO"}).fields["name"]
    'TEN_XA'
    >>> FieldMap.preset("gadm").restore("ThượngNông")
    'Thượng Nông'
    """

    fields: dict[str, str] = field(default_factory=dict)
    split_joined: bool = False

    @classmethod
    def parse(cls, mapping: dict[str, Any]) -> FieldMap:
        """Build a map from ``{lomsong field: file column}`` (plus ``"split_joined": true``).

        Raises
        ------
        InvalidInputError
            A field lomsong does not know, or a column that is not a string.
        """
        mapping = dict(mapping)
        split = mapping.pop("split_joined", False)
        unknown = sorted(set(mapping) - set(MAPPABLE_FIELDS))
        if unknown:
            raise InvalidInputError(
                f"field map: unknown field(s) {', '.join(unknown)};"
                f" known: {', '.join(MAPPABLE_FIELDS)}"
            )
        bad = [k for k, v in mapping.items() if not isinstance(v, str) or not v]
        if bad or not isinstance(split, bool):
            raise InvalidInputError(
                f"field map: each field must name a column (a string): {', '.join(bad)}"
            )
        return cls(fields=dict(mapping), split_joined=split)

    @classmethod
    def preset(cls, name: str) -> FieldMap:
        """Return a named map: ``"gadm"`` for GADM 4.1 level-3 files (communes).

        GADM's ``GID_3`` is not used as the id: ids are URL parts, and
        ``/maps/communes/thuong-nong`` reads better than ``VNM.60.4.11_1``.
        """
        if name != "gadm":
            raise InvalidInputError(f"field map: no preset {name!r} (known: gadm)")
        return cls(
            fields={
                "name": "NAME_3",
                "district": "NAME_2",
                "province": "NAME_1",
                "unit_type": "TYPE_3",
            },
            split_joined=True,
        )

    @classmethod
    def read(cls, path: str | Path) -> FieldMap:
        """Load a map from a JSON file ``{"name": "TEN_XA", ...}`` or a preset's name (``gadm``)."""
        if str(path) == "gadm":
            return cls.preset("gadm")
        try:
            mapping = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"field map {path}: not a readable JSON file ({exc})") from exc
        if not isinstance(mapping, dict):
            raise InvalidInputError(f"field map {path}: not a JSON object")
        return cls.parse(mapping)

    def merged(self, overrides: dict[str, str | None]) -> FieldMap:
        """Return a copy with the given fields replaced (``None``: keep this map's)."""
        given = {k: v for k, v in overrides.items() if v}
        return FieldMap({**self.fields, **given}, self.split_joined) if given else self

    def restore(self, text: str) -> str:
        """``text`` with GADM's lost spaces restored when ``split_joined``."""
        return _split_joined(text) if self.split_joined else text

    def apply(self, properties: dict[str, Any]) -> dict[str, Any]:
        """One feature's properties under lomsong's names (the file's own names kept too)."""
        out = dict(properties)
        for ours, theirs in self.fields.items():
            out[ours] = properties.get(theirs)
        if self.split_joined:
            for name in ("name", "commune", "district", "province"):
                if isinstance(out.get(name), str):
                    out[name] = self.restore(out[name])
        return out


# --- communes ------------------------------------------------------------------
#: Unit types by their folded, space-free spelling (GADM writes "Thịtrấn").
_UNIT_TYPES: dict[str, str] = {
    "xa": "xã",
    "phuong": "phường",
    "thitran": "thị trấn",
    "dackhu": "đặc khu",
}
_ALIAS_SPLIT = re.compile(r"[;|]")


def unit_type(value: Any) -> str | None:
    """Return a commune's unit type as the data gives it, in lower case NFC; ``None`` when absent.

    >>> unit_type("Xã"), unit_type("Thịtrấn"), unit_type("PHƯỜNG"), unit_type(None)
    ('xã', 'thị trấn', 'phường', None)
    """
    if not isinstance(value, str) or not value.strip() or value.strip().upper() == "NA":
        return None
    text = nfc(" ".join(value.split())).lower()
    return _UNIT_TYPES.get(fold(text).replace(" ", ""), text)


def aliases(value: Any) -> list[str]:
    """Former names: a JSON list, or text separated by ``;`` or ``|``; NFC, unique, in order.

    >>> aliases("Thượng Giáp; Xuân Tân"), aliases(["Thượng Giáp"]), aliases(None)
    (['Thượng Giáp', 'Xuân Tân'], ['Thượng Giáp'], [])
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = _ALIAS_SPLIT.split(text.strip("[]"))
        else:
            value = _ALIAS_SPLIT.split(text)
    names = [nfc(" ".join(str(v).split())) for v in np.ravel(np.asarray(value, dtype=object))]
    return list(dict.fromkeys(n for n in names if n))


@dataclass
class ValidatedCommunes:
    """Communes that passed :func:`read_commune_file`, and the refused features."""

    valid: gpd.GeoDataFrame
    rejected: list[Rejection] = field(default_factory=list)
    crs: str = C.CRS_WGS84

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        """Count of rejections per ``field: reason``."""
        return count_by_reason(self.rejected)


def read_commune_file(
    source: str | Path | BinaryIO, *, fields: FieldMap | None = None
) -> ValidatedCommunes:
    """Commune polygons of any vector file GDAL reads, in any declared CRS.

    Columns (after ``fields``): ``name`` and ``province`` required; ``id``
    (default: the name as a slug, :func:`commune_id`, with the district's
    appended when two communes share a name), ``district`` (optional
    since the 2025 reform), ``unit_type`` (xã, phường, thị trấn: as the data
    says), ``aliases`` (former names of merged communes). A feature without a
    name or polygon, or repeating an id, is refused on its own.

    Returns
    -------
    ValidatedCommunes
        ``valid`` has ``id, name, district, province, unit_type, aliases``
        (a list) and the geometry, in EPSG:4326; ``crs`` the file's own CRS.
    """
    fields = fields or FieldMap()
    frame = read_vector_file(source, what="communes")
    crs = str(getattr(frame, "attrs", {}).get("source_crs", C.CRS_WGS84))
    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    records = frame.drop(columns="geometry").to_dict("records")
    for position, (raw, geometry) in enumerate(
        zip(records, frame.geometry.values, strict=True), start=1
    ):
        props = fields.apply({k: (None if _missing(v) else v) for k, v in raw.items()})
        try:
            row = _commune_row(props, geometry)
            if row["id"] in seen and props.get("id") is None:
                # Two communes of one name (in two districts or provinces): a derived
                # id takes the district's (else the province's) slug too.
                row["id"] = f"{row['id']}-{commune_id(row['district'] or row['province'])}"
            if row["id"] in seen:
                raise _FeatureError("id", f"{row['id']!r}: the same id as an earlier commune")
        except _FeatureError as fault:
            rejected.append(Rejection(position, fault.field, fault.reason))
            continue
        seen.add(row["id"])
        rows.append(row)
        positions.append(position)
    valid = gpd.GeoDataFrame(
        pd.DataFrame(
            rows,
            columns=["id", "name", "district", "province", "unit_type", "aliases", "geometry"],
            index=pd.Index(positions, dtype="int64"),
        ),
        geometry="geometry",
        crs=C.CRS_WGS84,
    )
    return ValidatedCommunes(valid, rejected, crs)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(props: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = props.get(name)
    if value is None or (isinstance(value, str) and (not value.strip() or value == "NA")):
        if required:
            raise _FeatureError(name, "required field is missing")
        return None
    if not isinstance(value, str | int):
        raise _FeatureError(name, "not a string")
    return nfc(" ".join(str(value).split()))


def _commune_row(props: dict[str, Any], geometry: Any) -> dict[str, Any]:
    name = _text(props, "name", required=True)
    assert name is not None
    given_id = _identifier(props.get("id"), "id", required=False)
    if geometry is None or geometry.is_empty:
        raise _FeatureError("geometry", "required field is missing")
    if geometry.geom_type not in _POLYGONAL:
        raise _FeatureError("geometry", f"a {geometry.geom_type}, not a Polygon or MultiPolygon")
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
        parts = [p for p in shapely.get_parts(geometry) if p.geom_type in _POLYGONAL]
        geometry = shapely.union_all(parts)
        if geometry.is_empty:
            raise _FeatureError("geometry", "not a valid polygon (no area left once repaired)")
    return {
        "id": given_id or commune_id(name),
        "name": name,
        "district": _text(props, "district", required=False),
        "province": _text(props, "province", required=True),
        "unit_type": unit_type(props.get("unit_type")),
        "aliases": aliases(props.get("aliases")),
        "geometry": geometry,
    }


# --- villages from points: Voronoi cells clipped to their commune -----------------
# Past the commune's edge the cells reach this far (m) before the exact clip in degrees.
_VORONOI_MARGIN_M = 500.0


def voronoi_cells(
    points: Sequence[shapely.Point], area: shapely.Geometry
) -> list[shapely.Geometry]:
    """Return the Voronoi cell of each point, clipped to ``area`` (metric coordinates).

    One cell per point, in the points' order; a single point gets the whole area.

    Examples
    --------
    >>> cells = voronoi_cells([shapely.Point(1, 1), shapely.Point(3, 1)], shapely.box(0, 0, 4, 2))
    >>> [round(c.area, 6) for c in cells], [c.bounds for c in cells]
    ([4.0, 4.0], [(0.0, 0.0, 2.0, 2.0), (2.0, 0.0, 4.0, 2.0)])
    """
    if len(points) == 1:
        return [area]
    diagram = shapely.voronoi_polygons(
        shapely.MultiPoint(list(points)), extend_to=area, ordered=True
    )
    cells = shapely.get_parts(diagram)
    return [shapely.intersection(cell, area) for cell in cells]


def voronoi_villages(
    points: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    polygons: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, list[tuple[Any, str, str]]]:
    """Village points as Voronoi cells clipped to their commune (DESIGN.md), marked approximate.

    Each commune's points split its polygon (less any drawn village polygons
    of that commune, ``polygons``) into cells, computed in the local UTM zone.
    The point stays the village centre; ``boundary`` becomes ``"voronoi"``.

    Returns
    -------
    (GeoDataFrame, list)
        The villages with cells as geometry, and ``(index, field, reason)``
        of the points refused: outside their commune, or at the same place
        as an earlier point of it.
    """
    from geodata.raster import utm_crs_for

    west, south, east, north = communes.total_bounds
    metric = utm_crs_for([west, east], [south, north])
    shapes = communes.set_index("id").geometry.to_crs(metric)
    drawn = (
        polygons.to_crs(metric).groupby("commune_id").geometry.agg(shapely.union_all)
        if polygons is not None and len(polygons)
        else pd.Series(dtype=object)
    )
    at = points.to_crs(metric).geometry
    outlines = communes.set_index("id").geometry
    drawn_wgs84 = (
        polygons.groupby("commune_id").geometry.agg(shapely.union_all)
        if polygons is not None and len(polygons)
        else pd.Series(dtype=object)
    )
    out = points.copy()
    out["centre_lon"], out["centre_lat"] = points.geometry.x, points.geometry.y
    geometry = pd.Series([None] * len(points), index=points.index, dtype=object)
    refused: list[tuple[Any, str, str]] = []
    for commune, group in points.groupby("commune_id", sort=False):
        area = shapes.get(commune)
        if area is None:
            reason = f"{commune!r} is not among the communes"
            refused += [(i, "commune", reason) for i in group.index]
            continue
        outline = outlines[commune]
        if commune in drawn.index:
            area = area.difference(drawn[commune])
            outline = outline.difference(drawn_wgs84[commune])
        keep: list[Any] = []
        seen: set[tuple[float, float]] = set()
        for index in group.index:
            point = at[index]
            if not area.buffer(1.0).contains(point):
                refused.append((index, "geometry", f"the point lies outside commune {commune!r}"))
            elif (round(point.x, 1), round(point.y, 1)) in seen:
                refused.append((index, "geometry", "the same place as an earlier village"))
            else:
                seen.add((round(point.x, 1), round(point.y, 1)))
                keep.append(index)
        if keep:
            # Cells are drawn in metres (a margin past the commune), then clipped to
            # the commune's own outline in degrees, so together they tile it exactly.
            cells = voronoi_cells([at[i] for i in keep], area.buffer(_VORONOI_MARGIN_M))
            back = gpd.GeoSeries(cells, crs=metric).to_crs(C.CRS_WGS84).values
            geometry[keep] = [shapely.intersection(cell, outline) for cell in back]
    out = out.set_geometry(gpd.GeoSeries(geometry, crs=C.CRS_WGS84))
    out["boundary"] = BOUNDARY_VORONOI
    gone = {i for i, _, _ in refused}
    return out.loc[[i not in gone for i in out.index]], refused


# --- inputs that do not meet ------------------------------------------------------
def check_overlap(
    what: str,
    bounds: tuple[float, float, float, float],
    reference: tuple[float, float, float, float],
    *,
    reference_what: str = "the communes",
    crs: str | None = None,
) -> None:
    """Refuse an input whose extent (EPSG:4326) misses the reference's, naming the likely cause.

    Raises
    ------
    InvalidInputError
        Saying where the input lies, where the reference lies, and whether
        swapped lon/lat or a wrong CRS would explain it.

    Examples
    --------
    >>> try:
    ...     check_overlap("villages", (22.5, 105.4, 22.6, 105.5), (105.3, 22.4, 105.6, 22.7))
    ... except InvalidInputError as exc:
    ...     print(str(exc).split("; ")[1][:53])
    lon and lat look swapped (x is latitude, y longitude)
    """
    west, south, east, north = bounds
    rw, rs, re_, rn = reference
    if west <= re_ and east >= rw and south <= rn and north >= rs:
        return
    where = (
        f"{what}: the features (lon {west:.4g}..{east:.4g}, lat {south:.4g}..{north:.4g})"
        f" do not overlap {reference_what} (lon {rw:.4g}..{re_:.4g}, lat {rs:.4g}..{rn:.4g})"
    )
    if south <= re_ and north >= rw and west <= rn and east >= rs:
        cause = (
            "lon and lat look swapped (x is latitude, y longitude):"
            " swap the columns or fix the file's axis order"
        )
    elif max(abs(west), abs(east)) > 180 or max(abs(south), abs(north)) > 90:
        cause = "the coordinates are not degrees: the file's CRS is missing or wrong"
    else:
        declared = f" (it declares {crs})" if crs else ""
        cause = (
            f"a wrong CRS{declared}, or a file of another region: check the CRS the file"
            " declares, and that it covers the same place"
        )
    raise InvalidInputError(f"{where}; {cause}")


# --- GeoJSON features, one by one (the admin's village import) --------------
#: Longest village or commune id: ids are parts of URLs (``/maps/villages/{id}``).
MAX_ID_CHARS = 200
_TEXT_FIELDS: tuple[str, ...] = ("name", "commune", "district", "province")  # district optional
_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})


@dataclass
class ValidatedVillages:
    """Villages that passed :func:`validate_village_features`, and the refused features.

    ``valid`` is :func:`normalise_villages` output (EPSG:4326) indexed by each
    feature's position in the collection, counting from 1 (as rejections are).
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
    try:
        number = parse_number(value)
    except (ValueError, OverflowError) as exc:
        raise _FeatureError(name, str(exc)) from None
    if integer and not number.is_integer():
        raise _FeatureError(name, f"{value!r} is not an integer")
    if not low <= number <= high:
        raise _FeatureError(name, f"outside {low:g}..{high:g}")
    return number


def _polygon(value: Any, *, points: bool = False) -> shapely.Geometry:
    """Return a valid (Multi)Polygon from GeoJSON; a Point too when ``points``."""
    if value is None:
        raise _FeatureError("geometry", "required field is missing")
    try:
        geometry = shapely.from_geojson(json.dumps(value))
    except (shapely.errors.GEOSException, TypeError, ValueError):
        raise _FeatureError("geometry", "not a valid GeoJSON geometry") from None
    if geometry.geom_type not in _POLYGONAL and not (points and geometry.geom_type == "Point"):
        kinds = "a Point, Polygon or MultiPolygon" if points else "a Polygon or MultiPolygon"
        raise _FeatureError("geometry", f"not {kinds}")
    if geometry.is_empty:
        raise _FeatureError("geometry", "empty")
    west, south, east, north = geometry.bounds
    inside = C.LON_MIN <= west <= east <= C.LON_MAX and C.LAT_MIN <= south <= north <= C.LAT_MAX
    if not inside:  # also false for NaN coordinates
        raise _FeatureError(
            "geometry", "coordinates outside lon -180..180, lat -90..90 (GeoJSON is EPSG:4326)"
        )
    if geometry.geom_type == "Point":
        return geometry
    if not geometry.is_valid:
        # Self-touching rings are common in digitised boundaries: repair, keep the area.
        parts = shapely.get_parts(shapely.make_valid(geometry))
        geometry = shapely.union_all([p for p in parts if p.geom_type in _POLYGONAL])
        if geometry.is_empty or geometry.geom_type not in _POLYGONAL:
            raise _FeatureError("geometry", "not a valid polygon (no area left once repaired)")
    return geometry


def _village_row(
    item: Any, *, fields: FieldMap | None = None, placed: bool = False
) -> dict[str, Any]:
    """One GeoJSON Feature as a village row (with ``geometry``), or :class:`_FeatureError`.

    With ``placed`` (communes are given), ``commune`` and ``province`` may be
    absent (the commune is found by place) and the geometry may be a Point.
    """
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise _FeatureError("feature", "not a GeoJSON Feature object")
    properties = item.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise _FeatureError("properties", "not a JSON object")
    if (fault := unencodable_field(item)) is not None:  # a lone surrogate in a name or id
        raise _FeatureError(*fault)
    if fields is not None:
        properties = fields.apply(properties)
    row: dict[str, Any] = {
        "id": _identifier(properties.get("id", item.get("id")), "id", required=True)
    }
    for name in _TEXT_FIELDS:
        value = properties.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name == "district" or (placed and name != "name"):
                row[name] = None
                continue
            raise _FeatureError(name, "required field is missing")
        if not isinstance(value, str):
            raise _FeatureError(name, "not a string")
        row[name] = nfc(" ".join(value.split()))
    given_commune_id = _identifier(properties.get("commune_id"), "commune_id", required=False)
    row["commune_id"] = given_commune_id or (commune_id(row["commune"]) if row["commune"] else None)
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
    if properties.get(POINT_ERROR):
        raise _FeatureError("geometry", str(properties[POINT_ERROR]))
    row["geometry"] = _polygon(item.get("geometry"), points=True)
    row["boundary"] = BOUNDARY_VORONOI if row["geometry"].geom_type == "Point" else BOUNDARY_POLYGON
    return row


def _commune_lookup(communes: gpd.GeoDataFrame) -> dict[str, str]:
    """Commune ids by folded id, name and former name (a name two communes share is left out)."""
    found: dict[str, set[str]] = {}
    for row in communes.itertuples():
        names = [str(row.id), str(row.name), *(getattr(row, "aliases", None) or [])]
        if getattr(row, "unit_type", None):
            names.append(f"{row.unit_type} {row.name}")
        for name in names:
            found.setdefault(fold(name), set()).add(str(row.id))
            found.setdefault(commune_id(name), set()).add(str(row.id))
    return {key: next(iter(ids)) for key, ids in found.items() if len(ids) == 1}


def _place_in_communes(
    frame: gpd.GeoDataFrame, communes: gpd.GeoDataFrame, *, new_communes: bool = False
) -> tuple[gpd.GeoDataFrame, list[tuple[Any, str, str]]]:
    """Give each village its commune of ``communes``: by name or former name, else by place.

    With ``new_communes``, a drawn village naming a commune not among them
    keeps it (the store adds the commune); points must lie in one.
    """
    lookup = _commune_lookup(communes)
    by_id = communes.set_index("id")
    ids: list[str | None] = []
    for given_id, name in zip(frame["commune_id"], frame["commune"], strict=True):
        match = None
        for key in (given_id, name):
            if isinstance(key, str) and key:
                match = by_id.index[by_id.index == key][0] if key in by_id.index else None
                match = match or lookup.get(fold(key)) or lookup.get(commune_id(key))
            if match:
                break
        ids.append(match)
    found = pd.Series(ids, index=frame.index, dtype=object)
    if new_communes:
        named = frame["commune"].notna() & (frame.geometry.geom_type != "Point")
        keep_own = found.isna() & named
        found.loc[keep_own] = frame.loc[keep_own, "commune_id"]
    unplaced = found.isna()
    if unplaced.any():
        inside = frame.loc[unplaced].geometry.representative_point()
        hits = gpd.sjoin(
            gpd.GeoDataFrame(geometry=inside, crs=C.CRS_WGS84),
            communes[["id", "geometry"]],
            predicate="within",
            how="left",
        )
        first = hits.loc[~hits.index.duplicated()]
        found.loc[unplaced] = first["id"].where(first["id"].notna(), None)
    refused = [
        (
            index,
            "commune",
            f"{name!r} is not among the communes, nor does the village lie in one"
            if isinstance(name, str) and name
            else "required field is missing, and the village lies in none of the communes",
        )
        for index, name in frame.loc[found.isna(), "commune"].items()
    ]
    out = frame.loc[found.notna()].copy()
    out["commune_id"] = found[found.notna()].astype(str)
    known = out["commune_id"].isin(by_id.index).to_numpy()
    chosen = by_id.reindex(out["commune_id"])
    out.loc[known, "commune"] = chosen["name"].to_numpy()[known]
    for column in ("province", "district"):
        given = out[column].where(out[column].notna(), chosen[column].to_numpy())
        out[column] = given.where(given.notna(), None)
    return out, refused


def validate_village_features(
    features: Iterable[tuple[int, Any]],
    *,
    communes: gpd.GeoDataFrame | None = None,
    fields: FieldMap | None = None,
    new_communes: bool = False,
) -> ValidatedVillages:
    """Split GeoJSON features into valid villages and per-feature rejections.

    Each feature must be a Polygon or MultiPolygon in lon/lat (EPSG:4326,
    RFC 7946) with the properties of DESIGN.md: ``id`` (or the feature's own
    ``id``), ``name``, ``commune``, ``province``, ``households``; optional
    ``district``, ``commune_id`` (derived from ``commune`` when absent),
    ``population``, ``poverty_rate`` (0-1), ``centre_lon``/``centre_lat``.
    Numbers may be in Vietnamese notation (:func:`parse_number`). Text is
    stored in NFC; an invalid polygon is repaired when it keeps an area. A
    feature repeating an earlier feature's id is refused.

    With ``communes`` (:func:`read_commune_file` output), each village is
    placed in one of them (by commune name or former name, else by where it
    lies), ``commune`` and ``province`` may be absent, and a Point village
    becomes its Voronoi cell clipped to the commune (:func:`voronoi_villages`).

    Parameters
    ----------
    features : iterable of (int, object)
        ``(position, decoded feature)`` pairs, as
        :func:`geodata.formats.jsonstream.iter_json_list` yields them.
    communes : GeoDataFrame, optional, keyword-only
    fields : FieldMap, optional, keyword-only
        The file's column names for lomsong's fields.
    new_communes : bool, keyword-only
        Keep a drawn village whose commune is not among ``communes`` (the
        admin import adds that commune); otherwise it is refused.

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
    ...     (1, {"type": "Feature", "properties": props, "geometry": square}),
    ...     (2, {"type": "Feature", "properties": {**props, "households": -1}, "geometry": square}),
    ... ])
    >>> result.valid[["id", "commune_id"]].values.tolist()
    [['ban-giong', 'thuong-nong']]
    >>> result.rejected[0].as_dict()
    {'index': 2, 'field': 'households', 'reason': 'households: outside 0..1e+07'}
    """
    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    placed = communes is not None
    for position, item in features:
        try:
            row = _village_row(item, fields=fields, placed=placed)
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
        "boundary",
    ]
    frame = gpd.GeoDataFrame(
        pd.DataFrame(
            rows, columns=[*columns, "geometry"], index=pd.Index(positions, dtype="int64")
        ),
        geometry="geometry",
        crs=C.CRS_WGS84,
    )
    points = frame.geometry.geom_type == "Point"
    refused: list[tuple[Any, str, str]] = []
    if communes is None:
        refused += [
            (
                i,
                "geometry",
                "a Point: a village point needs the communes (lomsong region load"
                " --communes) to draw its Voronoi cell",
            )
            for i in frame.index[points]
        ]
        frame = frame.loc[~points]
    elif len(frame):
        frame, refused = _place_in_communes(frame, communes, new_communes=new_communes)
        points = frame.geometry.geom_type == "Point"
        if points.any():
            cells, refused_points = voronoi_villages(
                frame.loc[points], communes, polygons=frame.loc[~points]
            )
            refused += refused_points
            frame = pd.concat([frame.loc[~points], cells]).sort_index()
    rejected += [Rejection(int(i), name, reason) for i, name, reason in refused]
    rejected.sort(key=lambda r: r.index)
    return ValidatedVillages(valid=normalise_villages(frame), rejected=rejected)


def read_village_file(
    source: str | Path,
    *,
    communes: gpd.GeoDataFrame | None = None,
    fields: FieldMap | None = None,
    table_crs: str = C.CRS_WGS84,
) -> ValidatedVillages:
    r"""Read villages as planners have them: polygons or points, in any vector format or a table.

    Any vector file GDAL reads (GeoJSON, GeoPackage, Shapefile, FlatGeobuf) in
    the CRS it declares, or a CSV/spreadsheet of points with lon/lat columns
    in ``table_crs``. Columns are renamed by ``fields``; with ``communes``,
    villages are placed in them, points become Voronoi cells
    (:func:`validate_village_features`) and a file that lies elsewhere is
    refused whole (:func:`check_overlap`).

    Raises
    ------
    InvalidInputError
        An unreadable file, no CRS, or features that miss the communes.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "v.csv").write_text("ma;ten;so_ho;lon;lat\n"
    ...     "a;Bản A;1.234;105.2;21.5\nb;Bản B;87;105.8;21.5\n", encoding="utf-8")
    >>> communes = gpd.GeoDataFrame({"id": ["x"], "name": ["Xã X"], "province": ["P"],
    ...     "district": [None]}, geometry=[shapely.box(105, 21, 106, 22)], crs="EPSG:4326")
    >>> fields = FieldMap.parse({"id": "ma", "name": "ten", "households": "so_ho"})
    >>> result = read_village_file(folder / "v.csv", communes=communes, fields=fields)
    >>> result.valid[["id", "households", "boundary"]].values.tolist()
    [['a', 1234, 'voronoi'], ['b', 87, 'voronoi']]
    >>> [round(b, 2) for b in result.valid.geometry.iloc[0].bounds]
    [105.0, 21.0, 105.5, 22.0]
    """
    frame = read_vector_file(source, what="villages", fields=fields, table_crs=table_crs)
    if communes is not None and len(frame) and frame.geometry.notna().any():
        placed = frame.loc[frame.geometry.notna() & ~frame.geometry.is_empty]
        if len(placed):
            check_overlap(
                f"{source}",
                tuple(placed.total_bounds),
                tuple(communes.total_bounds),
                crs=str(frame.attrs.get("source_crs") or ""),
            )
    features = json.loads(frame.to_json(na="null", drop_id=True))["features"]
    return validate_village_features(enumerate(features, start=1), communes=communes, fields=fields)
