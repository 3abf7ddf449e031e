"""GeoDataFrames to GeoJSON, shared by the API and the CLI (always EPSG:4326)."""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
from fastapi.responses import JSONResponse

from geodata.constants import CRS_WGS84
from geodata.errors import InvalidInputError

GEOJSON_MEDIA_TYPE = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """A JSON response sent as ``application/geo+json`` (RFC 7946)."""

    media_type = GEOJSON_MEDIA_TYPE


def _plain(value: Any) -> Any:
    """JSON-safe value: NaN -> None, numpy scalars -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


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
        feature["properties"] = _plain(feature["properties"])
    return collection


def feature(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """The first row of ``frame`` as one GeoJSON Feature dict."""
    return feature_collection(frame.iloc[:1])["features"][0]  # type: ignore[no-any-return]


def write_feature_collection(frame: gpd.GeoDataFrame, path: Any) -> None:
    """Write ``frame`` as a GeoJSON file (UTF-8, Vietnamese kept readable)."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump(feature_collection(frame), out, ensure_ascii=False)
