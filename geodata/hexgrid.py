"""H3 cells on whole arrays: points to cells, cells to polygons, polygons to cells.

h3-py 4 works one cell at a time; h3ronpy computes the same H3 indexes on
arrays (Rust), which is what a million readings need. This module is the
one place lomsong calls h3ronpy: the analysis (:mod:`coverage`), the
writers (:mod:`geodata.outputs`) and the map cells all go through it.
"""

from __future__ import annotations

import geopandas as gpd
import h3ronpy
import h3ronpy.vector as h3v
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geodata import constants as C
from geodata.threads import map_in_order, worker_count

# Points are indexed on threads in chunks of at least this many (h3ronpy
# releases the GIL; below it a thread costs more than it saves).
_POINTS_PER_THREAD = 200_000


def cells_for_points(lat: np.ndarray, lon: np.ndarray, *, resolution: int) -> np.ndarray:
    """H3 cell (uint64) of each point.

    >>> cells_for_points(np.array([22.57]), np.array([105.49]), resolution=9).dtype
    dtype('uint64')
    """
    if len(lat) == 0:
        return np.empty(0, dtype=np.uint64)
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)

    def index(part: slice) -> np.ndarray:
        cells = h3v.coordinates_to_cells(lat[part], lon[part], resolution)
        return np.asarray(cells, dtype=np.uint64)

    step = max(-(-len(lat) // worker_count()), _POINTS_PER_THREAD)
    parts = [slice(first, first + step) for first in range(0, len(lat), step)]
    return np.concatenate(list(map_in_order(index, parts)))


def unique_cells(values: np.ndarray) -> np.ndarray:
    """Return the distinct values, sorted: ``np.unique(values)`` by a plain sort.

    numpy 2.4's ``np.unique`` goes through a hash table first, ~30 times
    slower on millions of distinct uint64 cells (5 s against 0.15 s).

    >>> unique_cells(np.array([3, 1, 3, 2], dtype=np.uint64)).tolist()
    [1, 2, 3]
    """
    ordered = np.sort(np.asarray(values).ravel())
    if ordered.size == 0:
        return ordered
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees) of each cell's centre."""
    if len(cells) == 0:
        return np.empty(0), np.empty(0)
    batch = h3v.cells_to_coordinates(np.asarray(cells, dtype=np.uint64))
    return np.asarray(batch["lat"]), np.asarray(batch["lng"])


def cell_polygons(cells: np.ndarray) -> np.ndarray:
    """Shapely polygons (EPSG:4326) of the cells."""
    if len(cells) == 0:
        return np.empty(0, dtype=object)
    wkb = h3v.cells_to_wkb_polygons(np.asarray(cells, dtype=np.uint64))
    polygons: np.ndarray = shapely.from_wkb(np.asarray(wkb.to_pylist(), dtype=object))
    return polygons


def cell_resolutions(cells: np.ndarray) -> np.ndarray:
    """Return the H3 resolution of each cell.

    >>> cell_resolutions(cells_for_points(np.array([22.57]), np.array([105.49]), resolution=9))
    array([9])
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return np.empty(0, dtype=int)
    return np.asarray(h3ronpy.cells_resolution(cells)).astype(int)


def cell_areas_m2(cells: np.ndarray) -> np.ndarray:
    """Return the area of each cell, in square metres.

    >>> cell = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=9)
    >>> 90_000 < float(cell_areas_m2(cell)[0]) < 120_000
    True
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return np.empty(0)
    return np.asarray(h3ronpy.cells_area_m2(cells), dtype=float)


def cells_bounds(cells: np.ndarray) -> tuple[float, float, float, float]:
    """Return ``(west, south, east, north)`` in degrees of the cells' hexagons together.

    >>> cell = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=9)
    >>> west, south, east, north = cells_bounds(cell)
    >>> bool(west < 105.49 < east and south < 22.57 < north)
    True
    """
    bounds = h3v.cells_bounds(np.asarray(cells, dtype=np.uint64))
    if bounds is None:
        raise ValueError("no cells, so no bounds")
    west, south, east, north = bounds
    return float(west), float(south), float(east), float(north)


def change_resolution(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Return each cell's ancestor at the coarser ``resolution``.

    >>> fine = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=10)
    >>> coarse = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=8)
    >>> bool(change_resolution(fine, 8)[0] == coarse[0])
    True
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return cells
    return np.asarray(h3ronpy.change_resolution(cells, resolution), dtype=np.uint64)


