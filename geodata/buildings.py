"""Buildings: where households live, from footprints or points.

What a planner can actually get: OpenStreetMap ``building=*`` extracts
(GeoJSON, GeoPackage, Shapefile), Google Open Buildings and Microsoft
Global ML Building Footprints (GeoJSON, FlatGeobuf, GeoPackage). Any vector
file pyogrio opens is read; polygons become one point each (a point inside
the footprint), points stay points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geodata import constants as C
from geodata.errors import InvalidInputError


@dataclass(frozen=True)
class Buildings:
    """Buildings read from a file, and those left out with the reason."""

    points: gpd.GeoDataFrame  # one point per building, EPSG:4326
    rejected_by_reason: dict[str, int]


def read_buildings(
    path: str | Path, *, bbox: tuple[float, float, float, float] | None = None
) -> Buildings:
    """Read building footprints or points, one point per building.

    Parameters
    ----------
    path : str or Path
        A GeoJSON, GeoPackage, FlatGeobuf or Shapefile of buildings.
    bbox : (west, south, east, north), optional, keyword-only
        Only buildings in this box (degrees) are read: a country's
        footprints hold millions.

    Returns
    -------
    Buildings
        ``points`` in EPSG:4326; features without a geometry, or with one
        that is not a point or a polygon, or outside WGS84's range, are left
        out and counted in ``rejected_by_reason``.

    Raises
    ------
    InvalidInputError
        When the file cannot be read as vector data, or declares no CRS.

    Examples
    --------
    >>> import json, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "b.geojson").write_text(json.dumps({"type": "FeatureCollection",
    ...     "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
    ...         "coordinates": [[[105.0, 22.0], [105.001, 22.0], [105.001, 22.001],
    ...                          [105.0, 22.0]]]}},
    ...         {"type": "Feature", "properties": {}, "geometry": None}]}), encoding="utf-8")
    >>> found = read_buildings(folder / "b.geojson")
    >>> len(found.points), found.rejected_by_reason
    (1, {'no geometry': 1})
    """
    try:
        frame = gpd.read_file(path, bbox=bbox) if bbox is not None else gpd.read_file(path)
    except Exception as err:  # pyogrio raises its own DataSourceError family
        raise InvalidInputError(f"{path}: not a vector file of buildings ({err})") from err
    if frame.crs is None:
        raise InvalidInputError(f"{path}: the file declares no coordinate reference system")
    frame = frame.to_crs(C.CRS_WGS84)
    geometry = frame.geometry.to_numpy()
    rejected: dict[str, int] = {}
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    kind = shapely.get_type_id(geometry)
    # Point 0, Polygon 3, MultiPoint 4, MultiPolygon 6.
    wrong = ~missing & ~np.isin(kind, [0, 3, 4, 6])
    points = shapely.point_on_surface(np.where(missing | wrong, None, geometry))
    x, y = shapely.get_x(points), shapely.get_y(points)
    with np.errstate(invalid="ignore"):
        outside = ~missing & ~wrong & ~((np.abs(x) <= 180) & (np.abs(y) <= 90))
    for reason, mask in (
        ("no geometry", missing),
        ("not a point or polygon", wrong),
        ("outside longitude/latitude range", outside),
    ):
        if mask.any():
            rejected[reason] = int(mask.sum())
    keep = ~(missing | wrong | outside)
    out = gpd.GeoDataFrame(geometry=points[keep], crs=C.CRS_WGS84)
    return Buildings(out, rejected)
