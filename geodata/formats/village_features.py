"""Village files, feature by feature: GeoJSON streamed, GeoPackage, Shapefile, FlatGeobuf.

The one village reader (:func:`read_villages`), shared by the CLI, the demo,
the admin import and notebooks. A GeoJSON FeatureCollection is decoded one
feature at a time (:mod:`geodata.formats.jsonstream`), so a province's
villages never sit in memory as one JSON document. Other vector files (and
a GeoJSON that declares a projected CRS in an old-style ``crs`` member) are
read through pyogrio and brought to EPSG:4326 first. Either way each feature
is validated by :func:`geodata.villages.validate_village_features` and
refused on its own (position, field, reason), never sinking the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd

from geodata.errors import BadEncodingError
from geodata.formats._common import Source, open_binary, text_stream
from geodata.formats.jsonstream import iter_json_list
from geodata.villages import ValidatedVillages, read_vector_file, validate_village_features

# Suffixes read as GeoJSON text; anything else goes to GDAL (pyogrio).
_GEOJSON_SUFFIXES = frozenset({".geojson", ".json"})
# An old-style GeoJSON ``crs`` member naming a CRS, within the first 64 KiB.
_CRS_MEMBER = re.compile(rb'"crs"\s*:\s*\{[^{}]*"properties"\s*:\s*\{[^{}]*"name"\s*:\s*"([^"]+)"')
# Names of lon/lat WGS 84 in ``crs`` members (GDAL writes the first).
_LONLAT_NAMES = ("CRS84", "EPSG::4326", "EPSG:4326")
_HEAD_BYTES = 1 << 16
# First bytes of the binary vector files a stream may hold (GeoPackage, FlatGeobuf,
# a zipped Shapefile); any other stream is read as GeoJSON, and refused as JSON.
_VECTOR_MAGIC = (b"SQLite format 3\x00", b"fgb\x03", b"PK\x03\x04")


def read_villages(
    source: Source, *, communes: gpd.GeoDataFrame | None = None, new_communes: bool = False
) -> ValidatedVillages:
    """Read a villages file and validate each feature.

    Parameters
    ----------
    source : str, Path or binary file object
        GeoJSON (UTF-8, EPSG:4326 as RFC 7946 says; streamed), or any vector
        file GDAL reads (GeoPackage, Shapefile, FlatGeobuf) in the CRS it
        declares. A stream is read as GeoJSON unless it starts like a
        GeoPackage, a FlatGeobuf or a zip file.
    communes : GeoDataFrame, optional, keyword-only
        The communes villages are placed in; Point villages then become
        Voronoi cells clipped to theirs (without: points are refused).
    new_communes : bool, keyword-only
        Keep drawn villages of communes not among ``communes``.

    Returns
    -------
    ValidatedVillages
        Rejections are numbered by the feature's position in the file, from 1
        (the first feature is 1).

    Raises
    ------
    BadJSONError
        Malformed JSON, or a top level without a ``features`` list.
    BadEncodingError
        Bytes that are not UTF-8.
    InvalidInputError
        A vector file GDAL cannot read, or one that declares no CRS.

    Examples
    --------
    >>> import io
    >>> square = {"type": "Polygon", "coordinates": [[[105.49, 22.56], [105.5, 22.56],
    ...     [105.5, 22.57], [105.49, 22.57], [105.49, 22.56]]]}
    >>> props = {"id": "ban-giong", "name": "Bản Giòng", "commune": "Thượng Nông",
    ...     "district": "Na Hang", "province": "Tuyên Quang", "households": 98}
    >>> text = json.dumps({"type": "FeatureCollection", "features": [
    ...     {"type": "Feature", "properties": props, "geometry": square},
    ...     {"type": "Feature", "properties": {**props, "id": "x"}, "geometry": None}]})
    >>> result = read_villages(io.BytesIO(text.encode()))
    >>> result.valid["id"].tolist(), result.rejected_by_reason
    (['ban-giong'], {'geometry: required field is missing': 1})
    """
    if _is_streamed_geojson(source):
        return _read_geojson(source, communes=communes, new_communes=new_communes)
    return validate_village_features(
        enumerate(_gdal_features(source), start=1), communes=communes, new_communes=new_communes
    )


def _is_streamed_geojson(source: Source) -> bool:
    """GeoJSON in lon/lat: streamed. A path by suffix, a stream by its first byte."""
    if isinstance(source, str | Path):
        if Path(source).suffix.lower() not in _GEOJSON_SUFFIXES:
            return False
        with open_binary(source) as stream:
            head = stream.read(_HEAD_BYTES)
    else:
        if not source.seekable():
            return True
        start = source.tell()
        head = source.read(_HEAD_BYTES)
        source.seek(start)
        if head.startswith(_VECTOR_MAGIC):
            return False
    declared = _CRS_MEMBER.search(head)
    return declared is None or declared.group(1).decode(errors="replace").endswith(_LONLAT_NAMES)


def _read_geojson(
    source: Source, *, communes: gpd.GeoDataFrame | None, new_communes: bool
) -> ValidatedVillages:
    with open_binary(source) as stream:
        text = text_stream(stream)
        try:
            features = iter_json_list(text, key="features", what="villages")
            return validate_village_features(features, communes=communes, new_communes=new_communes)
        except UnicodeDecodeError as exc:
            raise BadEncodingError(f"villages: the file is not UTF-8 text ({exc.reason})") from exc
        finally:
            text.detach()


def _gdal_features(source: Source) -> Iterator[Any]:
    """Return the features of a vector file GDAL reads, in EPSG:4326, as GeoJSON dicts."""
    frame = read_vector_file(source, what="villages")
    # GeoPandas' own GeoJSON: numpy scalars become JSON numbers, NaN null.
    yield from json.loads(frame.to_json(na="null", drop_id=True))["features"]
