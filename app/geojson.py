"""GeoDataFrames to GeoJSON, shared by the API and the CLI (always EPSG:4326)."""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
from fastapi.responses import JSONResponse

from geodata.constants import CRS_WGS84
from geodata.errors import InvalidInputError
from geodata.exports import json_safe

GEOJSON_MEDIA_TYPE = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """A JSON response sent as ``application/geo+json`` (RFC 7946)."""

    media_type = GEOJSON_MEDIA_TYPE


def feature_collection(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """A GeoJSON FeatureCollection dict of ``frame``'s rows.

    Raises
    ------
    InvalidInputError
        When ``frame`` has no CRS.
    """
    if frame.crs is None:
        raise InvalidInputError("frame has no CRS")
    collection = frame.to_crs(CRS_WGS84).to_geo_dict(na="null", drop_id=True)
    for feature in collection["features"]:
        feature["properties"] = json_safe(feature["properties"])
    return collection


def feature(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """The first row of ``frame`` as one GeoJSON Feature dict."""
    return feature_collection(frame.iloc[:1])["features"][0]  # type: ignore[no-any-return]


def write_feature_collection(frame: gpd.GeoDataFrame, path: Any) -> None:
    """Write ``frame`` as a GeoJSON file (UTF-8, Vietnamese kept readable)."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump(feature_collection(frame), out, ensure_ascii=False)
