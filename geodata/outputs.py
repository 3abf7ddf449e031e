"""Result files for GIS users: signal GeoTIFFs and the cells GeoPackage.

Writers only: they take the tables :func:`coverage.pipeline.analyze` returns
and put them in files that QGIS, ``gdalinfo`` and ``ogrinfo`` open. No
analysis happens here.

The GeoTIFFs are Cloud-Optimised (GDAL's ``COG`` driver): 512-pixel tiles,
DEFLATE with the floating-point predictor, internal overviews, float32 with
a nodata value. Each pixel takes the value of the H3 cell that contains the
pixel's centre, so a pixel and the GeoPackage hexagon under it always agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
from pyproj import CRS, Transformer
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from geodata.constants import CRS_WGS84
from geodata.errors import InvalidInputError, MissingColumnError
from geodata.hexgrid import (
    cell_areas_m2,
    cell_centres,
    cell_polygons,
    cell_resolutions,
    cells_bounds,
    cells_for_points,
    cells_from_strings,
    cells_to_strings,
)
from geodata.raster import utm_crs_for

NODATA: Final = -9999.0
"""Value of pixels outside every estimated cell (no estimate, not "no signal")."""

# 30 m: the grid of the SRTM/Copernicus DEMs the prediction runs on, and about
# a quarter of an H3 res-10 hexagon's width (~130 m flat to flat, edge ~76 m),
# so every hexagon keeps its shape (~16 pixels each) without the file growing
# past a few tens of MB for the whole province (14,000 km² -> ~16 M pixels,
# mostly DEFLATEd nodata or runs of equal values).
DEFAULT_PIXEL_M: Final = 30.0
BLOCK_SIZE: Final = 512
# Pixels projected and indexed per batch: bounds the temporaries to ~100 MB.
PIXELS_PER_BATCH: Final = 2_000_000

UNITS: Final[dict[str, str]] = {"mean_dbm": "dBm", "sigma_db": "dB", "p_usable": "1"}
# What the number measures on each radio (DESIGN.md, Reading).
QUANTITY: Final[dict[str, str]] = {
    "gsm": "RSSI",
    "umts": "RSCP",
    "lte": "RSRP",
    "nr": "SS-RSRP",
}
GPKG_LAYER: Final = "cells"
#: The one table of hex cells for GIS, column and pandas dtype: ``lomsong analyze``'s
#: ``cells.gpkg`` and the API's cells export (:func:`cells_export_frame`). A source
#: that does not know a value (the analysis has no commune per cell, the stored map
#: cells no σ) leaves it null.
CELL_EXPORT_SCHEMA: Final[dict[str, str]] = {
    "h3": "string",
    "resolution": "int64",
    "carrier": "string",
    "radio": "string",
    "mean_dbm": "float64",
    "sigma_db": "float64",
    "p_usable": "float64",
    "evidence": "string",
    "cell_class": "string",
    "count": "int64",
    "commune_id": "string",
    "lon": "float64",
    "lat": "float64",
}


def _slug(text: str) -> str:
    """File-name-safe lower-case form: ``"VinaPhone"`` -> ``"vinaphone"``."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "unknown"