def parent_cells(cells: np.ndarray) -> np.ndarray:
    """Each cell's parent, one resolution coarser (res-0 cells are their own).

    >>> cell = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=10)
    >>> bool(parent_cells(cell)[0] == cells_for_points(np.array([22.57]), np.array([105.49]),
    ...                                              resolution=9)[0])
    True
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return cells
    resolution = cell_resolutions(cells)
    parents = cells.copy()
    for level in np.unique(resolution[resolution > 0]):  # a handful of resolutions, not cells
        mine = resolution == level
        parents[mine] = change_resolution(cells[mine], int(level) - 1)
    return parents


def cells_to_strings(cells: np.ndarray) -> np.ndarray:
    """H3 index strings (what leaves the service) for uint64 cells."""
    if len(cells) == 0:
        return np.empty(0, dtype=object)
    return np.asarray(h3ronpy.cells_to_string(np.asarray(cells, dtype=np.uint64)).to_pylist())


def cells_from_strings(cells: pd.Series | np.ndarray) -> np.ndarray:
    """uint64 cells from H3 index strings."""
    if len(cells) == 0:
        return np.empty(0, dtype=np.uint64)
    return np.asarray(h3ronpy.cells_parse(list(cells)), dtype=np.uint64)


def cells_in_polygons(
    polygons: gpd.GeoDataFrame, *, resolution: int, key: str = "id"
) -> pd.DataFrame:
    """Every cell whose centre lies in a polygon, as rows ``(key, h3)``.

    A polygon too small to hold any cell centre still gets the cell under its
    representative point, so no village is left without a cell.
    """
    if polygons.crs is None or not polygons.crs.equals(C.CRS_WGS84):
        polygons = polygons.to_crs(C.CRS_WGS84)
    wkb = shapely.to_wkb(polygons.geometry.values)
    nested = h3v.wkb_to_cells(list(wkb), resolution).to_pylist()
    keys = polygons[key].to_numpy()
    lengths = np.array([len(c) for c in nested])
    flat = (
        np.concatenate([np.asarray(c, dtype=np.uint64) for c in nested])
        if lengths.sum()
        else np.empty(0, np.uint64)
    )
    frame = pd.DataFrame({key: np.repeat(keys, lengths), "h3": flat})
    inside = polygons.geometry.representative_point()
    anchors = pd.DataFrame(
        {
            key: keys,
            "h3": cells_for_points(inside.y.to_numpy(), inside.x.to_numpy(), resolution=resolution),
        }
    )
    return pd.concat([frame, anchors], ignore_index=True).drop_duplicates().reset_index(drop=True)


def neighbourhood(cells: np.ndarray, *, k: int = 1) -> pd.DataFrame:
    """Rows ``(h3, neighbour)`` for every cell within ``k`` steps (itself included)."""
    disks = h3ronpy.grid_disk(np.asarray(cells, dtype=np.uint64), k).to_pylist()
    lengths = np.array([len(d) for d in disks])
    return pd.DataFrame(
        {
            "h3": np.repeat(np.asarray(cells, dtype=np.uint64), lengths),
            "neighbour": np.concatenate([np.asarray(d, dtype=np.uint64) for d in disks]),
        }
    )


def connected_groups(cells: np.ndarray) -> np.ndarray:
    """Label the cells by connected group, numbered from 0.

    Cells that touch (share an edge, through any chain of the given cells)
    get the same label.

    >>> a = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=10)
    >>> ring = neighbourhood(a, k=1)["neighbour"].to_numpy()
    >>> far = cells_for_points(np.array([22.0]), np.array([105.0]), resolution=10)
    >>> len(set(connected_groups(np.concatenate([ring, far]))))
    2
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return np.empty(0, dtype=np.int64)
    distinct, of_cell = np.unique(cells, return_inverse=True)
    pairs = neighbourhood(distinct, k=1)
    source = np.searchsorted(distinct, pairs["h3"].to_numpy(np.uint64))
    target = np.searchsorted(distinct, pairs["neighbour"].to_numpy(np.uint64))
    target = np.minimum(target, len(distinct) - 1)
    inside = distinct[target] == pairs["neighbour"].to_numpy(np.uint64)
    graph = coo_matrix(
        (np.ones(int(inside.sum())), (source[inside], target[inside])),
        shape=(len(distinct), len(distinct)),
    )
    labels: np.ndarray
    _, labels = connected_components(graph, directed=False)
    return labels[of_cell].astype(np.int64)
