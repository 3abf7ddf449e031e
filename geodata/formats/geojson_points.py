"""GeoJSON sent as readings: a FeatureCollection of Points carrying reading properties.

Some collectors (QGIS exports, a web map's download) hand readings over as
GeoJSON. Each feature is one reading: its Point gives ``lon``/``lat`` (RFC 7946:
WGS84, longitude first), its ``properties`` the other native columns
(``time``, ``mcc``, ``mnc``, ``radio``, ``signal_dbm``, ``no_service``, ...),
read by the native JSON object parser (:func:`geodata.formats.native.native_objects`),
so the same validation and rejections apply. A position in ``properties``
is ignored: the geometry is the reading's place.

A feature whose geometry is not a Point is rejected (field ``geometry``),
as is one without a geometry; the index is the feature's position in
``features`` (from 1). The list is decoded feature by feature.

No-service representation
-------------------------
As native JSON: ``"no_service": true`` with ``signal_dbm`` null.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from geodata.errors import BadEncodingError
from geodata.formats._common import ParsedChunk, Source, open_binary, text_stream
from geodata.formats.jsonstream import iter_json_list
from geodata.formats.native import native_objects
from geodata.readings import Rejection


def read_geojson_points(source: Source, *, chunk_rows: int) -> Iterator[ParsedChunk]:
    """Stream the Point features of a GeoJSON FeatureCollection as readings."""
    with open_binary(source) as stream:
        text = text_stream(stream)
        try:
            batch: list[tuple[int, Any]] = []
            for position, feature in iter_json_list(text, key="features", what="geojson"):
                batch.append((position, feature))
                if len(batch) >= chunk_rows:
                    yield _features(batch)
                    batch = []
            if batch:
                yield _features(batch)
        except UnicodeDecodeError as exc:
            raise BadEncodingError(f"geojson: the file is not UTF-8 text ({exc.reason})") from exc
        finally:
            text.detach()


def _features(batch: list[tuple[int, Any]]) -> ParsedChunk:
    rejected: list[Rejection] = []
    objects: list[tuple[int, Any]] = []
    for position, feature in batch:
        why = _not_a_point(feature)
        if why:
            rejected.append(Rejection(position, "geometry", why))
            continue
        properties = feature.get("properties")
        lon, lat = feature["geometry"]["coordinates"][:2]
        fields = dict(properties) if isinstance(properties, dict) else {}
        fields.update(lon=lon, lat=lat)
        objects.append((position, fields))
    chunk = native_objects(objects)
    chunk.rejected = sorted(rejected + chunk.rejected, key=lambda r: r.index)
    return chunk


def _not_a_point(feature: Any) -> str:
    """Why a feature is not a reading's place, or ``""``."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return "not a GeoJSON Feature"
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        return "missing (a reading is a Point)"
    if geometry.get("type") != "Point":
        return f"a {str(geometry.get('type'))[:40]}, not a Point (a reading is one position)"
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        return "a Point needs [longitude, latitude]"
    return ""