def _require(table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MissingColumnError(f"missing column(s): {', '.join(missing)}")


def _resolution(cells: np.ndarray) -> int:
    """Return the one H3 resolution of ``cells``; raise when they mix resolutions."""
    resolutions = np.unique(cell_resolutions(cells))
    if len(resolutions) != 1:
        raise InvalidInputError(f"cells mix H3 resolutions {resolutions.tolist()}")
    return int(resolutions[0])


def _metric_crs(crs: CRS | str | int | None, cells: np.ndarray) -> CRS:
    if crs is None:
        lat, lon = cell_centres(cells)
        return utm_crs_for(lon, lat)
    metric = CRS.from_user_input(crs)
    units = {axis.unit_name for axis in metric.axis_info}
    if not metric.is_projected or units - {"metre", "meter"}:
        raise InvalidInputError(f"rasters need a metric CRS, not {metric.to_string()}")
    return metric


def _near_cells(
    cells: np.ndarray, crs: CRS, left: float, top: float, shape: tuple[int, int], pixel_m: float
) -> np.ndarray:
    """Mark the pixels that may lie in one of ``cells``.

    Those of the blocks around each cell's centre, so that only these go
    through the H3 lookup (two far apart communes leave most of their
    bounding box empty).
    """
    height, width = shape
    # Circumradius of a regular hexagon of the largest cell's area, with room
    # for H3's distortion and the projection's scale.
    area = float(np.max(cell_areas_m2(cells)))
    radius = 1.5 * math.sqrt(2 * area / (3 * math.sqrt(3)))
    block = max(1, math.ceil(radius / pixel_m))
    lat, lon = cell_centres(cells)
    to_metric = Transformer.from_crs(CRS_WGS84, crs, always_xy=True)
    x, y = to_metric.transform(lon, lat)
    rows, cols = -(-height // block), -(-width // block)
    brow = np.floor((top - np.asarray(y)) / (pixel_m * block)).astype(int)
    bcol = np.floor((np.asarray(x) - left) / (pixel_m * block)).astype(int)
    near = np.zeros((rows, cols), dtype=bool)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            near[np.clip(brow + dr, 0, rows - 1), np.clip(bcol + dc, 0, cols - 1)] = True
    return np.repeat(np.repeat(near, block, axis=0), block, axis=1)[:height, :width]


def _pixel_cells(cells: np.ndarray, crs: CRS, pixel_m: float) -> tuple[np.ndarray, rasterio.Affine]:
    """Find which of ``cells`` (sorted, unique) lies under each pixel centre of a grid.

    The grid covers them; each pixel gets its cell's position in ``cells``,
    or -1 for none.

    The grid's origin is snapped to a multiple of ``pixel_m``, so rasters
    written from different runs in the same CRS line up pixel for pixel.
    """
    resolution = _resolution(cells)
    bounds = cells_bounds(cells)  # (west, south, east, north) in degrees
    west, south, east, north = transform_bounds(CRS_WGS84, crs, *bounds, densify_pts=21)
    left = math.floor(west / pixel_m) * pixel_m
    top = math.ceil(north / pixel_m) * pixel_m
    width = max(1, math.ceil((east - left) / pixel_m))
    height = max(1, math.ceil((top - south) / pixel_m))
    transform = from_origin(left, top, pixel_m, pixel_m)
    near = _near_cells(cells, crs, left, top, (height, width), pixel_m)

    to_wgs84 = Transformer.from_crs(crs, CRS_WGS84, always_xy=True)
    under = np.full((height, width), -1, dtype=np.int32 if len(cells) < 2**31 else np.int64)
    rows_per_batch = max(1, PIXELS_PER_BATCH // width)
    for start in range(0, height, rows_per_batch):
        stop = min(height, start + rows_per_batch)
        row, col = np.nonzero(near[start:stop])
        if not len(row):
            continue
        x = left + (col + 0.5) * pixel_m
        y = top - (start + row + 0.5) * pixel_m
        lon, lat = to_wgs84.transform(x, y)
        found = cells_for_points(np.asarray(lat), np.asarray(lon), resolution=resolution)
        at = np.clip(np.searchsorted(cells, found), 0, len(cells) - 1)
        under[start + row, col] = np.where(cells[at] == found, at, -1)
    return under, transform


def _overview_count(width: int, height: int) -> int:
    """Count the halvings until the image fits one tile, at least one.

    A small raster still gets an overview, so every file has the same layout.
    """
    return max(1, math.ceil(math.log2(max(width, height) / BLOCK_SIZE)))


def write_signal_geotiffs(
    signal: pd.DataFrame,
    out_dir: str | Path,
    *,
    crs: CRS | str | int | None = None,
    pixel_m: float = DEFAULT_PIXEL_M,
    value: str = "mean_dbm",
) -> list[Path]:
    """Write one Cloud-Optimised GeoTIFF per (carrier, radio).

    Parameters
    ----------
    signal : DataFrame
        One row per (``h3``, ``carrier``, ``radio``) with the column named by
        ``value``: :attr:`coverage.pipeline.AnalysisResult.signal`. ``h3`` is
        a uint64 H3 index; all cells share one resolution.
    out_dir : str or Path
        Directory to write into (created when missing).
    crs : CRS, str or int, optional, keyword-only
        Metric CRS of the rasters; the UTM zone of the cells by default.
    pixel_m : float, keyword-only
        Pixel size in metres (see :data:`DEFAULT_PIXEL_M`).
    value : str, keyword-only
        Column to rasterise: ``mean_dbm`` (files ``signal_<carrier>_<radio>.tif``),
        ``sigma_db`` or ``p_usable`` (files ``<value>_<carrier>_<radio>.tif``).

    Returns
    -------
    list of Path
        The files written, sorted by carrier then radio.

    Raises
    ------
    MissingColumnError
        When ``signal`` lacks ``h3``, ``carrier``, ``radio`` or ``value``.
    InvalidInputError
        When ``crs`` is not metric, ``pixel_m`` is not positive, or the cells
        mix H3 resolutions.

    Examples
    --------
    >>> import tempfile
    >>> table = pd.DataFrame({"h3": [0x8a415846566ffff], "carrier": ["Viettel"],
    ...                       "radio": ["lte"], "mean_dbm": [-97.5]})
    >>> [p.name for p in write_signal_geotiffs(table, tempfile.mkdtemp())]
    ['signal_viettel_lte.tif']
    """
    _require(signal, ["h3", "carrier", "radio", value])
    if not pixel_m > 0:
        raise InvalidInputError(f"pixel_m must be positive, not {pixel_m}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = signal.dropna(subset=[value])
    if table.empty:
        return []
    all_cells = np.unique(table["h3"].to_numpy(np.uint64))
    metric = _metric_crs(crs, all_cells)
    # One grid for every carrier and radio: the files stack in a GIS.
    under, transform = _pixel_cells(all_cells, metric, pixel_m)
    resolution = str(_resolution(all_cells))
    height, width = under.shape
    prefix = "signal" if value == "mean_dbm" else value
    written = []
    for (carrier, radio), group in table.groupby(["carrier", "radio"], sort=True):
        group = group.drop_duplicates("h3")
        # Value per position in all_cells; the extra last slot is what -1 picks.
        lookup = np.full(len(all_cells) + 1, NODATA, dtype=np.float32)
        lookup[np.searchsorted(all_cells, group["h3"].to_numpy(np.uint64))] = group[value]
        band = lookup[under]
        quantity = QUANTITY.get(str(radio), "signal") if value == "mean_dbm" else value
        path = out / f"{prefix}_{_slug(carrier)}_{_slug(radio)}.tif"
        with rasterio.open(
            path,
            "w",
            driver="COG",
            width=width,
            height=height,
            count=1,
            dtype="float32",
            crs=metric,
            transform=transform,
            nodata=NODATA,
            blocksize=BLOCK_SIZE,
            compress="DEFLATE",
            predictor="FLOATING_POINT",
            # Averages for the zoomed-out views; GDAL leaves nodata out of them.
            overview_resampling="average",
            overview_count=_overview_count(width, height),
        ) as dst:
            dst.write(band, 1)
            dst.set_band_description(1, f"{carrier} {str(radio).upper()} {quantity} ({value})")
            dst.set_band_unit(1, UNITS.get(value, ""))
            dst.update_tags(
                1,
                carrier=str(carrier),
                radio=str(radio),
                value=value,
                quantity=quantity,
                units=UNITS.get(value, ""),
            )
            dst.update_tags(source="lomsong", h3_resolution=resolution)
        written.append(path)
    return written


def cells_export_frame(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """Hexagons (EPSG:4326) of a per-cell table, in :data:`CELL_EXPORT_SCHEMA`.

    ``h3`` may be uint64 or strings; ``dbm`` (the stored map cells') is
    ``mean_dbm``; ``resolution``, ``lon`` and ``lat`` (the cell's centre)
    are filled in when missing, ``count`` is 0 when unknown; any other
    missing column is null, and columns outside the schema are left out.

    >>> frame = cells_export_frame(pd.DataFrame({"h3": ["8a415846566ffff"], "dbm": [-97.5]}))
    >>> frame["mean_dbm"].tolist(), frame["resolution"].tolist(), frame["carrier"].isna().all()
    ([-97.5], [10], np.True_)
    """
    _require(table, ["h3"])
    source = table.reset_index(drop=True)
    if "mean_dbm" not in source and "dbm" in source:
        source = source.rename(columns={"dbm": "mean_dbm"})
    h3 = source["h3"].to_numpy()
    cells = cells_from_strings(h3) if h3.dtype == object or len(h3) == 0 else h3.astype(np.uint64)
    cells = np.asarray(cells, dtype=np.uint64)
    lat, lon = cell_centres(cells) if len(cells) else (np.empty(0), np.empty(0))
    filled = {
        "h3": cells_to_strings(cells),
        "resolution": cell_resolutions(cells) if len(cells) else np.empty(0, np.int64),
        "lon": lon,
        "lat": lat,
        "count": np.zeros(len(cells), np.int64),
    }
    columns = {}
    for column, dtype in CELL_EXPORT_SCHEMA.items():
        if column in source and column != "h3":
            values = source[column]
            if column == "count":
                values = pd.to_numeric(values).fillna(0)
            elif dtype == "float64":
                values = pd.to_numeric(values)
            columns[column] = pd.Series(values.to_numpy(), dtype=dtype)
        elif column in filled:
            columns[column] = pd.Series(filled[column], dtype=dtype)
        else:
            columns[column] = pd.Series([None] * len(cells), dtype=dtype)
    return gpd.GeoDataFrame(columns, geometry=cell_polygons(cells), crs=CRS_WGS84)


def write_cells_gpkg(table: pd.DataFrame, path: str | Path, *, layer: str = GPKG_LAYER) -> Path:
    """Write the per-cell table as hexagons to a GeoPackage layer, in :data:`CELL_EXPORT_SCHEMA`.

    Parameters
    ----------
    table : DataFrame
        :attr:`~coverage.pipeline.AnalysisResult.signal` (one row per cell,
        carrier and radio) or :attr:`~coverage.pipeline.AnalysisResult.cells`;
        needs ``h3`` (uint64).
    path : str or Path
        The ``.gpkg`` file; the layer is replaced when it already exists.
    layer : str, keyword-only
        Layer name (``cells``).

    Returns
    -------
    Path

    Raises
    ------
    MissingColumnError
        When ``table`` has no ``h3`` column.

    Examples
    --------
    >>> import tempfile
    >>> table = pd.DataFrame({"h3": [0x8a415846566ffff], "carrier": ["Viettel"],
    ...                       "radio": ["lte"], "mean_dbm": [-97.5]})
    >>> path = write_cells_gpkg(table, Path(tempfile.mkdtemp()) / "cells.gpkg")
    >>> pyogrio.list_layers(path)[:, 0].tolist()
    ['cells']
    """
    frame = cells_export_frame(table)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # GeoPackage 1.2: GDAL 3.10 writes 1.4 by default, which older ogrinfo
    # and QGIS builds (GDAL 3.6, Debian 12) open only with a warning.
    pyogrio.write_dataframe(
        frame,
        target,
        layer=layer,
        driver="GPKG",
        dataset_options={"VERSION": "1.2"},
        layer_options={"OVERWRITE": "YES"},
    )
    return target
