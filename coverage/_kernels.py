"""The analysis' performance kernels: plain pandas, shapely or geopandas, only faster.

Each function here gives the same answer as a one-line library call and
exists because it is measurably faster on a province's millions of rows;
each has an oracle test in ``tests/coverage/test_kernels.py`` that compares
it with that library call on random inputs, and each says what it replaces:

- :func:`outer_join`: ``left.merge(right, on=keys, how="outer")``;
- :func:`grid_rows` and :func:`spread`: a left merge of a table onto the
  (cell, carrier) grid of :func:`coverage.fusion.fuse`;
- :func:`labels_from_codes`: ``pd.Series(np.asarray(labels)[codes], dtype="str")``;
- :func:`points_in_polygons`: ``STRtree(polygons).query(points, predicate="within")``.

Private to :mod:`coverage`: the steps call them, nothing outside should.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geodata.threads import map_in_order, worker_count


def labels_from_codes(
    codes: np.ndarray, labels: Iterable[object]
) -> pd.api.extensions.ExtensionArray:
    """``labels[codes]`` as a pandas ``str`` array (missing where a code is −1).

    >>> list(labels_from_codes(np.array([1, 0, -1]), ["no", "yes"]))
    ['yes', 'no', nan]
    """
    codes = np.asarray(codes, dtype=np.int64)
    indices = pa.array(codes, mask=codes < 0)
    return pd.array(
        pa.array([str(label) for label in labels], type=pa.large_string()).take(indices),
        dtype="str",
    )


def outer_join(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Join two tables outer on ``h3`` and text keys, as ``left.merge(right, how="outer")``.

    For keys unique on each side: rows sorted by the keys, as pandas sorts an
    outer join, but matched on integer codes instead of hashing strings (it
    falls back to the merge on missing or repeated keys). About twice as
    fast as the merge on the estimates of bench scale 0.2 (528,000 predicted
    rows, 105,600 measured: 0.14 s against 0.29 s, the same table;
    ``benchmarks/bench_kernels.py``, December 2026).
    """
    text = keys[1:]
    # Each text key -> codes numbered in sorted order (factorize per column:
    # no object arrays), combined into one code per key combination, so
    # that sorting codes sorts the keys.
    codes, labels = [], []
    for name in text:
        values = pd.concat([left[name], right[name]], ignore_index=True)
        if values.isna().any():
            return left.merge(right, on=keys, how="outer")
        code, distinct = pd.factorize(values, sort=True)
        codes.append(code.astype(np.int64))
        labels.append(distinct)
    combo = np.zeros(len(left) + len(right), dtype=np.int64)
    for code, distinct in zip(codes, labels, strict=True):
        combo = combo * len(distinct) + code
    width = int(np.prod([len(distinct) for distinct in labels]))
    h3 = np.concatenate([left["h3"].to_numpy(np.uint64), right["h3"].to_numpy(np.uint64)])
    cells, cell = np.unique(h3, return_inverse=True)
    key = cell.astype(np.int64) * width + combo
    union, position = np.unique(key, return_inverse=True)  # sorted by (h3, text keys)
    sides = ((left, position[: len(left)]), (right, position[len(left) :]))
    if any(len(rows) and np.bincount(rows).max() > 1 for _, rows in sides):
        return left.merge(right, on=keys, how="outer")  # repeated keys: rows multiply
    out = pd.DataFrame({"h3": cells[union // width]})
    rest = union % width
    for name, distinct in reversed(list(zip(text, labels, strict=True))):
        code, rest = rest % len(distinct), rest // len(distinct)
        # The dtype pandas' merge gives: the sides' own when they agree.
        dtype = left[name].dtype if left[name].dtype == right[name].dtype else object
        if dtype == "str":
            out[name] = labels_from_codes(code, distinct)
        else:
            out[name] = pd.Series(np.asarray(distinct, dtype=object)[code], dtype=dtype)
    out = out[["h3", *text]]
    for side, rows in sides:
        for column in side.columns.difference(keys, sort=False):
            values = side[column].to_numpy()
            kind = values.dtype.kind
            filled = np.full(
                len(union),
                np.nan if kind in "fiub" else None,
                dtype=float if kind in "fiub" else object,
            )
            filled[rows] = values
            out[column] = filled
    return out


def grid_rows(
    table: pd.DataFrame, cells: np.ndarray, carriers: pd.Index
) -> tuple[np.ndarray, np.ndarray]:
    """Find where the rows of ``table`` (``h3``, ``carrier``) fall in a (cell, carrier) grid.

    The grid is :func:`coverage.fusion.fuse`'s: cell-major, carriers inner.
    Returns (row of ``table``, grid row) for the rows whose cell and carrier
    are in the grid.
    """
    h3 = table["h3"].to_numpy(np.uint64)
    cell = np.minimum(np.searchsorted(cells, h3), max(len(cells) - 1, 0))
    # Carriers looked up once per distinct name, not once per row.
    names, distinct = pd.factorize(table["carrier"])
    carrier = np.append(carriers.get_indexer(distinct), -1)[names]
    inside = np.flatnonzero((cells[cell] == h3) & (carrier >= 0)) if len(cells) else cell[:0]
    return inside, cell[inside] * len(carriers) + carrier[inside]


def spread(
    table: pd.DataFrame, column: str, rows: tuple[np.ndarray, np.ndarray], size: int, fill: object
) -> np.ndarray:
    """``table[column]`` laid out on ``size`` grid rows (``fill`` elsewhere)."""
    source, target = rows
    values = table[column].to_numpy()
    dtype = float if isinstance(fill, float) else object
    out = np.full(size, fill, dtype=dtype)
    out[target] = values[source]
    return out


def points_in_polygons(
    polygons: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Find the pairs ``(point, polygon)`` (positional indices) where a point lies in a polygon.

    Inside as shapely's ``within`` says: a point on the boundary is not inside.

    The points are bucketed on a grid of about one polygon's size; each
    polygon tests only the points of the buckets its bounding box covers,
    with shapely's vectorised ``contains_xy``. A loop over polygons, never
    over points, and no point geometries are built.

    Kept because it is faster than the bulk joins: on the province
    benchmark's geometry at scale 0.2 (760 villages, 1,000,000 readings,
    2 threads), 0.38 s against 2.1 s for ``STRtree.query(predicate="within")``
    and 2.8 s for ``geopandas.sjoin``, the same 986,237 pairs
    (``benchmarks/bench_kernels.py``, December 2026). Fewer points
    than polygons (an upload) go through the STRtree query.

    >>> import shapely
    >>> squares = np.array([shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)])
    >>> point, polygon = points_in_polygons(squares, np.array([2.5, 0.5, 9.0]),
    ...                                     np.array([0.5, 0.5, 0.5]))
    >>> point.tolist(), polygon.tolist()
    ([1, 0], [0, 1])
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    nothing = (np.empty(0, np.intp), np.empty(0, np.intp))
    bounds = shapely.bounds(polygons)
    present = np.flatnonzero(np.isfinite(bounds).all(axis=1))
    if len(x) == 0 or present.size == 0:
        return nothing
    west, south = bounds[present, 0].min(), bounds[present, 1].min()
    east, north = bounds[present, 2].max(), bounds[present, 3].max()
    candidates = np.flatnonzero((x >= west) & (x <= east) & (y >= south) & (y <= north))
    if candidates.size == 0:
        return nothing
    if candidates.size < present.size:
        # A handful of points (an upload): query them, not every polygon.
        tree = shapely.STRtree(polygons)
        point, polygon = tree.query(
            shapely.points(x[candidates], y[candidates]), predicate="within"
        )
        order = np.lexsort((point, polygon))
        return candidates[point[order]], polygon[order].astype(np.intp)
    extent = np.maximum(
        bounds[present, 2] - bounds[present, 0], bounds[present, 3] - bounds[present, 1]
    )
    size = float(np.median(extent)) or max(east - west, north - south) or 1.0
    columns = int((east - west) // size) + 1

    def bucket(value: np.ndarray, origin: float) -> np.ndarray:
        return ((value - origin) // size).astype(np.int64)

    key = bucket(y[candidates], south) * columns + bucket(x[candidates], west)
    if key.max() < np.iinfo(np.uint16).max:
        key = key.astype(np.uint16)  # numpy sorts 16-bit keys by radix: linear
    order = np.argsort(key, kind="stable")
    sorted_key, points = key[order].astype(np.int64), candidates[order]
    px, py = x[points], y[points]
    # Empty polygons (NaN bounds) are never visited: give them any bucket.
    bounds = np.where(np.isfinite(bounds), bounds, 0.0)
    first_column, last_column = bucket(bounds[:, 0], west), bucket(bounds[:, 2], west)
    first_row, last_row = bucket(bounds[:, 1], south), bucket(bounds[:, 3], south)

    def inside(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found_points = [np.empty(0, np.intp)]
        found_polygons = [np.empty(0, np.intp)]
        for i in chunk:
            rows = np.arange(first_row[i], last_row[i] + 1) * columns
            starts = np.searchsorted(sorted_key, rows + first_column[i])
            stops = np.searchsorted(sorted_key, rows + last_column[i], side="right")
            near = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)])
            hits = near[shapely.contains_xy(polygons[i], px[near], py[near])]
            found_points.append(points[hits])
            found_polygons.append(np.full(hits.size, i, dtype=np.intp))
        return np.concatenate(found_points), np.concatenate(found_polygons)

    # shapely and numpy release the GIL: chunks of polygons on threads,
    # joined in polygon order.
    parts = list(map_in_order(inside, np.array_split(present, 4 * worker_count())))
    return (
        np.concatenate([found for found, _ in parts]),
        np.concatenate([polygon for _, polygon in parts]),
    )
