"""The grid villages are judged on: their cells, and the ring around each centre.

Step 0 of the pipeline (:func:`coverage.pipeline.analyze`): before any
reading or prediction, the H3 cells each village covers and the cells of
its centre (the cultural house, by the official criterion) and the ring
around it. Every later step works on these cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.hexgrid import cells_for_points, cells_in_polygons, neighbourhood, unique_cells


@dataclass(frozen=True)
class VillageGrid:
    """Where villages are judged.

    Attributes
    ----------
    village_cells : DataFrame
        Rows ``(village_id, h3)``: every cell whose centre lies in a village
        (at least one per village, see :func:`geodata.hexgrid.cells_in_polygons`).
    centre_cells : DataFrame
        Rows ``(village_id, h3)``: each village centre's cell and the ring around it.
    cells : numpy.ndarray
        Both tables' cells, uint64, sorted and distinct.
    """

    village_cells: pd.DataFrame
    centre_cells: pd.DataFrame
    cells: np.ndarray


def village_grid(villages: gpd.GeoDataFrame, *, resolution: int) -> VillageGrid:
    """Find the cells of each village and of the ring around each village centre.

    The centre is judged on its cell and the ring around it (~200 m across at
    res 10): the cultural house and the yard people stand in to make a call.

    Parameters
    ----------
    villages : GeoDataFrame
        Normalised villages (``id``, ``centre_lat``, ``centre_lon``, polygons in
        EPSG:4326; see :func:`geodata.villages.normalise_villages`).
    resolution : int, keyword-only
        H3 resolution (:data:`coverage.thresholds.H3_RESOLUTION_VERDICT`).

    Returns
    -------
    VillageGrid

    Examples
    --------
    >>> import shapely
    >>> v = gpd.GeoDataFrame({"id": ["a"], "centre_lat": [22.565], "centre_lon": [105.485]},
    ...     geometry=[shapely.box(105.48, 22.56, 105.49, 22.57)], crs="EPSG:4326")
    >>> grid = village_grid(v, resolution=10)
    >>> len(grid.centre_cells), bool(len(grid.village_cells) > 50)
    (7, True)
    """
    village_cells = cells_in_polygons(villages, resolution=resolution).rename(
        columns={"id": "village_id"}
    )
    centre = cells_for_points(
        villages["centre_lat"].to_numpy(float),
        villages["centre_lon"].to_numpy(float),
        resolution=resolution,
    )
    ring = neighbourhood(centre, k=1).rename(columns={"h3": "centre", "neighbour": "h3"})
    centre_cells = ring.merge(
        pd.DataFrame({"village_id": villages["id"].to_numpy(), "centre": centre}), on="centre"
    )[["village_id", "h3"]]
    cells = unique_cells(
        np.concatenate(
            [village_cells["h3"].to_numpy(np.uint64), centre_cells["h3"].to_numpy(np.uint64)]
        )
    )
    return VillageGrid(village_cells=village_cells, centre_cells=centre_cells, cells=cells)
