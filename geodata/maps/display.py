"""Display geometry: simplified, rounded and compactly encoded for light map pages.

Simplification happens in a metric CRS (a tolerance in metres means the same
everywhere); rounding to 5 decimals keeps ~1 m, far below what a screen shows.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.constants import CRS_WGS84
from geodata.errors import InvalidInputError
from geodata.raster import utm_crs_for

#: Decimals kept in coordinates sent to the browser (1e-5 degree ≈ 1.1 m).
COORD_DECIMALS = 5
#: Sector wedges of sites are drawn this long, in metres.
SECTOR_LENGTH_M = 600.0


def round_coordinates(geometry: np.ndarray, decimals: int = COORD_DECIMALS) -> np.ndarray:
    """Geometries with every coordinate rounded to ``decimals``.

    >>> g = round_coordinates(np.array([shapely.Point(105.1234567, 22.7654321)]))
    >>> g[0].wkt
    'POINT (105.12346 22.76543)'
    """
    rounded: np.ndarray = shapely.transform(np.asarray(geometry), lambda xy: np.round(xy, decimals))
    return rounded


def display_geometry(
    frame: gpd.GeoDataFrame, *, tolerance_m: float = 0.0, decimals: int = COORD_DECIMALS
) -> gpd.GeoDataFrame:
    """``frame`` in EPSG:4326, simplified by ``tolerance_m`` metres, coordinates rounded.

    Raises
    ------
    InvalidInputError
        When ``frame`` has no CRS.
    """
    if frame.crs is None:
        raise InvalidInputError("frame has no CRS")
    out = frame.to_crs(CRS_WGS84)
    if out.empty:
        return out
    geometry = out.geometry
    if tolerance_m > 0:
        bounds = out.total_bounds
        metric = utm_crs_for(bounds[0::2], bounds[1::2])
        geometry = geometry.to_crs(metric).simplify(tolerance_m, preserve_topology=True)
        geometry = geometry.to_crs(CRS_WGS84)
    out = out.copy()
    out["geometry"] = round_coordinates(geometry.to_numpy(), decimals)
    return out.set_geometry("geometry", crs=CRS_WGS84)


def encode_rings(polygons: np.ndarray, decimals: int = COORD_DECIMALS) -> list[list[int]]:
    """Exterior rings as delta-encoded integers ``[lat0, lng0, dlat1, dlng1, ...]``.

    The closing vertex is dropped (Leaflet closes polygons itself). A hexagon
    takes ~50 characters instead of ~200 as GeoJSON.

    >>> encode_rings(np.array([shapely.box(105.0, 22.0, 105.00002, 22.00001)]))
    [[2200000, 10500002, 1, 0, 0, -2, -1, 0]]
    """
    if len(polygons) == 0:
        return []
    rings = shapely.get_exterior_ring(np.asarray(polygons))
    coords, index = shapely.get_coordinates(rings, return_index=True)
    scaled = np.rint(coords[:, ::-1] * 10**decimals).astype(np.int64)  # (lat, lng)
    last = np.r_[index[1:] != index[:-1], True]
    scaled, index = scaled[~last], index[~last]
    first = np.r_[True, index[1:] != index[:-1]]
    deltas = np.vstack([scaled[:1], np.diff(scaled, axis=0)])
    deltas[first] = scaled[first]
    starts = np.flatnonzero(first)
    return [chunk.ravel().tolist() for chunk in np.split(deltas, starts[1:])]


def sector_wedges(sites: pd.DataFrame, *, length_m: float = SECTOR_LENGTH_M) -> np.ndarray:
    """Return a short wedge (EPSG:4326 polygon) per site with a known azimuth, else ``None``.

    The wedge spans the beamwidth (65° when unknown) from the site outwards.
    """
    if sites.empty:
        return np.empty(0, dtype=object)
    lon = pd.to_numeric(sites["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(sites["lat"], errors="coerce").to_numpy(float)
    azimuth = pd.to_numeric(sites.get("azimuth_deg"), errors="coerce")
    azimuth = np.asarray(azimuth if azimuth is not None else np.full(len(sites), np.nan), float)
    beam = pd.to_numeric(sites.get("beamwidth_deg", pd.Series(np.nan, index=sites.index)))
    beam = np.where(np.isfinite(beam.to_numpy(float)), beam.to_numpy(float), 65.0)
    out = np.full(len(sites), None, dtype=object)
    known = np.isfinite(azimuth) & np.isfinite(lon) & np.isfinite(lat)
    if not known.any():
        return out
    lon, lat, azimuth, beam = lon[known], lat[known], azimuth[known], beam[known]
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=CRS_WGS84)
    metric = utm_crs_for(float(lon.mean()), float(lat.mean()))
    xy = shapely.get_coordinates(points.to_crs(metric).to_numpy())
    steps = np.linspace(-0.5, 0.5, 7)
    angles = np.radians(azimuth[:, None] + beam[:, None] * steps[None, :])
    ring_x = np.hstack([xy[:, :1], xy[:, :1] + length_m * np.sin(angles), xy[:, :1]])
    ring_y = np.hstack([xy[:, 1:], xy[:, 1:] + length_m * np.cos(angles), xy[:, 1:]])
    wedges = shapely.polygons(np.stack([ring_x, ring_y], axis=-1))
    wedges = gpd.GeoSeries(wedges, crs=metric).to_crs(CRS_WGS84).to_numpy()
    out[known] = round_coordinates(wedges)
    return out
