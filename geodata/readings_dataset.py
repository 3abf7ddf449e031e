"""Readings as a GeoParquet dataset, partitioned by H3 res-5 cell and month.

The tiled analysis (:mod:`coverage.tiles`) reads each tile's readings on the
worker that analyses it; one file per tile would be rewritten at every upload,
one table of 100 M readings would be read whole by every worker. So the
readings are cut hive style by where and when::

    root/h3_5=<res-5 cell, hex>/month=<YYYY-MM>/part-<uuid>.parquet

and a reader lists only the directories of the res-5 cells that meet its
bounds (:func:`partitions_for`), and of the months it asks for: the other
files are never opened. A res-5 cell is ~252 km², so a tile's halo touches a
handful of them.

Each part file is GeoParquet 1.0.0: the canonical columns
(:data:`DATASET_COLUMNS`), plus a WKB ``geometry`` column of Points in
EPSG:4326 and the ``geo`` metadata that GDAL and geopandas read. Times are
stored in microseconds, UTC.

Writing appends files and never deduplicates: re-exporting the same readings
with ``append=True`` stores them twice. Uniqueness is the store's job (its
content keys); the exporter (:mod:`app.services.readings_export`) writes a
whole dataset with ``append=False``, or new batches once each.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import shapely
from pyproj import CRS

from geodata import constants as C
from geodata.errors import InvalidInputError, MissingColumnError
from geodata.hexgrid import cells_for_points, cells_in_polygons, cells_to_strings, neighbourhood
from geodata.readings import READING_COLUMNS, content_keys

#: H3 resolution of the spatial partitions (~252 km² a cell).
PARTITION_RESOLUTION: Final = 5

#: Columns a dataset stores and :func:`read_readings_dataset` returns, in order.
DATASET_COLUMNS: Final[tuple[str, ...]] = (*READING_COLUMNS, "content_key")

#: The marker file that makes a directory a readings dataset (readers skip ``_`` files).
MARKER: Final = "_lomsong_readings.json"

_FORMAT: Final = {"format": "lomsong-readings", "version": 1, "partition_resolution": 5}

#: Arrow types of the stored columns (the partition columns live in the paths).
_SCHEMA: Final = pa.schema(
    [
        ("time", pa.timestamp("us", tz="UTC")),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("accuracy_m", pa.float64()),
        ("mcc", pa.int64()),
        ("mnc", pa.int64()),
        ("radio", pa.string()),
        ("signal_dbm", pa.float64()),
        ("no_service", pa.bool_()),
        ("cell_id", pa.int64()),
        ("area_code", pa.int64()),
        ("pci", pa.int64()),
        ("rsrq_db", pa.float64()),
        ("sinr_db", pa.float64()),
        ("device", pa.string()),
        ("source", pa.string()),
        ("content_key", pa.int64()),
        ("geometry", pa.binary()),
    ]
)

#: GeoParquet 1.0.0 metadata of every part file: WKB Points in EPSG:4326.
_GEO: Final = {
    "version": "1.0.0",
    "primary_column": "geometry",
    "columns": {
        "geometry": {
            "encoding": "WKB",
            "geometry_types": ["Point"],
            "crs": CRS.from_user_input(C.CRS_WGS84).to_json_dict(),
            "edges": "planar",
        }
    },
}

#: The partition columns, hive style, both strings.
_PARTITION_SCHEMA: Final = pa.schema([("h3_5", pa.string()), ("month", pa.string())])
_PARTITIONING: Final = ds.partitioning(_PARTITION_SCHEMA, flavor="hive")

#: What the writer is given: the stored columns, then the partition columns.
_WRITE_SCHEMA: Final = pa.schema([*_SCHEMA, *_PARTITION_SCHEMA], metadata={"geo": json.dumps(_GEO)})

# Partitions written at once before the writer closes one to open another
# (a file more for that partition); well under the usual limit of 1,024
# open files.
_OPEN_FILES: Final = 512
# Row groups: rows wait for this many per partition before one is written
# (so tiny row groups do not bloat the footers), up to the second bound.
_MIN_ROWS_PER_GROUP: Final = 4_096
_MAX_ROWS_PER_GROUP: Final = 262_144

#: Columns that must hold a value on every row (the rest may be null).
_NOT_NULL: Final = ("time", "lat", "lon", "mcc", "mnc", "radio", "no_service", "content_key")

# Boundary samples of a bbox, in degrees: well under a res-5 cell's
# inradius (~7 km), so a cell the boundary crosses between two samples is a
# neighbour of a sampled one, and the ring of neighbours finds it.
_EDGE_STEP_DEG: Final = 0.02

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

# One little-endian WKB Point: byte order, geometry type 1, x, y.
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def partitions_for(bounds: tuple[float, float, float, float]) -> list[str]:
    """Return the res-5 cells (hex strings, sorted) whose hexagons meet a bbox.

    The cells whose centres the bbox holds, the cells of points along its
    boundary (a bbox narrower than a cell holds no centre), and the ring of
    neighbours of all of them, so no cell that touches the edge is missed.
    A few cells beyond the edge are included too: reading one partition
    too many costs a file, missing one loses readings.

    Parameters
    ----------
    bounds : tuple of float
        ``(minlon, minlat, maxlon, maxlat)`` in degrees (EPSG:4326).

    Raises
    ------
    ValueError
        When the bounds are not four finite numbers in order within the globe.

    Examples
    --------
    >>> cells = partitions_for((105.45, 22.55, 105.46, 22.56))
    >>> 1 <= len(cells) <= 19, all(len(c) == 15 for c in cells)
    (True, True)
    """
    west, south, east, north = checked_bounds(bounds)
    box = gpd.GeoDataFrame(
        {"id": [0]}, geometry=[shapely.box(west, south, east, north)], crs=C.CRS_WGS84
    )
    filled = cells_in_polygons(box, resolution=PARTITION_RESOLUTION)["h3"].to_numpy(np.uint64)
    lon = np.linspace(west, east, max(int(np.ceil((east - west) / _EDGE_STEP_DEG)), 1) + 1)
    lat = np.linspace(south, north, max(int(np.ceil((north - south) / _EDGE_STEP_DEG)), 1) + 1)
    edge_lon = np.concatenate([lon, lon, np.full(len(lat), west), np.full(len(lat), east)])
    edge_lat = np.concatenate([np.full(len(lon), south), np.full(len(lon), north), lat, lat])
    edge = cells_for_points(edge_lat, edge_lon, resolution=PARTITION_RESOLUTION)
    cells = np.unique(np.concatenate([filled, edge]))
    ring = np.unique(neighbourhood(cells, k=1)["neighbour"].to_numpy(np.uint64))
    return sorted(str(c) for c in cells_to_strings(ring))


def write_readings_dataset(readings: pd.DataFrame, root: Path, *, append: bool = False) -> int:
    """Write canonical readings into a GeoParquet dataset under ``root``.

    Parameters
    ----------
    readings : pandas.DataFrame
        Validated readings (:attr:`geodata.readings.ValidatedReadings.valid`,
        or the store's): every column of :data:`geodata.readings.READING_COLUMNS`;
        ``content_key`` is computed when absent.
    root : pathlib.Path
        The dataset's directory (created when missing).
    append : bool, keyword-only
        ``False`` (default) replaces the whole dataset: the new one is written
        beside it and swapped in. ``True`` adds files to the existing dataset
        and deduplicates nothing (the store keeps readings unique).

    Returns
    -------
    int
        Readings written.

    Raises
    ------
    MissingColumnError
        When a canonical column is absent.
    InvalidInputError
        When a row cannot be partitioned or stored (no time, a position off
        the globe, a required value missing), naming the row, field and value;
        or when ``root`` exists, is not empty and is not a readings dataset
        (nothing is replaced then).
    """
    return write_readings_batches([readings], root, append=append)


def write_readings_batches(
    frames: Iterable[pd.DataFrame], root: Path, *, append: bool = False
) -> int:
    """Write readings that arrive frame by frame (bounded memory) into a dataset.

    :func:`write_readings_dataset` for a stream: the frames are read one at a
    time and every partition gets one file per call (a few more when more
    than :data:`_OPEN_FILES` partitions are written at once). Rows in
    errors are numbered from 0 across all the frames.

    With ``append=False`` a failure leaves the old dataset as it was; with
    ``append=True`` the files written before it stay.
    """
    root = Path(root)
    foreign = root.exists() and not (root / MARKER).is_file()
    if foreign and (not root.is_dir() or any(root.iterdir())):
        raise InvalidInputError(
            f"{root}: not a readings dataset (no {MARKER}); refusing to write into it"
        )
    in_place = append and root.exists()
    target = root if in_place else root.with_name(f".{root.name}.{uuid.uuid4().hex}")
    written = [0]

    def batches() -> Iterator[pa.RecordBatch]:
        for frame in frames:  # a loop over frames, each one handled whole
            table = _partitioned(frame, first_row=written[0])
            written[0] += table.num_rows
            yield from table.to_batches()

    try:
        target.mkdir(parents=True, exist_ok=True)
        if not (target / MARKER).exists():
            (target / MARKER).write_text(json.dumps(_FORMAT) + "\n", encoding="utf-8")
        ds.write_dataset(
            batches(),
            target,
            schema=_WRITE_SCHEMA,
            format="parquet",
            partitioning=_PARTITIONING,
            basename_template=f"part-{uuid.uuid4().hex}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            max_open_files=_OPEN_FILES,
            min_rows_per_group=_MIN_ROWS_PER_GROUP,
            max_rows_per_group=_MAX_ROWS_PER_GROUP,
        )
    except BaseException:
        if not in_place:
            shutil.rmtree(target, ignore_errors=True)
        raise
    if not in_place:
        _swap_in(target, root)
    return written[0]


def _swap_in(staging: Path, root: Path) -> None:
    """Put the dataset written at ``staging`` in ``root``'s place."""
    if root.exists():
        retired = root.with_name(f".{root.name}.old.{uuid.uuid4().hex}")
        root.rename(retired)
        staging.rename(root)
        shutil.rmtree(retired)
    else:
        root.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(root)


def read_readings_dataset(
    root: Path,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    months: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read readings from a dataset, opening only the partitions asked for.

    Parameters
    ----------
    root : pathlib.Path
        A directory :func:`write_readings_dataset` wrote.
    bounds : tuple of float, optional, keyword-only
        ``(minlon, minlat, maxlon, maxlat)``: only the partitions of
        :func:`partitions_for` are opened, and only readings inside the
        bounds (edges included) are returned.
    months : sequence of str, optional, keyword-only
        ``YYYY-MM`` months: only their partitions are opened.

    Returns
    -------
    pandas.DataFrame
        :data:`DATASET_COLUMNS` (no geometry, no partition columns), dtypes as
        :func:`geodata.readings.validate_readings` gives them for a file's
        readings (``radio``, ``device``, ``source``: pandas' ``str``, NaN
        when missing), a fresh ``RangeIndex``; ordered by partition, then as
        written.

    Raises
    ------
    InvalidInputError
        When ``root`` is not a readings dataset, a month is not ``YYYY-MM``,
        or a part file is not Parquet of the dataset's columns.
    ValueError
        When the bounds are not valid (see :func:`partitions_for`).
    """
    root = Path(root)
    if not (root / MARKER).is_file():
        what = "does not exist" if not root.exists() else f"has no {MARKER}"
        raise InvalidInputError(f"{root}: not a readings dataset ({what})")
    files = dataset_files(root, bounds=bounds, months=months)
    if not files:
        return _to_frame(_SCHEMA.empty_table())
    row_filter = None
    if bounds is not None:
        west, south, east, north = checked_bounds(bounds)
        lon, lat = ds.field("lon"), ds.field("lat")
        row_filter = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    try:
        dataset = ds.dataset([str(f) for f in files], schema=_SCHEMA, format="parquet")
        table = dataset.to_table(columns=list(DATASET_COLUMNS), filter=row_filter)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InvalidInputError(f"{root}: a part file is not a readings part: {error}") from error
    return _to_frame(table)


def dataset_files(
    root: Path,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    months: Sequence[str] | None = None,
) -> list[Path]:
    """Return the part files a read of ``bounds`` and ``months`` opens, sorted.

    Lists the directories of the partitions asked for, never the others.
    """
    wanted = None if months is None else [_checked_month(m) for m in months]
    if bounds is None:
        cell_dirs = sorted(root.glob("h3_5=*"))
    else:
        cell_dirs = [root / f"h3_5={cell}" for cell in partitions_for(bounds)]
    files: list[Path] = []
    for cell_dir in cell_dirs:  # a loop over partitions, not readings
        if not cell_dir.is_dir():
            continue
        if wanted is None:
            month_dirs = sorted(cell_dir.glob("month=*"))
        else:
            month_dirs = [cell_dir / f"month={m}" for m in wanted]
        for month_dir in month_dirs:
            files.extend(sorted(month_dir.glob("part-*.parquet")))
    return files


def checked_bounds(bounds: Sequence[float]) -> tuple[float, float, float, float]:
    """Return ``(minlon, minlat, maxlon, maxlat)`` as floats, or say what is wrong with them.

    Raises
    ------
    ValueError
        When they are not four finite numbers, in order, within the globe.

    Examples
    --------
    >>> checked_bounds([105, 22.5, 105.5, 22.6])
    (105.0, 22.5, 105.5, 22.6)
    """
    values = tuple(float(v) for v in bounds)
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(f"bounds must be four finite numbers, got {tuple(bounds)!r}")
    west, south, east, north = values
    if west > east or south > north:
        raise ValueError(f"bounds must be (minlon, minlat, maxlon, maxlat), got {values!r}")
    if south < C.LAT_MIN or north > C.LAT_MAX or west < C.LON_MIN or east > C.LON_MAX:
        raise ValueError(f"bounds {values!r} lie beyond the globe's latitudes or longitudes")
    return west, south, east, north


def _checked_month(month: str) -> str:
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise InvalidInputError(f"month {month!r}: not YYYY-MM")
    return month


def _partitioned(readings: pd.DataFrame, *, first_row: int) -> pa.Table:
    """Return the readings as Arrow columns of :data:`_WRITE_SCHEMA`, partition columns included."""
    missing = [c for c in READING_COLUMNS if c not in readings.columns]
    if missing:
        raise MissingColumnError(f"readings: missing column(s): {', '.join(missing)}")
    frame = readings.reset_index(drop=True)
    if "content_key" not in frame.columns:
        frame = frame.assign(content_key=content_keys(frame))
    columns: dict[str, pa.Array] = {}
    for name in DATASET_COLUMNS:
        kind = _SCHEMA.field(name).type
        try:
            columns[name] = pa.array(frame[name], type=kind, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as error:
            raise InvalidInputError(f"readings: column {name}: not {kind} ({error})") from error
        _refuse_nulls(name, columns[name], first_row)
    lat, lon = columns["lat"].to_numpy(), columns["lon"].to_numpy()
    _refuse_outside("lat", lat, C.LAT_MIN, C.LAT_MAX, first_row)
    _refuse_outside("lon", lon, C.LON_MIN, C.LON_MAX, first_row)
    columns["geometry"] = _wkb_points(lon, lat)
    cells = cells_for_points(lat, lon, resolution=PARTITION_RESOLUTION)
    micros = columns["time"].cast(pa.int64()).to_numpy()
    months = micros.astype("datetime64[us]").astype("datetime64[M]")
    columns["h3_5"] = _labels(cells, lambda distinct: cells_to_strings(distinct))
    columns["month"] = _labels(months, lambda distinct: np.datetime_as_string(distinct, unit="M"))
    return pa.table(columns, schema=_WRITE_SCHEMA)


def _labels(values: np.ndarray, name: Callable[[np.ndarray], np.ndarray]) -> pa.Array:
    """Partition labels: ``name`` once per distinct value, spread in Arrow."""
    distinct, codes = np.unique(values, return_inverse=True)
    labels = pa.array([str(label) for label in name(distinct)], pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), labels).cast(pa.string())


def _refuse_nulls(name: str, values: pa.Array, first_row: int) -> None:
    if name in _NOT_NULL and values.null_count:
        row = first_row + int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidInputError(f"readings: row {row}: {name} = null: required in a dataset")


def _refuse_outside(name: str, values: np.ndarray, low: float, high: float, first_row: int) -> None:
    bad = ~((values >= low) & (values <= high))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = float(values[row])
        raise InvalidInputError(
            f"readings: row {first_row + row}: {name} = {value!r}: outside {low:g}..{high:g}"
        )


def _wkb_points(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """Little-endian WKB Points, built as one buffer (no shapely objects)."""
    points = np.empty(len(lon), dtype=_WKB_POINT)
    points["order"], points["type"], points["x"], points["y"] = 1, 1, lon, lat
    offsets = np.arange(len(lon) + 1, dtype=np.int32) * _WKB_POINT.itemsize
    return pa.Array.from_buffers(
        pa.binary(), len(lon), [None, pa.py_buffer(offsets), pa.py_buffer(points.tobytes())]
    )


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow columns to the dtypes :func:`geodata.readings.validate_readings` gives.

    One ``to_pandas`` of the whole table, a block per column (no consolidation
    copy), the Arrow buffers released as they are converted.
    """
    nullable = {pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype(na_value=np.nan)}
    integers = ("mcc", "mnc", "content_key")  # never null: plain int64
    plain = table.select(list(integers)).to_pandas(split_blocks=True)
    rest = table.drop_columns(list(integers))
    frame = rest.to_pandas(types_mapper=nullable.get, split_blocks=True, self_destruct=True)
    del rest, table
    for name in integers:
        frame[name] = plain[name]
    return frame[list(DATASET_COLUMNS)]
